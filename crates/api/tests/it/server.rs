//! The fixture: a real node and the API server on loopback, plus small request helpers.

use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trellis_chain::{Node, SequencerConfig};
use trellis_ledger::{Genesis, GenesisAccount, Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Keypair};
use trellis_store::ChainStore;

/// The genesis minimum fee, in base units.
pub(crate) const MIN_FEE: u64 = 100;
/// The test chain's id.
pub(crate) const CHAIN: &str = "api-test";
/// Genesis balance of each of users 1, 2 and 3, in base units.
pub(crate) const FUNDED: u64 = 1_000_000;
/// How long anything asynchronous (a commit, a block event) may take before a test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A deterministic key; users 1..=3 are funded at genesis.
pub(crate) fn user(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

/// The account address of [`user`] `i`.
pub(crate) fn account(i: u8) -> AccountAddress {
    AccountAddress::from(user(i).public())
}

/// A signed transfer on the test chain.
pub(crate) fn transfer(from: &Keypair, to: &Keypair, amount: u64, nonce: u64, fee: u64) -> Transaction {
    let body = TxBody {
        chain_id: CHAIN.into(),
        signer: from.public().into(),
        nonce,
        fee: Amount::from_units(fee),
        kind: TxKind::Transfer {
            to: to.public().into(),
            amount: Amount::from_units(amount),
        },
    };
    Transaction::sign(body, from)
}

/// The machine-readable code of an API error body.
pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// An amount in a JSON body (a string of base units).
pub(crate) fn units(v: &Value) -> u64 {
    v.as_str()
        .unwrap_or_else(|| panic!("amount {v} is not a string"))
        .parse()
        .unwrap()
}

/// A running node and API server; both stop when this is dropped.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    /// The reward archive directory (only served by [`Server::start_with_data`]).
    pub(crate) archive: std::path::PathBuf,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start() -> Server {
        Self::boot(false).await
    }

    /// A node whose API keeps a reward archive and sells sensor data, with a TRL price posted at
    /// genesis ($1.50) so users can burn for credits.
    pub(crate) async fn start_with_data() -> Server {
        Self::boot(true).await
    }

    async fn boot(data: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let admin = Keypair::from_seed([200; 32]);
        let accounts = (1..=3)
            .map(|i| GenesisAccount {
                address: account(i),
                balance: Amount::from_units(FUNDED),
            })
            .collect();
        let mut genesis = Genesis::single_authority(CHAIN, admin.public(), accounts);
        genesis.params.min_fee = Amount::from_units(MIN_FEE);
        if data {
            genesis.initial_price_micro_usd_per_trl = Some(1_500_000);
        }
        genesis.normalise();
        let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
        store.initialise(&genesis).unwrap();
        let node = Node::new(store).unwrap();
        let (stop, stopped) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut api_stopped = stopped.clone();
        let archive = dir.path().join("rewards");
        let options = trellis_api::ApiOptions {
            reward_archive: data.then(|| archive.clone()),
            data_meter: data.then(|| {
                std::sync::Arc::new(trellis_api::data::DataMeter::open(&dir.path().join("meter.redb")).unwrap())
            }),
        };
        tokio::spawn(trellis_api::serve_with(node.clone(), options, listener, async move {
            // Ends on `true` or when the sender is dropped with the fixture.
            let _stop_or_dropped = api_stopped.wait_for(|stop| *stop).await;
        }));
        tokio::spawn(node.run_sequencer(
            SequencerConfig {
                block_interval_ms: 20,
                empty_blocks: true,
            },
            stopped,
        ));
        Server {
            url,
            http: reqwest::Client::new(),
            archive,
            _stop: stop,
            _dir: dir,
        }
    }

    /// GET `path`; the status and the JSON body (`null` when the body is not JSON).
    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// GET `path`; the status, the content type and the body as text.
    pub(crate) async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, r.text().await.unwrap())
    }

    /// POST `body` to /v1/txs with `content_type`; the status and the JSON body.
    pub(crate) async fn post(&self, body: Vec<u8>, content_type: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/txs", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Submits `tx` as raw canonical bytes.
    pub(crate) async fn submit(&self, tx: &Transaction) -> (u16, Value) {
        use trellis_primitives::Encode;
        self.post(tx.to_bytes(), "application/octet-stream").await
    }

    /// The Prometheus text at /metrics.
    pub(crate) async fn metrics(&self) -> String {
        let (status, content_type, text) = self.get_text("/metrics").await;
        assert_eq!(status, 200, "{text}");
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        text
    }

    /// Polls /v1/txs/{id} until the transaction is committed and returns that status; fails
    /// the test if it is rejected or not committed within [`DEADLINE`].
    pub(crate) async fn wait_committed(&self, id: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let (status, v) = self.get(&format!("/v1/txs/{id}")).await;
            assert_eq!(status, 200, "{v}");
            assert_ne!(v["status"], "rejected", "tx {id} was rejected: {v}");
            if v["status"] == "committed" {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "tx {id} not committed within {DEADLINE:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
