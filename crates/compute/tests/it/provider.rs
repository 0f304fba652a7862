//! A compute provider's server against a real node (redb, the sequencer, the HTTP API on
//! loopback): it keeps only the module and input of jobs the chain assigns it, says why it
//! refuses anything else, and serves blobs and run records back checked by content address.

use std::time::{Duration, Instant};
use tokio::sync::watch;
use trellis_chain::{Node, SequencerConfig, TxStatus};
use trellis_compute::{
    blob_hash,
    blobs::{BlobStore, RunRecord},
    chain::NodeApi,
    commitment,
    kernels::GUEST_WASM,
    provider::Provider,
    transfer, Execution, Outcome,
};
use trellis_ledger::{
    tx::{ComputeTx, JobSpec},
    Capability, DeviceClass, Genesis, GenesisAccount, GenesisMaker, Transaction, TxBody, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Credits, DeviceAddress, Keypair};

const CHAIN: &str = "compute-test";
const TRL: u64 = 100_000_000;

fn key(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key("compute provider test", name.as_bytes()))
}

fn device(name: &str) -> DeviceAddress {
    key(name).public().into()
}

struct Chain {
    node: Node,
    url: String,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Chain {
    async fn start() -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let accounts = ["alice", "bob"]
            .iter()
            .map(|n| GenesisAccount {
                address: key(n).public().into(),
                balance: Amount::from_units(1_000 * TRL),
            })
            .collect();
        let mut genesis = Genesis::single_authority(CHAIN, key("admin").public(), accounts);
        genesis.makers.push(GenesisMaker {
            key: key("maker").public(),
            name: "test maker".into(),
        });
        genesis.initial_price_micro_usd_per_trl = Some(1_000_000);
        genesis.normalise();
        let store = trellis_store::ChainStore::open(&dir.path().join("chain.redb")).unwrap();
        store.initialise(&genesis).unwrap();
        let node = Node::new(store).unwrap();
        let (stop, stopped) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut api_stopped = stopped.clone();
        tokio::spawn(trellis_api::serve(node.clone(), listener, async move {
            let _stop_or_dropped = api_stopped.wait_for(|stop| *stop).await;
        }));
        tokio::spawn(node.clone().run_sequencer(
            SequencerConfig {
                block_interval_ms: 20,
                empty_blocks: true,
            },
            stopped,
        ));
        Chain {
            node,
            url,
            _stop: stop,
            _dir: dir,
        }
    }

    async fn run(&self, signer: &str, kind: TxKind, cosigners: &[&str]) {
        let address = AccountAddress::from(key(signer).public());
        let nonce = self
            .node
            .with_state(|s, _| trellis_ledger::StateRead::account(s, &address))
            .unwrap()
            .nonce;
        let body = TxBody {
            chain_id: CHAIN.into(),
            signer: address,
            nonce,
            fee: Amount::from_units(100_000),
            kind,
        };
        let mut tx = Transaction::sign(body, &key(signer));
        for c in cosigners {
            tx = tx.cosign(&key(c));
        }
        let id = self.node.submit(tx).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.node.tx_status(&id).unwrap() {
                TxStatus::Committed { receipt, .. } => {
                    assert_eq!(receipt.outcome, TxOutcome::Success);
                    return;
                }
                TxStatus::Rejected { code, message } => panic!("rejected {code}: {message}"),
                _ => {
                    assert!(Instant::now() < deadline, "transaction not committed in time");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Onboards, stakes and offers compute device `name` for bob, with `url` as its endpoint.
    async fn provider(&self, name: &str, url: &str) {
        let onboard = TxKind::OnboardDevice {
            device: device(name),
            maker: key("maker").public(),
            class: DeviceClass::Compute,
            capabilities: vec![Capability {
                name: "slots".into(),
                value: 1,
            }],
        };
        self.run("bob", onboard, &["maker", name]).await;
        self.run(
            "bob",
            TxKind::Stake {
                device: device(name),
                amount: Amount::from_units(100 * TRL),
            },
            &[],
        )
        .await;
        self.run(
            "bob",
            TxKind::SetEndpoint {
                device: device(name),
                url: url.into(),
            },
            &[],
        )
        .await;
        let offer = ComputeTx::SetOffer {
            device: device(name),
            slots: 1,
            price_per_gfuel: Credits(10),
            score: 100,
        };
        self.run("bob", TxKind::Compute(offer), &[]).await;
    }
}

fn spec(input: &[u8]) -> JobSpec {
    JobSpec {
        nonce: [1; 16],
        module: blob_hash(GUEST_WASM),
        entry: "render".into(),
        input: blob_hash(input),
        fuel: 1_000_000_000,
        memory_bytes: 64 << 20,
        max_price_per_gfuel: Credits(20),
        min_score: 1,
        sample_ppm: 1_000_000,
        replicas: 1,
        deadline_blocks: 1_000,
    }
}

async fn put(http: &reqwest::Client, url: &str, job: &str, hash: &str, body: Vec<u8>) -> (u16, String) {
    let r = http
        .put(format!("{url}/v1/jobs/{job}/blobs/{hash}"))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_kept_only_for_assigned_jobs_and_served_back_checked() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::new(
        BlobStore::open(dir.path()).unwrap(),
        NodeApi::new(&chain.url).unwrap(),
        device("p1"),
    );
    tokio::spawn({
        let p = provider.clone();
        async move { p.serve(listener, std::future::pending()).await }
    });
    chain.provider("p1", &url).await;
    chain
        .run(
            "alice",
            TxKind::BurnForCredits {
                amount: Amount::from_units(10 * TRL),
                beneficiary: key("alice").public().into(),
            },
            &[],
        )
        .await;
    let input =
        trellis_kernels::render::Tile::grid(8, 8, 1, 1, 2, 1)[0].encode(trellis_kernels::render::DEMO_SCENE.as_bytes());
    let s = spec(&input);
    let job = s.id(&key("alice").public().into()).to_hex();
    let http = transfer::http();

    // Before the job exists: unknown.
    let (status, body) = put(&http, &url, &job, &blob_hash(&input).to_hex(), input.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown_job"));
    chain
        .run("alice", TxKind::Compute(ComputeTx::PostJob { spec: s.clone() }), &[])
        .await;

    // Not part of the job; wrong bytes for its hash; a malformed hash.
    let (status, body) = put(&http, &url, &job, &blob_hash(b"other").to_hex(), b"other".to_vec()).await;
    assert_eq!((status, body.contains("not_in_job")), (422, true), "{body}");
    let (status, body) = put(
        &http,
        &url,
        &job,
        &blob_hash(&input).to_hex(),
        b"not the input".to_vec(),
    )
    .await;
    assert_eq!((status, body.contains("hash_mismatch")), (422, true), "{body}");
    let (status, _) = put(&http, &url, "zz", &blob_hash(&input).to_hex(), input.clone()).await;
    assert_eq!(status, 400);
    // Too large for a module or input at all.
    let (status, _) = put(&http, &url, &job, &blob_hash(&input).to_hex(), vec![0; (16 << 20) + 1]).await;
    assert_eq!(status, 413);
    assert_eq!(provider.metrics().uploads.load(std::sync::atomic::Ordering::Relaxed), 0);

    // The right bytes are kept, once; they come back checked.
    transfer::upload_blob(&http, &url, &s.id(&key("alice").public().into()), GUEST_WASM)
        .await
        .unwrap();
    transfer::upload_blob(&http, &url, &s.id(&key("alice").public().into()), &input)
        .await
        .unwrap();
    let (status, _) = put(&http, &url, &job, &blob_hash(&input).to_hex(), input.clone()).await;
    assert_eq!(status, 200, "a repeated upload is accepted without a second write");
    let (module, got) = transfer::fetch_job_blobs(&http, &url, &s).await.unwrap();
    assert_eq!((module.as_slice(), got.as_slice()), (GUEST_WASM, input.as_slice()));
    assert!(transfer::fetch_blob(&http, &url, &blob_hash(b"missing"), 1 << 20)
        .await
        .is_err());

    // Another provider's job is not this one's to store.
    chain.provider("p2", "http://127.0.0.1:9").await;
    let other = JobSpec {
        nonce: [2; 16],
        max_price_per_gfuel: Credits(20),
        ..spec(&input)
    };
    chain
        .run(
            "alice",
            TxKind::Compute(ComputeTx::PostJob { spec: other.clone() }),
            &[],
        )
        .await;
    let (status, body) = put(
        &http,
        &url,
        &other.id(&key("alice").public().into()).to_hex(),
        blob_hash(&input).to_hex().as_str(),
        input.clone(),
    )
    .await;
    assert_eq!((status, body.contains("not_assigned")), (403, true), "{body}");

    // A run record is served, and a consumer accepts it only against the settled commitment.
    let ex = Execution {
        outcome: Outcome::Output { bytes: vec![1, 2, 3] },
        fuel_used: 5,
    };
    let c = commitment(&s.module, &s.entry, &s.input, &ex);
    let id = s.id(&key("alice").public().into());
    provider
        .store()
        .put_run(&RunRecord {
            job: id,
            outcome: ex.outcome.clone(),
            fuel_used: 5,
            commitment: c,
        })
        .unwrap();
    assert_eq!(
        transfer::fetch_result(&http, &url, &id, &s, &c)
            .await
            .unwrap()
            .fuel_used,
        5
    );
    let err = transfer::fetch_result(&http, &url, &id, &s, &blob_hash(b"settled elsewhere"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("commits to"), "{err}");
}
