//! Compute market records: providers' standing offers, jobs and their runs, recent block hashes.

use super::*;
use crate::tx::{ComputeClaim, JobSpec, MAX_REPLICAS};

/// Most providers a job may be moved away from (missed deadlines) before it fails: bounds the
/// job record and the consumer's wait.
pub const MAX_EXCLUDED: usize = 3 * MAX_REPLICAS as usize;
/// Most verifications on one job: the sampled verifier, then an arbiter if it disagreed.
pub const MAX_VERIFICATIONS: usize = 2;
/// Recent block hashes kept in state for entropy (the EVM keeps 256 too; EIP-2935 stores them
/// in state the same way). Verification windows must end well inside this.
pub const RECENT_HASHES: u64 = 256;

/// A compute provider's standing offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ComputeOffer {
    /// Jobs it runs at once.
    pub slots: u16,
    /// Its ask, credits per 10^9 fuel.
    pub price_per_gfuel: Credits,
    /// Its capability score (benchmark Mfuel/s).
    pub score: u64,
    /// Jobs assigned to it and not yet committed.
    pub active: u16,
}

/// One provider's run of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JobRun {
    /// Who runs it.
    pub provider: DeviceAddress,
    /// Its ask when the job was matched: what it is paid per 10^9 fuel.
    pub price_per_gfuel: Credits,
    /// When it was assigned (its deadline counts from here).
    pub assigned_height: u64,
    /// What it committed, once it has.
    pub claim: Option<ComputeClaim>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum JobStatus {
    /// Waiting for runs, or for verification.
    Open,
    /// Paid out: the runs agreed with each other and with any verification.
    Settled {
        /// The commitment everyone honest agreed on.
        commitment: Hash,
        /// Whether a verifier replayed it.
        verified: bool,
    },
    /// Over without a result the consumer pays for; the escrow went back.
    Failed {
        /// Why.
        reason: JobFailure,
    },
}

/// Why a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobFailure {
    /// No eligible provider was left to run it.
    NoProvider,
    /// A provider's commitment lost to the replay: it was slashed (the client re-posts).
    Fraud,
    /// The runs and the verifications agreed on nothing, or verification never finished.
    Unresolved,
}

/// A posted job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Job {
    /// The consumer that posted and pays for it.
    pub client: AccountAddress,
    /// What was asked.
    pub spec: JobSpec,
    /// Credits still held for it.
    pub escrow: Credits,
    /// Height it was posted at.
    pub posted_height: u64,
    /// One run per replica.
    pub runs: Vec<JobRun>,
    /// Providers moved off the job for missing their deadline (never matched to it again).
    pub excluded: Vec<DeviceAddress>,
    /// Height of the block holding the last run's commit; its hash decides sampling.
    pub committed_height: Option<u64>,
    /// Verifiers' replays, in order (the sampled verifier, then the arbiter).
    pub verifications: Vec<(DeviceAddress, ComputeClaim)>,
    /// Where it stands.
    pub status: JobStatus,
    /// Credits paid out (providers and verifiers).
    pub paid: Credits,
}

impl Encode for ComputeOffer {
    fn encode(&self, out: &mut Vec<u8>) {
        self.slots.encode(out);
        self.price_per_gfuel.encode(out);
        self.score.encode(out);
        self.active.encode(out);
    }
}
impl Decode for ComputeOffer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ComputeOffer {
            slots: r.u16()?,
            price_per_gfuel: Credits::decode(r)?,
            score: r.u64()?,
            active: r.u16()?,
        })
    }
}

impl Encode for JobRun {
    fn encode(&self, out: &mut Vec<u8>) {
        self.provider.encode(out);
        self.price_per_gfuel.encode(out);
        self.assigned_height.encode(out);
        put_option(out, &self.claim);
    }
}
impl Decode for JobRun {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(JobRun {
            provider: DeviceAddress::decode(r)?,
            price_per_gfuel: Credits::decode(r)?,
            assigned_height: r.u64()?,
            claim: r.option()?,
        })
    }
}

impl Encode for JobStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Open => out.push(0),
            Self::Settled { commitment, verified } => {
                out.push(1);
                commitment.encode(out);
                verified.encode(out);
            }
            Self::Failed { reason } => {
                out.push(2);
                out.push(match reason {
                    JobFailure::NoProvider => 0,
                    JobFailure::Fraud => 1,
                    JobFailure::Unresolved => 2,
                });
            }
        }
    }
}
impl Decode for JobStatus {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            0 => Self::Open,
            1 => Self::Settled {
                commitment: Hash::decode(r)?,
                verified: bool::decode(r)?,
            },
            2 => Self::Failed {
                reason: match r.u8()? {
                    0 => JobFailure::NoProvider,
                    1 => JobFailure::Fraud,
                    2 => JobFailure::Unresolved,
                    tag => {
                        return Err(DecodeError::InvalidTag {
                            what: "job failure",
                            tag,
                        })
                    }
                },
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "job status",
                    tag,
                })
            }
        })
    }
}

impl Encode for Job {
    fn encode(&self, out: &mut Vec<u8>) {
        self.client.encode(out);
        self.spec.encode(out);
        self.escrow.encode(out);
        self.posted_height.encode(out);
        put_list(out, &self.runs);
        put_list(out, &self.excluded);
        put_option(out, &self.committed_height);
        put_list(out, &self.verifications);
        self.status.encode(out);
        self.paid.encode(out);
    }
}
impl Decode for Job {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Job {
            client: AccountAddress::decode(r)?,
            spec: JobSpec::decode(r)?,
            escrow: Credits::decode(r)?,
            posted_height: r.u64()?,
            runs: r.list("job runs", usize::from(MAX_REPLICAS))?,
            excluded: r.list("excluded providers", MAX_EXCLUDED)?,
            committed_height: r.option()?,
            verifications: r.list("verifications", MAX_VERIFICATIONS)?,
            status: JobStatus::decode(r)?,
            paid: Credits::decode(r)?,
        })
    }
}

/// A compute device with its offer, as clients and verifiers see it.
#[derive(Debug, Clone)]
pub struct ComputeProvider {
    /// Its address.
    pub address: DeviceAddress,
    /// Its registry record.
    pub device: Device,
    /// Its standing offer.
    pub offer: ComputeOffer,
    /// Where it serves, if published.
    pub endpoint: Option<String>,
}

/// Every compute device with an offer, in address-key order.
pub fn compute_providers<S: Store + StateRead>(s: &S) -> Result<Vec<ComputeProvider>, CorruptState> {
    table::<ComputeOffer>(s, keys::OFFER_TABLE)?
        .into_iter()
        .map(|(k, offer)| {
            let address = DeviceAddress::from(PublicKey(fixed_key(&k)?));
            let device = required(s.device(&address)?, &keys::device(&address))?;
            Ok(ComputeProvider {
                address,
                device,
                offer,
                endpoint: s.endpoint(&address)?,
            })
        })
        .collect()
}

/// Every job, in id order.
pub fn jobs(s: &impl Store) -> Result<Vec<(Hash, Job)>, CorruptState> {
    table::<Job>(s, keys::JOB_TABLE)?
        .into_iter()
        .map(|(k, j)| Ok((Hash(fixed_key(&k)?), j)))
        .collect()
}

/// The hash of block `height`, if it is among the [`RECENT_HASHES`] kept.
pub fn recent_hash(s: &impl StateRead, height: u64) -> Result<Option<Hash>, CorruptState> {
    let entry: Option<(u64, Hash)> = s.read(&keys::recent_hash(height))?;
    Ok(entry.filter(|(h, _)| *h == height).map(|(_, hash)| hash))
}
