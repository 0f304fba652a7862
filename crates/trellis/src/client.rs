//! A small client for the node's HTTP API, used by the wallet and `chain` commands.

use crate::blocks::Blocks;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::time::{Duration, Instant};
use trellis_ledger::{Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Encode, Hash, Keypair};

/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll period while waiting for a transaction.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// API client.
pub(crate) struct Client {
    base: String,
    http: reqwest::Client,
    /// New blocks, when followed: waits wake on them instead of only on [`POLL_EVERY`].
    blocks: Blocks,
}

impl Client {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:8645`).
    pub(crate) fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
            blocks: Blocks::default(),
        })
    }

    /// Follows the node's block stream, so waiting on a transaction ends in the block that
    /// includes it rather than up to a poll period later. Long-running callers (agents, the
    /// compute driver) use it; one-shot commands need not keep a stream open.
    pub(crate) fn follow_blocks(mut self) -> Self {
        self.blocks = Blocks::follow(&self.base);
        self
    }

    /// The followed blocks (none followed: waits are the poll period).
    pub(crate) fn blocks(&self) -> Blocks {
        self.blocks.clone()
    }

    /// GETs a path and returns the JSON, turning API errors into readable messages.
    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", self.base))?;
        read_json(response).await
    }

    /// GETs a metered path (sensor data), signed by `key`'s account as the gateway asks.
    pub(crate) async fn get_signed(&self, path: &str, key: &Keypair) -> Result<Value> {
        let timestamp_ms = trellis_chain::node::wall_clock_ms();
        let hash = trellis_api::data::request_hash("GET", path, timestamp_ms);
        let signature = key.sign(hash.as_bytes());
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-trellis-account", AccountAddress::from(key.public()).to_string())
            .header("x-trellis-timestamp", timestamp_ms.to_string())
            .header("x-trellis-signature", hex::encode(signature.0))
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", self.base))?;
        read_json(response).await
    }

    /// Submits a signed transaction; returns its id.
    pub(crate) async fn submit(&self, tx: &Transaction) -> Result<Hash> {
        let url = format!("{}/v1/txs", self.base);
        let body = serde_json::json!({ "tx": hex::encode(tx.to_bytes()) });
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", self.base))?;
        let value = read_json(response).await?;
        value["tx_id"]
            .as_str()
            .ok_or_else(|| anyhow!("node answered without a tx_id"))?
            .parse()
            .map_err(|_| anyhow!("node returned a malformed tx_id"))
    }

    /// Polls until the transaction is committed or rejected, or `wait` passes.
    pub(crate) async fn wait(&self, id: &Hash, wait: Duration) -> Result<Value> {
        let deadline = Instant::now() + wait;
        let mut blocks = self.blocks.clone();
        loop {
            blocks.mark_seen();
            let status = self.get(&format!("/v1/txs/{id}")).await?;
            match status["status"].as_str() {
                Some("committed") | Some("rejected") => return Ok(status),
                _ if Instant::now() >= deadline => bail!(
                    "transaction {id} not final after {}s (status {})",
                    wait.as_secs(),
                    status["status"]
                ),
                _ => blocks.next(POLL_EVERY).await,
            }
        }
    }

    /// Builds, signs and submits a transaction from `key` with the next nonce and the minimum fee
    /// (or `fee`).
    pub(crate) async fn sign_and_submit(&self, key: &Keypair, kind: TxKind, fee: Option<Amount>) -> Result<Hash> {
        let signer = AccountAddress::from(key.public());
        let status = self.get("/v1/status").await?;
        let chain_id = status["chain_id"]
            .as_str()
            .ok_or_else(|| anyhow!("status has no chain_id"))?
            .to_string();
        let account = self.get(&format!("/v1/accounts/{signer}")).await?;
        let nonce = account["account"]["nonce"]
            .as_u64()
            .ok_or_else(|| anyhow!("account has no nonce"))?;
        let fee = match fee {
            Some(fee) => fee,
            None => {
                let params = self.get("/v1/params").await?;
                serde_json::from_value(params["params"]["min_fee"].clone()).context("params have no min_fee")?
            }
        };
        let tx = Transaction::sign(
            TxBody {
                chain_id,
                signer,
                nonce,
                fee,
                kind,
            },
            key,
        );
        self.submit(&tx).await
    }
}

async fn read_json(response: reqwest::Response) -> Result<Value> {
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .with_context(|| format!("node answered {status} without JSON"))?;
    if !status.is_success() {
        let code = value["error"]["code"].as_str().unwrap_or("unknown");
        let message = value["error"]["message"].as_str().unwrap_or("");
        bail!("node refused ({status}, {code}): {message}");
    }
    Ok(value)
}

/// Signs transactions from one key with nonces counted locally, so several can land in the
/// same block (a provider committing many jobs, a client posting many tiles).
pub(crate) struct Signer {
    client: Client,
    key: Keypair,
    chain_id: String,
    fee: Amount,
    nonce: tokio::sync::Mutex<Option<u64>>,
}

/// A transaction that made it into a block.
#[derive(Debug)]
pub(crate) struct Included {
    /// Its block.
    pub(crate) height: u64,
    /// Its failure code and message, if its effect failed (the fee was still charged).
    pub(crate) failure: Option<(String, String)>,
}

impl Signer {
    /// A signer for `key` on the node `client` talks to.
    pub(crate) async fn new(client: Client, key: Keypair) -> Result<Self> {
        let status = client.get("/v1/status").await?;
        let chain_id = status["chain_id"]
            .as_str()
            .ok_or_else(|| anyhow!("status has no chain_id"))?
            .to_string();
        let params = client.get("/v1/params").await?;
        let fee = serde_json::from_value(params["params"]["min_fee"].clone()).context("params have no min_fee")?;
        Ok(Self {
            client,
            key,
            chain_id,
            fee,
            nonce: tokio::sync::Mutex::new(None),
        })
    }

    /// The blocks its client follows.
    pub(crate) fn blocks(&self) -> Blocks {
        self.client.blocks()
    }

    /// The signing key's account.
    pub(crate) fn address(&self) -> AccountAddress {
        AccountAddress::from(self.key.public())
    }

    /// Submits `kind` and waits for it to succeed; its block height.
    pub(crate) async fn send(&self, kind: TxKind) -> Result<u64> {
        let name = kind.name();
        let included = self.include(kind).await?;
        match included.failure {
            None => Ok(included.height),
            Some((code, message)) => bail!("{name} failed in block {} ({code}): {message}", included.height),
        }
    }

    /// Submits `kind` and waits until it is in a block, whether its effect succeeded or not.
    pub(crate) async fn include(&self, kind: TxKind) -> Result<Included> {
        let signer = self.address();
        let id = {
            let mut nonce = self.nonce.lock().await;
            let next = match *nonce {
                Some(n) => n,
                None => {
                    let account = self.client.get(&format!("/v1/accounts/{signer}")).await?;
                    account["account"]["nonce"]
                        .as_u64()
                        .ok_or_else(|| anyhow!("account has no nonce"))?
                }
            };
            let body = TxBody {
                chain_id: self.chain_id.clone(),
                signer,
                nonce: next,
                fee: self.fee,
                kind,
            };
            match self.client.submit(&Transaction::sign(body, &self.key)).await {
                Ok(id) => {
                    *nonce = Some(next + 1);
                    id
                }
                Err(e) => {
                    *nonce = None;
                    return Err(e);
                }
            }
        };
        let status = match self.client.wait(&id, Duration::from_secs(60)).await {
            Ok(s) => s,
            Err(e) => {
                *self.nonce.lock().await = None;
                return Err(e);
            }
        };
        if status["status"].as_str() != Some("committed") {
            // Left out of the block: the nonce was not used; count from the chain again.
            *self.nonce.lock().await = None;
            bail!(
                "{id} was rejected ({}): {}",
                status["code"].as_str().unwrap_or("?"),
                status["message"].as_str().unwrap_or("")
            );
        }
        let height = status["height"].as_u64().unwrap_or(0);
        let failure = (status["receipt"]["status"].as_str() != Some("success")).then(|| {
            (
                status["receipt"]["code"].as_str().unwrap_or("?").to_string(),
                status["receipt"]["message"].as_str().unwrap_or("").to_string(),
            )
        });
        Ok(Included { height, failure })
    }
}
