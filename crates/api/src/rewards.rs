//! Reward routes: manifests posted on chain, and the oracle's archived per-epoch results with each
//! device's breakdown (why it earned what it earned).

use crate::error::ApiError;
use axum::{extract::State, routing::get, Json, Router};
use serde_json::{json, Value};
use std::path::PathBuf;
use trellis_chain::Node;
use trellis_ledger::{state::keys, Manifest, StateRead};
use trellis_primitives::{DeviceAddress, Epoch};
use trellis_rewards::EpochArchive;

/// Largest archive file the API will read (a million devices with breakdowns is ~300 MiB; the
/// API is for browsing, so it refuses files it could not serve quickly).
const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct RewardsState {
    node: Node,
    archive: Option<PathBuf>,
}

/// The reward routes; `archive` is the oracle's archive directory (`epoch-<N>.json` files), if
/// this node keeps one.
pub(crate) fn router(node: Node, archive: Option<PathBuf>) -> Router {
    Router::new()
        .route("/v1/epochs/{epoch}", get(epoch_summary))
        .route("/v1/manifests/{epoch}", get(manifest))
        .route("/v1/rewards/{epoch}", get(epoch_result))
        .route("/v1/rewards/{epoch}/devices/{device}", get(device_breakdown))
        .route("/v1/rewards/{epoch}/devices/{device}/reports", get(device_reports))
        .route("/v1/storage/audits/{epoch}", get(storage_audits))
        .with_state(RewardsState { node, archive })
}

fn epoch(text: &str) -> Result<Epoch, ApiError> {
    crate::routes::parse::<u64>("epoch", text).map(Epoch)
}

/// The epoch and device of a `/v1/rewards/{epoch}/devices/{device}…` path.
fn epoch_and_device((e, device): &(String, String)) -> Result<(Epoch, DeviceAddress), ApiError> {
    Ok((epoch(e)?, crate::routes::parse("device address", device)?))
}

/// Reads and parses `file` of the archive directory off the blocking pool; `what` names it in
/// errors ("archived rewards", "verdicts").
async fn read_archived<T: serde::de::DeserializeOwned + Send + 'static>(
    s: &RewardsState,
    file: String,
    what: &'static str,
    e: Epoch,
) -> Result<T, ApiError> {
    read_archive_file(s.archive.clone(), file, what, e).await
}

/// [`read_archived`] from archive directory `dir` (404 when the node keeps none).
pub(crate) async fn read_archive_file<T: serde::de::DeserializeOwned + Send + 'static>(
    dir: Option<PathBuf>,
    file: String,
    what: &'static str,
    e: Epoch,
) -> Result<T, ApiError> {
    let dir = dir.ok_or_else(|| ApiError::not_found("this node keeps no reward archive"))?;
    let path = dir.join(file);
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path).map_err(|_| ApiError::not_found(format!("no {what} for epoch {}", e.0)))?;
        if meta.len() > MAX_ARCHIVE_BYTES {
            return Err(ApiError::too_large(format!(
                "{what} of epoch {} are too large to serve",
                e.0
            )));
        }
        let bytes = std::fs::read(&path).map_err(ApiError::internal)?;
        serde_json::from_slice::<T>(&bytes)
            .map_err(|err| ApiError::internal(format!("{} is corrupt: {err}", path.display())))
    })
    .await
    .map_err(ApiError::internal)?
}

async fn manifest(
    State(s): State<RewardsState>,
    crate::routes::Param(e): crate::routes::Param,
) -> Result<Json<Value>, ApiError> {
    let e = epoch(&e)?;
    let m: Option<Manifest> = s
        .node
        .with_state(|st, _| st.read(&keys::manifest(e)))
        .map_err(ApiError::internal)?;
    let m = m.ok_or_else(|| ApiError::not_found(format!("no reward manifest posted for epoch {}", e.0)))?;
    Ok(Json(json!({ "epoch": e.0, "manifest": m })))
}

async fn epoch_summary(
    State(s): State<RewardsState>,
    crate::routes::Param(e): crate::routes::Param,
) -> Result<Json<Value>, ApiError> {
    let e = epoch(&e)?;
    let (burned, manifest, tip, len, earned) = s
        .node
        .with_state(|st, tip| -> Result<_, trellis_ledger::state::CorruptState> {
            let burned: trellis_primitives::Amount = st.read(&keys::epoch_burn(e))?.unwrap_or_default();
            let manifest: Option<Manifest> = st.read(&keys::manifest(e))?;
            let earned = (
                trellis_ledger::state::compute_earned_in(st, e)?,
                trellis_ledger::state::compute_verified_in(st, e)?,
                trellis_ledger::state::storage_earned_in(st, e)?,
                trellis_ledger::state::egress_served_in(st, e)?,
                trellis_rewards::credits::credit_value_in(st, e)?,
            );
            Ok((burned, manifest, tip.height, st.params()?.epoch_len_blocks, earned))
        })
        .map_err(ApiError::internal)?;
    let (compute, verified, storage, egress, credit_value) = earned;
    let credits_list = |list: Vec<(trellis_primitives::DeviceAddress, trellis_primitives::Credits)>| -> Vec<Value> {
        list.into_iter()
            .map(|(device, credits)| json!({ "device": device, "credits": credits }))
            .collect()
    };
    let egress: Vec<Value> = egress
        .into_iter()
        .map(|(device, served)| json!({ "device": device, "bytes": served.bytes, "credits": served.credits }))
        .collect();
    let current = Epoch::of_height(tip, len);
    if e > current {
        return Err(ApiError::not_found(format!(
            "epoch {} has not started (current epoch {})",
            e.0, current.0
        )));
    }
    Ok(Json(json!({
        "epoch": e.0,
        "first_height": e.0 * len,
        "last_height": e.0 * len + len - 1,
        "complete": e < current,
        "burned": burned,
        "manifest": manifest,
        "compute_earned": credits_list(compute),
        "compute_verified": verified
            .into_iter()
            .map(|(device, units)| json!({ "device": device, "units": units }))
            .collect::<Vec<_>>(),
        "storage_earned": credits_list(storage),
        "egress": egress,
        "credit_value": credit_value,
    })))
}

/// Reads the archive of `epoch`.
async fn load(s: &RewardsState, e: Epoch) -> Result<EpochArchive, ApiError> {
    read_archived(s, format!("epoch-{}.json", e.0), "archived rewards", e).await
}

/// The epochs with a `<prefix><N>.json` file in `dir`, newest first (none if `dir` is missing).
pub(crate) fn archived_epochs(dir: &std::path::Path, prefix: &str) -> Result<Vec<u64>, ApiError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", dir.display()))),
    };
    let mut epochs = Vec::new();
    for entry in entries {
        let name = entry.map_err(ApiError::internal)?.file_name();
        let n = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok());
        epochs.extend(n);
    }
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    Ok(epochs)
}

/// The newest archived epoch in `dir` (by file name `epoch-<N>.json`), if any.
pub(crate) async fn latest_archived(dir: PathBuf) -> Result<Option<Epoch>, ApiError> {
    tokio::task::spawn_blocking(move || Ok(archived_epochs(&dir, "epoch-")?.first().copied().map(Epoch)))
        .await
        .map_err(ApiError::internal)?
}

async fn epoch_result(
    State(s): State<RewardsState>,
    crate::routes::Param(e): crate::routes::Param,
) -> Result<Json<Value>, ApiError> {
    let archive = load(&s, epoch(&e)?).await?;
    let r = &archive.result;
    Ok(Json(json!({
        "epoch": archive.inputs.epoch.0,
        "emission": r.emission,
        "pools": r.pools,
        "to_treasury": r.to_treasury,
        "next_carry": r.next_carry,
        "manifest": { "root": r.manifest.root, "total": r.manifest.total, "owners": r.manifest.owners },
        "devices": r.devices,
    })))
}

async fn device_breakdown(
    State(s): State<RewardsState>,
    crate::routes::Param(path): crate::routes::Param<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (e, device) = epoch_and_device(&path)?;
    let archive = load(&s, e).await?;
    let shares: Vec<_> = archive.inputs.shares.iter().filter(|sh| sh.device == device).collect();
    let payouts: Vec<_> = archive.result.devices.iter().filter(|p| p.device == device).collect();
    if shares.is_empty() && payouts.is_empty() {
        return Err(ApiError::not_found(format!(
            "device {device} had no share in epoch {}",
            e.0
        )));
    }
    Ok(Json(
        json!({ "epoch": e.0, "device": device, "shares": shares, "payouts": payouts }),
    ))
}

/// Every report of a device in an epoch with its verdict, from the verifier's archived verdicts:
/// which reports counted and which were rejected, and why.
async fn device_reports(
    State(s): State<RewardsState>,
    crate::routes::Param(path): crate::routes::Param<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (e, device) = epoch_and_device(&path)?;
    let doc: Value = read_archived(&s, format!("verdicts-{}.json", e.0), "verdicts archived", e).await?;
    let me = json!(device);
    let verdict = |v: &Value| match v.get("Err") {
        Some(reason) => json!({ "valid": false, "reason": reason }),
        None => json!({ "valid": true }),
    };
    let mut reports = Vec::new();
    for outcome in doc["outcomes"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let beacon = &outcome["beacon"];
        if beacon["beaconer"] == me {
            reports.push(json!({ "kind": "beacon", "received_ms": beacon["received_ms"], "verdict": verdict(&outcome["verdict"]) }));
        }
        for pair in outcome["witnesses"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if pair[0]["witness"] == me {
                reports.push(json!({
                    "kind": "witness",
                    "received_ms": pair[0]["received_ms"],
                    "beaconer": beacon["beaconer"],
                    "rssi_centi_dbm": pair[0]["rssi_centi_dbm"],
                    "verdict": verdict(&pair[1]),
                }));
            }
        }
    }
    Ok(Json(json!({ "epoch": e.0, "device": device, "reports": reports })))
}

/// The storage auditor's archived audits of an epoch: the entropy, the configuration, and every
/// challenged piece with its provider, chunks and verdict (as `trellis rewards audit` reads them).
async fn storage_audits(
    State(s): State<RewardsState>,
    crate::routes::Param(e): crate::routes::Param,
) -> Result<Json<Value>, ApiError> {
    let e = epoch(&e)?;
    let doc: Value = read_archived(&s, format!("storage-audits-{}.json", e.0), "storage audits archived", e).await?;
    Ok(Json(doc))
}
