//! Paying for what consumers bought before anything else (Helium's data-transfer rule, HIP-10).
//!
//! Consumers burn TRL for credits and spend them on storage deals, egress and compute jobs; the
//! ledger records what each device earned (`storage_earned`, `compute_earned`). Those credits
//! are worth a fixed USD amount each, and net emission re-mints the TRL burned for them, so the
//! pool a device earns from pays its earned credits first, at the epoch's TRL price: a provider
//! that charges more is paid more. What is left of the pool is shared by reward units (proven
//! storage × reputation, and so on). If the credits are worth more than the pool, every device
//! gets the same fraction of what it is owed and no units are paid, as HIP-10 scales data
//! transfer down before proof-of-coverage gets anything.
//!
//! Every amount is rounded down; the remainders go back to the caller for the treasury.

use crate::{payout::DevicePayout, shares::DeviceShare, RewardError};
use serde::{Deserialize, Serialize};
use trellis_primitives::{Amount, UNITS_PER_TRL};

/// What one credit is worth in TRL in an epoch: the chain's fixed credit price over the oracle's
/// TRL price, both in micro-USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditValue {
    /// The fixed price of one credit (`credit_price_micro_usd`, 10 = $0.00001).
    pub credit_price_micro_usd: u64,
    /// The oracle price of one TRL in force when the epoch ended.
    pub micro_usd_per_trl: u64,
}

impl CreditValue {
    /// TRL base units `credits` are worth, rounded down: `credits × credit price × 10^8 / TRL
    /// price`. `None` for a zero TRL price or a value beyond `u64`.
    pub fn units_for(&self, credits: u64) -> Option<u64> {
        if self.micro_usd_per_trl == 0 {
            return None;
        }
        let numerator = u128::from(credits)
            .checked_mul(u128::from(self.credit_price_micro_usd))?
            .checked_mul(u128::from(UNITS_PER_TRL))?;
        u64::try_from(numerator / u128::from(self.micro_usd_per_trl)).ok()
    }
}

/// What a credit was worth in `epoch` on the chain `s` reads: the chain's credit price over the
/// TRL price in force at the epoch's end (`None` before any price was posted). Final once the
/// epoch is complete, so the oracle and every auditor read the same value.
pub fn credit_value_in(
    s: &impl trellis_ledger::StateRead,
    epoch: trellis_primitives::Epoch,
) -> Result<Option<CreditValue>, trellis_ledger::state::CorruptState> {
    let Some(micro_usd_per_trl) = trellis_ledger::state::credit_price_in(s, epoch)? else {
        return Ok(None);
    };
    Ok(Some(CreditValue {
        credit_price_micro_usd: s.params()?.credit_price_micro_usd,
        micro_usd_per_trl,
    }))
}

/// Pays one pool: earned credits first (at `value`), the rest pro rata to units. Returns the
/// payouts sorted by device (devices with neither credits nor units are left out) and the
/// remainder for the treasury. Without a `value` (no TRL price yet) credits earn nothing here,
/// and the pool is shared by units alone.
///
/// Exactness: `Σ amount + remainder == pool_amount`; each device's `for_credits` is its owed
/// amount when the pool covers everything owed, else `floor(pool × owed / Σ owed)`.
pub fn pay_pool(
    pool_amount: Amount,
    shares: &[&DeviceShare],
    value: Option<&CreditValue>,
) -> Result<(Vec<DevicePayout>, Amount), RewardError> {
    let owed: Vec<u64> = shares
        .iter()
        .map(|s| match value {
            Some(v) if s.earned_credits > 0 => v.units_for(s.earned_credits).ok_or(RewardError::Overflow),
            _ => Ok(0),
        })
        .collect::<Result<_, _>>()?;
    let owed_total: u128 = owed.iter().map(|&o| u128::from(o)).sum();
    let pool = u128::from(pool_amount.units());
    // Credits first, scaled down when they are worth more than the pool.
    let for_credits: Vec<u64> = if owed_total <= pool {
        owed
    } else {
        // Each quotient is at most the pool, which fits in u64.
        owed.iter()
            .map(|&o| (pool * u128::from(o) / owed_total) as u64)
            .collect()
    };
    let credits_paid: u64 = for_credits.iter().sum();
    let rest = pool_amount
        .checked_sub(Amount::from_units(credits_paid))
        .ok_or(RewardError::Overflow)?;
    // Units share what credits left; when credits took the pool, `rest` is only the rounding.
    let by_units = if owed_total < pool { rest } else { Amount::ZERO };
    let (unit_payouts, unit_remainder) = crate::payout::distribute(by_units, shares)?;
    let remainder = rest
        .checked_sub(by_units)
        .and_then(|r| r.checked_add(unit_remainder))
        .ok_or(RewardError::Overflow)?;
    // Merge: every device with credits or units, sorted by device. Every unit payout carries the
    // same pool total; a device paid only for credits shows it too.
    let pool_units = unit_payouts.first().map_or(0, |p| p.pool_units);
    let mut merged: Vec<DevicePayout> = Vec::new();
    for (share, &paid) in shares.iter().zip(&for_credits) {
        if paid == 0 {
            continue;
        }
        merged.push(DevicePayout {
            device: share.device,
            owner: share.owner,
            pool: share.pool,
            units: share.units,
            pool_units,
            pool_amount,
            amount: Amount::from_units(paid),
            for_credits: Amount::from_units(paid),
        });
    }
    merged.sort_by_key(|p| p.device);
    if let Some(w) = merged.windows(2).find(|w| w[0].device == w[1].device) {
        return Err(RewardError::DuplicateShare(w[0].device.to_string(), w[0].pool.name()));
    }
    for unit_payout in unit_payouts {
        match merged.binary_search_by_key(&unit_payout.device, |p| p.device) {
            Ok(i) => {
                let existing = &mut merged[i];
                existing.amount = existing
                    .amount
                    .checked_add(unit_payout.amount)
                    .ok_or(RewardError::Overflow)?;
            }
            Err(i) => merged.insert(i, unit_payout),
        }
    }
    debug_assert_eq!(
        merged.iter().map(|p| u128::from(p.amount.units())).sum::<u128>() + u128::from(remainder.units()),
        pool
    );
    Ok((merged, remainder))
}
