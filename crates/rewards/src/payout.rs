//! Dividing a pool among devices in exact integer amounts.

use crate::{pools::Pool, shares::DeviceShare, RewardError};
use serde::{Deserialize, Serialize};
use trellis_primitives::{AccountAddress, Amount, DeviceAddress};

fn no_amount(a: &Amount) -> bool {
    a.is_zero()
}

/// What one device earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePayout {
    /// The device.
    pub device: DeviceAddress,
    /// Its owner.
    pub owner: AccountAddress,
    /// The pool.
    pub pool: Pool,
    /// Its reward units.
    pub units: u64,
    /// Sum of units in the pool.
    pub pool_units: u64,
    /// The pool's amount this epoch.
    pub pool_amount: Amount,
    /// What the device is paid: `for_credits` plus `floor(pool_amount left after credits ×
    /// units / pool_units)`.
    pub amount: Amount,
    /// The part of `amount` paid for credits the device earned from consumers (see
    /// [`crate::credits`]); zero in archives from before that rule.
    #[serde(default, skip_serializing_if = "no_amount")]
    pub for_credits: Amount,
}

/// Splits `pool_amount` over `shares` (all of one pool) pro rata to units, rounding each payout
/// down. Returns the payouts sorted by device and the remainder (< number of devices), which the
/// caller sends to the treasury. Devices with zero units get nothing and are left out.
///
/// Exactness: `Σ amount + remainder == pool_amount`, and each amount is within one unit of the
/// exact rational share. Order of `shares` does not matter.
pub fn distribute(pool_amount: Amount, shares: &[&DeviceShare]) -> Result<(Vec<DevicePayout>, Amount), RewardError> {
    let mut sorted: Vec<&DeviceShare> = shares.iter().copied().filter(|s| s.units > 0).collect();
    sorted.sort_by_key(|s| s.device);
    if let Some(w) = sorted.windows(2).find(|w| w[0].device == w[1].device) {
        return Err(RewardError::DuplicateShare(w[0].device.to_string(), w[0].pool.name()));
    }
    let total_units: u128 = sorted.iter().map(|s| u128::from(s.units)).sum();
    let pool_units = u64::try_from(total_units).map_err(|_| RewardError::Overflow)?;
    if total_units == 0 {
        return Ok((Vec::new(), pool_amount));
    }
    let mut paid: u64 = 0;
    let payouts: Vec<DevicePayout> = sorted
        .into_iter()
        .map(|s| {
            // u64 × u64 fits in u128; the quotient is ≤ pool_amount, so it fits in u64.
            let amount = (u128::from(pool_amount.units()) * u128::from(s.units) / total_units) as u64;
            paid += amount;
            DevicePayout {
                device: s.device,
                owner: s.owner,
                pool: s.pool,
                units: s.units,
                pool_units,
                pool_amount,
                amount: Amount::from_units(amount),
                for_credits: Amount::ZERO,
            }
        })
        .collect();
    let remainder = pool_amount
        .checked_sub(Amount::from_units(paid))
        .ok_or(RewardError::Overflow)?;
    debug_assert!(remainder.units() < payouts.len() as u64 || payouts.is_empty());
    Ok((payouts, remainder))
}
