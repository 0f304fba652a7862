//! New blocks as a wake-up: a task follows the node's `/v1/events/blocks` stream (server-sent
//! events) and publishes each height, so whatever waits on chain state (a transaction, duties, a
//! job) looks again when a block lands instead of on a fixed period. Polling stays as the
//! fallback: while the stream is down, waiters wake on their own period and the task reconnects.

use std::time::Duration;
use tokio::sync::watch;

/// How long to wait before reconnecting a dropped stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The newest block height the stream announced (0 before the first), or nothing when the
/// blocks are not followed: then waits are the fallback period alone.
#[derive(Clone, Default)]
pub(crate) struct Blocks(Option<watch::Receiver<u64>>);

impl Blocks {
    /// Follows the node at `base` (e.g. `http://127.0.0.1:8645`) until every handle is dropped.
    pub(crate) fn follow(base: &str) -> Self {
        let (tx, rx) = watch::channel(0);
        let url = format!("{}/v1/events/blocks", base.trim_end_matches('/'));
        tokio::spawn(async move {
            // No overall timeout: the stream is meant to stay open.
            let http = match reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
            {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow blocks; polling instead");
                    return;
                }
            };
            while !tx.is_closed() {
                if let Err(e) = stream(&http, &url, &tx).await {
                    tracing::debug!(%url, error = %format!("{e:#}"), "block stream dropped; reconnecting");
                }
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
        Blocks(Some(rx))
    }

    /// Marks every block so far as seen.
    pub(crate) fn mark_seen(&mut self) {
        if let Some(rx) = &mut self.0 {
            rx.borrow_and_update();
        }
    }

    /// Waits for a block not yet seen, or `fallback`, whichever is first.
    pub(crate) async fn next(&mut self, fallback: Duration) {
        let Some(rx) = &mut self.0 else {
            return tokio::time::sleep(fallback).await;
        };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    // The follower is gone: fall back to the period alone.
                    tokio::time::sleep(fallback).await;
                }
            }
            _ = tokio::time::sleep(fallback) => {}
        }
    }
}

/// Reads one connection's events until it ends, publishing each block's height.
async fn stream(http: &reqwest::Client, url: &str, tx: &watch::Sender<u64>) -> anyhow::Result<()> {
    let mut response = http.get(url).send().await?.error_for_status()?;
    let mut pending = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(height) = block_height(&line) {
                tx.send_replace(height);
            }
            if tx.is_closed() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The height in an SSE `data:` line of a block event.
fn block_height(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let data = text.trim().strip_prefix("data:")?;
    serde_json::from_str::<serde_json::Value>(data.trim()).ok()?["height"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::block_height;

    #[test]
    fn only_data_lines_with_a_height_count() {
        assert_eq!(block_height(b"data: {\"height\":42,\"txs\":0}\n"), Some(42));
        assert_eq!(block_height(b"event: block\n"), None);
        assert_eq!(block_height(b"data: not json\n"), None);
        assert_eq!(block_height(b": keep-alive\n"), None);
    }
}
