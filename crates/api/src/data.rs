//! Sensor data for consumers, metered in credits: `/data/v1/...`.
//!
//! The readings are the QoD archive the reward oracle writes each epoch (`sensor-<N>.json`), so
//! every reading comes with its verdict. A consumer buys a data allowance on chain (a
//! `SpendCredits` with purpose [`DATA_ACCESS`]); every metered request is signed by the consumer's
//! account key and charged [`CREDITS_PER_READING`] per reading returned against that allowance.
//! What this gateway has charged is kept in its own database on disk (`data-meter.redb`), so a
//! restart forgets nothing. The catalogue routes are free.

use crate::{
    error::ApiError,
    routes::{parse, Query},
};
use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Method, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use h3o::CellIndex;
use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use trellis_chain::Node;
use trellis_ledger::{
    state::{keys, DATA_ACCESS},
    StateRead,
};
use trellis_primitives::{AccountAddress, Credits, DeviceAddress, Epoch, HashDomain, Signature};
use trellis_sensor::{ReadingVerdict, SensorArchive};

/// What one reading costs.
pub const CREDITS_PER_READING: u64 = 1;
/// How far a request's timestamp may be from the gateway's clock.
pub const REQUEST_WINDOW_MS: u64 = 60_000;
/// Most signatures remembered against replay (a full window refuses requests until it clears).
const MAX_REMEMBERED: usize = 100_000;

const USED: TableDefinition<&[u8; 32], u64> = TableDefinition::new("data_credits_used");

/// The meter's database failed.
#[derive(Debug)]
pub struct MeterError(Box<redb::Error>);

impl std::fmt::Display for MeterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "data meter database: {}", self.0)
    }
}

impl std::error::Error for MeterError {}

impl<E: Into<redb::Error>> From<E> for MeterError {
    fn from(e: E) -> Self {
        MeterError(Box::new(e.into()))
    }
}

/// Credits charged per account, on disk.
pub struct DataMeter {
    db: redb::Database,
}

impl std::fmt::Debug for DataMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataMeter")
    }
}

impl DataMeter {
    /// Opens (or creates) the meter database at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, MeterError> {
        let db = redb::Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(USED)?;
        tx.commit()?;
        Ok(DataMeter { db })
    }

    /// Credits charged to `account` so far.
    pub fn used(&self, account: &AccountAddress) -> Result<u64, MeterError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(USED)?;
        Ok(table.get(&account.key().0)?.map_or(0, |v| v.value()))
    }

    /// Charges `cost` if `allowance` covers it: `Ok(remaining)` after the charge, or
    /// `Err(remaining)` untouched. Durable before it returns.
    pub fn charge(&self, account: &AccountAddress, cost: u64, allowance: u64) -> Result<Result<u64, u64>, MeterError> {
        let tx = self.db.begin_write()?;
        let outcome = {
            let mut table = tx.open_table(USED)?;
            let used = table.get(&account.key().0)?.map_or(0, |v| v.value());
            let remaining = allowance.saturating_sub(used);
            if cost > remaining {
                Err(remaining)
            } else {
                table.insert(&account.key().0, used + cost)?;
                Ok(remaining - cost)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }
}

#[derive(Clone)]
struct Data {
    node: Node,
    archive: Option<PathBuf>,
    meter: Option<Arc<DataMeter>>,
    /// Signatures seen, with when they stop mattering.
    seen: Arc<Mutex<BTreeMap<[u8; 64], u64>>>,
}

/// The hash a consumer signs for a request: method, path with query, and the timestamp.
pub fn request_hash(method: &str, path_and_query: &str, timestamp_ms: u64) -> trellis_primitives::Hash {
    HashDomain::DataRequest.hash_parts(&[
        method.as_bytes(),
        path_and_query.as_bytes(),
        &timestamp_ms.to_le_bytes(),
    ])
}

pub(crate) fn router(node: Node, archive: Option<PathBuf>, meter: Option<Arc<DataMeter>>) -> Router {
    Router::new()
        .route("/data/v1/epochs", get(epochs))
        .route("/data/v1/streams", get(streams))
        .route("/data/v1/streams/{device}", get(stream))
        .route("/data/v1/account", get(account))
        .route("/data/v1/devices/{device}/readings", get(device_readings))
        .route("/data/v1/cells/{cell}/readings", get(cell_readings))
        .with_state(Data {
            node,
            archive,
            meter,
            seen: Arc::default(),
        })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The account that signed this request, after checking signature, freshness and replay.
fn authenticate(data: &Data, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<AccountAddress, ApiError> {
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            ApiError::unauthorized(format!(
                "metered data needs a signed request: header `{name}` is missing (see `trellis data get`)"
            ))
        })
    };
    let account: AccountAddress = header("x-trellis-account")?
        .parse()
        .map_err(|e| ApiError::unauthorized(format!("x-trellis-account: {e}")))?;
    let timestamp_ms: u64 = header("x-trellis-timestamp")?
        .parse()
        .map_err(|_| ApiError::unauthorized("x-trellis-timestamp must be ms since 1970"))?;
    let sig: [u8; 64] = hex::decode(header("x-trellis-signature")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::unauthorized("x-trellis-signature must be 64 bytes of hex"))?;
    let now = now_ms();
    if now.abs_diff(timestamp_ms) > REQUEST_WINDOW_MS {
        return Err(ApiError::unauthorized(format!(
            "request timestamp is {} s from the gateway's clock (limit {} s)",
            now.abs_diff(timestamp_ms) / 1_000,
            REQUEST_WINDOW_MS / 1_000
        )));
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let hash = request_hash(method.as_str(), path, timestamp_ms);
    account
        .key()
        .verify(hash.as_bytes(), &Signature(sig))
        .map_err(|_| ApiError::unauthorized("the signature does not match this request and account"))?;
    let mut seen = data.seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.retain(|_, until| *until > now);
    if seen.contains_key(&sig) {
        return Err(ApiError::unauthorized("this signed request was already used"));
    }
    if seen.len() >= MAX_REMEMBERED {
        return Err(ApiError::refused(
            "busy",
            "too many requests in the replay window; retry shortly",
        ));
    }
    seen.insert(sig, timestamp_ms + 2 * REQUEST_WINDOW_MS);
    Ok(account)
}

fn meter(data: &Data) -> Result<&DataMeter, ApiError> {
    data.meter
        .as_deref()
        .ok_or_else(|| ApiError::not_found("this node does not sell sensor data (no data meter configured)"))
}

fn allowance(data: &Data, account: &AccountAddress) -> Result<u64, ApiError> {
    let credits: Option<Credits> = data
        .node
        .with_state(|s, _| s.read(&keys::data_allowance(account)))
        .map_err(ApiError::internal)?;
    Ok(credits.unwrap_or_default().0)
}

/// Epochs with a QoD archive, newest first.
fn archived_epochs(dir: &std::path::Path) -> Result<Vec<u64>, ApiError> {
    crate::rewards::archived_epochs(dir, "sensor-")
}

async fn epochs(State(data): State<Data>) -> Result<Json<Value>, ApiError> {
    let dir = data
        .archive
        .clone()
        .ok_or_else(|| ApiError::not_found("this node keeps no reward archive"))?;
    let epochs = tokio::task::spawn_blocking(move || archived_epochs(&dir))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "epochs": epochs.iter().take(1_000).collect::<Vec<_>>() })))
}

/// The archive of `epoch`, or of the newest scored epoch.
async fn load(data: &Data, epoch: Option<u64>) -> Result<SensorArchive, ApiError> {
    let dir = data
        .archive
        .clone()
        .ok_or_else(|| ApiError::not_found("this node keeps no reward archive"))?;
    let e = match epoch {
        Some(e) => e,
        None => {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || archived_epochs(&d))
                .await
                .map_err(ApiError::internal)??
                .first()
                .copied()
                .ok_or_else(|| ApiError::not_found("no epoch has been scored yet"))?
        }
    };
    crate::rewards::read_archive_file(Some(dir), SensorArchive::file_name(Epoch(e)), "sensor data", Epoch(e)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochQuery {
    /// The epoch (default: the newest scored).
    epoch: Option<u64>,
    /// Only readings without a QoD flag.
    #[serde(default)]
    valid_only: bool,
}

/// The catalogue: every device with data in the epoch, its QoD and what its readings cost.
async fn streams(State(data): State<Data>, Query(q): Query<EpochQuery>) -> Result<Json<Value>, ApiError> {
    let archive = load(&data, q.epoch).await?;
    let streams: Vec<Value> = archive
        .qod
        .devices
        .iter()
        .map(|d| {
            let readings = if q.valid_only { d.valid } else { d.readings };
            json!({
                "device": d.device,
                "kind": d.kind,
                "readings": d.readings,
                "valid": d.valid,
                "qod_ppm": d.qod_ppm,
                "device_flags": d.device_flags,
                "price_credits": u64::from(readings) * CREDITS_PER_READING,
            })
        })
        .collect();
    Ok(Json(json!({
        "epoch": archive.epoch,
        "start_ms": archive.start_ms,
        "end_ms": archive.end_ms,
        "credits_per_reading": CREDITS_PER_READING,
        "streams": streams,
    })))
}

/// One device's QoD verdict for an epoch (free: what the explorer shows, no readings).
async fn stream(
    State(data): State<Data>,
    Path(device): Path<String>,
    Query(q): Query<EpochQuery>,
) -> Result<Json<Value>, ApiError> {
    let device: DeviceAddress = parse("device address", &device)?;
    let archive = load(&data, q.epoch).await?;
    let qod = archive
        .qod
        .devices
        .iter()
        .find(|d| d.device == device)
        .ok_or_else(|| ApiError::not_found(format!("{device} sent no readings in epoch {}", archive.epoch.0)))?;
    Ok(Json(json!({
        "epoch": archive.epoch,
        "start_ms": archive.start_ms,
        "end_ms": archive.end_ms,
        "credits_per_reading": CREDITS_PER_READING,
        "qod": qod,
    })))
}

async fn account(
    State(data): State<Data>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let account = authenticate(&data, &method, &uri, &headers)?;
    let used = meter(&data)?.used(&account).map_err(ApiError::internal)?;
    let allowance = allowance(&data, &account)?;
    Ok(Json(json!({
        "account": account,
        "allowance": allowance,
        "used": used,
        "remaining": allowance.saturating_sub(used),
        "credits_per_reading": CREDITS_PER_READING,
        "purpose": DATA_ACCESS,
    })))
}

/// Charges the signer for the readings of `devices` (only the unflagged ones if `valid_only`)
/// and answers with them.
fn sell(
    data: &Data,
    account: &AccountAddress,
    archive: &SensorArchive,
    devices: &std::collections::BTreeSet<DeviceAddress>,
    valid_only: bool,
) -> Result<Response, ApiError> {
    let readings: Vec<&ReadingVerdict> = archive
        .qod
        .readings
        .iter()
        .filter(|r| devices.contains(&r.reading.device) && (!valid_only || r.flags.is_empty()))
        .collect();
    let cost = readings.len() as u64 * CREDITS_PER_READING;
    let allowance = allowance(data, account)?;
    let remaining = match meter(data)?.charge(account, cost, allowance).map_err(ApiError::internal)? {
        Ok(remaining) => remaining,
        Err(remaining) => {
            return Err(ApiError::payment_required(format!(
                "{} readings cost {cost} credits and {account} has {remaining} left of its data allowance; buy more with `trellis data buy`",
                readings.len()
            )))
        }
    };
    let mut response = Json(json!({
        "epoch": archive.epoch,
        "charged": cost,
        "remaining": remaining,
        "readings": readings,
    }))
    .into_response();
    let h = response.headers_mut();
    h.insert("x-trellis-credits-charged", HeaderValue::from(cost));
    h.insert("x-trellis-credits-remaining", HeaderValue::from(remaining));
    Ok(response)
}

async fn device_readings(
    State(data): State<Data>,
    Path(device): Path<String>,
    Query(q): Query<EpochQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device: DeviceAddress = parse("device address", &device)?;
    let account = authenticate(&data, &method, &uri, &headers)?;
    let archive = load(&data, q.epoch).await?;
    if !archive.qod.devices.iter().any(|d| d.device == device) {
        return Err(ApiError::not_found(format!(
            "{device} sent no readings in epoch {}",
            archive.epoch.0
        )));
    }
    sell(
        &data,
        &account,
        &archive,
        &std::collections::BTreeSet::from([device]),
        q.valid_only,
    )
}

async fn cell_readings(
    State(data): State<Data>,
    Path(cell): Path<String>,
    Query(q): Query<EpochQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cell: CellIndex = parse("H3 cell", &cell)?;
    let account = authenticate(&data, &method, &uri, &headers)?;
    let archive = load(&data, q.epoch).await?;
    let mut inside = std::collections::BTreeSet::new();
    for d in &archive.qod.devices {
        let located = data
            .node
            .with_state(|s, _| s.device(&d.device))
            .map_err(ApiError::internal)?
            .and_then(|dev| dev.location)
            .and_then(|l| l.location.cell().parent(cell.resolution()));
        if located == Some(cell) {
            inside.insert(d.device);
        }
    }
    sell(&data, &account, &archive, &inside, q.valid_only)
}
