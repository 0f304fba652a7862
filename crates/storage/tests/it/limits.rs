//! A provider's bounds on what slow or hostile peers can hold: upload slots, the upload rate
//! floor and idle timeout, and the challenge queue. Real server, real node, small limits.

use crate::provider::{code, key, metric, put, signed, stored_file, upload_grant, Chain};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trellis_primitives::{Encode, Hash};
use trellis_storage::{
    audit::challenge_for,
    chain::NodeApi,
    protocol::UPLOAD_HEADER,
    provider::{Limits, PieceStore, Provider},
};

/// Provider `p1` serving `dir` within `limits`; its base URL.
async fn serve_within(chain: &Chain, dir: &std::path::Path, limits: Limits) -> String {
    let store = PieceStore::open(dir, 1 << 30).unwrap();
    let provider = Provider::with_limits(store, NodeApi::new(&chain.url).unwrap(), key("p1"), limits).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { provider.serve(listener, std::future::pending()).await });
    url
}

/// An upload of piece 0 of `deal` declaring `len` bytes, of which only `first` are sent.
async fn start_upload(url: &str, deal: &Hash, len: usize, first: usize) -> tokio::net::TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let grant = upload_grant("alice", deal, 0, u64::MAX);
    let head = format!(
        "PUT /v1/pieces/{deal}/0 HTTP/1.1\r\nhost: {addr}\r\n{UPLOAD_HEADER}: {grant}\r\ncontent-length: {len}\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&vec![0; first]).await.unwrap();
    raw
}

/// Reads the response the provider sent on `raw` (it answers while the body is unfinished):
/// status and error code.
async fn response(raw: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&text).contains("\"code\"") {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, raw.read(&mut buf))
            .await
            .expect("no response in time")
            .unwrap();
        assert!(n > 0, "closed without a response: {}", String::from_utf8_lossy(&text));
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text).to_string();
    let status = text[9..12].parse().unwrap();
    let body: serde_json::Value = serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    (status, code(&body).to_string())
}

#[tokio::test]
async fn a_held_upload_slot_refuses_others_until_a_trickle_or_a_stall_is_cut_off() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 300_000).await;
    let piece = file.pieces[0].clone();
    let (dir, stall_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A floor far above a trickle's ~200 B/s and far below loopback.
    let floor = Limits {
        max_uploads: 1,
        min_upload_bytes_per_s: 16 << 10,
        upload_rate_grace: Duration::from_millis(300),
        ..Limits::default()
    };
    let url = serve_within(&chain, dir.path(), floor).await;

    // A trickle holds the only slot: another upload is told to come back later (sent without
    // its body, which the provider would not read).
    let started = Instant::now();
    let mut trickle = start_upload(&url, &file.id, piece.len(), 100).await;
    metric(&url, "trellis_provider_uploads_in_progress 1").await;
    let mut other = start_upload(&url, &file.id, piece.len(), 0).await;
    assert_eq!(response(&mut other).await, (503, "busy".to_string()));
    // Still sending, but far below the floor once the grace has passed: cut off.
    loop {
        trickle.write_all(&[0; 10]).await.unwrap();
        // The provider judges the rate as each frame arrives, and answers at once.
        if tokio::time::timeout(Duration::from_millis(50), trickle.readable())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a trickle was never cut off"
        );
    }
    assert_eq!(response(&mut trickle).await, (408, "upload_too_slow".to_string()));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    metric(&url, "trellis_provider_uploads_in_progress 0").await;
    // Then an honest upload goes through.
    let (status, v) = put(&url, &file.id, 0, piece.clone()).await;
    assert_eq!(status, 201, "{v}");
    // The busy one and the trickle.
    metric(&url, "trellis_provider_uploads_total{result=\"refused\"} 2").await;
    metric(&url, "trellis_provider_uploads_total{result=\"stored\"} 1").await;

    // One that stops sending is cut off after the idle timeout, and frees its slot.
    let idle = Limits {
        max_uploads: 1,
        upload_idle_timeout: Duration::from_millis(700),
        ..Limits::default()
    };
    let url = serve_within(&chain, stall_dir.path(), idle).await;
    let started = Instant::now();
    let mut stall = start_upload(&url, &file.id, piece.len(), 100).await;
    assert_eq!(response(&mut stall).await, (408, "upload_stalled".to_string()));
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    metric(&url, "trellis_provider_uploads_in_progress 0").await;
    let (status, v) = put(&url, &file.id, 0, piece).await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn challenges_queue_for_a_slot_and_are_refused_only_after_the_wait() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 40_000).await;
    let piece = file.pieces[0].clone();
    let len = file.terms.piece_len;
    let signed_in = |round: u8| {
        let challenge = challenge_for(&Hash([round; 32]), &file.id, 0, len, 8);
        signed(&chain, &challenge, "verifier", "p1").to_bytes()
    };
    let http = reqwest::Client::new();

    // One slot, a generous queue: twenty challenges at once are all answered, one by one.
    let dir = tempfile::tempdir().unwrap();
    let one = Limits {
        max_challenges: 1,
        challenge_queue_wait: Duration::from_secs(5),
        ..Limits::default()
    };
    let url = serve_within(&chain, dir.path(), one).await;
    assert_eq!(put(&url, &file.id, 0, piece.clone()).await.0, 201);
    let asks = (0..20u8).map(|round| http.post(format!("{url}/v1/challenge")).body(signed_in(round)).send());
    for answer in futures::future::join_all(asks).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    metric(&url, "trellis_provider_challenges_total 20").await;

    // No slot at all: a challenge waits out the queue, then is refused as busy.
    let dir = tempfile::tempdir().unwrap();
    let none = Limits {
        max_challenges: 0,
        challenge_queue_wait: Duration::from_millis(400),
        ..Limits::default()
    };
    let url = serve_within(&chain, dir.path(), none).await;
    assert_eq!(put(&url, &file.id, 0, piece).await.0, 201);
    let started = Instant::now();
    let refused = http
        .post(format!("{url}/v1/challenge"))
        .body(signed_in(0))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(refused.status(), 503);
    assert_eq!(code(&refused.json().await.unwrap()), "busy");
    metric(&url, "trellis_provider_challenges_refused_total{reason=\"busy\"} 1").await;
    // A stranger's challenge is refused at once, before it can queue.
    let stranger = signed(
        &chain,
        &challenge_for(&Hash([1; 32]), &file.id, 0, len, 8),
        "alice",
        "p1",
    );
    // (were it checked after the queue, it would be refused as busy)
    let refused = http
        .post(format!("{url}/v1/challenge"))
        .body(stranger.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    metric(
        &url,
        "trellis_provider_challenges_refused_total{reason=\"unauthorized\"} 1",
    )
    .await;
}
