//! One epoch's reward computation: emission -> pools -> device payouts -> owner manifest.

use crate::{
    credits::{pay_pool, CreditValue},
    manifest::RewardManifest,
    payout::DevicePayout,
    pools::{split_emission, validate_split, Pool, PoolAmounts, PoolSplit},
    schedule::EmissionSchedule,
    shares::DeviceShare,
    RewardError,
};
use serde::{Deserialize, Serialize};
use trellis_primitives::{AccountAddress, Amount, Epoch};

/// Everything the engine is configured with (genesis/governance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardConfig {
    /// Emission.
    pub schedule: EmissionSchedule,
    /// Pool split.
    pub split: PoolSplit,
    /// Receives the treasury pool, rounding remainders and expired rollovers.
    pub treasury: AccountAddress,
    /// Receives the operations pool.
    pub operations: AccountAddress,
}

impl From<&trellis_ledger::RewardParams> for RewardConfig {
    /// The engine configuration the chain's reward parameters describe.
    fn from(p: &trellis_ledger::RewardParams) -> Self {
        RewardConfig {
            schedule: EmissionSchedule {
                initial_epoch_emission: p.initial_epoch_emission,
                halving_period_epochs: p.halving_period_epochs,
                supply_cap: p.supply_cap,
                net_emission: match p.net_emission_cap_per_epoch {
                    Some(max_per_epoch) => crate::schedule::NetEmission::Cap { max_per_epoch },
                    None => crate::schedule::NetEmission::Off,
                },
            },
            split: p.split.clone(),
            treasury: p.treasury,
            operations: p.operations,
        }
    }
}

impl RewardConfig {
    /// Checks every part.
    pub fn validate(&self) -> Result<(), RewardError> {
        self.schedule.validate()?;
        validate_split(&self.split)
    }
}

/// The inputs of one epoch's run: everything an auditor needs besides the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochInputs {
    /// The epoch.
    pub epoch: Epoch,
    /// Supply issued before this epoch (for the cap).
    pub issued_so_far: Amount,
    /// TRL burned during the epoch (the ledger's `epoch_burn` record; net emission re-mints it).
    pub burned_in_epoch: Amount,
    /// Unearned pool amounts carried from the previous epoch.
    pub carry: PoolAmounts,
    /// Every verifier's shares, any order.
    pub shares: Vec<DeviceShare>,
    /// What a credit is worth this epoch; earned credits are paid first at this value (see
    /// [`crate::credits`]). `None` when the chain has no TRL price yet, and in archives from
    /// before the rule: then pools are shared by units alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_value: Option<CreditValue>,
}

/// The outcome of one epoch's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochResult {
    /// Newly minted this epoch.
    pub emission: Amount,
    /// Each pool's amount this epoch (new split plus carry).
    pub pools: PoolAmounts,
    /// Every device's payout, by pool then device.
    pub devices: Vec<DevicePayout>,
    /// What goes to the treasury account: its pool, remainders and expired carry.
    pub to_treasury: Amount,
    /// Unearned amounts carried to the next epoch.
    pub next_carry: PoolAmounts,
    /// The manifest to post.
    pub manifest: RewardManifest,
}

/// Runs one epoch.
///
/// Each earning pool pays the credits its devices earned from consumers first, then shares the
/// rest by units ([`pay_pool`]).
///
/// Rollover rule: an earning pool with no payouts this epoch carries its **new** split to the same
/// pool next epoch; whatever it had carried in and again went unearned goes to the treasury. So
/// a pool never holds more than two epochs' worth, and nothing is lost:
/// `manifest.total + Σ next_carry == emission + Σ carry` (checked).
pub fn compute_epoch(config: &RewardConfig, inputs: &EpochInputs) -> Result<EpochResult, RewardError> {
    let emission = config
        .schedule
        .emission(inputs.epoch, inputs.issued_so_far, inputs.burned_in_epoch);
    let fresh = split_emission(&config.split, emission);
    let mut pools = fresh;
    for pool in Pool::ALL {
        pools.add(pool, inputs.carry.get(pool))?;
    }
    let mut devices = Vec::new();
    let mut next_carry = PoolAmounts::default();
    let mut to_treasury = pools.get(Pool::Treasury);
    for pool in Pool::EARNING {
        let shares: Vec<&DeviceShare> = inputs.shares.iter().filter(|s| s.pool == pool).collect();
        let (payouts, remainder) = pay_pool(pools.get(pool), &shares, inputs.credit_value.as_ref())?;
        if payouts.is_empty() {
            next_carry.set(pool, fresh.get(pool));
            to_treasury = to_treasury
                .checked_add(inputs.carry.get(pool))
                .ok_or(RewardError::Overflow)?;
        } else {
            to_treasury = to_treasury.checked_add(remainder).ok_or(RewardError::Overflow)?;
        }
        devices.extend(payouts);
    }
    let mut pairs: Vec<(AccountAddress, Amount)> = devices.iter().map(|d| (d.owner, d.amount)).collect();
    pairs.push((config.operations, pools.get(Pool::Operations)));
    pairs.push((config.treasury, to_treasury));
    let manifest = RewardManifest::build(inputs.epoch, pairs)?;
    let carried_in = inputs.carry.total()?;
    let carried_out = next_carry.total()?;
    let lhs = u128::from(manifest.total.units()) + u128::from(carried_out.units());
    let rhs = u128::from(emission.units()) + u128::from(carried_in.units());
    if lhs != rhs {
        return Err(RewardError::Config(format!(
            "internal accounting mismatch: paid+carried {lhs} != minted+carried {rhs}"
        )));
    }
    Ok(EpochResult {
        emission,
        pools,
        devices,
        to_treasury,
        next_carry,
        manifest,
    })
}
