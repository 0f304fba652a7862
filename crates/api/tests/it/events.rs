//! The server-sent block stream and the Prometheus metrics.

use crate::server::{code, transfer, user, Server, DEADLINE, MIN_FEE};
use futures::StreamExt;
use serde_json::Value;
use tokio::time::{timeout_at, Instant};

/// Reads server-sent events from `stream` until one named `block` whose data has a `height`
/// arrives; returns its data. Fails the test at `deadline`.
async fn next_block_event<S, B, E>(stream: &mut S, buffer: &mut String, deadline: Instant) -> Value
where
    S: futures::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Debug,
{
    loop {
        // Events are separated by a blank line; a chunk may hold several or part of one.
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut event, mut data) = (None, String::new());
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if event.as_deref() == Some("block") && data.contains("\"height\"") {
                return serde_json::from_str(&data).unwrap();
            }
        }
        let chunk = timeout_at(deadline, stream.next())
            .await
            .expect("no block event before the deadline")
            .expect("the event stream ended")
            .unwrap();
        buffer.push_str(std::str::from_utf8(chunk.as_ref()).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_event_stream_delivers_committed_blocks_in_order() {
    let s = Server::start().await;
    let r = s.http.get(format!("{}/v1/events/blocks", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = r.bytes_stream();
    let mut buffer = String::new();
    let deadline = Instant::now() + DEADLINE;

    let first = next_block_event(&mut stream, &mut buffer, deadline).await;
    let height = first["height"].as_u64().unwrap();
    assert!(height >= 1, "{first}");
    let next = next_block_event(&mut stream, &mut buffer, deadline).await;
    assert!(next["height"].as_u64().unwrap() > height, "{first} then {next}");

    // The event describes the committed block.
    let (status, block) = s.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(status, 200, "{block}");
    assert_eq!(block["hash"], first["hash"], "{block}");
    assert_eq!(block["block"]["header"]["state_root"], first["state_root"], "{block}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_chain_height_and_refusals_by_reason() {
    let s = Server::start().await;
    let text = s.metrics().await;
    assert!(text.lines().any(|l| l.starts_with("trellis_chain_height ")), "{text}");
    assert!(!text.contains("trellis_txs_refused_total{"), "{text}");

    let (status, v) = s.submit(&transfer(&user(1), &user(2), 5, 0, MIN_FEE - 1)).await;
    assert_eq!((status, code(&v)), (422, "fee_too_low"), "{v}");
    let text = s.metrics().await;
    assert!(
        text.lines()
            .any(|l| l == "trellis_txs_refused_total{reason=\"fee_too_low\"} 1"),
        "{text}"
    );
}
