//! What consumers paid devices, per epoch, and what a credit was worth: the reward engine's
//! inputs for paying earned credits first (see `trellis_rewards::credits`).

use super::{fixed_key, keys, table, CorruptState, PriceEntry, StateRead};
use crate::store::Store;
use serde::Serialize;
use trellis_primitives::{
    codec::{Decode, DecodeError, Encode, Reader},
    Credits, DeviceAddress, Epoch, PublicKey,
};

/// Epochs [`credit_price_in`] looks back for the last price posted; older prices are too stale
/// to value anything (the burn rule itself refuses prices older than `price_max_age_blocks`).
pub const PRICE_LOOKBACK_EPOCHS: u64 = 1_024;

/// What a storage provider served under egress orders in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EgressServed {
    /// Bytes claimed.
    pub bytes: u64,
    /// Credits they cost the clients (also in the provider's `storage_earned`).
    pub credits: Credits,
}

impl Encode for EgressServed {
    fn encode(&self, out: &mut Vec<u8>) {
        self.bytes.encode(out);
        self.credits.encode(out);
    }
}

impl Decode for EgressServed {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EgressServed {
            bytes: r.u64()?,
            credits: Credits::decode(r)?,
        })
    }
}

/// Every record of an epoch-keyed, device-keyed table for `epoch`, in address-key order.
fn per_device<T: Decode>(
    s: &impl Store,
    table_byte: u8,
    epoch: Epoch,
) -> Result<Vec<(DeviceAddress, T)>, CorruptState> {
    let prefix = epoch.0.to_be_bytes();
    table::<T>(s, table_byte)?
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| Ok((DeviceAddress::from(PublicKey(fixed_key(&k[prefix.len()..])?)), v)))
        .collect()
}

/// What every storage provider earned in `epoch`: settled deal epochs (keyed by the epoch they
/// prove), the part of it paid by deals closed during it, and egress claimed during it.
pub fn storage_earned_in(s: &impl Store, epoch: Epoch) -> Result<Vec<(DeviceAddress, Credits)>, CorruptState> {
    per_device(s, keys::STORAGE_EARNED_TABLE, epoch)
}

/// What every device earned from compute jobs in `epoch` (runs and replays), in address-key
/// order: what consumers paid, which the reward engine pays first.
pub fn compute_earned_in(s: &impl Store, epoch: Epoch) -> Result<Vec<(DeviceAddress, Credits)>, CorruptState> {
    per_device(s, keys::COMPUTE_EARNED_TABLE, epoch)
}

/// Every device's compute work verified by replay in `epoch`, in address-key order: the credits
/// of each run a replay confirmed, times the inverse of the chance that the run was replayed,
/// plus each confirming replay's own credits (see `execute::compute::verified_units`). The
/// compute pool's units: an honest provider's expectation equals its earned credits, while a
/// run nobody replayed earns no pool units at all, so work that was never checked (a wrong
/// output, an inflated fuel claim) cannot draw emission.
pub fn compute_verified_in(s: &impl Store, epoch: Epoch) -> Result<Vec<(DeviceAddress, u64)>, CorruptState> {
    per_device(s, keys::COMPUTE_VERIFIED_TABLE, epoch)
}

/// What every storage provider served under egress orders claimed in `epoch`.
pub fn egress_served_in(s: &impl Store, epoch: Epoch) -> Result<Vec<(DeviceAddress, EgressServed)>, CorruptState> {
    per_device(s, keys::EGRESS_SERVED_TABLE, epoch)
}

/// The oracle's TRL price (micro-USD) in force at the end of `epoch`: the newest price if it was
/// posted by then, else the last one posted in or before `epoch` (looking back at most
/// [`PRICE_LOOKBACK_EPOCHS`]). `None` if there is none. Final once `epoch` is complete, so every
/// oracle and auditor reads the same value.
pub fn credit_price_in(s: &(impl StateRead + ?Sized), epoch: Epoch) -> Result<Option<u64>, CorruptState> {
    let epoch_len = s.params()?.epoch_len_blocks;
    if let Some(latest) = s.read::<PriceEntry>(keys::PRICE)? {
        if Epoch::of_height(latest.height, epoch_len) <= epoch {
            return Ok(Some(latest.micro_usd_per_trl));
        }
    }
    for back in 0..=PRICE_LOOKBACK_EPOCHS.min(epoch.0) {
        if let Some(price) = s.read::<u64>(&keys::epoch_price(Epoch(epoch.0 - back)))? {
            return Ok(Some(price));
        }
    }
    Ok(None)
}
