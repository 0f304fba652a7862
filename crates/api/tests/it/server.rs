//! A real node (redb in a temp dir, sequencer) and the API on an OS-chosen loopback port.

use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trellis_chain::{Node, SequencerConfig};
use trellis_ledger::{Committee, Genesis, GenesisAccount, Params, Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Keypair};
use trellis_store::ChainStore;

pub const MIN_FEE: u64 = 100;
pub const CHAIN: &str = "api-test";

pub fn user(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

pub struct Server {
    pub url: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let admin = Keypair::from_seed([200; 32]);
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            timestamp_ms: 0,
            params: Params {
                min_fee: Amount::from_units(MIN_FEE),
                ..Params::default()
            },
            admins: Committee {
                threshold: 1,
                members: vec![admin.public()],
            },
            oracles: Committee {
                threshold: 1,
                members: vec![admin.public()],
            },
            verifiers: vec![],
            makers: vec![],
            accounts: (1..=3)
                .map(|i| GenesisAccount {
                    address: user(i).public().into(),
                    balance: Amount::from_units(1_000_000),
                })
                .collect(),
            initial_price_micro_usd_per_trl: None,
        };
        let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
        store.initialise(&genesis).unwrap();
        let node = Node::new(store).unwrap();
        let (stop, watcher) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut api_stop = watcher.clone();
        tokio::spawn(trellis_api::serve(node.clone(), listener, async move {
            let _stopped = api_stop.wait_for(|s| *s).await;
        }));
        tokio::spawn(node.run_sequencer(
            SequencerConfig {
                block_interval_ms: 20,
                empty_blocks: true,
            },
            watcher,
        ));
        Server {
            url,
            http: reqwest::Client::new(),
            _dir: dir,
            _stop: stop,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, body: Vec<u8>, content_type: &str) -> (u16, Value) {
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

    pub async fn nonce(&self, who: &Keypair) -> u64 {
        let address = AccountAddress::from(who.public());
        self.get(&format!("/v1/accounts/{address}")).await.1["account"]["nonce"]
            .as_u64()
            .unwrap()
    }

    /// Polls a transaction until it is committed (panics after 10 s).
    pub async fn wait_committed(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self.get(&format!("/v1/txs/{id}")).await;
            if v["status"] == "committed" {
                return v;
            }
            assert!(Instant::now() < deadline, "tx {id} not committed: {v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn transfer(from: &Keypair, to: &Keypair, amount: u64, nonce: u64, fee: u64) -> Transaction {
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
