//! The provider's HTTP server: piece uploads (streamed to disk, checked against the deal),
//! ranged downloads (checked chunk by chunk against the stored tree), challenge answers, status
//! and metrics; and the collector that drops pieces of closed or moved deals.

use super::disk::{PieceId, PieceStore};
use crate::{
    chain::{DealRecord, NodeApi},
    piece::{PieceHasher, PIECE_CHUNK_BYTES},
    protocol::{decode_challenge, Answer, MAX_CHALLENGE_BYTES},
};
use axum::{
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use futures::StreamExt;
use serde_json::json;
use std::{
    io::{Read, Seek, SeekFrom},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::io::AsyncWriteExt;
use trellis_primitives::{DeviceAddress, Encode, Hash, Keypair};

/// A refusal: status, stable code, message; JSON like the node API's errors.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "provider internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

#[derive(Debug, Default)]
struct Metrics {
    uploads: AtomicU64,
    uploads_refused: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    challenges: AtomicU64,
    corrupt_reads: AtomicU64,
    collected: AtomicU64,
}

/// Downloads served at once. Each holds a blocking reader thread; a client that stops reading
/// holds it until [`SEND_TIMEOUT`], so this bounds what slow clients can pin.
const MAX_CONCURRENT_DOWNLOADS: usize = 32;
/// Challenges answered at once (each reads the piece's leaves and hashes its tree).
const MAX_CONCURRENT_CHALLENGES: usize = 8;
/// Longest a download waits for the client to take the next chunk.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest an upload may go without sending a byte.
const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Inner {
    store: PieceStore,
    node: NodeApi,
    key: Keypair,
    device: DeviceAddress,
    metrics: Metrics,
    downloads: Arc<tokio::sync::Semaphore>,
    challenges: Arc<tokio::sync::Semaphore>,
    /// Pieces being uploaded right now: one upload per piece at a time.
    uploading: std::sync::Mutex<std::collections::BTreeSet<PieceId>>,
}

/// Marks a piece as being uploaded; clears the mark and removes the temporary file (unless the
/// upload was committed) when dropped, also when the request is cancelled mid-stream.
struct UploadGuard<'a> {
    provider: &'a Provider,
    id: PieceId,
    temp: std::path::PathBuf,
    committed: bool,
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = std::fs::remove_file(&self.temp) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.temp.display(), error = %e, "cannot remove an abandoned upload");
                }
            }
        }
        let mut set = self
            .provider
            .0
            .uploading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.remove(&self.id);
    }
}

/// A running provider's shared state.
#[derive(Clone)]
pub struct Provider(Arc<Inner>);

impl Provider {
    /// A provider serving `store` as the device with `key`, reading deals from `node`.
    pub fn new(store: PieceStore, node: NodeApi, key: Keypair) -> Self {
        let device = key.public().into();
        Provider(Arc::new(Inner {
            store,
            node,
            key,
            device,
            metrics: Metrics::default(),
            downloads: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_DOWNLOADS)),
            challenges: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHALLENGES)),
            uploading: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        }))
    }

    /// Its device address.
    pub fn device(&self) -> DeviceAddress {
        self.0.device
    }

    /// The piece store.
    pub fn store(&self) -> &PieceStore {
        &self.0.store
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/pieces/{deal}/{index}", put(upload).get(download))
            .route(
                "/v1/challenge",
                post(challenge).layer(DefaultBodyLimit::max(MAX_CHALLENGE_BYTES)),
            )
            .route("/v1/status", get(status))
            .route("/metrics", get(metrics))
            .fallback(|| async { Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
            .with_state(self.clone())
    }

    /// Serves the routes on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Deletes pieces whose deal closed or moved them elsewhere. Leaves everything alone when
    /// the node cannot be asked: a piece is only dropped on the chain's word.
    pub async fn collect_garbage(&self) -> usize {
        let Ok(ids) = self.0.store.list() else { return 0 };
        let mut deals: Vec<Hash> = ids.iter().map(|i| i.deal).collect();
        deals.dedup();
        let mut removed = 0;
        for deal in deals {
            let record = match self.0.node.deal(&deal).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "garbage collection skipped");
                    return removed;
                }
            };
            for id in ids.iter().filter(|i| i.deal == deal) {
                let assigned = record.as_ref().is_some_and(|r| self.assigned(r, id.index));
                if !assigned {
                    match self.0.store.delete(id) {
                        Ok(()) => {
                            removed += 1;
                            tracing::info!(deal = %id.deal, index = id.index, "dropped a piece no deal assigns here");
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot delete a piece"),
                    }
                }
            }
        }
        self.0.metrics.collected.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Runs [`Provider::collect_garbage`] every `every` forever.
    pub async fn collect_forever(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.collect_garbage().await;
        }
    }

    /// Whether the deal (still paying: not every epoch of its duration settled) places piece
    /// `index` here.
    fn assigned(&self, deal: &DealRecord, index: u16) -> bool {
        deal.settled_epochs < deal.terms.duration_epochs
            && deal
                .terms
                .pieces
                .get(usize::from(index))
                .is_some_and(|p| p.provider == self.0.device)
    }

    async fn assigned_deal(&self, deal: Hash, index: u16) -> Result<DealRecord, Refusal> {
        let record = self
            .0
            .node
            .deal(&deal)
            .await
            .map_err(|e| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "node_unavailable", e.to_string()))?
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "unknown_deal",
                    format!("no open storage deal {deal}"),
                )
            })?;
        if !self.assigned(&record, index) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "not_assigned",
                format!("deal {deal} does not place piece {index} on {}", self.0.device),
            ));
        }
        Ok(record)
    }
}

fn piece_path((deal, index): &(String, String)) -> Result<PieceId, Refusal> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, "invalid_parameter", m);
    Ok(PieceId {
        deal: deal.parse().map_err(|_| bad(format!("invalid deal id `{deal}`")))?,
        index: index
            .parse()
            .map_err(|_| bad(format!("invalid piece index `{index}`")))?,
    })
}

async fn upload(
    State(p): State<Provider>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let result = receive(&p, &path, &headers, body).await;
    let counter = if result.is_ok() {
        &p.0.metrics.uploads
    } else {
        &p.0.metrics.uploads_refused
    };
    counter.fetch_add(1, Ordering::Relaxed);
    result
}

async fn receive(p: &Provider, path: &(String, String), headers: &HeaderMap, body: Body) -> Result<Response, Refusal> {
    let id = piece_path(path)?;
    let deal = p.assigned_deal(id.deal, id.index).await?;
    let expected = deal.terms.piece_len;
    let root = deal.terms.pieces[usize::from(id.index)].root;
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    match declared {
        None => {
            return Err(Refusal::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "uploads must declare Content-Length",
            ))
        }
        Some(n) if n > expected => {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("piece {} of deal {} is {expected} bytes, not {n}", id.index, id.deal),
            ))
        }
        Some(n) if n < expected => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "wrong_length",
                format!("piece {} of deal {} is {expected} bytes, not {n}", id.index, id.deal),
            ))
        }
        Some(_) => {}
    }
    if p.0.store.has(&id) {
        return Ok((StatusCode::OK, Json(json!({ "stored": true, "already": true }))).into_response());
    }
    let fresh =
        p.0.uploading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id);
    if !fresh {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "upload_in_progress",
            format!("piece {} of deal {} is being uploaded already", id.index, id.deal),
        ));
    }
    let mut guard = UploadGuard {
        provider: p,
        id,
        temp: p.0.store.temp_path(&id),
        committed: false,
    };
    let reservation =
        p.0.store
            .reserve(expected)
            .map_err(|full| Refusal::new(StatusCode::INSUFFICIENT_STORAGE, "full", full.to_string()))?;
    let temp = guard.temp.clone();
    let tree = stream_to(&temp, body, expected, &p.0.metrics).await?;
    if tree.len != expected {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "truncated",
            format!("upload ended after {} of {expected} bytes", tree.len),
        ));
    }
    if tree.root() != root {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_commitment",
            format!(
                "the bytes hash to {}, but the deal commits piece {} to {root}",
                tree.root(),
                id.index
            ),
        ));
    }
    let store = p.clone();
    tokio::task::spawn_blocking(move || store.0.store.commit(&id, &temp, &tree, reservation))
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)?;
    guard.committed = true;
    tracing::info!(deal = %id.deal, index = id.index, bytes = expected, "stored a piece");
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))).into_response())
}

async fn stream_to(
    temp: &std::path::Path,
    body: Body,
    limit: u64,
    metrics: &Metrics,
) -> Result<crate::piece::PieceTree, Refusal> {
    let mut file = tokio::fs::File::create(temp).await.map_err(Refusal::internal)?;
    let mut hasher = PieceHasher::new();
    let mut stream = body.into_data_stream();
    loop {
        let next = tokio::time::timeout(UPLOAD_IDLE_TIMEOUT, stream.next())
            .await
            .map_err(|_| {
                Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "upload_stalled",
                    format!(
                        "no data for {} s after {} bytes",
                        UPLOAD_IDLE_TIMEOUT.as_secs(),
                        hasher.len()
                    ),
                )
            })?;
        let Some(frame) = next else { break };
        let bytes = frame.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "truncated",
                format!("upload broke off after {} bytes: {e}", hasher.len()),
            )
        })?;
        if hasher.len() + bytes.len() as u64 > limit {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("upload exceeds the piece length {limit}"),
            ));
        }
        hasher.update(&bytes);
        metrics.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        file.write_all(&bytes).await.map_err(Refusal::internal)?;
    }
    file.flush().await.map_err(Refusal::internal)?;
    Ok(hasher.finish())
}

/// A parsed `Range: bytes=a-b` (inclusive), clamped to the piece.
fn range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, Refusal> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        Refusal::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad_range",
            format!("expected `bytes=start-[end]` within 0..{len}"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = match end.trim() {
        "" => len.saturating_sub(1),
        e => e.parse::<u64>().map_err(|_| bad())?.min(len.saturating_sub(1)),
    };
    if start > end || start >= len {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

async fn download(
    State(p): State<Provider>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let id = piece_path(&path)?;
    if !p.0.store.has(&id) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_piece",
            format!("piece {} of deal {} is not stored here", id.index, id.deal),
        ));
    }
    let tree = {
        let store = p.clone();
        tokio::task::spawn_blocking(move || store.0.store.tree(&id))
            .await
            .map_err(Refusal::internal)?
            .map_err(Refusal::internal)?
    };
    let wanted = range(&headers, tree.len)?;
    let (start, end) = wanted.unwrap_or((0, tree.len.saturating_sub(1)));
    let permit = p.0.downloads.clone().try_acquire_owned().map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_CONCURRENT_DOWNLOADS} downloads in progress; retry shortly"),
        )
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let reader = p.clone();
    let runtime = tokio::runtime::Handle::current();
    // A client that stops reading frees its reader thread after SEND_TIMEOUT.
    let send = move |item: Result<Bytes, std::io::Error>| {
        runtime
            .block_on(tokio::time::timeout(SEND_TIMEOUT, tx.send(item)))
            .is_ok_and(|sent| sent.is_ok())
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let chunk = PIECE_CHUNK_BYTES as u64;
        let result = (|| -> std::io::Result<()> {
            if tree.len == 0 {
                return Ok(());
            }
            let mut file = reader.0.store.open_piece(&id)?;
            let first = start / chunk;
            file.seek(SeekFrom::Start(first * chunk))?;
            let mut buf = vec![0u8; PIECE_CHUNK_BYTES];
            for index in first..=end / chunk {
                let len = crate::piece::chunk_len(tree.len, index).unwrap_or(0);
                file.read_exact(&mut buf[..len])?;
                // Integrity on read: never serve a chunk that no longer matches its hash.
                if crate::piece::chunk_hash(&buf[..len]) != tree.leaves[index as usize] {
                    reader.0.metrics.corrupt_reads.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(deal = %id.deal, piece = id.index, chunk = index, "stored chunk is corrupt");
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "stored chunk is corrupt",
                    ));
                }
                let from = (start.max(index * chunk) - index * chunk) as usize;
                let to = ((end + 1).min(index * chunk + len as u64) - index * chunk) as usize;
                reader
                    .0
                    .metrics
                    .bytes_out
                    .fetch_add((to - from) as u64, Ordering::Relaxed);
                if !send(Ok(Bytes::copy_from_slice(&buf[from..to]))) {
                    return Ok(()); // the client went away or stopped reading
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            if !send(Err(e)) {
                tracing::debug!("the client left before the read error could be reported");
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let length = if tree.len == 0 { 0 } else { end - start + 1 };
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes");
    response = match wanted {
        Some(_) => response
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", tree.len)),
        None => response.status(StatusCode::OK),
    };
    response.body(body).map_err(Refusal::internal)
}

async fn challenge(State(p): State<Provider>, body: Bytes) -> Result<Response, Refusal> {
    let challenge = decode_challenge(&body)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_challenge", e.to_string()))?;
    let id = PieceId {
        deal: challenge.deal,
        index: challenge.index,
    };
    if !p.0.store.has(&id) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_piece",
            format!("piece {} of deal {} is not stored here", id.index, id.deal),
        ));
    }
    let permit = p.0.challenges.clone().try_acquire_owned().map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_CONCURRENT_CHALLENGES} challenges in progress; retry shortly"),
        )
    })?;
    let prover = p.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Answer, Refusal> {
        let _permit = permit;
        let store = &prover.0.store;
        let tree = store.tree(&id).map_err(Refusal::internal)?;
        let mut chunks = Vec::with_capacity(challenge.chunks.len());
        for &index in &challenge.chunks {
            let chunk = store.read_chunk(&id, tree.len, index).map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_challenge",
                    format!("chunk {index}: {e}"),
                )
            })?;
            chunks.push((index, chunk));
        }
        let proofs = tree.prove_many(chunks).ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_challenge",
                "a chunk index is past the end",
            )
        })?;
        Ok(Answer::sign(&challenge, proofs, &prover.0.key))
    })
    .await
    .map_err(Refusal::internal)??;
    p.0.metrics.challenges.fetch_add(1, Ordering::Relaxed);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], answer.to_bytes()).into_response())
}

async fn status(State(p): State<Provider>) -> Result<Json<serde_json::Value>, Refusal> {
    let pieces = p.0.store.list().map_err(Refusal::internal)?.len();
    let (capacity, used) = (p.0.store.capacity(), p.0.store.used());
    Ok(Json(json!({
        "device": p.0.device,
        "capacity_bytes": capacity,
        "used_bytes": used,
        "free_bytes": capacity.saturating_sub(used),
        "pieces": pieces,
        "node": p.0.node.url(),
    })))
}

async fn metrics(State(p): State<Provider>) -> impl IntoResponse {
    let m = &p.0.metrics;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let pieces = p.0.store.list().map(|l| l.len()).unwrap_or(0);
    let text = format!(
        "# TYPE trellis_provider_capacity_bytes gauge\ntrellis_provider_capacity_bytes {}\n\
         # TYPE trellis_provider_used_bytes gauge\ntrellis_provider_used_bytes {}\n\
         # TYPE trellis_provider_pieces gauge\ntrellis_provider_pieces {pieces}\n\
         # TYPE trellis_provider_uploads_total counter\ntrellis_provider_uploads_total{{result=\"stored\"}} {}\n\
         trellis_provider_uploads_total{{result=\"refused\"}} {}\n\
         # TYPE trellis_provider_bytes_in_total counter\ntrellis_provider_bytes_in_total {}\n\
         # TYPE trellis_provider_bytes_out_total counter\ntrellis_provider_bytes_out_total {}\n\
         # TYPE trellis_provider_challenges_total counter\ntrellis_provider_challenges_total {}\n\
         # TYPE trellis_provider_corrupt_reads_total counter\ntrellis_provider_corrupt_reads_total {}\n\
         # TYPE trellis_provider_collected_pieces_total counter\ntrellis_provider_collected_pieces_total {}\n",
        p.0.store.capacity(),
        p.0.store.used(),
        load(&m.uploads),
        load(&m.uploads_refused),
        load(&m.bytes_in),
        load(&m.bytes_out),
        load(&m.challenges),
        load(&m.corrupt_reads),
        load(&m.collected),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
