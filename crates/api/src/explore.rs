//! Listing and aggregate routes: what a browser (the explorer, or anyone's) needs beyond lookups
//! by id — the device registry with filters, the H3 map, recent blocks, the epochs' economy, open
//! deals and compute jobs.
//!
//! Every list is bounded (`limit`, with a documented maximum) and ordered deterministically (by
//! key, or newest first for blocks and epochs), so a page of results is the same page on every
//! node at the same height.

use crate::{
    error::ApiError,
    routes::{parse, Query},
};
use axum::{extract::State, routing::get, Json, Router};
use h3o::{CellIndex, Resolution};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{collections::BTreeMap, path::PathBuf};
use trellis_chain::Node;
use trellis_ledger::{
    state::{self, keys, CorruptState, Device, Manifest},
    tx::DeviceClass,
    StateRead, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Epoch};

/// Largest page of devices.
const MAX_DEVICES: usize = 1000;
/// Largest page of blocks.
const MAX_BLOCKS: u64 = 100;
/// Largest page of epochs.
const MAX_EPOCHS: u64 = 500;
/// Largest page of deals or jobs.
const MAX_ITEMS: usize = 500;
/// Most blocks one scan for piece moves reads.
const MAX_MOVE_SCAN_BLOCKS: u64 = 10_000;
/// The map's default resolution: ~5 km² hexes, a neighbourhood.
const DEFAULT_MAP_RESOLUTION: u8 = 7;

/// What the explorer routes read: the node, and the reward archive (for the coverage scale).
#[derive(Clone)]
struct Explore {
    node: Node,
    archive: Option<PathBuf>,
}

pub(crate) fn router(node: Node, archive: Option<PathBuf>) -> Router {
    let map_routes = Router::new().route("/v1/map", get(map)).with_state(Explore {
        node: node.clone(),
        archive,
    });
    Router::new()
        .route("/v1/devices", get(devices))
        .route("/v1/accounts/{address}/devices", get(owner_devices))
        .route("/v1/blocks", get(blocks))
        .route("/v1/epochs", get(epochs))
        .route("/v1/deals", get(deals))
        .route("/v1/jobs", get(jobs))
        .route("/v1/storage/moves", get(moves))
        .with_state(node)
        .merge(map_routes)
}

/// `limit` checked against `max`, defaulting to `default`.
fn limit(given: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match given {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("invalid_parameter", "limit must be at least 1")),
        Some(n) if n > max => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit {n} is above the maximum {max}"),
        )),
        Some(n) => Ok(n),
    }
}

/// The value of capability `name`, 0 if not declared.
fn capability(d: &Device, name: &str) -> u64 {
    d.capabilities.iter().find(|c| c.name == name).map_or(0, |c| c.value)
}

fn device_summary(address: &DeviceAddress, d: &Device) -> Value {
    json!({
        "address": address,
        "class": d.class,
        "owner": d.owner,
        "location": d.location.as_ref().map(|l| l.location),
        "onboarded_height": d.onboarded_height,
        "stake": d.stake,
        "slashed": d.slashed,
        "slash_count": d.slash_count,
    })
}

#[derive(Deserialize)]
struct DeviceQuery {
    /// Parsed by serde from the class's snake_case name (an unknown one is a 400).
    class: Option<DeviceClass>,
    /// An H3 cell (any resolution 0..=12): only devices located inside it.
    cell: Option<String>,
    owner: Option<String>,
    after: Option<String>,
    limit: Option<u64>,
}

/// Devices in address order, filtered, one page at a time (`next` is the `after` of the next page).
fn device_page(node: &Node, q: &DeviceQuery, owner: Option<AccountAddress>) -> Result<Value, ApiError> {
    let class = q.class;
    let owner = match (owner, q.owner.as_deref()) {
        (Some(o), _) => Some(o),
        (None, Some(text)) => Some(parse::<AccountAddress>("account address", text)?),
        (None, None) => None,
    };
    let after = q
        .after
        .as_deref()
        .map(|t| parse::<DeviceAddress>("device address", t))
        .transpose()?;
    let cell = q
        .cell
        .as_deref()
        .map(|t| parse::<CellIndex>("H3 cell", t))
        .transpose()?;
    let inside = |d: &Device| match cell {
        None => true,
        Some(c) => d
            .location
            .as_ref()
            .and_then(|l| l.location.cell().parent(c.resolution()))
            .is_some_and(|p| p == c),
    };
    let limit = usize::try_from(limit(q.limit, 200, MAX_DEVICES as u64)?).map_err(ApiError::internal)?;
    let all = node.with_state(|s, _| state::devices(s)).map_err(ApiError::internal)?;
    let mut matching = all.iter().filter(|(a, d)| {
        class.is_none_or(|c| d.class == c)
            && owner.is_none_or(|o| d.owner == o)
            && inside(d)
            && after.is_none_or(|after| keys::device(a) > keys::device(&after))
    });
    let page: Vec<_> = matching.by_ref().take(limit).collect();
    let next = match matching.next() {
        Some(_) => page.last().map(|(a, _)| json!(a)),
        None => None,
    };
    let devices: Vec<Value> = page.iter().map(|(a, d)| device_summary(a, d)).collect();
    Ok(json!({ "devices": devices, "next": next }))
}

async fn devices(State(node): State<Node>, Query(q): Query<DeviceQuery>) -> Result<Json<Value>, ApiError> {
    device_page(&node, &q, None).map(Json)
}

async fn owner_devices(
    State(node): State<Node>,
    crate::routes::Param(address): crate::routes::Param,
    Query(q): Query<DeviceQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner: AccountAddress = parse("account address", &address)?;
    let mut page = device_page(&node, &q, Some(owner))?;
    page["owner"] = json!(owner);
    Ok(Json(page))
}

#[derive(Deserialize)]
struct MapQuery {
    res: Option<u8>,
    class: Option<DeviceClass>,
}

/// What one hex holds.
#[derive(Default)]
struct Hex {
    /// Devices per class, indexed as [`DeviceClass::ALL`].
    counts: [u64; DeviceClass::ALL.len()],
    storage_capacity_bytes: u64,
    compute_slots: u64,
    stake: Amount,
    /// Lowest and highest HIP-17 transmit scale (ppm) of its hotspots in the scale epoch.
    scale: Option<(u64, u64)>,
}

/// The factor the coverage verifier records as the HIP-17 transmit scale.
const TRANSMIT_SCALE: &str = "transmit_scale_ppm";

/// Each hotspot's transmit scale in the newest archived epoch, and that epoch (empty if the node
/// keeps no archive or has archived nothing yet).
async fn transmit_scales(archive: Option<PathBuf>) -> Result<(Option<Epoch>, BTreeMap<DeviceAddress, u64>), ApiError> {
    let Some(dir) = archive else {
        return Ok((None, BTreeMap::new()));
    };
    let Some(epoch) = crate::rewards::latest_archived(dir.clone()).await? else {
        return Ok((None, BTreeMap::new()));
    };
    let archived: trellis_rewards::EpochArchive =
        crate::rewards::read_archive_file(Some(dir), format!("epoch-{}.json", epoch.0), "archived rewards", epoch)
            .await?;
    let scales = archived
        .inputs
        .shares
        .iter()
        .filter_map(|s| {
            let scale = s.breakdown.factors.iter().find(|(name, _)| name == TRANSMIT_SCALE)?;
            Some((s.device, scale.1))
        })
        .collect();
    Ok((Some(epoch), scales))
}

/// Devices with a location, aggregated into the H3 cells at `res` that hold them, with each
/// cell's boundary in degrees (so a client draws hexes without an H3 library).
async fn map(State(x): State<Explore>, Query(q): Query<MapQuery>) -> Result<Json<Value>, ApiError> {
    let node = x.node;
    let res = q.res.unwrap_or(DEFAULT_MAP_RESOLUTION);
    let resolution = Resolution::try_from(res)
        .ok()
        .filter(|r| u8::from(*r) <= 12)
        .ok_or_else(|| ApiError::bad_request("invalid_parameter", format!("res {res} is not 0..=12")))?;
    let class = q.class;
    let all = node.with_state(|s, _| state::devices(s)).map_err(ApiError::internal)?;
    let (scale_epoch, scales) = transmit_scales(x.archive).await?;
    let mut hexes: BTreeMap<CellIndex, Hex> = BTreeMap::new();
    let mut unlocated = 0u64;
    for (address, d) in all.iter().filter(|(_, d)| class.is_none_or(|c| d.class == c)) {
        let Some(cell) = d.location.as_ref().and_then(|l| l.location.cell().parent(resolution)) else {
            unlocated += 1;
            continue;
        };
        let hex = hexes.entry(cell).or_default();
        if let Some(i) = DeviceClass::ALL.iter().position(|c| *c == d.class) {
            hex.counts[i] += 1;
        }
        hex.storage_capacity_bytes = hex
            .storage_capacity_bytes
            .saturating_add(capability(d, "capacity_bytes"));
        hex.compute_slots = hex.compute_slots.saturating_add(capability(d, "slots"));
        hex.stake = hex.stake.checked_add(d.stake).unwrap_or(hex.stake);
        if let Some(&scale) = scales.get(address) {
            hex.scale = Some(
                hex.scale
                    .map_or((scale, scale), |(lo, hi)| (lo.min(scale), hi.max(scale))),
            );
        }
    }
    let cells: Vec<Value> = hexes
        .iter()
        .map(|(cell, h)| {
            let center = h3o::LatLng::from(*cell);
            let boundary: Vec<[f64; 2]> = cell.boundary().iter().map(|p| [p.lat(), p.lng()]).collect();
            json!({
                "cell": cell.to_string(),
                "center": [center.lat(), center.lng()],
                "boundary": boundary,
                "devices": DeviceClass::ALL
                    .iter()
                    .zip(h.counts)
                    .map(|(c, n)| (c.name().to_string(), json!(n)))
                    .collect::<serde_json::Map<_, _>>(),
                "total": h.counts.iter().sum::<u64>(),
                "storage_capacity_bytes": h.storage_capacity_bytes,
                "compute_slots": h.compute_slots,
                "stake": h.stake,
                "coverage_scale_ppm": h.scale.map(|(min, max)| json!({ "min": min, "max": max })),
            })
        })
        .collect();
    Ok(Json(json!({
        "resolution": res,
        "cells": cells,
        "unlocated": unlocated,
        "scale_epoch": scale_epoch.map(|e| e.0),
    })))
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<u64>,
    limit: Option<u64>,
}

/// Block headers newest first, from `before` (exclusive; default: the tip, inclusive).
async fn blocks(State(node): State<Node>, Query(q): Query<PageQuery>) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit, 20, MAX_BLOCKS)?;
    let tip = node.tip().height;
    let top = match q.before {
        Some(0) => return Ok(Json(json!({ "blocks": [], "next": null }))),
        Some(b) => (b - 1).min(tip),
        None => tip,
    };
    let mut list = Vec::new();
    let mut height = Some(top);
    while let Some(h) = height.filter(|_| list.len() < limit as usize) {
        let block = node
            .block(h)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("block {h} missing below the tip")))?;
        list.push(json!({
            "height": h,
            "hash": block.header.hash(),
            "timestamp_ms": block.header.timestamp_ms,
            "tx_count": block.header.tx_count,
            "state_root": block.header.state_root,
        }));
        height = h.checked_sub(1);
    }
    let next = height.map(|h| h + 1);
    Ok(Json(json!({ "tip": tip, "blocks": list, "next": next })))
}

/// Epochs newest first, each with what was minted (the posted manifest's total), burned and
/// claimed: the economy over time.
async fn epochs(State(node): State<Node>, Query(q): Query<PageQuery>) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit, 100, MAX_EPOCHS)?;
    let rows = node.with_state(|s, tip| -> Result<_, CorruptState> {
        let len = s.params()?.epoch_len_blocks;
        let current = Epoch::of_height(tip.height, len).0;
        let top = match q.before {
            Some(b) => b.checked_sub(1).map(|b| b.min(current)),
            None => Some(current),
        };
        let mut rows = Vec::new();
        let mut e = top;
        while let Some(n) = e.filter(|_| (rows.len() as u64) < limit) {
            let burned: Amount = s.read(&keys::epoch_burn(Epoch(n)))?.unwrap_or_default();
            let manifest: Option<Manifest> = s.read(&keys::manifest(Epoch(n)))?;
            rows.push(json!({
                "epoch": n,
                "first_height": n * len,
                "complete": n < current,
                "burned": burned,
                "minted": manifest.as_ref().map(|m| m.total),
                "claimed": manifest.as_ref().map(|m| m.claimed),
                "manifest_root": manifest.as_ref().map(|m| m.root),
            }));
            e = n.checked_sub(1);
        }
        Ok((rows, current, e.map(|n| n + 1)))
    });
    let (rows, current, next) = rows.map_err(ApiError::internal)?;
    Ok(Json(json!({ "current": current, "epochs": rows, "next": next })))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u64>,
}

/// Open storage deals in id order.
async fn deals(State(node): State<Node>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit, 100, MAX_ITEMS as u64)? as usize;
    let list = node.with_state(|s, _| state::deals(s)).map_err(ApiError::internal)?;
    let total = list.len();
    let deals: Vec<Value> = list
        .iter()
        .take(limit)
        .map(|(id, d)| {
            json!({
                "id": id,
                "client": d.client,
                "size_bytes": d.terms.size,
                "data_shards": d.terms.data_shards,
                "parity_shards": d.terms.parity_shards,
                "pieces": d.terms.pieces.len(),
                "escrow": d.escrow,
                "paid": d.paid,
                "start_epoch": d.start_epoch.0,
                "end_epoch": d.end_epoch().0,
                "settled_epochs": d.settled_epochs,
            })
        })
        .collect();
    Ok(Json(json!({ "total": total, "deals": deals })))
}

/// Compute jobs, newest posted first (ties in id order).
async fn jobs(State(node): State<Node>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit, 100, MAX_ITEMS as u64)? as usize;
    let mut list = node.with_state(|s, _| state::jobs(s)).map_err(ApiError::internal)?;
    let total = list.len();
    list.sort_by(|(a, x), (b, y)| y.posted_height.cmp(&x.posted_height).then(a.cmp(b)));
    let jobs: Vec<Value> = list
        .iter()
        .take(limit)
        .map(|(id, j)| {
            json!({
                "id": id,
                "client": j.client,
                "entry": j.spec.entry,
                "replicas": j.spec.replicas,
                "posted_height": j.posted_height,
                "status": j.status,
                "providers": j.runs.iter().map(|r| r.provider).collect::<Vec<_>>(),
                "verifications": j.verifications.len(),
                "escrow": j.escrow,
                "paid": j.paid,
            })
        })
        .collect();
    Ok(Json(json!({ "total": total, "jobs": jobs })))
}

#[derive(Deserialize)]
struct MoveQuery {
    blocks: Option<u64>,
}

/// Committed piece moves (repairs, or re-placement after a failed upload) in the newest `blocks`
/// blocks, newest first: which deal's piece went to which provider, when, in which transaction.
/// A bounded scan of recent blocks (no index is kept of moves).
async fn moves(State(node): State<Node>, Query(q): Query<MoveQuery>) -> Result<Json<Value>, ApiError> {
    let window = limit(q.blocks, 1000, MAX_MOVE_SCAN_BLOCKS)?;
    let tip = node.tip().height;
    let from = tip.saturating_sub(window - 1);
    let mut list = Vec::new();
    for height in (from..=tip).rev() {
        let block = node
            .block(height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("block {height} missing below the tip")))?;
        if !block
            .txs
            .iter()
            .any(|t| matches!(t.body.kind, TxKind::MovePiece { .. }))
        {
            continue;
        }
        let receipts = node
            .store()
            .receipts(height)
            .map_err(|e| ApiError::internal(trellis_chain::NodeError::from(e)))?;
        for (tx, receipt) in block.txs.iter().zip(&receipts) {
            if let (TxKind::MovePiece { deal, index, provider }, TxOutcome::Success) = (&tx.body.kind, &receipt.outcome)
            {
                list.push(json!({
                    "height": height,
                    "tx_id": receipt.tx_id,
                    "deal": deal,
                    "index": index,
                    "provider": provider,
                    "signer": tx.body.signer,
                }));
            }
        }
    }
    Ok(Json(json!({ "from_height": from, "tip": tip, "moves": list })))
}
