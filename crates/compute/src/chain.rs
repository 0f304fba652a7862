//! What the compute network reads from a node's HTTP API: jobs, duties and providers.

use serde::{de::DeserializeOwned, Deserialize};
use std::time::Duration;
use trellis_ledger::state::{ComputeOffer, Job};
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Hash};

/// Per-request timeout for node calls.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a node call failed.
#[derive(Debug, thiserror::Error)]
#[error("node at {url}: {message}")]
pub struct ChainError {
    /// The node's base URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

/// A job as the node reports it, with what the chain's rules derive from it.
#[derive(Debug, Clone, Deserialize)]
pub struct JobView {
    /// The job id.
    pub id: Hash,
    /// The record.
    pub job: Job,
    /// Whether it was drawn for replay (known from the block after its last commit).
    pub drawn: Option<bool>,
    /// The device that must replay it next, if one must.
    pub replayer: Option<DeviceAddress>,
    /// The height after which anyone may finalize it, once every run committed.
    pub finalizable_after: Option<u64>,
    /// The node's tip height when it answered.
    pub tip_height: u64,
}

impl JobView {
    /// Runs whose provider missed the deadline (the job can be reassigned).
    pub fn late_runs(&self) -> usize {
        let deadline = u64::from(self.job.spec.deadline_blocks);
        self.job
            .runs
            .iter()
            .filter(|r| r.claim.is_none() && self.tip_height >= r.assigned_height.saturating_add(deadline))
            .count()
    }
}

/// What a device has to do now.
#[derive(Debug, Clone, Deserialize)]
pub struct Duties {
    /// Jobs it is assigned and has not committed.
    pub runs: Vec<JobView>,
    /// Jobs it was drawn to replay.
    pub replays: Vec<JobView>,
}

/// A compute provider as the node lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct OfferView {
    /// Its device address.
    pub address: DeviceAddress,
    /// Its owner.
    pub owner: AccountAddress,
    /// Collateral bonded.
    pub stake: Amount,
    /// Whether it may be matched (collateral and endpoint).
    pub eligible: bool,
    /// Where it serves.
    pub endpoint: Option<String>,
    /// Its standing offer.
    pub offer: ComputeOffer,
}

#[derive(Debug, Deserialize)]
struct OfferList {
    providers: Vec<OfferView>,
}

/// A read-only view of a node's compute API.
#[derive(Debug, Clone)]
pub struct NodeApi {
    base: String,
    http: reqwest::Client,
}

impl NodeApi {
    /// The node at `base` (e.g. `http://127.0.0.1:8645`).
    pub fn new(base: &str) -> Result<Self, ChainError> {
        let base = base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(NODE_TIMEOUT)
            .build()
            .map_err(|e| ChainError {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(Self { base, http })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ChainError> {
        let fail = |message: String| ChainError {
            url: self.base.clone(),
            message,
        };
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(fail(format!("GET {path}: HTTP {}", response.status())));
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| fail(format!("GET {path}: {e}")))
    }

    /// A job, if posted.
    pub async fn job(&self, id: &Hash) -> Result<Option<JobView>, ChainError> {
        self.get(&format!("/v1/jobs/{id}")).await
    }

    /// What `device` has to do now.
    pub async fn duties(&self, device: &DeviceAddress) -> Result<Duties, ChainError> {
        let duties = self.get(&format!("/v1/compute/devices/{device}/duties")).await?;
        Ok(duties.unwrap_or(Duties {
            runs: Vec::new(),
            replays: Vec::new(),
        }))
    }

    /// Every compute provider with an offer.
    pub async fn providers(&self) -> Result<Vec<OfferView>, ChainError> {
        Ok(self
            .get::<OfferList>("/v1/compute/providers")
            .await?
            .map(|l| l.providers)
            .unwrap_or_default())
    }
}

impl NodeApi {
    /// Where each compute provider that published an endpoint serves.
    pub async fn endpoints(&self) -> Result<std::collections::BTreeMap<DeviceAddress, String>, ChainError> {
        Ok(self
            .providers()
            .await?
            .into_iter()
            .filter_map(|p| Some((p.address, p.endpoint?)))
            .collect())
    }
}
