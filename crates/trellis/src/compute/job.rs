//! Driving one job to a verified result: post it (escrow), upload its module and input to the
//! providers the chain assigned, reassign runs whose provider missed its deadline, finalize
//! once the rules allow, and fetch the result from a provider, checked against the commitment
//! the chain settled. A job that fails (a provider convicted by replay, nobody left to run it)
//! is posted again with a new nonce: the convicted provider has lost its collateral and is no
//! longer matched.

use crate::client::Signer;
use anyhow::{anyhow, bail, Result};
use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};
use trellis_compute::{blob_hash, blobs::RunRecord, chain::NodeApi, transfer};
use trellis_ledger::{
    state::JobStatus,
    tx::{ComputeTx, JobSpec},
    TxKind,
};
use trellis_primitives::{Credits, DeviceAddress, Hash, HashDomain};

/// Most times one job is posted before the client gives up.
const MAX_POSTS: u32 = 3;
/// How often the job is looked at.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// What a consumer asks for, besides the module and input.
#[derive(Debug, Clone)]
pub(crate) struct JobTerms {
    pub(crate) entry: String,
    pub(crate) fuel: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) max_price_per_gfuel: Credits,
    pub(crate) min_score: u64,
    pub(crate) sample_ppm: u32,
    pub(crate) replicas: u8,
    pub(crate) deadline_blocks: u32,
    /// Longest to wait for a result, all attempts together.
    pub(crate) timeout: Duration,
}

/// A verified result.
#[derive(Debug, Clone)]
pub(crate) struct JobResult {
    /// The job that produced it (the last one posted).
    pub(crate) id: Hash,
    /// The provider's record, checked against the settled commitment.
    pub(crate) record: RunRecord,
    /// Whether a verifier replayed it.
    pub(crate) verified: bool,
    /// Credits paid (providers and verifier).
    pub(crate) paid: Credits,
    /// The providers that ran it.
    pub(crate) providers: Vec<DeviceAddress>,
    /// How many times it was posted.
    pub(crate) posts: u32,
}

/// The shared pieces every job of one command uses.
pub(crate) struct Market {
    pub(crate) signer: Signer,
    pub(crate) node: NodeApi,
    pub(crate) http: reqwest::Client,
}

/// Runs `module`'s `terms.entry` on `input` on the market; `tag` makes the job's nonce unique
/// among the jobs of one command.
pub(crate) async fn run_job(
    market: &Market,
    module: Arc<Vec<u8>>,
    input: Arc<Vec<u8>>,
    terms: &JobTerms,
    tag: &[u8],
) -> Result<JobResult> {
    let started = Instant::now();
    let salt = HashDomain::ComputeBlob.hash_parts(&[b"job nonce", tag, &rand_bytes()]);
    for post in 1..=MAX_POSTS {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&salt.0[..16]);
        nonce[15] ^= post as u8;
        let spec = JobSpec {
            nonce,
            module: blob_hash(&module),
            entry: terms.entry.clone(),
            input: blob_hash(&input),
            fuel: terms.fuel,
            memory_bytes: terms.memory_bytes,
            max_price_per_gfuel: terms.max_price_per_gfuel,
            min_score: terms.min_score,
            sample_ppm: terms.sample_ppm,
            replicas: terms.replicas,
            deadline_blocks: terms.deadline_blocks,
        };
        let id = spec.id(&market.signer.address());
        post_when_a_slot_is_free(market, spec, started + terms.timeout).await?;
        tracing::debug!(job = %id, post, "posted");
        match drive(market, &id, &module, &input, started + terms.timeout).await? {
            Some(mut result) => {
                result.posts = post;
                return Ok(result);
            }
            None if post < MAX_POSTS => tracing::warn!(job = %id, "the job failed; posting it again"),
            None => {}
        }
    }
    bail!("the job failed {MAX_POSTS} times; see `trellis compute` logs and /v1/accounts/<you>/jobs")
}

/// Posts the job, waiting while every fitting provider is busy (slots free up as runs commit).
async fn post_when_a_slot_is_free(market: &Market, spec: JobSpec, deadline: Instant) -> Result<()> {
    loop {
        // Look first: a post that finds no provider fails on chain and still costs its fee.
        let providers = market.node.providers().await?;
        let free = providers.iter().filter(|p| {
            p.eligible
                && p.offer.active < p.offer.slots
                && p.offer.price_per_gfuel <= spec.max_price_per_gfuel
                && p.offer.score >= spec.min_score
        });
        if free.count() >= usize::from(spec.replicas) {
            let included = market
                .signer
                .include(TxKind::Compute(ComputeTx::PostJob { spec: spec.clone() }))
                .await?;
            match included.failure {
                None => return Ok(()),
                Some((code, _)) if code == "no_compute_provider" => {}
                Some((code, message)) => bail!("posting the job failed ({code}): {message}"),
            }
        } else if providers
            .iter()
            .all(|p| p.offer.price_per_gfuel > spec.max_price_per_gfuel || p.offer.score < spec.min_score)
        {
            bail!(
                "no compute provider asks at most {} per 10^9 fuel with score ≥ {} (raise --max-price or lower --min-score)",
                spec.max_price_per_gfuel,
                spec.min_score
            );
        }
        if Instant::now() > deadline {
            bail!("every fitting compute provider stayed busy until the timeout");
        }
        tokio::time::sleep(POLL_EVERY * 2).await;
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut out);
    out
}

/// Follows one posted job to its end: `Some` result if it settled, `None` if it failed.
async fn drive(
    market: &Market,
    id: &Hash,
    module: &[u8],
    input: &[u8],
    deadline: Instant,
) -> Result<Option<JobResult>> {
    let mut uploaded: BTreeSet<(DeviceAddress, u64)> = BTreeSet::new();
    let mut finalize_tried_at = 0u64;
    let mut blocks = market.signer.blocks();
    loop {
        blocks.mark_seen();
        if Instant::now() > deadline {
            bail!("job {id} has no result yet; it stays on chain (look it up at /v1/jobs/{id})");
        }
        let view = market
            .node
            .job(id)
            .await?
            .ok_or_else(|| anyhow!("job {id} is not on chain"))?;
        match view.job.status {
            JobStatus::Settled { commitment, verified } => {
                let record = fetch(market, &view, &commitment).await?;
                let providers = view.job.runs.iter().map(|r| r.provider).collect();
                return Ok(Some(JobResult {
                    id: *id,
                    record,
                    verified,
                    paid: view.job.paid,
                    providers,
                    posts: 1,
                }));
            }
            JobStatus::Failed { reason } => {
                tracing::warn!(job = %id, ?reason, "job failed");
                return Ok(None);
            }
            JobStatus::Open => {}
        }
        // Upload to every run still waiting for its blobs (a reassigned run gets a new provider).
        let waiting: Vec<_> = view
            .job
            .runs
            .iter()
            .filter(|r| r.claim.is_none())
            .map(|r| (r.provider, r.assigned_height))
            .collect();
        if waiting.iter().any(|w| !uploaded.contains(w)) {
            let endpoints = market.node.endpoints().await?;
            let todo: Vec<_> = waiting.iter().filter(|w| !uploaded.contains(w)).copied().collect();
            for w in &todo {
                let Some(endpoint) = endpoints.get(&w.0) else { continue };
                let sent = async {
                    transfer::upload_blob(&market.http, endpoint, id, module).await?;
                    transfer::upload_blob(&market.http, endpoint, id, input).await
                };
                match sent.await {
                    Ok(()) => {
                        uploaded.insert(*w);
                    }
                    Err(e) => tracing::warn!(job = %id, provider = %w.0, error = %e, "upload failed; will retry"),
                }
            }
        }
        if view.late_runs() > 0 {
            let included = market
                .signer
                .include(TxKind::Compute(ComputeTx::Reassign { job: *id }))
                .await?;
            tracing::info!(job = %id, failure = ?included.failure, "asked to reassign late runs");
        } else if let Some(after) = view
            .finalizable_after
            .filter(|a| view.tip_height > *a && view.job.committed_height.is_some())
        {
            if finalize_tried_at < view.tip_height {
                finalize_tried_at = view.tip_height;
                let included = market
                    .signer
                    .include(TxKind::Compute(ComputeTx::Finalize { job: *id }))
                    .await?;
                if let Some((code, message)) = included.failure {
                    tracing::debug!(job = %id, after, %code, %message, "finalize not accepted yet");
                }
            }
        }
        blocks.next(POLL_EVERY).await;
    }
}

/// The settled result from any provider of the job, checked against the chain's commitment.
async fn fetch(market: &Market, view: &trellis_compute::chain::JobView, settled: &Hash) -> Result<RunRecord> {
    let endpoints = market.node.endpoints().await?;
    let mut errors = Vec::new();
    for run in &view.job.runs {
        let Some(endpoint) = endpoints.get(&run.provider).cloned() else {
            continue;
        };
        match transfer::fetch_result(&market.http, &endpoint, &view.id, &view.job.spec, settled).await {
            Ok(record) => return Ok(record),
            Err(e) => errors.push(e.to_string()),
        }
    }
    bail!(
        "no provider served the settled result of job {}: {}",
        view.id,
        errors.join("; ")
    )
}
