//! Egress orders: a client's signed permission for a storage provider to serve it bytes, and
//! the provider's claim for payment.
//!
//! A download is paid as it goes, the way Storj's orders and Filecoin's retrieval vouchers work:
//! before each window of a piece, the client signs an order naming the provider, a serial it
//! picked for this download and the **cumulative** bytes it allows so far; the provider serves
//! only within the newest order, keeps it, and later claims the bytes it served with a
//! [`TxKind::ClaimEgress`](super::TxKind::ClaimEgress). The ledger checks the client's signature,
//! uses each serial once, and moves `ceil(bytes × price / GiB)` credits from the client to the
//! provider's earnings of the epoch. Neither side trusts the other beyond one window: a client
//! that stops signing gets no more bytes, a provider that stops serving is paid only for what the
//! client signed.
//!
//! Orders signed by a chain verifier key (repairs) carry price zero: the network moves its own
//! data and nobody is charged.

use super::{hex16, GIB};
use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{Decode, DecodeError, Encode, Reader},
    AccountAddress, Credits, DeviceAddress, Epoch, Hash, HashDomain, Keypair, PublicKey, Signature,
};

/// Most orders one claim carries (keeps a claim transaction under 16 KiB: ~230 bytes each).
pub const MAX_EGRESS_CLAIMS: usize = 48;
/// Furthest ahead an order may expire, in epochs: serials are remembered until their expiry, so
/// this bounds how long the ledger keeps them.
pub const MAX_ORDER_EPOCHS: u64 = 8;

/// What a client allows one provider to serve (and charge for) under one serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressOrder {
    /// The deal whose pieces are downloaded (for the provider's and explorer's books; a closed
    /// deal's orders stay payable).
    pub deal: Hash,
    /// Who pays.
    pub client: AccountAddress,
    /// Who serves.
    pub provider: DeviceAddress,
    /// Picked by the client per download; each is paid once.
    #[serde(with = "hex16")]
    pub serial: [u8; 16],
    /// Bytes served under this serial so far, at most (cumulative).
    pub bytes: u64,
    /// Credits per GiB served.
    pub price_per_gib: Credits,
    /// The last epoch in which the order may be claimed.
    pub expires: Epoch,
}

impl EgressOrder {
    /// What `bytes` served under this order cost: `ceil(bytes × price / GiB)`, so a small
    /// download at a positive price still pays something.
    pub fn cost(&self, bytes: u64) -> Option<Credits> {
        let cost = u128::from(bytes)
            .checked_mul(u128::from(self.price_per_gib.0))?
            .div_ceil(u128::from(GIB));
        u64::try_from(cost).ok().map(Credits)
    }

    /// Whether the ledger pays this order in epoch `current`: not expired, and not expiring
    /// more than [`MAX_ORDER_EPOCHS`] ahead (serials are remembered until expiry). The provider
    /// serving a window and the ledger paying it judge by this one rule.
    pub fn payable_in(&self, current: Epoch) -> Result<(), OrderExpiry> {
        if self.expires < current {
            return Err(OrderExpiry::Expired);
        }
        if self.expires.0 > current.0.saturating_add(MAX_ORDER_EPOCHS) {
            return Err(OrderExpiry::TooFarAhead);
        }
        Ok(())
    }

    /// The message the client signs: the order on one chain.
    pub fn signing_message(&self, chain_id: &str) -> Hash {
        HashDomain::EgressOrder.hash_parts(&[chain_id.as_bytes(), &self.to_bytes()])
    }

    /// Signs the order with `key`.
    pub fn sign(self, chain_id: &str, key: &Keypair) -> SignedEgressOrder {
        let signature = key.sign(self.signing_message(chain_id).as_bytes());
        SignedEgressOrder {
            order: self,
            signer: key.public(),
            signature,
        }
    }
}

impl Encode for EgressOrder {
    fn encode(&self, out: &mut Vec<u8>) {
        self.deal.encode(out);
        self.client.encode(out);
        self.provider.encode(out);
        out.extend_from_slice(&self.serial);
        self.bytes.encode(out);
        self.price_per_gib.encode(out);
        self.expires.encode(out);
    }
}

impl Decode for EgressOrder {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EgressOrder {
            deal: Hash::decode(r)?,
            client: AccountAddress::decode(r)?,
            provider: DeviceAddress::decode(r)?,
            serial: r.array()?,
            bytes: r.u64()?,
            price_per_gib: Credits::decode(r)?,
            expires: Epoch::decode(r)?,
        })
    }
}

/// Why an order is not payable in an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderExpiry {
    /// Its last payable epoch has passed.
    #[error("the order has expired")]
    Expired,
    /// It expires more than [`MAX_ORDER_EPOCHS`] epochs ahead.
    #[error("the order expires more than {MAX_ORDER_EPOCHS} epochs ahead")]
    TooFarAhead,
}

/// An order with its signature: by the client's key, or by a verifier's for repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEgressOrder {
    /// The order.
    pub order: EgressOrder,
    /// Who signed it.
    pub signer: PublicKey,
    /// The signature over [`EgressOrder::signing_message`].
    pub signature: Signature,
}

impl SignedEgressOrder {
    /// Whether the signature is `signer`'s over the order on `chain_id`. Says nothing about
    /// whether the signer may sign it (the client's own key, or a verifier's).
    pub fn verify(&self, chain_id: &str) -> bool {
        self.signer
            .verify(self.order.signing_message(chain_id).as_bytes(), &self.signature)
            .is_ok()
    }

    /// Whether the client itself signed it.
    pub fn signed_by_client(&self) -> bool {
        self.order.client.key() == &self.signer
    }
}

impl Encode for SignedEgressOrder {
    fn encode(&self, out: &mut Vec<u8>) {
        self.order.encode(out);
        self.signer.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedEgressOrder {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedEgressOrder {
            order: EgressOrder::decode(r)?,
            signer: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// One order a provider claims payment for, and the bytes it served under it (at most the
/// order's; an honest provider claims what it sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressClaim {
    /// The newest order the client signed under the serial.
    pub order: SignedEgressOrder,
    /// Bytes served.
    pub bytes: u64,
}

impl Encode for EgressClaim {
    fn encode(&self, out: &mut Vec<u8>) {
        self.order.encode(out);
        self.bytes.encode(out);
    }
}

impl Decode for EgressClaim {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EgressClaim {
            order: SignedEgressOrder::decode(r)?,
            bytes: r.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(bytes: u64, price: u64) -> EgressOrder {
        let client = Keypair::from_seed([1; 32]);
        EgressOrder {
            deal: Hash([7; 32]),
            client: client.public().into(),
            provider: Keypair::from_seed([2; 32]).public().into(),
            serial: [3; 16],
            bytes,
            price_per_gib: Credits(price),
            expires: Epoch(9),
        }
    }

    #[test]
    fn cost_rounds_up_to_the_next_credit() {
        let o = order(0, 1_000);
        assert_eq!(o.cost(0), Some(Credits(0)));
        assert_eq!(o.cost(1), Some(Credits(1)));
        assert_eq!(o.cost(GIB), Some(Credits(1_000)));
        assert_eq!(o.cost(GIB / 2 + 1), Some(Credits(501)));
        assert_eq!(order(0, 0).cost(GIB), Some(Credits(0)));
    }

    #[test]
    fn a_signed_order_verifies_on_its_chain_only_and_round_trips() {
        let key = Keypair::from_seed([1; 32]);
        let signed = order(4096, 10).sign("trellis-test", &key);
        assert!(signed.verify("trellis-test"));
        assert!(signed.signed_by_client());
        assert!(!signed.verify("another-chain"));
        let mut raised = signed;
        raised.order.bytes += 1;
        assert!(!raised.verify("trellis-test"), "the byte count is signed");
        let claim = EgressClaim {
            order: signed,
            bytes: 4096,
        };
        assert_eq!(EgressClaim::from_bytes(&claim.to_bytes()), Ok(claim));
        let by_other = order(4096, 10).sign("trellis-test", &Keypair::from_seed([5; 32]));
        assert!(by_other.verify("trellis-test") && !by_other.signed_by_client());
    }
}
