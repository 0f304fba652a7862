//! blake3 hashes with domain separation.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// A 32-byte blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

/// What a hash is of. Each domain keys blake3 differently so that a digest of one kind of value
/// can never be passed off as a digest of another (e.g. a Merkle leaf as an inner node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashDomain {
    /// The signing message of a transaction body.
    TxSigning,
    /// A transaction's identifier.
    TxId,
    /// A block header.
    BlockHeader,
    /// A leaf of the state Merkle tree.
    StateLeaf,
    /// An inner node of any Merkle tree.
    MerkleNode,
    /// A leaf of a block's transaction tree.
    TxLeaf,
    /// A leaf of a reward manifest (owner, amount).
    RewardLeaf,
    /// The message signed by the oracles for a reward manifest.
    ManifestSigning,
    /// The message signed by the oracles for a price entry.
    PriceSigning,
    /// The message signed by admins for a governance action.
    GovernanceSigning,
    /// A genesis document.
    Genesis,
    /// A proof-of-coverage beacon payload.
    BeaconPayload,
    /// The message a device signs for a report body.
    DeviceReport,
    /// A stored piece (one provider's erasure-coded share of a file), hashed as one BLAKE3 tree
    /// in derive-key mode, so its chunks and subtrees can be proven on their own.
    StoragePiece,
    /// A stored file's content commitment (over its piece roots).
    StorageContent,
    /// What a storage provider signs when it answers a challenge.
    StorageAnswer,
    /// Storage audit challenges derived from block entropy.
    StorageChallenge,
    /// What an auditor (a registered verifier) signs when it sends a storage challenge.
    StorageChallengeSigning,
    /// What an auditor signs to mix its secret into an epoch's storage challenges.
    StorageChallengeSeed,
    /// The content address of a compute blob (a module, an input or an output).
    ComputeBlob,
    /// A provider's commitment to one execution (module, input, outcome, fuel).
    ComputeCommitment,
    /// Which compute jobs are re-executed, and by whom, from block entropy.
    ComputeSampling,
    /// What a data consumer signs to be charged for a sensor data request.
    DataRequest,
    /// What a storage client signs to let a provider serve (and charge for) bytes.
    EgressOrder,
    /// What a storage client signs to have a provider hold a piece before its deal is on chain.
    StorageStaging,
    /// What a deal's client (or a verifier) signs to upload a piece of an open deal.
    StorageUpload,
}

impl HashDomain {
    fn context(self) -> &'static str {
        match self {
            Self::TxSigning => "trellis 2026 tx signing",
            Self::TxId => "trellis 2026 tx id",
            Self::BlockHeader => "trellis 2026 block header",
            Self::StateLeaf => "trellis 2026 state leaf",
            Self::MerkleNode => "trellis 2026 merkle node",
            Self::TxLeaf => "trellis 2026 tx leaf",
            Self::RewardLeaf => "trellis 2026 reward leaf",
            Self::ManifestSigning => "trellis 2026 manifest signing",
            Self::PriceSigning => "trellis 2026 price signing",
            Self::GovernanceSigning => "trellis 2026 governance signing",
            Self::Genesis => "trellis 2026 genesis",
            Self::BeaconPayload => "trellis 2026 beacon payload",
            Self::DeviceReport => "trellis 2026 device report",
            Self::StoragePiece => "trellis 2026 storage piece",
            Self::StorageContent => "trellis 2026 storage content",
            Self::StorageAnswer => "trellis 2026 storage answer",
            Self::StorageChallenge => "trellis 2026 storage challenge",
            Self::StorageChallengeSigning => "trellis 2026 storage challenge signing",
            Self::StorageChallengeSeed => "trellis 2026 storage challenge seed",
            Self::ComputeBlob => "trellis 2026 compute blob",
            Self::ComputeCommitment => "trellis 2026 compute commitment",
            Self::ComputeSampling => "trellis 2026 compute sampling",
            Self::DataRequest => "trellis 2026 data request",
            Self::EgressOrder => "trellis 2026 egress order",
            Self::StorageStaging => "trellis 2026 storage staging",
            Self::StorageUpload => "trellis 2026 storage upload",
        }
    }

    /// A hasher keyed for this domain.
    pub fn hasher(self) -> blake3::Hasher {
        blake3::Hasher::new_derive_key(self.context())
    }

    /// The key a BLAKE3 tree in this domain is hashed under: what `blake3::hazmat` needs to
    /// hash subtrees on their own and merge them into the same root as [`HashDomain::hash`].
    pub fn context_key(self) -> [u8; 32] {
        blake3::hazmat::hash_derive_key_context(self.context())
    }

    /// Hashes `data` in this domain.
    pub fn hash(self, data: &[u8]) -> Hash {
        Hash(*self.hasher().update(data).finalize().as_bytes())
    }

    /// Hashes the concatenation of `parts` in this domain.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        Hash(*hasher.finalize().as_bytes())
    }
}

impl Hash {
    /// The all-zero hash, used as the parent of the first block and the root of an empty tree.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits for a hash")]
pub struct HashParseError;

impl FromStr for Hash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError)?;
        Ok(Hash(out))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Encode for Hash {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Hash {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash(reader.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_inputs() {
        let a = HashDomain::StateLeaf.hash(b"x");
        let b = HashDomain::MerkleNode.hash(b"x");
        assert_ne!(a, b);
        assert_eq!(HashDomain::StateLeaf.hash(b"x"), a);
        assert_eq!(HashDomain::StateLeaf.hash_parts(&[b"", b"x"]), a);
    }

    #[test]
    fn hex_round_trips() {
        let h = HashDomain::TxId.hash(b"abc");
        assert_eq!(h.to_hex().parse::<Hash>().unwrap(), h);
        assert!("zz".parse::<Hash>().is_err());
    }
}
