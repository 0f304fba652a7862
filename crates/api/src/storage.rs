//! Storage routes: deals (by id and by client) and the storage providers a client can place
//! pieces on.

use crate::{
    error::ApiError,
    routes::{parse, Param},
};
use axum::{extract::State, routing::get, Json, Router};
use serde_json::{json, Value};
use trellis_chain::Node;
use trellis_ledger::{
    state::{keys, CorruptState},
    Deal, Device, DeviceClass, Params, StateRead, Store,
};
use trellis_primitives::{AccountAddress, Decode, DeviceAddress, Epoch, Hash, PublicKey};

pub(crate) fn router(node: Node) -> Router {
    Router::new()
        .route("/v1/deals/{id}", get(deal))
        .route("/v1/accounts/{address}/deals", get(client_deals))
        .route("/v1/providers", get(providers))
        .with_state(node)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

fn deal_view(id: Hash, deal: &Deal, epoch: Epoch) -> Value {
    json!({
        "id": id,
        "deal": deal,
        "end_epoch": deal.end_epoch().0,
        "expired": epoch >= deal.end_epoch(),
    })
}

fn current_epoch<S: StateRead>(s: &S, height: u64) -> Result<(Params, Epoch), CorruptState> {
    let params = s.params()?;
    Ok((params.clone(), Epoch::of_height(height, params.epoch_len_blocks)))
}

async fn deal(State(node): State<Node>, Param(id): Param) -> Result<Json<Value>, ApiError> {
    let id: Hash = parse("deal id", &id)?;
    let (deal, epoch, height) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            Ok((s.deal(&id)?, current_epoch(s, tip.height)?.1, tip.height))
        })
        .map_err(internal)?;
    let deal = deal.ok_or_else(|| ApiError::not_found(format!("no open storage deal {id}")))?;
    let mut view = deal_view(id, &deal, epoch);
    view["height"] = json!(height);
    view["epoch"] = json!(epoch.0);
    Ok(Json(view))
}

/// Every entry of one state table, decoded, with the key's remainder.
fn table<T: Decode>(s: &impl Store, table: u8) -> Result<Vec<(Vec<u8>, T)>, CorruptState> {
    s.entries()
        .filter(|(k, _)| k.first() == Some(&table))
        .map(|(k, v)| {
            T::from_bytes(v)
                .map(|t| (k[1..].to_vec(), t))
                .map_err(|source| CorruptState {
                    key: format!("{k:02x?}"),
                    source,
                })
        })
        .collect()
}

async fn client_deals(State(node): State<Node>, Param(address): Param) -> Result<Json<Value>, ApiError> {
    let client: AccountAddress = parse("account address", &address)?;
    let (deals, epoch) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            let epoch = current_epoch(s, tip.height)?.1;
            Ok((table::<Deal>(s, keys::DEAL_TABLE)?, epoch))
        })
        .map_err(internal)?;
    let mine: Vec<Value> = deals
        .into_iter()
        .filter(|(_, d)| d.client == client)
        .filter_map(|(id, d)| Some(deal_view(Hash(id.try_into().ok()?), &d, epoch)))
        .collect();
    Ok(Json(json!({ "client": client, "deals": mine })))
}

async fn providers(State(node): State<Node>) -> Result<Json<Value>, ApiError> {
    let (devices, params, endpoints) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            let devices = table::<Device>(s, keys::DEVICE_TABLE)?;
            let params = current_epoch(s, tip.height)?.0;
            let mut endpoints = Vec::with_capacity(devices.len());
            for (key, _) in &devices {
                endpoints.push(match key_address(key) {
                    Some(a) => (s.endpoint(&a)?, Some(s.reputation(&a)?)),
                    None => (None, None),
                });
            }
            Ok((devices, params, endpoints))
        })
        .map_err(internal)?;
    let list: Vec<Value> = devices
        .into_iter()
        .zip(endpoints)
        .filter(|((_, d), _)| d.class == DeviceClass::Storage)
        .filter_map(|((key, d), (endpoint, reputation))| {
            let address = key_address(&key)?;
            let reputation = reputation?;
            Some(json!({
                "address": address,
                "owner": d.owner,
                "stake": d.stake,
                "eligible": d.stake >= params.storage_min_collateral,
                "capabilities": d.capabilities,
                "location": d.location.map(|l| l.location),
                "slashed": d.slashed,
                "endpoint": endpoint,
                "reputation_ppm": reputation.score_ppm(),
                "reputation": reputation,
                "disqualified": reputation.disqualified(),
            }))
        })
        .collect();
    Ok(Json(json!({
        "min_collateral": params.storage_min_collateral,
        "providers": list,
    })))
}

fn key_address(key: &[u8]) -> Option<DeviceAddress> {
    let bytes: [u8; 32] = key.try_into().ok()?;
    Some(PublicKey(bytes).into())
}
