//! Route handlers.

use crate::{error::ApiError, openapi};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, FromRequestParts, Path, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use std::{convert::Infallible, future::Future, time::Duration};
use tokio::net::TcpListener;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};
use trellis_chain::{Node, NodeError, SubmitError};
use trellis_ledger::{
    state::{keys, LocationRecord},
    store::state_leaf,
    tx::MAX_TX_BYTES,
    StateRead, Transaction,
};
use trellis_primitives::{AccountAddress, DecodeError, DeviceAddress, Epoch, Hash};

/// Largest request body: a hex-encoded maximum-size transaction in JSON, plus slack for the
/// JSON around it.
const MAX_BODY_BYTES: usize = 2 * MAX_TX_BYTES + 1024;
/// Server-sent-event keep-alive period; keeps proxies from closing idle streams.
const SSE_KEEPALIVE_SECS: u64 = 15;

type ApiResult<T> = Result<T, ApiError>;

/// Options of the API beyond the node itself.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// The reward oracle's archive directory, served under `/v1/rewards` (and its QoD archives
    /// under `/data`).
    pub reward_archive: Option<std::path::PathBuf>,
    /// The sensor data gateway's meter; `None` serves the catalogue but sells no readings.
    pub data_meter: Option<std::sync::Arc<crate::data::DataMeter>>,
}

/// The router over a node.
pub fn router(node: Node, options: ApiOptions) -> Router {
    let explore = crate::explore::router(node.clone(), options.reward_archive.clone());
    let data = crate::data::router(node.clone(), options.reward_archive.clone(), options.data_meter);
    let rewards = crate::rewards::router(node.clone(), options.reward_archive);
    let storage = crate::storage::router(node.clone());
    let compute = crate::compute::router(node.clone());
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/txs", post(submit))
        .route("/v1/txs/{id}", get(tx_status))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/accounts/{address}/proof", get(account_proof))
        .route("/v1/devices/{address}", get(device))
        .route("/v1/devices/{address}/locations", get(device_locations))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/supply", get(supply))
        .route("/v1/params", get(params))
        .route("/v1/events/blocks", get(block_events))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .fallback(|headers: HeaderMap| async move {
            if crate::ui::wants_html(&headers) {
                crate::ui::not_found_page()
            } else {
                ApiError::not_found("no such route; see /openapi.json").into_response()
            }
        })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed("this route does not take that method; see /openapi.json")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(node)
        .merge(rewards)
        .merge(storage)
        .merge(compute)
        .merge(explore)
        .merge(data)
        .merge(crate::ui::router())
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(node, ApiOptions::default(), listener, shutdown).await
}

/// [`serve`] with options.
pub async fn serve_with(
    node: Node,
    options: ApiOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node, options))
        .with_graceful_shutdown(shutdown)
        .await
}

/// One path parameter as text. Axum's own `Path` rejection (a segment that is not UTF-8 once
/// percent-decoded, e.g. `/v1/accounts/%FF`) is a plain-text body; this turns it into the JSON
/// error every other bad input gets.
pub(crate) struct Param<T = String>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Param<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Param(value)),
            Err(e) if e.status().is_client_error() => Err(ApiError::bad_request("invalid_parameter", e.body_text())),
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

/// Query parameters, parsed into `T`; a bad one gets the JSON `invalid_parameter` error.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))
    }
}

pub(crate) fn parse<T: std::str::FromStr>(what: &'static str, text: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| ApiError::bad_request("invalid_parameter", format!("invalid {what} `{text}`: {e}")))
}

async fn status(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let (chain_id, params, tip, verifiers) = node.with_state(|s, tip| {
        let verifiers: trellis_ledger::state::VerifierKeys = s
            .read(trellis_ledger::state::keys::VERIFIERS)
            .map_err(ApiError::internal)?
            .unwrap_or_default();
        Ok::<_, ApiError>((
            s.chain_id().map_err(ApiError::internal)?,
            s.params().map_err(ApiError::internal)?,
            *tip,
            verifiers.0,
        ))
    })?;
    Ok(Json(json!({
        "chain_id": chain_id,
        "height": tip.height,
        "hash": tip.hash,
        "state_root": tip.state_root,
        "timestamp_ms": tip.timestamp_ms,
        "epoch": Epoch::of_height(tip.height, params.epoch_len_blocks).0,
        "mempool_txs": node.mempool_len(),
        "finality": node.finality(),
        "verifiers": verifiers,
    })))
}

async fn submit(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!("request body exceeds {MAX_BODY_BYTES} bytes")),
        _ => ApiError::bad_request("invalid_body", rejection.body_text()),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        // Media types are case-insensitive (RFC 9110, section 8.3.1).
        .to_ascii_lowercase();
    let raw = if content_type.starts_with("application/json") {
        #[derive(serde::Deserialize)]
        struct HexTx {
            tx: String,
        }
        let parsed: HexTx = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("expected {{\"tx\": \"<hex>\"}}: {e}")))?;
        hex::decode(parsed.tx.trim()).map_err(|e| ApiError::bad_request("invalid_hex", e.to_string()))?
    } else if content_type.starts_with("application/octet-stream") {
        body.to_vec()
    } else {
        return Err(ApiError::unsupported_media_type(format!(
            "content type `{content_type}` is not application/octet-stream or application/json"
        )));
    };
    let tx = Transaction::decode_untrusted(&raw).map_err(|e| match e {
        DecodeError::TooLong {
            what: "transaction", ..
        } => ApiError::too_large(e.to_string()),
        _ => ApiError::bad_request("invalid_transaction", format!("transaction does not decode: {e}")),
    })?;
    match node.submit(tx) {
        Ok(id) => Ok((StatusCode::ACCEPTED, Json(json!({ "tx_id": id }))).into_response()),
        Err(SubmitError::Mempool(e)) => Err(ApiError::refused(e.code(), e.to_string())),
        Err(SubmitError::Stopped(m)) => Err(ApiError::unavailable(m)),
        Err(SubmitError::Corrupt(e)) => Err(ApiError::internal(e)),
    }
}

async fn tx_status(State(node): State<Node>, Param(id): Param) -> ApiResult<Json<Value>> {
    let id: Hash = parse("transaction id", &id)?;
    let status = node.tx_status(&id).map_err(ApiError::internal)?;
    let mut value = serde_json::to_value(status).map_err(ApiError::internal)?;
    value["tx_id"] = json!(id);
    Ok(Json(value))
}

async fn account(State(node): State<Node>, Param(address): Param) -> ApiResult<Json<Value>> {
    let address: AccountAddress = parse("account address", &address)?;
    let (account, height) = node.with_state(|s, tip| (s.account(&address), tip.height));
    let account = account.map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "address": address, "height": height, "account": account }),
    ))
}

async fn account_proof(State(node): State<Node>, Param(address): Param) -> ApiResult<Json<Value>> {
    let address: AccountAddress = parse("account address", &address)?;
    let key = keys::account(&address);
    let (proof, tip) = node.with_state(|s, tip| (trellis_ledger::Store::prove(s, &key), *tip));
    let (value, proof) = proof.ok_or_else(|| ApiError::not_found(format!("account {address} has no state entry")))?;
    Ok(Json(json!({
        "address": address,
        "height": tip.height,
        "state_root": tip.state_root,
        "key": hex::encode(&key),
        "value": hex::encode(&value),
        "leaf": state_leaf(&key, &value),
        "proof": proof,
    })))
}

/// Entries `0..count` of a per-device history in state (locations, slashes), oldest first; a
/// missing entry below the count is corrupt state.
pub(crate) fn history<T: trellis_primitives::Decode>(
    s: &impl StateRead,
    count: u32,
    key: impl Fn(u32) -> Vec<u8>,
    what: &str,
) -> ApiResult<Vec<T>> {
    (0..count)
        .map(|seq| {
            s.read::<T>(&key(seq))
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal(format!("{what} history entry {seq} missing")))
        })
        .collect()
}

fn device_address(text: &str) -> ApiResult<DeviceAddress> {
    parse("device address", text)
}

async fn device(State(node): State<Node>, Param(address): Param) -> ApiResult<Json<Value>> {
    let address = device_address(&address)?;
    let device = node.with_state(|s, _| s.device(&address)).map_err(ApiError::internal)?;
    let device = device.ok_or_else(|| ApiError::not_found(format!("device {address} is not registered")))?;
    let slashes: Vec<trellis_ledger::state::SlashRecord> =
        node.with_state(|s, _| history(s, device.slash_count, |seq| keys::slash(&address, seq), "slash"))?;
    Ok(Json(
        json!({ "address": address, "device": device, "slashes": slashes }),
    ))
}

async fn device_locations(State(node): State<Node>, Param(address): Param) -> ApiResult<Json<Value>> {
    let address = device_address(&address)?;
    let history = node.with_state(|s, _| -> Result<Option<Vec<LocationRecord>>, ApiError> {
        let Some(device) = s.device(&address).map_err(ApiError::internal)? else {
            return Ok(None);
        };
        history::<LocationRecord>(
            s,
            device.location_count,
            |seq| keys::location_history(&address, seq),
            "location",
        )
        .map(Some)
    })?;
    let history = history.ok_or_else(|| ApiError::not_found(format!("device {address} is not registered")))?;
    Ok(Json(json!({ "address": address, "locations": history })))
}

#[derive(Serialize)]
struct BlockView {
    hash: Hash,
    block: trellis_ledger::Block,
    tx_ids: Vec<Hash>,
    receipts: Vec<trellis_ledger::Receipt>,
}

fn block_view(node: &Node, height: u64) -> ApiResult<Json<BlockView>> {
    let block = node
        .block(height)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    let receipts = node
        .store()
        .receipts(height)
        .map_err(|e| ApiError::internal(NodeError::from(e)))?;
    Ok(Json(BlockView {
        hash: block.header.hash(),
        tx_ids: block.txs.iter().map(Transaction::id).collect(),
        block,
        receipts,
    }))
}

async fn latest_block(State(node): State<Node>) -> ApiResult<Json<BlockView>> {
    let height = node.tip().height;
    block_view(&node, height)
}

async fn block(State(node): State<Node>, Param(height): Param) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse("block height", &height)?;
    block_view(&node, height)
}

async fn supply(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let supply = node.with_state(|s, _| s.supply()).map_err(ApiError::internal)?;
    Ok(Json(json!({ "supply": supply, "circulating": supply.circulating() })))
}

async fn params(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let (params, rewards) = node
        .with_state(|s, _| -> Result<_, trellis_ledger::state::CorruptState> {
            Ok((
                s.params()?,
                s.read::<trellis_ledger::RewardParams>(keys::REWARD_PARAMS)?,
            ))
        })
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "params": params, "rewards": rewards })))
}

async fn block_events(State(node): State<Node>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(node.subscribe()).map(|item| {
        Ok(match item {
            Ok(event) => Event::default()
                .event("block")
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().event("error")),
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(SSE_KEEPALIVE_SECS)))
}

async fn metrics(State(node): State<Node>) -> impl IntoResponse {
    let mut text = String::new();
    node.metrics().render(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
