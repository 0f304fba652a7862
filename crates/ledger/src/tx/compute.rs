//! Compute jobs: what a consumer posts, what providers and verifiers sign.
//!
//! A job names a content-addressed WASM module, an entry point and a content-addressed input,
//! its limits (fuel, memory), the most it pays per 10^9 fuel, and how it is verified (the
//! share of jobs re-executed, and how many providers run it independently). The ledger never
//! runs a job: it matches it to providers, holds the escrow, records commitments, samples jobs
//! for replay from block entropy, and settles by the commitments it is shown.

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_bytes, Decode, DecodeError, Encode, Reader},
    AccountAddress, Credits, DeviceAddress, Hash, HashDomain,
};

/// Longest entry-point name.
pub const MAX_ENTRY_BYTES: usize = 64;
/// Most providers that run one job independently (k-of-n redundant execution).
pub const MAX_REPLICAS: u8 = 3;
/// Largest fuel budget of one job (the executor's own bound; ~100 s of interpretation).
pub const MAX_JOB_FUEL: u64 = 50_000_000_000;
/// Largest memory cap of one job, bytes.
pub const MAX_JOB_MEMORY_BYTES: u64 = 1 << 30;
/// Longest a provider may take to commit, blocks.
pub const MAX_DEADLINE_BLOCKS: u32 = 10_000;
/// Fuel per pricing unit: prices are credits per 10^9 fuel ("gigafuel").
pub const FUEL_PER_GFUEL: u64 = 1_000_000_000;
/// Parts per million, the unit of sampling rates.
pub const PPM: u32 = 1_000_000;

/// What a consumer asks to have computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Random per job: lets the same computation be bought twice.
    #[serde(with = "super::hex16")]
    pub nonce: [u8; 16],
    /// Content address of the module.
    pub module: Hash,
    /// The exported entry point to call.
    pub entry: String,
    /// Content address of the input.
    pub input: Hash,
    /// Fuel budget.
    pub fuel: u64,
    /// Memory cap, bytes.
    pub memory_bytes: u64,
    /// The most the consumer pays a provider per 10^9 fuel used.
    pub max_price_per_gfuel: Credits,
    /// The lowest capability score (benchmark fuel per second / 10^6) a provider may have.
    pub min_score: u64,
    /// The chance, in ppm, that the job is re-executed by a verifier (at least the chain's
    /// minimum; `1_000_000` verifies every run).
    pub sample_ppm: u32,
    /// How many providers run the job independently (1 to 3); any disagreement is arbitrated.
    pub replicas: u8,
    /// Blocks a provider has to commit its result before the job may be reassigned.
    pub deadline_blocks: u32,
}

impl JobSpec {
    /// The job id: the client and the spec. Including the client means nobody can post someone
    /// else's job id first.
    pub fn id(&self, client: &AccountAddress) -> Hash {
        let mut bytes = Vec::with_capacity(160);
        client.encode(&mut bytes);
        self.encode(&mut bytes);
        HashDomain::ComputeSampling.hash_parts(&[b"job id", &bytes])
    }

    /// The most one run can cost at the job's price: `ceil(max_price × fuel / 10^9)`.
    pub fn max_run_cost(&self) -> Option<Credits> {
        price_of(self.max_price_per_gfuel, self.fuel)
    }

    /// The escrow a job locks: one run per replica plus one replay by a verifier.
    pub fn escrow(&self) -> Option<Credits> {
        let runs = u64::from(self.replicas).checked_add(1)?;
        self.max_run_cost()?.0.checked_mul(runs).map(Credits)
    }

    /// Checks the spec against the bounds; `min_sample_ppm` is the chain's floor.
    pub fn validate(&self, min_sample_ppm: u32) -> Result<(), String> {
        if self.entry.is_empty() || self.entry.len() > MAX_ENTRY_BYTES {
            return Err(format!("the entry point name must be 1 to {MAX_ENTRY_BYTES} bytes"));
        }
        if self.fuel == 0 || self.fuel > MAX_JOB_FUEL {
            return Err(format!("fuel must be 1 to {MAX_JOB_FUEL}"));
        }
        if self.memory_bytes < 65_536 || self.memory_bytes > MAX_JOB_MEMORY_BYTES {
            return Err(format!("memory must be 64 KiB to {MAX_JOB_MEMORY_BYTES} bytes"));
        }
        if self.max_price_per_gfuel.0 == 0 {
            return Err("the job must pay something: max_price_per_gfuel is 0".into());
        }
        if self.sample_ppm < min_sample_ppm || self.sample_ppm > PPM {
            return Err(format!(
                "sample_ppm must be {min_sample_ppm} (the chain's minimum) to {PPM}"
            ));
        }
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return Err(format!("replicas must be 1 to {MAX_REPLICAS}"));
        }
        if self.deadline_blocks == 0 || self.deadline_blocks > MAX_DEADLINE_BLOCKS {
            return Err(format!("deadline_blocks must be 1 to {MAX_DEADLINE_BLOCKS}"));
        }
        Ok(())
    }
}

/// `ceil(price × fuel / 10^9)`, the credits for `fuel` at `price` per gigafuel.
pub fn price_of(price_per_gfuel: Credits, fuel: u64) -> Option<Credits> {
    let total = u128::from(price_per_gfuel.0)
        .checked_mul(u128::from(fuel))?
        .div_ceil(u128::from(FUEL_PER_GFUEL));
    u64::try_from(total).ok().map(Credits)
}

impl Encode for JobSpec {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce);
        self.module.encode(out);
        put_bytes(out, self.entry.as_bytes());
        self.input.encode(out);
        self.fuel.encode(out);
        self.memory_bytes.encode(out);
        self.max_price_per_gfuel.encode(out);
        self.min_score.encode(out);
        self.sample_ppm.encode(out);
        self.replicas.encode(out);
        self.deadline_blocks.encode(out);
    }
}

impl Decode for JobSpec {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(JobSpec {
            nonce: r.array()?,
            module: Hash::decode(r)?,
            entry: r.string("entry point", MAX_ENTRY_BYTES)?,
            input: Hash::decode(r)?,
            fuel: r.u64()?,
            memory_bytes: r.u64()?,
            max_price_per_gfuel: Credits::decode(r)?,
            min_score: r.u64()?,
            sample_ppm: r.u32()?,
            replicas: r.u8()?,
            deadline_blocks: r.u32()?,
        })
    }
}

/// What an execution claims: the commitment and the fuel it says it used (both checked by
/// replay: the commitment covers the fuel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeClaim {
    /// `hash(runtime, module, entry, input, outcome, fuel)` (see `trellis-compute`).
    pub commitment: Hash,
    /// Fuel used.
    pub fuel_used: u64,
}

impl Encode for ComputeClaim {
    fn encode(&self, out: &mut Vec<u8>) {
        self.commitment.encode(out);
        self.fuel_used.encode(out);
    }
}

impl Decode for ComputeClaim {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ComputeClaim {
            commitment: Hash::decode(r)?,
            fuel_used: r.u64()?,
        })
    }
}

/// The compute market's transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum ComputeTx {
    /// A provider's standing offer: slots, ask and capability score. `slots: 0` withdraws it.
    SetOffer {
        /// The compute device (owned by the signer).
        device: DeviceAddress,
        /// Jobs it runs at once.
        slots: u16,
        /// Its ask, credits per 10^9 fuel.
        price_per_gfuel: Credits,
        /// Its capability score: benchmark fuel per second / 10^6.
        score: u64,
    },
    /// Post a job: escrow its worst-case price and have it matched to providers.
    PostJob {
        /// The job.
        spec: JobSpec,
    },
    /// An assigned provider's result.
    Commit {
        /// The job.
        job: Hash,
        /// The provider (owned by the signer).
        device: DeviceAddress,
        /// What it computed.
        claim: ComputeClaim,
    },
    /// A selected verifier's replay of a job.
    Verify {
        /// The job.
        job: Hash,
        /// The verifier (owned by the signer).
        device: DeviceAddress,
        /// What the replay computed.
        claim: ComputeClaim,
    },
    /// Settle a job whose verification window is over (anyone may send it).
    Finalize {
        /// The job.
        job: Hash,
    },
    /// Move a job away from providers that missed their deadline (anyone may send it).
    Reassign {
        /// The job.
        job: Hash,
    },
}

impl ComputeTx {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SetOffer { .. } => "compute_set_offer",
            Self::PostJob { .. } => "compute_post_job",
            Self::Commit { .. } => "compute_commit",
            Self::Verify { .. } => "compute_verify",
            Self::Finalize { .. } => "compute_finalize",
            Self::Reassign { .. } => "compute_reassign",
        }
    }
}

impl Encode for ComputeTx {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::SetOffer {
                device,
                slots,
                price_per_gfuel,
                score,
            } => {
                out.push(1);
                device.encode(out);
                slots.encode(out);
                price_per_gfuel.encode(out);
                score.encode(out);
            }
            Self::PostJob { spec } => {
                out.push(2);
                spec.encode(out);
            }
            Self::Commit { job, device, claim } | Self::Verify { job, device, claim } => {
                out.push(if matches!(self, Self::Commit { .. }) { 3 } else { 4 });
                job.encode(out);
                device.encode(out);
                claim.encode(out);
            }
            Self::Finalize { job } => {
                out.push(5);
                job.encode(out);
            }
            Self::Reassign { job } => {
                out.push(6);
                job.encode(out);
            }
        }
    }
}

impl Decode for ComputeTx {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            1 => Self::SetOffer {
                device: DeviceAddress::decode(r)?,
                slots: r.u16()?,
                price_per_gfuel: Credits::decode(r)?,
                score: r.u64()?,
            },
            2 => Self::PostJob {
                spec: JobSpec::decode(r)?,
            },
            3 => Self::Commit {
                job: Hash::decode(r)?,
                device: DeviceAddress::decode(r)?,
                claim: ComputeClaim::decode(r)?,
            },
            4 => Self::Verify {
                job: Hash::decode(r)?,
                device: DeviceAddress::decode(r)?,
                claim: ComputeClaim::decode(r)?,
            },
            5 => Self::Finalize { job: Hash::decode(r)? },
            6 => Self::Reassign { job: Hash::decode(r)? },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "compute transaction",
                    tag,
                })
            }
        })
    }
}
