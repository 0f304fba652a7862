//! Moving one piece between a file on disk and a provider, streamed both ways.
//!
//! Downloads hash every byte as it arrives and keep the piece only if its Merkle root is the one
//! the deal records, so a provider can delay a download but never corrupt one.

use super::orders::{PieceOrders, DOWNLOAD_WINDOW_BYTES};
use crate::{
    protocol::{SignedStageGrant, SignedUploadGrant, ORDER_CLAIMED, ORDER_HEADER, STAGE_HEADER, UPLOAD_HEADER},
    spool::{Durability, Spool},
};
use futures::StreamExt;
use std::{path::Path, time::Duration};
use trellis_primitives::Hash;

/// Longest a piece transfer may go without moving a byte before the client gives up on that
/// provider. An idle limit, not a total one: a large piece on a slow link may take hours.
pub const TRANSFER_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a connection to a provider may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// New serials one piece download starts when its provider claimed the previous one mid-way; a
/// provider that keeps refusing is given up on.
const MAX_SERIAL_RENEWALS: u32 = 8;

/// The HTTP client piece transfers use: a read may wait at most `idle` (usually
/// [`TRANSFER_IDLE_TIMEOUT`]), a connection may take [`CONNECT_TIMEOUT`] to open, and no
/// redirects are followed (a provider must not bounce a client to another host).
pub fn transfer_http(idle: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .read_timeout(idle)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}
/// Upload bodies are streamed from disk in reads of this size.
const READ_CHUNK_BYTES: usize = 256 << 10;

/// Why moving a piece failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The provider could not be reached, or the connection broke.
    #[error("provider {url} unreachable: {message}")]
    Unreachable {
        /// Its endpoint.
        url: String,
        /// What happened.
        message: String,
    },
    /// The provider refused, with its error code.
    #[error("provider {url} refused ({status}, {code}): {message}")]
    Refused {
        /// Its endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The provider returned bytes that do not match the commitment.
    #[error("provider {url} returned a piece that does not match its commitment ({found} bytes hashing to {root}, expected {expected} bytes)")]
    BadData {
        /// Its endpoint.
        url: String,
        /// Bytes received.
        found: u64,
        /// Bytes expected.
        expected: u64,
        /// What they hash to.
        root: Hash,
    },
    /// Local disk trouble.
    #[error("{0}")]
    Local(String),
}

impl TransferError {
    /// Whether the provider is at fault in a way worth reporting (wrong bytes).
    pub fn is_bad_data(&self) -> bool {
        matches!(self, TransferError::BadData { .. })
    }
}

fn piece_url(endpoint: &str, deal: &Hash, index: u16) -> String {
    format!("{}/v1/pieces/{deal}/{index}", endpoint.trim_end_matches('/'))
}

async fn refusal(url: &str, response: reqwest::Response) -> TransferError {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    TransferError::Refused {
        url: url.to_string(),
        status,
        code: body["error"]["code"].as_str().unwrap_or("unknown").to_string(),
        message: body["error"]["message"].as_str().unwrap_or("").to_string(),
    }
}

/// Uploads the piece file at `path` as the piece `grant` names (signed by the deal's client or
/// a verifier), calling `progress(bytes)` as bytes are read for sending.
pub async fn upload_piece(
    http: &reqwest::Client,
    endpoint: &str,
    grant: &SignedUploadGrant,
    path: &Path,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<(), TransferError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| TransferError::Local(format!("cannot open {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| TransferError::Local(format!("cannot stat {}: {e}", path.display())))?
        .len();
    upload_piece_stream(http, endpoint, grant, len, tokio_util_stream(file), progress).await
}

/// Uploads the piece `grant` names from `body`, which must yield exactly `len` bytes (a
/// provider refuses anything else), calling `progress(bytes)` as bytes are taken for sending.
pub async fn upload_piece_stream(
    http: &reqwest::Client,
    endpoint: &str,
    grant: &SignedUploadGrant,
    len: u64,
    body: impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<(), TransferError> {
    let url = piece_url(endpoint, &grant.grant.deal, grant.grant.index);
    let header = Some((UPLOAD_HEADER, grant.header()));
    put_stream(http, &url, len, header, body, progress).await.map(drop)
}

/// PUTs `len` bytes from `body` to `url` (with `header`, if any), calling `progress(bytes)` as
/// bytes are taken for sending; the response if it is a success, else the refusal.
async fn put_stream(
    http: &reqwest::Client,
    url: &str,
    len: u64,
    header: Option<(&str, String)>,
    body: impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<reqwest::Response, TransferError> {
    let stream = body.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            progress(bytes.len() as u64);
        }
        chunk
    });
    let mut request = http.put(url).header(reqwest::header::CONTENT_LENGTH, len);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| TransferError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(refusal(url, response).await)
    }
}

/// Uploads piece `grant.index` of a file still being coded, under the client's signed grant,
/// from `body` (exactly `grant.len` bytes), calling `progress(bytes)` as bytes are taken for
/// sending. The provider holds the piece until [`commit_piece`] names the deal; the root it
/// computed from the bytes it received.
pub async fn stage_piece_stream(
    http: &reqwest::Client,
    endpoint: &str,
    grant: &SignedStageGrant,
    body: impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<Hash, TransferError> {
    let g = &grant.grant;
    let url = format!(
        "{}/v1/staged/{}/{}",
        endpoint.trim_end_matches('/'),
        hex::encode(g.nonce),
        g.index
    );
    let response = put_stream(http, &url, g.len, Some((STAGE_HEADER, grant.header())), body, progress).await?;
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["root"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| TransferError::Refused {
            url,
            status: 200,
            code: "no_root".into(),
            message: format!("the provider staged the piece but did not say its root: {body}"),
        })
}

/// Asks the provider to keep staged piece `index` of `deal`, now on chain.
pub async fn commit_piece(
    http: &reqwest::Client,
    endpoint: &str,
    deal: &Hash,
    index: u16,
) -> Result<(), TransferError> {
    let url = format!("{}/commit", piece_url(endpoint, deal, index));
    let response = http.post(&url).send().await.map_err(|e| TransferError::Unreachable {
        url: url.clone(),
        message: e.to_string(),
    })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(refusal(&url, response).await)
    }
}

/// A file as a stream of byte chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<bytes_compat::Bytes, std::io::Error>> + Send {
    futures::stream::unfold(Some(file), |state| async move {
        use tokio::io::AsyncReadExt;
        let mut file = state?;
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes_compat::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// `bytes` as re-exported by axum (the same crate reqwest streams).
mod bytes_compat {
    pub(super) use axum::body::Bytes;
}

/// Which piece to fetch and what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceRef {
    /// The deal.
    pub deal: Hash,
    /// The piece index.
    pub index: u16,
    /// Its Merkle root, as the deal records it.
    pub root: Hash,
    /// Its length in bytes.
    pub len: u64,
}

/// Downloads `piece` into `dest`, keeping it only if it is exactly `piece.len` bytes hashing to
/// `piece.root`. Fetches it one [`DOWNLOAD_WINDOW_BYTES`] range at a time, each paid by an order
/// from `orders` allowing everything received so far plus the window. Calls `progress(bytes)` as
/// bytes arrive, and hands every byte in order to `tee` (if given), for a reader that decodes
/// while the rest arrives (and must not trust them before this returns `Ok`).
pub async fn download_piece(
    http: &reqwest::Client,
    endpoint: &str,
    piece: &PieceRef,
    orders: &PieceOrders,
    dest: &Path,
    tee: Option<super::FeedSender>,
    progress: impl Fn(u64),
) -> Result<(), TransferError> {
    let PieceRef { deal, index, root, len } = *piece;
    let url = piece_url(endpoint, &deal, index);
    let unreachable = |e: reqwest::Error| TransferError::Unreachable {
        url: url.clone(),
        message: e.to_string(),
    };
    let local = |e: std::io::Error| TransferError::Local(format!("cannot write {}: {e}", dest.display()));
    let mut spool = Spool::create_teed(dest, Durability::Scratch, tee)
        .await
        .map_err(local)?;
    let mut received = 0u64;
    // Orders allow bytes cumulatively per serial; `base` is what came under earlier serials.
    let (mut orders, mut base, mut renewals) = (orders.clone(), 0u64, 0);
    while received < len {
        let start = received;
        let end = start.saturating_add(DOWNLOAD_WINDOW_BYTES).min(len);
        let response = http
            .get(&url)
            .header(reqwest::header::RANGE, format!("bytes={start}-{}", end - 1))
            .header(ORDER_HEADER, orders.header(end - base))
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            let refused = refusal(&url, response).await;
            // The provider claimed the serial while this download paused (waiting for a slower
            // piece, say): go on under a new one.
            if matches!(&refused, TransferError::Refused { code, .. } if code == ORDER_CLAIMED)
                && renewals < MAX_SERIAL_RENEWALS
            {
                (orders, base, renewals) = (orders.renewed(), start, renewals + 1);
                continue;
            }
            drop(spool);
            discard(dest).await;
            return Err(refused);
        }
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(unreachable)?;
            if received + chunk.len() as u64 > end {
                break; // more than the window: it cannot match, stop reading
            }
            received += chunk.len() as u64;
            progress(chunk.len() as u64);
            spool.write(chunk).await.map_err(local)?;
        }
        if received != end {
            break; // a short or long window: judged below
        }
    }
    let tree = spool.finish().await.map_err(local)?;
    if tree.len != len || tree.root() != root {
        discard(dest).await;
        return Err(TransferError::BadData {
            url,
            found: tree.len,
            expected: len,
            root: tree.root(),
        });
    }
    Ok(())
}

/// Removes a download that is not kept.
async fn discard(dest: &Path) {
    if let Err(e) = tokio::fs::remove_file(dest).await {
        tracing::warn!(path = %dest.display(), error = %e, "cannot remove a rejected download");
    }
}
