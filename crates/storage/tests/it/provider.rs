//! A provider against a real node (redb on disk, the sequencer, the HTTP API on loopback): every
//! upload checked against the deal on chain, ranged and integrity-checked downloads, signed
//! challenge answers, a clean refusal when full, pieces that survive a restart.

use std::time::{Duration, Instant};
use tokio::{io::AsyncWriteExt, sync::watch};
use trellis_chain::{Node, SequencerConfig, TxStatus};
use trellis_ledger::{
    Capability, DealTerms, DeviceClass, Genesis, GenesisAccount, GenesisMaker, Piece, Transaction, TxBody, TxKind,
    TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Credits, Decode, DeviceAddress, Hash, Keypair};
use trellis_storage::{
    audit::challenge_for,
    chain::NodeApi,
    encode,
    piece::GROUP_BYTES,
    protocol::{decode_answer, AnswerFault, Challenge, SignedChallenge, UploadGrant, ORDER_HEADER, UPLOAD_HEADER},
    provider::{PieceStore, Provider},
    CodingParams, FileKey, PieceTree,
};

pub(crate) const CHAIN: &str = "storage-test";
const TRL: u64 = 100_000_000;

pub(crate) fn key(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key("storage provider test", name.as_bytes()))
}

pub(crate) fn device(name: &str) -> DeviceAddress {
    key(name).public().into()
}

/// A node with `alice` (client) and `bob` (provider owner) funded and a maker authorised.
pub(crate) struct Chain {
    pub(crate) node: Node,
    pub(crate) url: String,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Chain {
    pub(crate) async fn start() -> Chain {
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
        genesis.verifiers.push(key("verifier").public());
        // Epochs of 25 blocks (half a second): an order's expiry is reached within the test.
        genesis.params.epoch_len_blocks = 25;
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

    /// Signs `kind` as `signer` (co-signed by `cosigners`) and waits for it to succeed.
    pub(crate) async fn run(&self, signer: &str, kind: TxKind, cosigners: &[&str]) {
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

    /// Onboards `name` for bob as a staked storage provider.
    async fn provider(&self, name: &str) {
        let onboard = TxKind::OnboardDevice {
            device: device(name),
            maker: key("maker").public(),
            class: DeviceClass::Storage,
            capabilities: vec![Capability {
                name: "price_per_gib_epoch".into(),
                value: 1_000,
            }],
        };
        self.run("bob", onboard, &["maker", name]).await;
        let stake = TxKind::Stake {
            device: device(name),
            amount: Amount::from_units(100 * TRL),
        };
        self.run("bob", stake, &[]).await;
    }
}

/// A file coded 1-of-2 with piece 0 on `p1` and piece 1 on `p2`, its deal opened by alice.
pub(crate) struct Stored {
    pub(crate) id: Hash,
    pub(crate) pieces: Vec<Vec<u8>>,
    pub(crate) terms: DealTerms,
}

pub(crate) async fn stored_file(chain: &Chain, size: usize) -> Stored {
    chain.provider("p1").await;
    chain.provider("p2").await;
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(10 * TRL),
        beneficiary: key("alice").public().into(),
    };
    chain.run("alice", burn, &[]).await;
    let params = CodingParams {
        data_shards: 1,
        parity_shards: 1,
        segment_bytes: 64 << 10,
    };
    let data: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
    let (pieces, trees) = encode(&data, &FileKey::derive(&[1; 32], &[2; 16]), [2; 16], params).unwrap();
    let terms = DealTerms {
        nonce: [2; 16],
        size: size as u64,
        data_shards: 1,
        parity_shards: 1,
        segment_bytes: params.segment_bytes,
        piece_len: pieces[0].len() as u64,
        pieces: ["p1", "p2"]
            .iter()
            .zip(&trees)
            .map(|(p, t)| Piece {
                provider: device(p),
                root: t.root(),
            })
            .collect(),
        duration_epochs: 10,
        price_per_gib_epoch: Credits(1_000),
    };
    chain.run("alice", TxKind::OpenDeal { terms: terms.clone() }, &[]).await;
    Stored {
        id: terms.commitment(&key("alice").public().into()),
        pieces,
        terms,
    }
}

/// Provider `p1` serving `dir` with `capacity` bytes; its base URL.
pub(crate) async fn serve(chain: &Chain, dir: &std::path::Path, capacity: u64) -> (String, Provider) {
    let store = PieceStore::open(dir, capacity).unwrap();
    let provider = Provider::new(store, NodeApi::new(&chain.url).unwrap(), key("p1")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let p = provider.clone();
    tokio::spawn(async move { p.serve(listener, std::future::pending()).await });
    (url, provider)
}

/// The upload header value of `signer`'s grant for piece `index` of `deal` on `p1`, expiring
/// after `expires`.
pub(crate) fn upload_grant(signer: &str, deal: &Hash, index: u16, expires: u64) -> String {
    UploadGrant {
        deal: *deal,
        index,
        provider: device("p1"),
        expires: trellis_primitives::Epoch(expires),
    }
    .sign(CHAIN, &key(signer))
    .header()
}

/// Uploads `body` as piece `index` of `deal` to `url` under alice's grant.
pub(crate) async fn put(url: &str, deal: &Hash, index: u16, body: Vec<u8>) -> (u16, serde_json::Value) {
    put_as(
        url,
        deal,
        index,
        body,
        Some(upload_grant("alice", deal, index, u64::MAX)),
    )
    .await
}

/// Uploads `body` as piece `index` of `deal` to `url` with `grant` as its upload header.
pub(crate) async fn put_as(
    url: &str,
    deal: &Hash,
    index: u16,
    body: Vec<u8>,
    grant: Option<String>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .put(format!("{url}/v1/pieces/{deal}/{index}"))
        .body(body);
    if let Some(grant) = grant {
        request = request.header(UPLOAD_HEADER, grant);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Alice's signed order for `bytes` of `file` from `provider` under `serial`, valid until
/// epoch `expires`, as the download header carries it.
pub(crate) fn order_by(
    signer: &str,
    file: &Hash,
    provider: &str,
    serial: u8,
    bytes: u64,
    price: u64,
    expires: u64,
) -> String {
    let order = trellis_ledger::EgressOrder {
        deal: *file,
        client: key("alice").public().into(),
        provider: device(provider),
        serial: [serial; 16],
        bytes,
        price_per_gib: Credits(price),
        expires: trellis_primitives::Epoch(expires),
    };
    use trellis_primitives::Encode;
    hex::encode(order.sign(CHAIN, &key(signer)).to_bytes())
}

/// Alice's order for a whole piece under a fresh serial, valid for the next few epochs.
fn whole_piece_order(chain: &Chain, file: &Hash, serial: u8) -> String {
    let epoch = chain
        .node
        .with_state(|s, tip| tip.height / trellis_ledger::StateRead::params(s).unwrap().epoch_len_blocks);
    order_by("alice", file, "p1", serial, 1 << 30, 0, epoch + 4)
}

/// PUTs to `path` declaring `body.len()` bytes (with `headers`, each `name: value\r\n`), sends
/// only the first half of `body` and hangs up.
pub(crate) async fn put_half(url: &str, path: &str, headers: &str, body: &[u8]) {
    let addr = url.trim_start_matches("http://").to_string();
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-length: {}\r\n\r\n",
        body.len()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&body[..body.len() / 2]).await.unwrap();
}

/// Waits until the provider's metrics show the line `line`.
pub(crate) async fn metric(url: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics never showed `{line}`: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `challenge` for `provider`, signed by `signer` in the chain's current epoch.
pub(crate) fn signed(chain: &Chain, challenge: &Challenge, signer: &str, provider: &str) -> SignedChallenge {
    let now = trellis_primitives::Epoch(chain.node.tip().height / 25);
    SignedChallenge::sign(CHAIN, challenge.clone(), device(provider), now, &key(signer))
}

pub(crate) fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn uploads_are_checked_against_the_deal_on_chain() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 50_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, provider) = serve(&chain, dir.path(), 1 << 30).await;
    let piece = file.pieces[0].clone();

    let (status, v) = put(&url, &Hash([9; 32]), 0, piece.clone()).await;
    assert_eq!((status, code(&v)), (404, "unknown_deal"));
    let (status, v) = put(&url, &file.id, 1, file.pieces[1].clone()).await;
    assert_eq!((status, code(&v)), (403, "not_assigned"), "piece 1 is p2's");
    let (status, v) = put(&url, &file.id, 0, [piece.clone(), vec![0]].concat()).await;
    assert_eq!((status, code(&v)), (413, "too_large"));
    let (status, v) = put(&url, &file.id, 0, piece[..piece.len() - 1].to_vec()).await;
    assert_eq!((status, code(&v)), (400, "wrong_length"));
    let mut wrong = piece.clone();
    wrong[7] ^= 1;
    let (status, v) = put(&url, &file.id, 0, wrong).await;
    assert_eq!((status, code(&v)), (422, "wrong_commitment"), "{v}");
    let (status, v) = put(&url, &file.id, 0, b"x".to_vec()).await;
    assert_eq!((status, code(&v)), (400, "wrong_length"));

    // A body that stops short of its declared length: nothing is stored, no space is held.
    let grant = format!("{UPLOAD_HEADER}: {}\r\n", upload_grant("alice", &file.id, 0, u64::MAX));
    put_half(&url, &format!("/v1/pieces/{}/0", file.id), &grant, &piece).await;
    // Wait until the provider has refused it (the seventh refusal above), then look.
    metric(&url, "trellis_provider_uploads_total{result=\"refused\"} 7").await;
    assert_eq!(provider.store().used(), 0, "a truncated upload kept its space");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "a truncated upload left a file behind"
    );
    assert!(!provider.store().has(&trellis_storage::provider::PieceId {
        deal: file.id,
        index: 0
    }));

    let (status, _) = put(&url, &file.id, 0, piece.clone()).await;
    assert_eq!(status, 201);
    let (status, v) = put(&url, &file.id, 0, piece.clone()).await;
    assert_eq!((status, v["already"].as_bool()), (200, Some(true)));
    let status: serde_json::Value = reqwest::get(format!("{url}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["pieces"], 1);
    assert_eq!(
        status["used_bytes"],
        trellis_storage::provider::disk::footprint(piece.len() as u64)
    );
}

#[tokio::test]
async fn ranges_across_the_servers_read_batches_come_back_exactly() {
    // 700 kB at 1-of-2: a piece of ~171 chunks, read and sent 64 chunks (256 KiB) at a time.
    let chain = Chain::start().await;
    let file = stored_file(&chain, 700_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = serve(&chain, dir.path(), 1 << 30).await;
    let piece = file.pieces[0].clone();
    assert!(piece.len() > 2 * 262_144, "the piece spans three batches");
    assert_eq!(put(&url, &file.id, 0, piece.clone()).await.0, 201);
    let http = reqwest::Client::new();
    let last = piece.len() - 1;
    let ranges = [
        (0, last),
        (262_143, 262_144),
        (262_144, 262_144),
        (100, 524_300),
        (4_095, last),
        (last, last),
    ];
    for (serial, (from, to)) in (1u8..).zip(ranges) {
        let got = http
            .get(format!("{url}/v1/pieces/{}/0", file.id))
            .header(ORDER_HEADER, whole_piece_order(&chain, &file.id, serial))
            .header("range", format!("bytes={from}-{to}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 206, "{from}-{to}");
        assert!(
            got.bytes().await.unwrap().to_vec() == piece[from..=to],
            "bytes {from}-{to} differ"
        );
    }
}

#[tokio::test]
async fn downloads_serve_ranges_and_never_serve_a_corrupt_chunk() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 150_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = serve(&chain, dir.path(), 1 << 30).await;
    let piece = file.pieces[0].clone();
    assert!(piece.len() > 2 * GROUP_BYTES, "{}", piece.len());
    assert_eq!(put(&url, &file.id, 0, piece.clone()).await.0, 201);
    let http = reqwest::Client::new();
    let serial = std::sync::atomic::AtomicU8::new(0);
    let get = |range: Option<&str>| {
        let fresh = serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut r = http
            .get(format!("{url}/v1/pieces/{}/0", file.id))
            .header(ORDER_HEADER, whole_piece_order(&chain, &file.id, fresh));
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send()
    };
    let whole = get(None).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert!(
        whole.bytes().await.unwrap().to_vec() == piece,
        "the whole piece comes back"
    );
    let part = get(Some("bytes=4090-4100")).await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 4090-4100/{}", piece.len())
    );
    assert_eq!(part.bytes().await.unwrap().to_vec(), piece[4090..=4100]);
    assert_eq!(get(Some("bytes=99999999-")).await.unwrap().status(), 416);
    assert_eq!(get(Some("lines=1-2")).await.unwrap().status(), 416);
    let missing = http
        .get(format!("{url}/v1/pieces/{}/1", file.id))
        .header(ORDER_HEADER, whole_piece_order(&chain, &file.id, 200))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Flip a byte on disk: the 64 KiB group holding it is never served, the others are.
    let path = dir.path().join("pieces").join(file.id.to_string()).join("0.piece");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[GROUP_BYTES + 5_000] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    for (from, to) in [(0, 4095), (2 * GROUP_BYTES, piece.len() - 1)] {
        let intact = get(Some(&format!("bytes={from}-{to}")))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            intact.to_vec() == piece[from..=to],
            "bytes {from}-{to} are intact and still served"
        );
    }
    // The connection breaks off: before the headers or inside the body, depending on timing.
    let body = match get(Some(&format!("bytes={}-{}", GROUP_BYTES + 4096, GROUP_BYTES + 8191))).await {
        Ok(response) => response.bytes().await.map(|b| b.to_vec()),
        Err(e) => Err(e),
    };
    assert!(body.map_or(true, |b| b.is_empty()), "the corrupt chunk was served");
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("trellis_provider_corrupt_reads_total 1"), "{metrics}");
}

#[tokio::test]
async fn challenges_get_signed_proofs_that_cannot_be_replayed() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 40_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = serve(&chain, dir.path(), 1 << 30).await;
    assert_eq!(put(&url, &file.id, 0, file.pieces[0].clone()).await.0, 201);
    let http = reqwest::Client::new();
    let send = |c: SignedChallenge| {
        use trellis_primitives::Encode;
        http.post(format!("{url}/v1/challenge")).body(c.to_bytes()).send()
    };
    let ask = |c: &Challenge| send(signed(&chain, c, "verifier", "p1"));
    let (root, len) = (file.terms.pieces[0].root, file.terms.piece_len);
    let first = challenge_for(&Hash([1; 32]), &file.id, 0, len, 8);
    // Only a registered verifier's challenge for this chain is answered: anyone can compute one
    // from public block entropy, and each costs the provider reads.
    let refusal = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, code(&response.json().await.unwrap()).to_string())
    };
    let forbidden = (403, "unauthorized_challenge".to_string());
    let stranger = signed(&chain, &first, "alice", "p1");
    assert_eq!(refusal(send(stranger).await.unwrap()).await, forbidden);
    let mut other_chain = signed(&chain, &first, "verifier", "p1");
    other_chain = SignedChallenge::sign(
        "another-chain",
        first.clone(),
        other_chain.provider,
        other_chain.epoch,
        &key("verifier"),
    );
    assert_eq!(refusal(send(other_chain).await.unwrap()).await, forbidden);
    let mut altered = signed(&chain, &first, "verifier", "p1");
    altered.challenge.chunks[0] ^= 1;
    assert_eq!(refusal(send(altered).await.unwrap()).await, forbidden);
    // One for another provider (say the piece's next holder), or from epochs ago: a replay.
    let elsewhere = signed(&chain, &first, "verifier", "p2");
    assert_eq!(refusal(send(elsewhere).await.unwrap()).await, forbidden);
    // Epoch 0's challenge once the chain is past epoch 8 (epochs are half a second; the
    // provider's view of the epoch may lag by its 2 s status cache, four epochs).
    while chain.node.tip().height < 8 * 25 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stale = SignedChallenge::sign(
        CHAIN,
        first.clone(),
        device("p1"),
        trellis_primitives::Epoch(0),
        &key("verifier"),
    );
    let stale = refusal(send(stale).await.unwrap()).await;
    assert_eq!(stale, (403, "stale_challenge".to_string()));
    metric(
        &url,
        "trellis_provider_challenges_refused_total{reason=\"unauthorized\"} 5",
    )
    .await;
    let bytes = ask(&first).await.unwrap().bytes().await.unwrap();
    // Replayed: the same answer, from memory (no reads: the answered count stays at one); but
    // only after the same checks, so a stranger's copy of it is still refused.
    assert_eq!(ask(&first).await.unwrap().bytes().await.unwrap(), bytes);
    metric(&url, "trellis_provider_challenges_total 1").await;
    let copied = signed(&chain, &first, "alice", "p1");
    assert_eq!(refusal(send(copied).await.unwrap()).await, forbidden);
    let answer = decode_answer(&bytes).unwrap();
    assert_eq!(answer.check(&first, &root, len, &device("p1")), Ok(()));
    assert_eq!(
        answer.check(&first, &root, len, &device("p2")),
        Err(AnswerFault::BadSignature)
    );
    let second = challenge_for(&Hash([2; 32]), &file.id, 0, len, 8);
    assert_eq!(
        answer.check(&second, &root, len, &device("p1")),
        Err(AnswerFault::WrongNonce)
    );
    // Same nonce, other chunks: the proofs no longer match what was asked.
    let mut reshuffled = first.clone();
    reshuffled.chunks.reverse();
    reshuffled.chunks[0] = (reshuffled.chunks[0] + 1) % trellis_storage::piece::chunk_count(len);
    assert!(answer.check(&reshuffled, &root, len, &device("p1")).is_err());
    assert_eq!(PieceTree::of(&file.pieces[0]).root(), root);

    let garbage = http
        .post(format!("{url}/v1/challenge"))
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let huge = http
        .post(format!("{url}/v1/challenge"))
        .body(vec![0; 10_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let past_end = Challenge {
        chunks: vec![1_000_000],
        ..first.clone()
    };
    assert_eq!(ask(&past_end).await.unwrap().status(), 400);
    let elsewhere = Challenge { index: 1, ..first };
    assert_eq!(ask(&elsewhere).await.unwrap().status(), 404);
    assert!(trellis_storage::protocol::Answer::from_bytes(&[0; 10]).is_err());
}

#[tokio::test]
async fn direct_uploads_need_a_fresh_grant_from_the_deals_client_or_a_verifier() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, provider) = serve(&chain, dir.path(), 1 << 30).await;
    let piece = file.pieces[0].clone();
    let refused = |(status, v): (u16, serde_json::Value)| (status, code(&v).to_string());
    let try_with = |grant: Option<String>| put_as(&url, &file.id, 0, piece.clone(), grant);
    let expect = |status: u16, code: &str| (status, code.to_string());

    assert_eq!(refused(try_with(None).await), expect(401, "upload_unsigned"));
    assert_eq!(
        refused(try_with(Some("zz".into())).await),
        expect(400, "invalid_upload_grant")
    );
    // Anyone else than the deal's client (bob owns the provider, and still may not).
    let bobs = upload_grant("bob", &file.id, 0, u64::MAX);
    assert_eq!(refused(try_with(Some(bobs)).await), expect(403, "not_deal_client"));
    // Alice's grant, for another chain, piece or provider, or expired: no use here.
    let other_chain = UploadGrant {
        deal: file.id,
        index: 0,
        provider: device("p1"),
        expires: trellis_primitives::Epoch(u64::MAX),
    }
    .sign("another-chain", &key("alice"))
    .header();
    assert_eq!(
        refused(try_with(Some(other_chain)).await),
        expect(403, "bad_upload_signature")
    );
    let other_piece = upload_grant("alice", &file.id, 1, u64::MAX);
    assert_eq!(
        refused(try_with(Some(other_piece)).await),
        expect(403, "wrong_upload_grant")
    );
    let for_p2 = UploadGrant {
        deal: file.id,
        index: 0,
        provider: device("p2"),
        expires: trellis_primitives::Epoch(u64::MAX),
    }
    .sign(CHAIN, &key("alice"))
    .header();
    assert_eq!(refused(try_with(Some(for_p2)).await), expect(403, "wrong_upload_grant"));
    // Epochs are half a second: past epoch 6, a grant that expired after epoch 0 is old even
    // by the provider's status, cached for up to 2 s (four epochs).
    while chain.node.tip().height < 6 * 25 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expired = upload_grant("alice", &file.id, 0, 0);
    assert_eq!(
        refused(try_with(Some(expired)).await),
        expect(403, "upload_grant_expired")
    );
    assert_eq!(provider.store().used(), 0, "a refused upload kept room");
    // A verifier (a repairer) may, as may the client.
    let verifiers = upload_grant("verifier", &file.id, 0, u64::MAX);
    assert_eq!(try_with(Some(verifiers)).await.0, 201);
}

#[tokio::test]
async fn a_full_provider_refuses_cleanly_and_pieces_survive_a_restart() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 20_000).await;
    let dir = tempfile::tempdir().unwrap();
    let piece = file.pieces[0].clone();
    {
        let (url, _) = serve(&chain, dir.path(), 1_000).await;
        let (status, v) = put(&url, &file.id, 0, piece.clone()).await;
        assert_eq!((status, code(&v)), (507, "full"), "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("1000 bytes free"),
            "{v}"
        );
    }
    let (url, _) = serve(&chain, dir.path(), 1 << 20).await;
    assert_eq!(put(&url, &file.id, 0, piece.clone()).await.0, 201);
    // A new process on the same directory: the piece is there and counted.
    let (url, provider) = serve(&chain, dir.path(), 1 << 20).await;
    assert_eq!(
        provider.store().used(),
        trellis_storage::provider::disk::footprint(piece.len() as u64)
    );
    let back = reqwest::Client::new()
        .get(format!("{url}/v1/pieces/{}/0", file.id))
        .header(ORDER_HEADER, whole_piece_order(&chain, &file.id, 1))
        .send()
        .await
        .unwrap();
    assert!(
        back.bytes().await.unwrap().to_vec() == piece,
        "the piece survives a restart"
    );
}
