//! Splitting an epoch's emission into pools, and what happens to pools nobody earned from.

use crate::RewardError;
use serde::{Deserialize, Serialize};
use trellis_primitives::Amount;

/// A reward pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Wireless proof-of-coverage (hotspots).
    Coverage,
    /// Proven storage.
    Storage,
    /// Verified compute.
    Compute,
    /// Sensor and energy data.
    SensorEnergy,
    /// Network operations (oracles, verifiers, ingest), paid to the operations account.
    Operations,
    /// Treasury: receives its share plus every rounding remainder and expired rollover.
    Treasury,
}

impl Pool {
    /// Every pool, in manifest order.
    pub const ALL: [Pool; 6] = [
        Pool::Coverage,
        Pool::Storage,
        Pool::Compute,
        Pool::SensorEnergy,
        Pool::Operations,
        Pool::Treasury,
    ];
    /// The pools devices earn from.
    pub const EARNING: [Pool; 4] = [Pool::Coverage, Pool::Storage, Pool::Compute, Pool::SensorEnergy];

    fn index(self) -> usize {
        Pool::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Coverage => "coverage",
            Pool::Storage => "storage",
            Pool::Compute => "compute",
            Pool::SensorEnergy => "sensor_energy",
            Pool::Operations => "operations",
            Pool::Treasury => "treasury",
        }
    }
}

/// An amount per pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PoolAmounts(pub [Amount; 6]);

impl PoolAmounts {
    /// The amount of `pool`.
    pub fn get(&self, pool: Pool) -> Amount {
        self.0[pool.index()]
    }

    /// Sets the amount of `pool`.
    pub fn set(&mut self, pool: Pool, amount: Amount) {
        self.0[pool.index()] = amount;
    }

    /// Adds to `pool`.
    pub fn add(&mut self, pool: Pool, amount: Amount) -> Result<(), RewardError> {
        let sum = self.get(pool).checked_add(amount).ok_or(RewardError::Overflow)?;
        self.set(pool, sum);
        Ok(())
    }

    /// The sum over all pools.
    pub fn total(&self) -> Result<Amount, RewardError> {
        self.0
            .iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(*a).ok_or(RewardError::Overflow))
    }
}

pub use trellis_ledger::reward_params::{PoolSplit, BPS};

fn bps(split: &PoolSplit, pool: Pool) -> u32 {
    split.as_array()[pool.index()]
}

/// Checks the shares add up to 100 %.
pub fn validate_split(split: &PoolSplit) -> Result<(), RewardError> {
    split.validate().map_err(RewardError::Config)
}

/// Splits `emission`: each pool gets `emission × bps / 10,000` rounded down; the remainder goes
/// to the treasury, so the pools sum to `emission` exactly.
pub fn split_emission(split: &PoolSplit, emission: Amount) -> PoolAmounts {
    let mut out = PoolAmounts::default();
    let mut assigned: u64 = 0;
    for pool in Pool::ALL {
        let share = (u128::from(emission.units()) * u128::from(bps(split, pool)) / u128::from(BPS)) as u64;
        assigned += share;
        out.set(pool, Amount::from_units(share));
    }
    let remainder = emission.units() - assigned;
    let treasury = out.get(Pool::Treasury).units() + remainder;
    out.set(Pool::Treasury, Amount::from_units(treasury));
    debug_assert_eq!(out.total().ok(), Some(emission));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_written_out_with_remainder_to_treasury() {
        // 1,000,003 units: 30 % = 300,000.9 -> 300,000; 20 % = 200,000.6 -> 200,000 (twice);
        // 10 % = 100,000.3 -> 100,000 (three times); remainder 3 -> treasury.
        let pools = split_emission(&PoolSplit::default(), Amount::from_units(1_000_003));
        let units: Vec<u64> = pools.0.iter().map(|a| a.units()).collect();
        assert_eq!(units, vec![300_000, 200_000, 200_000, 100_000, 100_000, 100_003]);
        assert_eq!(pools.total().unwrap().units(), 1_000_003);
    }

    #[test]
    fn split_must_sum_to_one_hundred_percent() {
        let bad = PoolSplit {
            treasury_bps: 999,
            ..PoolSplit::default()
        };
        assert!(validate_split(&bad).unwrap_err().to_string().contains("9999"));
        validate_split(&PoolSplit::default()).unwrap();
    }
}
