//! Transactions: what users sign, and its canonical encoding.

mod compute;
mod device;
mod egress;
mod governance;
mod kind;
mod storage;

pub use compute::{
    price_of, ComputeClaim, ComputeTx, JobSpec, FUEL_PER_GFUEL, MAX_DEADLINE_BLOCKS, MAX_ENTRY_BYTES, MAX_JOB_FUEL,
    MAX_JOB_MEMORY_BYTES, MAX_REPLICAS, PPM,
};
pub use device::{Antenna, Capability, DeviceClass};
pub use egress::{EgressClaim, EgressOrder, OrderExpiry, SignedEgressOrder, MAX_EGRESS_CLAIMS, MAX_ORDER_EPOCHS};
pub use governance::{Committee, GovAction};
pub use kind::TxKind;
pub use storage::{
    DealTerms, Piece, GIB, MAX_PIECES, MAX_PIECE_BYTES, MAX_SEGMENT_BYTES, MAX_URL_BYTES, PIECE_CHUNK_BYTES,
};

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_bytes, put_list, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount, Hash, HashDomain, Keypair, PublicKey, Signature,
};

/// Largest encoded transaction accepted anywhere. The largest legitimate ones are governance
/// actions carrying a committee (64 keys) with 64 co-signatures, about 8.5 KiB.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Most co-signatures on one transaction (admin, oracle and verifier committees are bounded by
/// [`MAX_COMMITTEE`]; onboarding needs two).
pub const MAX_COSIGNATURES: usize = 64;
/// Most members in an admin or oracle committee, or verifier keys.
pub const MAX_COMMITTEE: usize = 64;
/// Most declared capabilities on a device.
pub const MAX_CAPABILITIES: usize = 16;
/// Longest name (maker names, capability names).
pub const MAX_NAME_BYTES: usize = 64;
/// Longest chain id.
pub const MAX_CHAIN_ID_BYTES: usize = 32;
/// Longest free-text reason (slashing).
pub const MAX_REASON_BYTES: usize = 256;
/// The signed part of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxBody {
    /// Which chain this is for (stops replay on another chain).
    pub chain_id: String,
    /// The paying, nonce-bearing account.
    pub signer: AccountAddress,
    /// Must equal the signer's next nonce (stops replay on this chain).
    pub nonce: u64,
    /// TRL offered as fee (burned). Orders the mempool.
    pub fee: Amount,
    /// What it does.
    pub kind: TxKind,
}

impl Encode for TxBody {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.chain_id.as_bytes());
        self.signer.encode(out);
        self.nonce.encode(out);
        self.fee.encode(out);
        self.kind.encode(out);
    }
}

impl Decode for TxBody {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxBody {
            chain_id: r.string("chain id", MAX_CHAIN_ID_BYTES)?,
            signer: AccountAddress::decode(r)?,
            nonce: r.u64()?,
            fee: Amount::decode(r)?,
            kind: TxKind::decode(r)?,
        })
    }
}

impl TxBody {
    /// The transaction id: the hash every signature on the transaction signs.
    pub fn id(&self) -> Hash {
        HashDomain::TxSigning.hash(&self.to_bytes())
    }
}

/// A signature by someone other than the signer over the same body (maker, device, admins,
/// oracles, verifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cosignature {
    /// Who signed.
    pub key: PublicKey,
    /// Their signature over the transaction id.
    pub signature: Signature,
}

impl Encode for Cosignature {
    fn encode(&self, out: &mut Vec<u8>) {
        self.key.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for Cosignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Cosignature {
            key: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// A signed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// What was signed.
    pub body: TxBody,
    /// The signer's signature over [`TxBody::id`].
    pub signature: Signature,
    /// Further signatures over the same id.
    pub cosignatures: Vec<Cosignature>,
}

impl Transaction {
    /// Signs `body` with `signer` (which must be the body's signer key).
    pub fn sign(body: TxBody, signer: &Keypair) -> Self {
        debug_assert_eq!(body.signer.key(), &signer.public(), "signing with the wrong key");
        let signature = signer.sign(body.id().as_bytes());
        Transaction {
            body,
            signature,
            cosignatures: Vec::new(),
        }
    }

    /// Adds a co-signature by `key`.
    #[must_use]
    pub fn cosign(mut self, key: &Keypair) -> Self {
        let signature = key.sign(self.id().as_bytes());
        self.cosignatures.push(Cosignature {
            key: key.public(),
            signature,
        });
        self
    }

    /// The id (hash of the body).
    pub fn id(&self) -> Hash {
        self.body.id()
    }

    /// Decodes a transaction from untrusted bytes, enforcing [`MAX_TX_BYTES`].
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(DecodeError::TooLong {
                what: "transaction",
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Self::from_bytes(bytes)
    }
}

impl Encode for Transaction {
    fn encode(&self, out: &mut Vec<u8>) {
        self.body.encode(out);
        self.signature.encode(out);
        put_list(out, &self.cosignatures);
    }
}

impl Decode for Transaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            body: TxBody::decode(r)?,
            signature: Signature::decode(r)?,
            cosignatures: r.list("cosignatures", MAX_COSIGNATURES)?,
        })
    }
}

#[cfg(test)]
mod tests;

/// 16 random bytes (nonces, serials) as 32 hex digits in JSON.
mod hex16 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        bytes.try_into().map_err(|_| D::Error::custom("expected 32 hex digits"))
    }
}
