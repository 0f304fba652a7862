//! `trellis sim network`: a whole Trellis network in one process, through the real verifier and
//! reward code: the coverage crate's epoch run over simulated beacons and witnesses, the QoD
//! scorer over simulated weather and meters, the storage crate's challenges, proofs, signed
//! answers and checks with the ledger's reputation, the compute crate's executor and commitments
//! with the ledger's replay draw, and the reward engine's epoch computation over all of their
//! shares. Honest devices and cheaters of every kind live on one map; the report says, per
//! attack, how often and how soon it was caught and what it earned next to an honest device of
//! its class.
//!
//! What is simulated rather than run: the radio (the log-distance model of [`crate::air`]), the
//! weather ([`crate::weather`]), the chain (block hashes are a hash of the seed and the epoch,
//! device facts are what an honest chain would hold), and transport (no HTTP and no files: every
//! beacon, witness and reading is signed by its device's key and goes through ingest's own
//! admission pipeline — screening, batched signature verification, duplicates, rate limits —
//! and the verifiers decode the admitted frames as they decode the report log).
//!
//! **Deterministic:** every draw is a hash of the seed; the same configuration gives the same
//! report bytes.

mod compute;
mod coverage;
pub mod ideal;
mod ingest;
pub mod limit;
pub mod population;
pub mod report;
mod sensors;
mod storage;

use population::{Class, Population};
use std::collections::BTreeMap;
use trellis_primitives::{Amount, DeviceAddress, Epoch, Hash, HashDomain};
use trellis_rewards::{
    compute_epoch, DeviceShare, EmissionSchedule, EpochInputs, NetEmission, PoolAmounts, PoolSplit, RewardConfig,
};

/// The simulated epoch length (the network's daily epoch scaled to an hour, so a run of a day
/// exercises 24 settlements).
pub const EPOCH_MS: u64 = 3_600_000;
/// When the simulated network starts: 2026-12-02 00:00 UTC.
pub const START_MS: u64 = 1_796_169_600_000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Seeds every draw.
    pub seed: u64,
    /// Epochs to run.
    pub epochs: u32,
    /// Hotspots.
    pub hotspots: u32,
    /// Weather stations.
    pub stations: u32,
    /// Energy meters.
    pub meters: u32,
    /// Storage providers.
    pub storage: u32,
    /// Compute providers.
    pub compute: u32,
    /// Devices per attack, as basis points of their class (at least one group of each attack
    /// whose class has devices).
    pub cheater_bps: u32,
    /// Share of compute jobs replayed, ppm (the jobs' `sample_ppm`).
    pub compute_sample_ppm: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            seed: 7,
            epochs: 24,
            hotspots: 1_000,
            stations: 500,
            meters: 100,
            storage: 100,
            compute: 50,
            cheater_bps: 300,
            compute_sample_ppm: 200_000,
        }
    }
}

impl NetworkConfig {
    /// All devices.
    pub fn devices(&self) -> u64 {
        [self.hotspots, self.stations, self.meters, self.storage, self.compute]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
}

/// A reproducible 64-bit draw from the seed and some labels.
pub(crate) fn draw(seed: u64, labels: &[&[u8]]) -> u64 {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(labels.len() + 1);
    let seed_bytes = seed.to_le_bytes();
    parts.push(&seed_bytes);
    parts.extend_from_slice(labels);
    let h = HashDomain::BlockHeader.hash_parts(&parts);
    u64::from_le_bytes(h.0[..8].try_into().unwrap_or([0; 8]))
}

/// The simulated chain's block hash at `minute` of `epoch` (ten-minute blocks of entropy).
pub(crate) fn block_hash(seed: u64, epoch: u32, slot: u32) -> Hash {
    HashDomain::BlockHeader.hash_parts(&[
        b"sim block",
        &seed.to_le_bytes(),
        &epoch.to_le_bytes(),
        &slot.to_le_bytes(),
    ])
}

/// One device's epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceEpoch {
    /// Its reward units in its pool.
    pub units: u64,
    /// What it was paid, base units.
    pub paid: u64,
    /// Whether the verifiers found evidence of cheating against it this epoch.
    pub flagged: bool,
    /// The typed reasons, for the report.
    pub reasons: Vec<String>,
    /// For a Sybil identity: the chance, ppm, that an ideal detector would miss it on the links
    /// the verifier judged this epoch ([`limit`]).
    pub ideal_miss_ppm: Option<u64>,
    /// For a Sybil identity and a sample of honest hotspots: how much better the best place
    /// explains the readings it drew than its asserted place, under the ideal test
    /// ([`ideal`]), thousandths of σ².
    pub ideal_gain_milli: Option<i64>,
}

/// The whole run: every device's every epoch.
#[derive(Debug)]
pub struct NetworkRun {
    /// The configuration.
    pub config: NetworkConfig,
    /// The devices.
    pub population: Population,
    /// `epochs[e][device index]`.
    pub epochs: Vec<Vec<DeviceEpoch>>,
    /// Coverage units per hotspot summed over the run, by asserted cell at resolution 12.
    pub coverage_cells: BTreeMap<u64, u64>,
    /// Reports ingest admitted over the run (beacons, witnesses, readings).
    pub ingest_admitted: u64,
    /// Reports ingest refused, by reason.
    pub ingest_refused: BTreeMap<&'static str, u64>,
}

/// The reward rules of the simulated network: 10,000 TRL per epoch, the default pool split.
fn reward_config(pop: &Population) -> RewardConfig {
    RewardConfig {
        schedule: EmissionSchedule {
            initial_epoch_emission: Amount::from_units(10_000 * trellis_primitives::UNITS_PER_TRL),
            halving_period_epochs: 730,
            supply_cap: None,
            net_emission: NetEmission::Off,
        },
        split: PoolSplit::default(),
        treasury: pop.treasury,
        operations: pop.operations,
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The reward engine refused an epoch.
    #[error("reward engine: {0}")]
    Reward(#[from] trellis_rewards::RewardError),
    /// The compute job module did not load.
    #[error("compute job module: {0}")]
    Module(String),
}

/// Runs the network; `progress` is called after each epoch.
pub fn run(config: &NetworkConfig, mut progress: impl FnMut(u32)) -> Result<NetworkRun, SimError> {
    let pop = Population::generate(config);
    let index: BTreeMap<DeviceAddress, usize> = pop.devices.iter().enumerate().map(|(i, d)| (d.address, i)).collect();
    let rewards = reward_config(&pop);
    let mut coverage = coverage::Coverage::new(config, &pop);
    let mut sensors = sensors::Sensors::new(config, &pop);
    let mut storage = storage::Storage::new(config, &pop);
    let mut compute = compute::Compute::new(config)?;
    let mut door = ingest::Door::new();
    let mut carry = PoolAmounts::default();
    let mut issued = Amount::ZERO;
    let mut epochs = Vec::new();
    let mut coverage_cells: BTreeMap<u64, u64> = BTreeMap::new();
    for e in 0..config.epochs {
        let mut out = vec![DeviceEpoch::default(); pop.devices.len()];
        let mut shares: Vec<DeviceShare> = Vec::new();
        for part in [
            coverage.epoch(e, &pop, &mut door, &mut out),
            sensors.epoch(e, &pop, &mut door, &mut out),
            storage.epoch(e, &pop, &mut out),
            compute.epoch(e, &pop, &mut out),
        ] {
            shares.extend(part);
        }
        for s in &shares {
            if let Some(&i) = index.get(&s.device) {
                out[i].units = s.units;
                if pop.devices[i].class == Class::Hotspot {
                    *coverage_cells.entry(pop.devices[i].asserted_cell).or_default() += s.units;
                }
            }
        }
        let inputs = EpochInputs {
            epoch: Epoch(u64::from(e)),
            issued_so_far: issued,
            burned_in_epoch: Amount::ZERO,
            carry,
            shares,
            credit_value: None,
        };
        let result = compute_epoch(&rewards, &inputs)?;
        for p in &result.devices {
            if let Some(&i) = index.get(&p.device) {
                out[i].paid = out[i].paid.saturating_add(p.amount.units());
            }
        }
        issued = issued.checked_add(result.manifest.total).unwrap_or(issued);
        carry = result.next_carry;
        epochs.push(out);
        progress(e + 1);
    }
    Ok(NetworkRun {
        config: config.clone(),
        population: pop,
        epochs,
        coverage_cells,
        ingest_admitted: door.admitted,
        ingest_refused: door.refused,
    })
}
