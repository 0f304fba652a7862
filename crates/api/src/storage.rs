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
    state::{self, CorruptState},
    Deal, Params, StateRead,
};
use trellis_primitives::{AccountAddress, Epoch, Hash};

pub(crate) fn router(node: Node) -> Router {
    Router::new()
        .route("/v1/deals/{id}", get(deal))
        .route("/v1/accounts/{address}/deals", get(client_deals))
        .route("/v1/providers", get(providers))
        .with_state(node)
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
    let (deal, epoch, height, reports) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            let deal = s.deal(&id)?;
            let mut reports = Vec::new();
            for index in 0..deal.as_ref().map_or(0, |d| d.terms.pieces.len() as u16) {
                if let Some(r) = state::piece_report(s, &id, index)? {
                    reports.push(json!({ "index": index, "provider": r.provider, "epoch": r.epoch.0 }));
                }
            }
            Ok((deal, current_epoch(s, tip.height)?.1, tip.height, reports))
        })
        .map_err(ApiError::internal)?;
    let deal = deal.ok_or_else(|| ApiError::not_found(format!("no open storage deal {id}")))?;
    let mut view = deal_view(id, &deal, epoch);
    view["reports"] = json!(reports);
    view["height"] = json!(height);
    view["epoch"] = json!(epoch.0);
    Ok(Json(view))
}

async fn client_deals(State(node): State<Node>, Param(address): Param) -> Result<Json<Value>, ApiError> {
    let client: AccountAddress = parse("account address", &address)?;
    let (deals, epoch) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            let epoch = current_epoch(s, tip.height)?.1;
            Ok((state::deals(s)?, epoch))
        })
        .map_err(ApiError::internal)?;
    let mine: Vec<Value> = deals
        .into_iter()
        .filter(|(_, d)| d.client == client)
        .map(|(id, d)| deal_view(id, &d, epoch))
        .collect();
    Ok(Json(json!({ "client": client, "deals": mine })))
}

async fn providers(State(node): State<Node>) -> Result<Json<Value>, ApiError> {
    let (providers, params) = node
        .with_state(|s, tip| -> Result<_, CorruptState> {
            Ok((state::storage_providers(s)?, current_epoch(s, tip.height)?.0))
        })
        .map_err(ApiError::internal)?;
    let list: Vec<Value> = providers
        .into_iter()
        .map(|p| {
            let (d, reputation) = (p.device, p.reputation);
            json!({
                "address": p.address,
                "owner": d.owner,
                "stake": d.stake,
                "eligible": d.stake >= params.storage_min_collateral,
                "capabilities": d.capabilities,
                "location": d.location.map(|l| l.location),
                "slashed": d.slashed,
                "endpoint": p.endpoint,
                "reputation_ppm": reputation.score_ppm(),
                "reputation": reputation,
                "disqualified": reputation.disqualified(),
            })
        })
        .collect();
    Ok(Json(json!({
        "min_collateral": params.storage_min_collateral,
        "providers": list,
    })))
}
