//! The provider's HTTP server: its shared state, limits and routes, status and metrics, and the
//! collector that drops pieces of closed, expired or moved deals. Uploads are in
//! [`super::upload`], downloads in [`super::download`], challenge answers in
//! [`super::challenge`].

use super::disk::{PieceId, PieceStore};
use crate::{
    chain::{ChainStatus, NodeApi},
    protocol::MAX_CHALLENGE_BYTES,
};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde_json::json;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use trellis_primitives::{DeviceAddress, Hash, Keypair};

/// A refusal: status, stable code, message; JSON like the node API's errors.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    /// The provider's node did not answer (503: retry later).
    pub(super) fn node_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "node_unavailable", message)
    }

    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
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
pub(super) struct Metrics {
    pub(super) uploads: AtomicU64,
    pub(super) uploads_refused: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) challenges: AtomicU64,
    pub(super) challenges_unauthorized: AtomicU64,
    pub(super) challenges_busy: AtomicU64,
    pub(super) corrupt_reads: AtomicU64,
    pub(super) collected: AtomicU64,
}

impl Metrics {
    /// Counts an upload (or a staged piece kept) as stored or refused.
    pub(super) fn count_upload<T>(&self, result: &Result<T, Refusal>) {
        let counter = if result.is_ok() {
            &self.uploads
        } else {
            &self.uploads_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a provider allows at once and how long it waits: bounds on what slow or hostile
/// clients can pin. [`Limits::default`] is what `trellis agent storage` runs with (its
/// `--max-uploads` and `--max-downloads` change those two). A limit of zero slots refuses every
/// request of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Downloads served at once. Each holds a blocking reader thread; a client that stops
    /// reading holds it until [`Limits::send_timeout`].
    pub max_downloads: usize,
    /// Longest a download waits for the client to take the next chunk.
    pub send_timeout: Duration,
    /// Uploads (staged or direct) received at once. Each holds a writer thread and its piece's
    /// reserved room, so this bounds what a flood of slow uploads can pin.
    pub max_uploads: usize,
    /// Longest an upload may go without sending a byte.
    pub upload_idle_timeout: Duration,
    /// An upload slower than this on average, once [`Limits::upload_rate_grace`] has passed, is
    /// cut off: a client trickling a byte every few seconds would otherwise hold its slot and
    /// room for good.
    pub min_upload_bytes_per_s: u64,
    /// How long an upload may run before its average rate is checked.
    pub upload_rate_grace: Duration,
    /// Challenges answered at once (each reads the piece's tree file and one group per chunk).
    pub max_challenges: usize,
    /// Longest a challenge waits for one of those slots.
    pub challenge_queue_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_downloads: 32,
            send_timeout: Duration::from_secs(30),
            max_uploads: 64,
            upload_idle_timeout: Duration::from_secs(30),
            // Low on purpose: a client feeds all its pieces in step, so one piece of a
            // 128-piece file on a slow uplink may honestly arrive at a few KiB/s.
            min_upload_bytes_per_s: 1 << 10,
            upload_rate_grace: Duration::from_secs(60),
            max_challenges: 8,
            // Auditors allow 10 s for the answer.
            challenge_queue_wait: Duration::from_secs(3),
        }
    }
}

pub(super) struct Inner {
    pub(super) store: PieceStore,
    node: NodeApi,
    pub(super) key: Keypair,
    device: DeviceAddress,
    pub(super) metrics: Metrics,
    pub(super) limits: Limits,
    pub(super) downloads: Arc<tokio::sync::Semaphore>,
    pub(super) uploads: Arc<tokio::sync::Semaphore>,
    pub(super) challenges: Arc<tokio::sync::Semaphore>,
    /// Pieces being uploaded right now: one upload per piece at a time.
    pub(super) uploading: std::sync::Mutex<std::collections::BTreeSet<PieceId>>,
    /// Pieces received before their deal, waiting for it.
    pub(super) staging: super::staging::Staging,
    /// Orders of downloads not yet paid.
    pub(super) egress: super::egress::EgressBook,
    /// The least it serves a GiB for, credits (its `price_per_gib_egress` on chain).
    egress_price: AtomicU64,
    /// The node's status, read at most every [`STATUS_TTL`].
    status: std::sync::Mutex<StatusCache>,
    /// Held while a request asks the node for its status (one at a time).
    fetching: tokio::sync::Mutex<()>,
    /// The latest answers given, by challenge: a verifier's challenge replayed within its
    /// epochs (by anyone who saw it on the wire) is answered from here, without reads.
    pub(super) answers: std::sync::Mutex<std::collections::VecDeque<(Hash, Bytes)>>,
}

/// How long the node's status (epoch, verifier keys) is reused before it is read again.
const STATUS_TTL: Duration = Duration::from_secs(2);
/// How long a status read before the node became unreachable stands in for it (chain id and
/// verifier keys rarely change): a node restart does not make the provider fail its audits.
const MAX_STALE_STATUS: Duration = Duration::from_secs(10 * 60);

/// Longest the provider waits for its node's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct StatusCache {
    /// The last status and when the node gave it.
    last: Option<(Arc<ChainStatus>, std::time::Instant)>,
    /// When the node last failed to answer.
    failed: Option<std::time::Instant>,
}

/// A running provider's shared state.
#[derive(Clone)]
pub struct Provider(pub(super) Arc<Inner>);

impl Provider {
    /// A provider serving `store` as the device with `key`, reading deals from `node`, within
    /// the default [`Limits`]. Opens the egress book beside the pieces.
    pub fn new(store: PieceStore, node: NodeApi, key: Keypair) -> std::io::Result<Self> {
        Self::with_limits(store, node, key, Limits::default())
    }

    /// [`Provider::new`] within `limits`.
    pub fn with_limits(store: PieceStore, node: NodeApi, key: Keypair, limits: Limits) -> std::io::Result<Self> {
        let device = key.public().into();
        let egress = super::egress::EgressBook::open(store.root())?;
        Ok(Provider(Arc::new(Inner {
            store,
            node,
            key,
            device,
            metrics: Metrics::default(),
            limits,
            downloads: Arc::new(tokio::sync::Semaphore::new(limits.max_downloads)),
            uploads: Arc::new(tokio::sync::Semaphore::new(limits.max_uploads)),
            challenges: Arc::new(tokio::sync::Semaphore::new(limits.max_challenges)),
            uploading: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            staging: super::staging::Staging::default(),
            egress,
            egress_price: AtomicU64::new(0),
            status: std::sync::Mutex::new(StatusCache::default()),
            fetching: tokio::sync::Mutex::new(()),
            answers: std::sync::Mutex::new(std::collections::VecDeque::new()),
        })))
    }

    /// Sets the least credits per GiB a paid download's order must offer.
    pub fn set_egress_price(&self, credits_per_gib: u64) {
        self.0.egress_price.store(credits_per_gib, Ordering::Relaxed);
    }

    /// The least credits per GiB a paid download's order must offer.
    pub fn egress_price(&self) -> u64 {
        self.0.egress_price.load(Ordering::Relaxed)
    }

    /// Orders of downloads served and not yet paid.
    pub fn egress(&self) -> &super::egress::EgressBook {
        &self.0.egress
    }

    /// The node's status (chain id, epoch, verifier keys), cached for [`STATUS_TTL`], then
    /// asked for again by one request at a time (the others wait for its answer, at most
    /// [`STATUS_TIMEOUT`]). While the node does not answer, the last status, up to
    /// [`MAX_STALE_STATUS`] old, stands in for it without waiting, and the node is asked again
    /// every [`STATUS_TTL`]: a node restart does not fail the provider's audits.
    pub(super) async fn chain_status(&self) -> Result<Arc<ChainStatus>, Refusal> {
        if let Some(status) = self.cached_status() {
            return Ok(status);
        }
        let _one = self.0.fetching.lock().await;
        // Whoever held the lock may have just read it, or just failed to.
        if let Some(status) = self.cached_status() {
            return Ok(status);
        }
        let failed = self
            .0
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .failed;
        if failed.is_some_and(|at| at.elapsed() < STATUS_TTL) {
            return Err(Refusal::node_unavailable(
                "this provider's node did not answer a moment ago; retry shortly",
            ));
        }
        // A failure is recorded by now, so a still usable last status stands in.
        self.refresh_status()
            .await
            .or_else(|refusal| match self.cached_status() {
                Some(status) => {
                    tracing::warn!(error = %refusal.message, "node unreachable; using its last status");
                    Ok(status)
                }
                None => Err(refusal),
            })
    }

    /// The status if it is fresh, or if the node failed to answer a moment ago and the last
    /// one is still usable; `None` when the node should be asked.
    fn cached_status(&self) -> Option<Arc<ChainStatus>> {
        let cache = self.0.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (status, at) = cache.last.as_ref()?;
        let failed_lately = cache.failed.is_some_and(|failed| failed.elapsed() < STATUS_TTL);
        (at.elapsed() < STATUS_TTL || (failed_lately && at.elapsed() <= MAX_STALE_STATUS)).then(|| status.clone())
    }

    /// Asks the node for its status and records the answer (or the failure).
    async fn refresh_status(&self) -> Result<Arc<ChainStatus>, Refusal> {
        let asked = tokio::time::timeout(STATUS_TIMEOUT, self.0.node.status()).await;
        let mut cache = self.0.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let failure = match asked {
            Ok(Ok(status)) => {
                let status = Arc::new(status);
                cache.last = Some((status.clone(), std::time::Instant::now()));
                cache.failed = None;
                return Ok(status);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no status from the node within {} s", STATUS_TIMEOUT.as_secs()),
        };
        cache.failed = Some(std::time::Instant::now());
        Err(Refusal::node_unavailable(failure))
    }

    /// Its device address.
    pub fn device(&self) -> DeviceAddress {
        self.0.device
    }

    /// How long a staged piece waits for its deal (default [`super::staging::STAGE_TTL`]).
    pub fn set_stage_ttl(&self, ttl: Duration) {
        self.0.staging.set_ttl(ttl);
    }

    /// The node it reads deals from.
    pub fn node(&self) -> &NodeApi {
        &self.0.node
    }

    /// The piece store.
    pub fn store(&self) -> &PieceStore {
        &self.0.store
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/v1/pieces/{deal}/{index}",
                put(super::upload::upload).get(super::download::download),
            )
            .route("/v1/staged/{nonce}/{index}", put(super::staging::stage))
            .route("/v1/pieces/{deal}/{index}/commit", post(super::staging::commit))
            .route(
                "/v1/challenge",
                post(super::challenge::challenge).layer(DefaultBodyLimit::max(MAX_CHALLENGE_BYTES)),
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
        self.0.staging.sweep();
        // Only a node of this store's own chain may say which pieces no deal assigns.
        match self.0.node.status().await {
            Ok(status) => {
                let me = self.clone();
                let checked = tokio::task::spawn_blocking(move || me.0.store.check_chain(&status.chain_id))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|bound| bound.map_err(|e| e.to_string()));
                if let Err(e) = checked {
                    tracing::error!(error = %e, "garbage collection skipped");
                    return 0;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "garbage collection skipped");
                return 0;
            }
        }
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
    fn assigned(&self, deal: &trellis_ledger::Deal, index: u16) -> bool {
        deal.settled_epochs < deal.terms.duration_epochs
            && deal
                .terms
                .pieces
                .get(usize::from(index))
                .is_some_and(|p| p.provider == self.0.device)
    }

    pub(super) async fn assigned_deal(&self, deal: Hash, index: u16) -> Result<trellis_ledger::Deal, Refusal> {
        let record = self
            .0
            .node
            .deal(&deal)
            .await
            .map_err(|e| Refusal::node_unavailable(e.to_string()))?
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

/// The upload's declared Content-Length, which every upload must carry.
pub(super) fn declared_length(headers: &axum::http::HeaderMap) -> Result<u64, Refusal> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "uploads must declare Content-Length",
            )
        })
}

pub(super) fn piece_path((deal, index): &(String, String)) -> Result<PieceId, Refusal> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, "invalid_parameter", m);
    Ok(PieceId {
        deal: deal.parse().map_err(|_| bad(format!("invalid deal id `{deal}`")))?,
        index: index
            .parse()
            .map_err(|_| bad(format!("invalid piece index `{index}`")))?,
    })
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
         # TYPE trellis_provider_staged_pieces gauge\ntrellis_provider_staged_pieces {}\n\
         # TYPE trellis_provider_uploads_total counter\ntrellis_provider_uploads_total{{result=\"stored\"}} {}\n\
         trellis_provider_uploads_total{{result=\"refused\"}} {}\n\
         # TYPE trellis_provider_bytes_in_total counter\ntrellis_provider_bytes_in_total {}\n\
         # TYPE trellis_provider_bytes_out_total counter\ntrellis_provider_bytes_out_total {}\n\
         # TYPE trellis_provider_uploads_in_progress gauge\ntrellis_provider_uploads_in_progress {}\n\
         # TYPE trellis_provider_downloads_in_progress gauge\ntrellis_provider_downloads_in_progress {}\n\
         # TYPE trellis_provider_challenges_total counter\ntrellis_provider_challenges_total {}\n\
         # TYPE trellis_provider_challenges_refused_total counter\n\
         trellis_provider_challenges_refused_total{{reason=\"unauthorized\"}} {}\n\
         trellis_provider_challenges_refused_total{{reason=\"busy\"}} {}\n\
         # TYPE trellis_provider_corrupt_reads_total counter\ntrellis_provider_corrupt_reads_total {}\n\
         # TYPE trellis_provider_collected_pieces_total counter\ntrellis_provider_collected_pieces_total {}\n",
        p.0.store.capacity(),
        p.0.store.used(),
        p.0.staging.len(),
        load(&m.uploads),
        load(&m.uploads_refused),
        load(&m.bytes_in),
        load(&m.bytes_out),
        p.0.limits.max_uploads.saturating_sub(p.0.uploads.available_permits()),
        p.0.limits
            .max_downloads
            .saturating_sub(p.0.downloads.available_permits()),
        load(&m.challenges),
        load(&m.challenges_unauthorized),
        load(&m.challenges_busy),
        load(&m.corrupt_reads),
        load(&m.collected),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
