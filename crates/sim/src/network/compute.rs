//! Compute providers running jobs in the compute crate's deterministic executor (the real
//! reference module rendering small tiles), committing with its commitment function, honestly
//! or like the fixtures of `trellis_compute::behaviour`; the ledger's replay draw picks which
//! jobs a verifier re-executes, a mismatch is fraud (the job unpaid, the provider slashed out of
//! the market for the rest of the run, as its stake no longer covers a job), and a replay that
//! agrees confirms the run: its credits (the ask for the fuel claimed) over the chance it was
//! replayed are the compute pool's units, as the ledger records them and the oracle counts
//! them (`trellis_ledger::execute::compute_verified_units`). Runs nobody replayed earn no pool
//! units, so a cheat is paid from the pool only on the runs that expose it.
//!
//! Executions are memoised by input: the executor is deterministic, so running a job twice
//! gives the same execution, and the provider's and the verifier's runs are the same call.

use super::{
    block_hash, draw,
    population::{Attack, Class, Population},
    DeviceEpoch, NetworkConfig,
};
use std::collections::{BTreeMap, BTreeSet};
use trellis_compute::{
    behaviour::Behaviour,
    commitment::{blob_hash, commitment},
    exec::{Execution, Executor, JobModule, Limits},
    kernels::{guest_hash, GUEST_WASM, RENDER_ENTRY},
};
use trellis_ledger::execute::{compute_verified_units, drawn_for_replay};
use trellis_primitives::{Credits, Hash, HashDomain};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

/// Jobs each provider runs an epoch.
const JOBS_PER_EPOCH: u32 = 3;
/// Distinct job inputs (tiles) the market's consumers post.
const DISTINCT_TILES: u64 = 16;
/// What every provider asks, credits per 10^9 fuel (small tiles: a few million fuel each).
const PRICE: u64 = 50_000;
const LIMITS: Limits = Limits {
    fuel: 200_000_000,
    memory_bytes: 64 << 20,
};

pub(super) struct Compute {
    executor: Executor,
    module: JobModule,
    cache: BTreeMap<u64, (Vec<u8>, Execution)>,
    /// Providers convicted of fraud: out of the market.
    convicted: BTreeSet<usize>,
    sample_ppm: u32,
    seed: u64,
}

impl Compute {
    pub(super) fn new(config: &NetworkConfig) -> Result<Self, super::SimError> {
        let executor = Executor::new();
        let module = executor
            .load(GUEST_WASM)
            .map_err(|e| super::SimError::Module(e.to_string()))?;
        Ok(Compute {
            executor,
            module,
            cache: BTreeMap::new(),
            convicted: BTreeSet::new(),
            sample_ppm: config.compute_sample_ppm,
            seed: config.seed,
        })
    }

    /// Tile `t`'s input and its honest execution.
    fn job(&mut self, t: u64) -> Option<(Vec<u8>, Execution)> {
        if let Some(hit) = self.cache.get(&t) {
            return Some(hit.clone());
        }
        let module = &self.module;
        let tile = trellis_kernels::render::Tile::grid(16, 16, 1, 1, 2, 0x5eed_0000 + t)[0];
        let input = tile.encode(trellis_kernels::render::DEMO_SCENE.as_bytes());
        let exec = self.executor.run(module, RENDER_ENTRY, &input, LIMITS).ok()?;
        self.cache.insert(t, (input.clone(), exec.clone()));
        Some((input, exec))
    }

    pub(super) fn epoch(&mut self, e: u32, pop: &Population, out: &mut [DeviceEpoch]) -> Vec<DeviceShare> {
        let module_hash = guest_hash();
        let mut shares = Vec::new();
        for i in pop.of(Class::Compute).collect::<Vec<_>>() {
            if self.convicted.contains(&i) {
                out[i].flagged = true;
                out[i].reasons = vec!["convicted".into()];
                continue;
            }
            let dev = &pop.devices[i];
            let behaviour = match dev.attack {
                Some(Attack::LazyComputer) => Behaviour::WrongOutput,
                Some(Attack::FuelInflater) => Behaviour::InflateFuel,
                _ => Behaviour::Honest,
            };
            let mut units = 0u64;
            let mut breakdown = ShareBreakdown::default();
            for j in 0..JOBS_PER_EPOCH {
                let t = draw(
                    self.seed,
                    &[b"tile", &dev.address.key().0, &e.to_le_bytes(), &j.to_le_bytes()],
                ) % DISTINCT_TILES;
                let Some((input, honest)) = self.job(t) else { continue };
                let input_hash = blob_hash(&input);
                let claimed = behaviour.claim(honest.clone(), LIMITS);
                let committed = commitment(&module_hash, RENDER_ENTRY, &input_hash, &claimed);
                let id = HashDomain::ComputeSampling.hash_parts(&[
                    b"sim job",
                    &dev.address.key().0,
                    &e.to_le_bytes(),
                    &j.to_le_bytes(),
                ]);
                // The job's commit block: one of the epoch's simulated blocks.
                let entropy: Hash = block_hash(self.seed, e, j % 6);
                let credits = Credits((u128::from(PRICE) * u128::from(claimed.fuel_used) / 1_000_000_000) as u64);
                if drawn_for_replay(&entropy, &id, self.sample_ppm) {
                    let replayed = commitment(&module_hash, RENDER_ENTRY, &input_hash, &honest);
                    if replayed != committed {
                        *breakdown.rejected_reports.entry("replay_mismatch".into()).or_default() += 1;
                        self.convicted.insert(i);
                        break;
                    }
                    units = units.saturating_add(compute_verified_units(credits, self.sample_ppm));
                }
                breakdown.counted_reports += 1;
            }
            out[i].flagged = !breakdown.rejected_reports.is_empty();
            out[i].reasons = breakdown.rejected_reports.keys().cloned().collect();
            if self.convicted.contains(&i) {
                // A convicted provider's open jobs of the epoch are not paid.
                units = 0;
            }
            breakdown.factors = vec![("verified_units".into(), units)];
            shares.push(DeviceShare {
                device: dev.address,
                owner: dev.owner,
                pool: Pool::Compute,
                units,
                earned_credits: 0,
                breakdown,
            });
        }
        shares
    }
}
