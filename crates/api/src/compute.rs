//! Compute routes: jobs (by id and by client), the providers a job can be matched to, and each
//! device's duties (runs to do, replays it was drawn for).

use crate::{
    error::ApiError,
    routes::{parse, Param},
};
use axum::{extract::State, routing::get, Json, Router};
use serde_json::{json, Value};
use trellis_chain::Node;
use trellis_ledger::{
    execute::replay_status,
    state::{self, Job, JobStatus},
    MemStore, StateRead,
};
use trellis_primitives::{AccountAddress, DeviceAddress, Hash};

pub(crate) fn router(node: Node) -> Router {
    Router::new()
        .route("/v1/jobs/{id}", get(job))
        .route("/v1/accounts/{address}/jobs", get(client_jobs))
        .route("/v1/compute/providers", get(providers))
        .route("/v1/compute/devices/{device}/duties", get(duties))
        .with_state(node)
}

/// A job with what the rules derive from it (see `trellis_ledger::execute::ReplayStatus`).
fn job_view(s: &MemStore, id: &Hash, job: &Job, tip_height: u64) -> Result<Value, ApiError> {
    let status = replay_status(s, id, job, tip_height).map_err(ApiError::internal)?;
    Ok(json!({
        "id": id,
        "job": job,
        "drawn": status.drawn,
        "replayer": status.replayer,
        "finalizable_after": status.finalizable_after,
        "tip_height": tip_height,
    }))
}

async fn job(State(node): State<Node>, Param(id): Param) -> Result<Json<Value>, ApiError> {
    let id: Hash = parse("job id", &id)?;
    let view = node.with_state(|s, tip| -> Result<Option<Value>, ApiError> {
        match s.job(&id).map_err(ApiError::internal)? {
            Some(job) => job_view(s, &id, &job, tip.height).map(Some),
            None => Ok(None),
        }
    })?;
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no compute job {id}")))
}

async fn client_jobs(State(node): State<Node>, Param(address): Param) -> Result<Json<Value>, ApiError> {
    let client: AccountAddress = parse("account address", &address)?;
    let jobs = node.with_state(|s, tip| -> Result<Vec<Value>, ApiError> {
        let all = state::jobs(s).map_err(ApiError::internal)?;
        all.iter()
            .filter(|(_, j)| j.client == client)
            .map(|(id, j)| job_view(s, id, j, tip.height))
            .collect()
    })?;
    Ok(Json(json!({ "client": client, "jobs": jobs })))
}

async fn providers(State(node): State<Node>) -> Result<Json<Value>, ApiError> {
    let list = node.with_state(|s, _| -> Result<Vec<Value>, ApiError> {
        let params = s.params().map_err(ApiError::internal)?;
        let providers = state::compute_providers(s).map_err(ApiError::internal)?;
        Ok(providers
            .into_iter()
            .map(|p| {
                json!({
                    "address": p.address,
                    "owner": p.device.owner,
                    "stake": p.device.stake,
                    "eligible": p.device.stake >= params.compute_min_collateral && p.endpoint.is_some(),
                    "endpoint": p.endpoint,
                    "slashed": p.device.slashed,
                    "offer": p.offer,
                })
            })
            .collect())
    })?;
    Ok(Json(json!({ "providers": list })))
}

async fn duties(State(node): State<Node>, Param(device): Param) -> Result<Json<Value>, ApiError> {
    let device: DeviceAddress = parse("device address", &device)?;
    let (runs, replays) = node.with_state(|s, tip| -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        let (mut runs, mut replays) = (Vec::new(), Vec::new());
        for (id, job) in state::jobs(s).map_err(ApiError::internal)? {
            if job.status != JobStatus::Open {
                continue;
            }
            if job.runs.iter().any(|r| r.provider == device && r.claim.is_none()) {
                runs.push(job_view(s, &id, &job, tip.height)?);
            } else if replay_status(s, &id, &job, tip.height)
                .map_err(ApiError::internal)?
                .replayer
                == Some(device)
            {
                replays.push(job_view(s, &id, &job, tip.height)?);
            }
        }
        Ok((runs, replays))
    })?;
    Ok(Json(json!({ "device": device, "runs": runs, "replays": replays })))
}
