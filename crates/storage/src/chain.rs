//! What the storage network reads from a node's HTTP API: deals and providers.

use serde::Deserialize;
use std::time::Duration;
use trellis_ledger::Deal;
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Hash};

/// Per-request timeout for node calls.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a node call failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered garbage.
    #[error("node at {url}: {message}")]
    Node {
        /// The node's base URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// What a node says of its chain, as storage parties need it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChainStatus {
    /// The chain id (signed into egress orders).
    pub chain_id: String,
    /// The current epoch.
    pub epoch: u64,
    /// The verifier keys (auditors and repairers).
    #[serde(default)]
    pub verifiers: Vec<trellis_primitives::PublicKey>,
}

#[derive(Debug, Deserialize)]
struct DealView {
    deal: Deal,
}

/// A storage provider as the node lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderInfo {
    /// Its device address.
    pub address: DeviceAddress,
    /// Its owner.
    pub owner: AccountAddress,
    /// Collateral bonded.
    pub stake: Amount,
    /// Whether the collateral meets the minimum.
    pub eligible: bool,
    /// Declared capabilities (`capacity_bytes`, `price_per_gib_epoch`).
    pub capabilities: Vec<trellis_ledger::Capability>,
    /// Its H3 cell, if asserted.
    pub location: Option<trellis_primitives::Location>,
    /// Where it serves, if published.
    pub endpoint: Option<String>,
    /// Collateral slashed from it so far.
    pub slashed: Amount,
    /// Audit reputation score in parts per million (1,000,000 for a provider never audited).
    pub reputation_ppm: u64,
}

impl ProviderInfo {
    /// A declared capability's value.
    pub fn capability(&self, name: &str) -> Option<u64> {
        self.capabilities.iter().find(|c| c.name == name).map(|c| c.value)
    }
}

#[derive(Debug, Deserialize)]
struct ProviderList {
    providers: Vec<ProviderInfo>,
}

/// A read-only view of a node's API.
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
            .map_err(|e| ChainError::Node {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(NodeApi { base, http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn fail(&self, message: impl std::fmt::Display) -> ChainError {
        ChainError::Node {
            url: self.base.clone(),
            message: message.to_string(),
        }
    }

    /// GETs `path` as JSON; `None` on 404.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ChainError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.fail(format!("unreachable: {e}")))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(self.fail(format!("{path} answered {status}: {body}")));
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| self.fail(format!("{path} answered unreadable JSON: {e}")))
    }

    /// The open deal `id`, or `None` if there is none.
    pub async fn deal(&self, id: &Hash) -> Result<Option<Deal>, ChainError> {
        Ok(self.get::<DealView>(&format!("/v1/deals/{id}")).await?.map(|v| v.deal))
    }

    /// The chain's id, current epoch and verifier keys.
    pub async fn status(&self) -> Result<ChainStatus, ChainError> {
        self.get::<ChainStatus>("/v1/status")
            .await?
            .ok_or_else(|| self.fail("/v1/status answered 404"))
    }

    /// Every storage provider.
    pub async fn providers(&self) -> Result<Vec<ProviderInfo>, ChainError> {
        Ok(self
            .get::<ProviderList>("/v1/providers")
            .await?
            .map(|l| l.providers)
            .unwrap_or_default())
    }
}
