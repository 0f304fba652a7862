//! The HTTP front, the batching signature verifier and the log writer.

use crate::{checks::Rejection, config::IngestConfig, log::ReportLog};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::json;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::sync::{mpsc, oneshot, watch};
use trellis_primitives::DeviceAddress;
use trellis_proto::{Envelope, SignedReport, MAX_ENVELOPE_BYTES};

/// A lookup in progress.
pub type Lookup<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;

/// Which devices exist: the chain's registry, read in process (devnet) or over the node's API
/// (a standalone ingest). Asynchronous, because the second kind asks the network.
pub trait DeviceDirectory: Send + Sync + 'static {
    /// Whether `device` is registered.
    fn is_registered<'a>(&'a self, device: &'a DeviceAddress) -> Lookup<'a>;
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    accepted: Mutex<BTreeMap<&'static str, u64>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    batches: AtomicU64,
    batched_reports: AtomicU64,
}

impl IngestMetrics {
    fn count(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str, n: u64) {
        *map.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += n;
    }

    /// Accepted reports of `kind` so far.
    pub fn accepted(&self, kind: &str) -> u64 {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .copied()
            .unwrap_or(0)
    }

    /// Rejections for `reason` so far.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reason.code())
            .copied()
            .unwrap_or(0)
    }

    fn render(&self) -> String {
        let mut out = String::from("# HELP trellis_ingest_accepted_total Reports accepted, by kind.\n# TYPE trellis_ingest_accepted_total counter\n");
        for (kind, n) in self.accepted.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("trellis_ingest_accepted_total{{kind=\"{kind}\"}} {n}\n"));
        }
        out.push_str("# HELP trellis_ingest_rejected_total Reports rejected, by reason.\n# TYPE trellis_ingest_rejected_total counter\n");
        let rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        for reason in Rejection::ALL {
            out.push_str(&format!(
                "trellis_ingest_rejected_total{{reason=\"{}\"}} {}\n",
                reason.code(),
                rejected.get(reason.code()).copied().unwrap_or(0)
            ));
        }
        out.push_str(&format!(
            "# HELP trellis_ingest_batches_total Signature batches verified.\n# TYPE trellis_ingest_batches_total counter\ntrellis_ingest_batches_total {}\ntrellis_ingest_batched_reports_total {}\n",
            self.batches.load(Ordering::Relaxed),
            self.batched_reports.load(Ordering::Relaxed)
        ));
        out
    }
}

struct Pending {
    envelope: Envelope,
    signed: SignedReport,
    reply: oneshot::Sender<Result<u64, Rejection>>,
}

#[derive(Clone)]
struct Front {
    config: Arc<IngestConfig>,
    directory: Arc<dyn DeviceDirectory>,
    queue: mpsc::Sender<Pending>,
    metrics: Arc<IngestMetrics>,
}

/// A running ingest service.
pub struct RunningIngest {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub metrics: Arc<IngestMetrics>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: tokio::task::JoinHandle<Result<(), crate::log::LogError>>,
}

impl RunningIngest {
    /// Stops accepting, rolls the open segment to the object store, and returns.
    pub async fn shutdown(self) -> Result<(), String> {
        self.shutdown.send_replace(true);
        self.server
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.writer.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }

    /// Aborts without rolling or flushing anything beyond what was already acknowledged
    /// (simulates a crash, for tests).
    pub async fn abort(self) {
        // The writer goes first: once the server is gone its queue closes, and a writer still
        // running would take that as a shutdown and roll its segment.
        let RunningIngest {
            shutdown,
            server,
            writer,
            ..
        } = self;
        writer.abort();
        let _writer_cancelled = writer.await;
        server.abort();
        let _server_cancelled = server.await;
        drop(shutdown);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts ingest: recovers the log, binds the listener, spawns the writer and the server.
pub async fn start(config: IngestConfig, directory: Arc<dyn DeviceDirectory>) -> Result<RunningIngest, String> {
    config.validate()?;
    let store = config.archive_store()?;
    let log = ReportLog::open(&config.wal_dir, store, config.segment_roll_ms)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (queue, rx) = mpsc::channel(config.queue_max);
    let metrics = Arc::new(IngestMetrics::default());
    let (shutdown, watcher) = watch::channel(false);
    let config = Arc::new(config);
    let writer = tokio::spawn(write_loop(config.clone(), rx, log, metrics.clone(), watcher.clone()));
    let front = Front {
        config,
        directory,
        queue,
        metrics: metrics.clone(),
    };
    let app = Router::new()
        .route("/v1/reports", post(submit))
        .route(
            "/v1/reports/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(crate::admit::MAX_BATCH_BYTES + 1)),
        )
        .route(
            "/metrics",
            get(|State(f): State<Front>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    f.metrics.render(),
                )
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_ENVELOPE_BYTES + 1))
        .with_state(front);
    let mut stop = watcher;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _stopped_or_sender_gone = stop.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%addr, "ingest listening");
    Ok(RunningIngest {
        addr,
        metrics,
        shutdown,
        server,
        writer,
    })
}

fn reject(metrics: &IngestMetrics, r: Rejection) -> Response {
    IngestMetrics::count(&metrics.rejected, r.code(), 1);
    (r.status(), Json(rejection_json(r))).into_response()
}

/// A report in the writer's queue: its kind, and where the writer's answer arrives.
type Queued = (&'static str, oneshot::Receiver<Result<u64, Rejection>>);

/// Screens one envelope and queues it for the writer; the receiver answers once it is durable
/// or refused.
async fn enqueue(front: &Front, body: &[u8]) -> Result<Queued, Rejection> {
    let (envelope, signed) = crate::admit::screen(body, now_ms(), front.config.timestamp_window_ms)?;
    if !front.directory.is_registered(&envelope.device).await {
        return Err(Rejection::UnknownDevice);
    }
    let (reply, answer) = oneshot::channel();
    let kind = envelope.kind_name();
    front
        .queue
        .try_send(Pending {
            envelope,
            signed,
            reply,
        })
        .map_err(|_| Rejection::Overloaded)?;
    Ok((kind, answer))
}

/// Waits for the writer's answer on a queued report and counts it.
async fn settle(front: &Front, queued: Result<Queued, Rejection>) -> Result<u64, Rejection> {
    let outcome = match queued {
        Ok((kind, answer)) => match answer.await {
            Ok(Ok(received_ms)) => {
                IngestMetrics::count(&front.metrics.accepted, kind, 1);
                return Ok(received_ms);
            }
            Ok(Err(r)) => r,
            Err(_) => Rejection::LogUnavailable,
        },
        Err(r) => r,
    };
    IngestMetrics::count(&front.metrics.rejected, outcome.code(), 1);
    Err(outcome)
}

fn rejection_json(r: Rejection) -> serde_json::Value {
    json!({ "error": { "code": r.code(), "message": r.to_string() } })
}

async fn submit(State(front): State<Front>, body: Result<Bytes, axum::extract::rejection::BytesRejection>) -> Response {
    let Ok(body) = body else {
        return reject(&front.metrics, Rejection::TooLarge);
    };
    let queued = enqueue(&front, &body).await;
    match settle(&front, queued).await {
        Ok(received_ms) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "received_ms": received_ms })),
        )
            .into_response(),
        Err(r) => (r.status(), Json(rejection_json(r))).into_response(),
    }
}

/// `POST /v1/reports/batch`: many envelopes in one request (what a gateway relaying its
/// devices sends). Every report is judged on its own and answered in order, `200` with one
/// result each; only a body whose framing is broken is refused whole. All of a batch's reports
/// are queued before any answer is awaited, so they share one signature batch and one fsync.
async fn submit_batch(
    State(front): State<Front>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return reject(&front.metrics, Rejection::TooLarge);
    };
    let items = match crate::admit::split_batch(&body) {
        Ok(items) => items,
        Err(r) => return reject(&front.metrics, r),
    };
    let mut queued = Vec::with_capacity(items.len());
    for item in items {
        queued.push(enqueue(&front, item).await);
    }
    let mut results = Vec::with_capacity(queued.len());
    let mut accepted = 0usize;
    for q in queued {
        results.push(match settle(&front, q).await {
            Ok(received_ms) => {
                accepted += 1;
                json!({ "status": "accepted", "received_ms": received_ms })
            }
            Err(r) => rejection_json(r),
        });
    }
    (
        StatusCode::OK,
        Json(json!({ "accepted": accepted, "results": results })),
    )
        .into_response()
}

async fn write_loop(
    config: Arc<IngestConfig>,
    mut rx: mpsc::Receiver<Pending>,
    mut log: ReportLog,
    metrics: Arc<IngestMetrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), crate::log::LogError> {
    let mut admission = crate::admit::Admission::new(config.dedup_capacity, config.rate_burst, config.rate_per_minute);
    // The first roll comes one period after start (a plain interval would fire at once and roll
    // the first reports' segment early).
    let period = Duration::from_millis(config.segment_roll_ms);
    let mut roll = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    roll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item { Some(p) => p, None => break },
            _ = roll.tick() => { log.roll().await?; continue; }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
        };
        // Group commit: take everything already queued (under load, reports pile up while the
        // previous batch is verified and fsynced, so batches grow by themselves), then optionally
        // linger for more.
        let mut batch = vec![first];
        while batch.len() < config.batch_max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if config.batch_wait_ms > 0 {
            let deadline = tokio::time::Instant::now() + Duration::from_millis(config.batch_wait_ms);
            while batch.len() < config.batch_max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                }
            }
        }
        metrics.batches.fetch_add(1, Ordering::Relaxed);
        metrics.batched_reports.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let now = now_ms();
        let (screened, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| ((p.envelope, p.signed), p.reply)).unzip();
        let mut accepted = Vec::new();
        let mut frames = Vec::new();
        for (verdict, reply) in admission.admit(&screened, now).into_iter().zip(replies) {
            match verdict {
                Ok(frame) => {
                    frames.push(frame);
                    accepted.push(reply);
                }
                Err(r) => {
                    let _receiver_gone_is_fine = reply.send(Err(r));
                }
            }
        }
        if frames.is_empty() {
            continue;
        }
        // Acknowledge only what is durable.
        match log.append(&frames, now).await {
            Ok(()) => accepted.into_iter().for_each(|reply| {
                let _receiver_gone_is_fine = reply.send(Ok(now));
            }),
            Err(e) => {
                tracing::error!(error = %e, "report log append failed; rejecting the batch");
                accepted.into_iter().for_each(|reply| {
                    let _receiver_gone_is_fine = reply.send(Err(Rejection::LogUnavailable));
                });
            }
        }
    }
    log.roll().await
}
