//! The reward engine's rules as chain state: set in genesis, changed by the admin multisig, read
//! by the oracles at each epoch and by anyone auditing them.

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_option, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount,
};

/// Basis points in a whole.
pub const BPS: u32 = 10_000;

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
    /// Coverage pool share, basis points.
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
    /// Receives the treasury pool.
    pub treasury: AccountAddress,
    /// Receives the operations pool.
    pub operations: AccountAddress,
}

impl RewardParams {
    /// The split, in pool order (coverage, storage, compute, sensor/energy, operations, treasury).
    pub fn split_bps(&self) -> [u32; 6] {
        [
            self.coverage_bps,
            self.storage_bps,
            self.compute_bps,
            self.sensor_energy_bps,
            self.operations_bps,
            self.treasury_bps,
        ]
    }

    /// Checks the invariants, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.halving_period_epochs == 0 {
            return Err("rewards.halving_period_epochs must be at least 1".into());
        }
        let sum: u64 = self.split_bps().iter().map(|b| u64::from(*b)).sum();
        if sum != u64::from(BPS) {
            return Err(format!(
                "rewards: pool shares must sum to {BPS} basis points, found {sum}"
            ));
        }
        Ok(())
    }
}

impl Encode for RewardParams {
    fn encode(&self, out: &mut Vec<u8>) {
        self.initial_epoch_emission.encode(out);
        self.halving_period_epochs.encode(out);
        put_option(out, &self.supply_cap);
        put_option(out, &self.net_emission_cap_per_epoch);
        for bps in self.split_bps() {
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
            coverage_bps: r.u32()?,
            storage_bps: r.u32()?,
            compute_bps: r.u32()?,
            sensor_energy_bps: r.u32()?,
            operations_bps: r.u32()?,
            treasury_bps: r.u32()?,
            treasury: AccountAddress::decode(r)?,
            operations: AccountAddress::decode(r)?,
        })
    }
}
