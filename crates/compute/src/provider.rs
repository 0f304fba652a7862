//! The compute provider's HTTP server: consumers upload a job's module and input to the
//! providers the chain assigned, verifiers and consumers fetch blobs and run records.
//!
//! Every upload is checked against the chain before it is kept: the job must be open, assign
//! this device, and name the blob as its module or input; the bytes must hash to that address.
//! So a provider stores nothing it was not paid to run.

use crate::{
    blobs::{BlobError, BlobStore},
    chain::NodeApi,
    limits::{MAX_INPUT_BYTES, MAX_MODULE_BYTES},
};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, put},
    Json, Router,
};
use serde_json::json;
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use trellis_ledger::state::JobStatus;
use trellis_primitives::{DeviceAddress, Hash};

/// A refusal: status, stable code, message; JSON like the node API's errors.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "compute provider internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Blobs accepted.
    pub uploads: AtomicU64,
    /// Uploads refused (any reason).
    pub uploads_refused: AtomicU64,
    /// Runs finished (any outcome).
    pub runs: AtomicU64,
    /// Replays finished.
    pub replays: AtomicU64,
    /// Fuel burnt by runs and replays.
    pub fuel: AtomicU64,
    /// Runs or replays executing now.
    pub busy: AtomicU64,
    /// Commitments and replays the chain refused.
    pub submit_failures: AtomicU64,
}

struct Inner {
    store: BlobStore,
    node: NodeApi,
    device: DeviceAddress,
    metrics: Metrics,
    uploaded: tokio::sync::Notify,
}

/// A running provider's shared state.
#[derive(Clone)]
pub struct Provider(Arc<Inner>);

impl Provider {
    /// A provider for `device` keeping blobs in `store` and reading jobs from `node`.
    pub fn new(store: BlobStore, node: NodeApi, device: DeviceAddress) -> Self {
        Self(Arc::new(Inner {
            store,
            node,
            device,
            metrics: Metrics::default(),
            uploaded: tokio::sync::Notify::new(),
        }))
    }

    /// Its device.
    pub fn device(&self) -> DeviceAddress {
        self.0.device
    }

    /// Its blobs and run records.
    pub fn store(&self) -> &BlobStore {
        &self.0.store
    }

    /// The node it reads.
    pub fn node(&self) -> &NodeApi {
        &self.0.node
    }

    /// Its counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Resolves when a blob is uploaded (the worker wakes to look for runnable jobs).
    pub async fn uploaded(&self) {
        self.0.uploaded.notified().await;
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        let limit = MAX_MODULE_BYTES.max(MAX_INPUT_BYTES);
        Router::new()
            .route(
                "/v1/jobs/{job}/blobs/{hash}",
                put(upload).layer(DefaultBodyLimit::max(limit)),
            )
            .route("/v1/blobs/{hash}", get(blob))
            .route("/v1/jobs/{job}/result", get(result))
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
}

fn parse_hash(text: &str) -> Result<Hash, Refusal> {
    text.parse().map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_hash",
            format!("`{text}` is not 64 hex digits"),
        )
    })
}

async fn upload(
    State(p): State<Provider>,
    Path((job, hash)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let outcome = check_and_store(&p, &job, &hash, body).await;
    let counter = if outcome.is_ok() {
        &p.0.metrics.uploads
    } else {
        &p.0.metrics.uploads_refused
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if outcome.is_ok() {
        p.0.uploaded.notify_waiters();
    }
    outcome
}

async fn check_and_store(p: &Provider, job: &str, hash: &str, body: Bytes) -> Result<StatusCode, Refusal> {
    let (id, hash) = (parse_hash(job)?, parse_hash(hash)?);
    let view =
        p.0.node
            .job(&id)
            .await
            .map_err(|e| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "node_unavailable", e.to_string()))?
            .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "unknown_job", format!("no job {id} on chain")))?;
    if view.job.status != JobStatus::Open
        || !view
            .job
            .runs
            .iter()
            .any(|r| r.provider == p.0.device && r.claim.is_none())
    {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "not_assigned",
            format!("job {id} is not waiting for this provider"),
        ));
    }
    let max = if hash == view.job.spec.module {
        MAX_MODULE_BYTES
    } else if hash == view.job.spec.input {
        MAX_INPUT_BYTES
    } else {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_in_job",
            format!("{hash} is neither the module nor the input of job {id}"),
        ));
    };
    if body.len() > max {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("{} bytes; at most {max}", body.len()),
        ));
    }
    if p.0.store.has(&hash) {
        return Ok(StatusCode::OK);
    }
    let store = p.0.store.clone();
    tokio::task::spawn_blocking(move || store.put(&hash, &body))
        .await
        .map_err(Refusal::internal)?
        .map_err(|e| match e {
            BlobError::Mismatch { .. } => {
                Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch", e.to_string())
            }
            BlobError::Io(e) => Refusal::internal(e),
        })?;
    Ok(StatusCode::CREATED)
}

async fn blob(State(p): State<Provider>, Path(hash): Path<String>) -> Result<Response, Refusal> {
    let hash = parse_hash(&hash)?;
    let store = p.0.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.get(&hash))
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)?;
    let bytes =
        bytes.ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "unknown_blob", format!("no blob {hash} here")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream"), PUBLIC_READ], bytes).into_response())
}

/// Blobs and results are readable by anyone who can reach the provider (verifiers fetch them to
/// replay), so a web page on another origin, such as a node's explorer, may read them too.
const PUBLIC_READ: (header::HeaderName, &str) = (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");

async fn result(State(p): State<Provider>, Path(job): Path<String>) -> Result<Response, Refusal> {
    let id = parse_hash(&job)?;
    let store = p.0.store.clone();
    let record = tokio::task::spawn_blocking(move || store.run(&id))
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)?;
    let record =
        record.ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "no_result", format!("job {id} has not run here")))?;
    Ok(([PUBLIC_READ], Json(record)).into_response())
}

async fn status(State(p): State<Provider>) -> Json<serde_json::Value> {
    let m = &p.0.metrics;
    Json(json!({
        "device": p.0.device,
        "runs": m.runs.load(Ordering::Relaxed),
        "replays": m.replays.load(Ordering::Relaxed),
        "busy": m.busy.load(Ordering::Relaxed),
        "fuel": m.fuel.load(Ordering::Relaxed),
    }))
}

async fn metrics(State(p): State<Provider>) -> Response {
    let m = &p.0.metrics;
    let lines = [
        ("trellis_compute_uploads_total", "Blobs accepted.", &m.uploads),
        (
            "trellis_compute_uploads_refused_total",
            "Uploads refused.",
            &m.uploads_refused,
        ),
        ("trellis_compute_runs_total", "Runs finished.", &m.runs),
        ("trellis_compute_replays_total", "Replays finished.", &m.replays),
        ("trellis_compute_fuel_total", "Fuel burnt by runs and replays.", &m.fuel),
        ("trellis_compute_busy", "Runs and replays executing now.", &m.busy),
        (
            "trellis_compute_submit_failures_total",
            "Commitments and replays the chain refused.",
            &m.submit_failures,
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in lines {
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
