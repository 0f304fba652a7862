//! The reward engine's rules as chain state: set in genesis, changed by the admin multisig, read
//! by the oracles at each epoch and by anyone auditing them.

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_option, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount,
};

/// Basis points in a whole.
pub const BPS: u32 = 10_000;

/// Shares of emission per pool, in basis points; they sum to 10,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSplit {
    /// Coverage pool share.
    pub coverage_bps: u32,
    /// Storage pool share.
    pub storage_bps: u32,
    /// Compute pool share.
    pub compute_bps: u32,
    /// Sensor and energy pool share.
    pub sensor_energy_bps: u32,
    /// Operations pool share.
    pub operations_bps: u32,
    /// Treasury pool share (it also receives remainders and expired rollovers).
    pub treasury_bps: u32,
}

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
    /// The shares in pool order (coverage, storage, compute, sensor/energy, operations, treasury).
    pub fn as_array(&self) -> [u32; 6] {
        [
            self.coverage_bps,
            self.storage_bps,
            self.compute_bps,
            self.sensor_energy_bps,
            self.operations_bps,
            self.treasury_bps,
        ]
    }

    /// Checks the shares add up to 100 %.
    pub fn validate(&self) -> Result<(), String> {
        let sum: u64 = self.as_array().iter().map(|b| u64::from(*b)).sum();
        if sum != u64::from(BPS) {
            return Err(format!("pool shares must sum to {BPS} basis points, found {sum}"));
        }
        Ok(())
    }
}

/// Emission schedule and pool split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardParams {
    /// Minted in each epoch of the first halving period.
    pub initial_epoch_emission: Amount,
    /// Epochs between halvings.
    pub halving_period_epochs: u64,
    /// Never mint past this total issued supply.
    #[serde(default)]
    pub supply_cap: Option<Amount>,
    /// Re-mint the epoch's burned TRL up to this much (Helium-style net emission); none = off.
    #[serde(default)]
    pub net_emission_cap_per_epoch: Option<Amount>,
    /// The pool split.
    pub split: PoolSplit,
    /// Receives the treasury pool.
    pub treasury: AccountAddress,
    /// Receives the operations pool.
    pub operations: AccountAddress,
}

impl RewardParams {
    /// Checks the invariants, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.halving_period_epochs == 0 {
            return Err("rewards.halving_period_epochs must be at least 1".into());
        }
        self.split.validate().map_err(|e| format!("rewards.split: {e}"))
    }
}

impl Encode for RewardParams {
    fn encode(&self, out: &mut Vec<u8>) {
        self.initial_epoch_emission.encode(out);
        self.halving_period_epochs.encode(out);
        put_option(out, &self.supply_cap);
        put_option(out, &self.net_emission_cap_per_epoch);
        for bps in self.split.as_array() {
            bps.encode(out);
        }
        self.treasury.encode(out);
        self.operations.encode(out);
    }
}

impl Decode for RewardParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RewardParams {
            initial_epoch_emission: Amount::decode(r)?,
            halving_period_epochs: r.u64()?,
            supply_cap: r.option()?,
            net_emission_cap_per_epoch: r.option()?,
            split: PoolSplit {
                coverage_bps: r.u32()?,
                storage_bps: r.u32()?,
                compute_bps: r.u32()?,
                sensor_energy_bps: r.u32()?,
                operations_bps: r.u32()?,
                treasury_bps: r.u32()?,
            },
            treasury: AccountAddress::decode(r)?,
            operations: AccountAddress::decode(r)?,
        })
    }
}
