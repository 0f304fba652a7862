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

/// Shares of emission per pool, in basis points (1/100 of a percent); they sum to 10,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSplit {
    /// Coverage.
    pub coverage_bps: u32,
    /// Storage.
    pub storage_bps: u32,
    /// Compute.
    pub compute_bps: u32,
    /// Sensor and energy.
    pub sensor_energy_bps: u32,
    /// Operations.
    pub operations_bps: u32,
    /// Treasury.
    pub treasury_bps: u32,
}

/// Basis points in a whole.
pub const BPS: u32 = 10_000;

impl Default for PoolSplit {
    /// 30 % coverage, 20 % storage, 20 % compute, 10 % sensor/energy, 10 % operations, 10 % treasury.
    fn default() -> Self {
        PoolSplit {
            coverage_bps: 3_000,
            storage_bps: 2_000,
            compute_bps: 2_000,
            sensor_energy_bps: 1_000,
            operations_bps: 1_000,
            treasury_bps: 1_000,
        }
    }
}

impl PoolSplit {
    fn bps(&self, pool: Pool) -> u32 {
        match pool {
            Pool::Coverage => self.coverage_bps,
            Pool::Storage => self.storage_bps,
            Pool::Compute => self.compute_bps,
            Pool::SensorEnergy => self.sensor_energy_bps,
            Pool::Operations => self.operations_bps,
            Pool::Treasury => self.treasury_bps,
        }
    }

    /// Checks the shares add up to 100 %.
    pub fn validate(&self) -> Result<(), RewardError> {
        let sum: u64 = Pool::ALL.iter().map(|p| u64::from(self.bps(*p))).sum();
        if sum != u64::from(BPS) {
            return Err(RewardError::Config(format!(
                "pool split must sum to {BPS} basis points, found {sum}"
            )));
        }
        Ok(())
    }

    /// Splits `emission`: each pool gets `emission × bps / 10,000` rounded down; the remainder goes
    /// to the treasury, so the pools sum to `emission` exactly.
    pub fn split(&self, emission: Amount) -> PoolAmounts {
        let mut out = PoolAmounts::default();
        let mut assigned: u64 = 0;
        for pool in Pool::ALL {
            let share = (u128::from(emission.units()) * u128::from(self.bps(pool)) / u128::from(BPS)) as u64;
            assigned += share;
            out.set(pool, Amount::from_units(share));
        }
        let remainder = emission.units() - assigned;
        let treasury = out.get(Pool::Treasury).units() + remainder;
        out.set(Pool::Treasury, Amount::from_units(treasury));
        debug_assert_eq!(out.total().ok(), Some(emission));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_written_out_with_remainder_to_treasury() {
        // 1,000,003 units: 30 % = 300,000.9 -> 300,000; 20 % = 200,000.6 -> 200,000 (twice);
        // 10 % = 100,000.3 -> 100,000 (three times); remainder 3 -> treasury.
        let pools = PoolSplit::default().split(Amount::from_units(1_000_003));
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
        assert!(bad.validate().unwrap_err().to_string().contains("9999"));
        PoolSplit::default().validate().unwrap();
    }
}
