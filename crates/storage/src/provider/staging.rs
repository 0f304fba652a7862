//! Staged uploads: a piece received while its client is still coding the file, held until the
//! deal naming its root lands on chain.
//!
//! A deal names every piece's root, so without staging a client must code the whole file before
//! it sends a byte (and keep all `n` pieces somewhere meanwhile). With it, the client opens one
//! upload per provider before coding, feeds them as segments are coded, and opens the deal when
//! coding ends; each provider then hears `commit` and keeps the piece only if the deal is this
//! client's, carries the grant's nonce, places the piece here and commits it to exactly the root
//! the provider computed as the bytes arrived.
//!
//! What a staged piece costs the provider, and the bounds on it: the client signs a grant bound
//! to this chain and this provider, and must hold credits; the piece's room is reserved against
//! capacity like any upload's; one client may hold at most half the capacity in staged pieces;
//! and a piece not committed within the staging TTL is deleted (as is every staged piece at
//! restart: staging lives in `tmp/`).

use super::{
    disk::Reservation,
    server::{declared_length, piece_path, Provider, Refusal},
    upload::{keep_piece, stream_to, upload_slot, TempFile, UploadMark},
};
use crate::{
    piece::PieceTree,
    protocol::{STAGE_HEADER, UPLOAD_HEADER},
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use std::{
    collections::BTreeMap,
    sync::{atomic::Ordering, Mutex, PoisonError},
    time::{Duration, Instant},
};
use trellis_primitives::{AccountAddress, Credits};

/// How long a staged piece waits for its deal: far longer than coding a file takes to finish
/// once its last byte is sent (the deal is opened right after), short enough that an abandoned
/// upload gives its room back soon.
pub const STAGE_TTL: Duration = Duration::from_secs(10 * 60);

/// One client may hold at most this fraction of a provider's capacity in staged pieces: enough
/// for a file's piece larger than most, while no single account (which must hold credits) can
/// fill a provider with pieces no deal pays for.
pub const STAGE_SHARE_DIVISOR: u64 = 2;

/// Most pieces one client may have staged (or arriving) here at once: a client stages one piece
/// per file per provider, so this is that many files in flight; without it, tiny grants under
/// fresh nonces would pile up files and map entries for [`STAGE_TTL`] within the byte share.
pub const MAX_STAGED_PER_CLIENT: usize = 256;

/// Whether a client holding `held` bytes in `count` staged pieces may stage `len` more bytes on
/// a provider of `capacity`.
fn within_quota(held: u64, count: usize, len: u64, capacity: u64) -> Result<(), String> {
    let allowed = capacity / STAGE_SHARE_DIVISOR;
    if count >= MAX_STAGED_PER_CLIENT {
        return Err(format!(
            "{count} pieces staged here; one client may stage at most {MAX_STAGED_PER_CLIENT} until its deals land"
        ));
    }
    if held.saturating_add(len) > allowed {
        return Err(format!(
            "{held} bytes staged here; one client may stage at most {allowed} (1/{STAGE_SHARE_DIVISOR} of this provider's capacity) until its deals land"
        ));
    }
    Ok(())
}

/// Which staged piece: the client, its file's nonce, the piece index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StageKey {
    client: AccountAddress,
    nonce: [u8; 16],
    index: u16,
}

/// A piece received in full and waiting for its deal. Dropping it deletes the file and gives
/// the room back.
#[derive(Debug)]
struct Staged {
    file: TempFile,
    tree: PieceTree,
    reservation: Reservation,
    expires: Instant,
}

/// The provider's staged pieces and the stagings in progress.
#[derive(Debug)]
pub(super) struct Staging {
    pieces: Mutex<BTreeMap<StageKey, Staged>>,
    /// Stagings in progress and the bytes each declared.
    receiving: Mutex<BTreeMap<StageKey, u64>>,
    ttl: Mutex<Duration>,
}

impl Default for Staging {
    fn default() -> Self {
        Staging {
            pieces: Mutex::new(BTreeMap::new()),
            receiving: Mutex::new(BTreeMap::new()),
            ttl: Mutex::new(STAGE_TTL),
        }
    }
}

impl Staging {
    fn ttl(&self) -> Duration {
        *self.ttl.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(PoisonError::into_inner) = ttl;
    }

    /// Deletes staged pieces past their TTL; how many.
    pub(super) fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut pieces = self.pieces.lock().unwrap_or_else(PoisonError::into_inner);
        let before = pieces.len();
        pieces.retain(|key, staged| {
            let keep = staged.expires > now;
            if !keep {
                tracing::info!(client = %key.client, index = key.index, "dropped a staged piece no deal claimed in time");
            }
            keep
        });
        before - pieces.len()
    }

    /// Staged pieces waiting for their deal.
    pub(super) fn len(&self) -> usize {
        self.pieces.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Bytes and pieces `client` has staged or is staging, not counting `except` (which it is
    /// resending).
    fn held_by(&self, client: &AccountAddress, receiving: &BTreeMap<StageKey, u64>, except: &StageKey) -> (u64, usize) {
        let mine = |k: &StageKey| &k.client == client && k != except;
        let pieces = self.pieces.lock().unwrap_or_else(PoisonError::into_inner);
        let staged = pieces.iter().filter(|(k, _)| mine(k)).map(|(_, p)| p.tree.len);
        let arriving = receiving.iter().filter(|(k, _)| mine(k)).map(|(_, len)| *len);
        staged.chain(arriving).fold((0u64, 0usize), |(bytes, count), len| {
            (bytes.saturating_add(len), count + 1)
        })
    }

    fn take(&self, key: &StageKey) -> Option<Staged> {
        self.pieces.lock().unwrap_or_else(PoisonError::into_inner).remove(key)
    }
}

/// Marks a staging in progress; unmarks when dropped (also when the request is cancelled).
struct Receiving<'a> {
    staging: &'a Staging,
    key: StageKey,
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.staging
            .receiving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, code, message)
}

/// `PUT /v1/staged/{nonce}/{index}`: receives a piece under the client's signed grant.
pub(super) async fn stage(
    State(p): State<Provider>,
    Path((nonce, index)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let result = receive(&p, &nonce, &index, &headers, body).await;
    if result.is_err() {
        p.0.metrics.uploads_refused.fetch_add(1, Ordering::Relaxed);
    }
    result
}

async fn receive(p: &Provider, nonce: &str, index: &str, headers: &HeaderMap, body: Body) -> Result<Response, Refusal> {
    let staging = &p.0.staging;
    staging.sweep();
    let Some(value) = headers.get(STAGE_HEADER) else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "grant_required",
            format!("staged uploads need the client's signed grant in the `{STAGE_HEADER}` header"),
        ));
    };
    let signed = crate::protocol::decode_stage_header(value.as_bytes()).map_err(|m| bad("invalid_grant", m))?;
    let grant = signed.grant;
    let status = p.chain_status().await?;
    if !signed.verify(&status.chain_id) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "bad_grant_signature",
            format!("the grant is not signed by its client for chain {}", status.chain_id),
        ));
    }
    if grant.provider != p.device() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "wrong_provider",
            format!("the grant names provider {}, this is {}", grant.provider, p.device()),
        ));
    }
    if hex::encode(grant.nonce) != nonce || grant.index.to_string() != index {
        return Err(bad(
            "grant_mismatch",
            format!(
                "the grant is for piece {} of nonce {}, the path names piece {index} of nonce {nonce}",
                grant.index,
                hex::encode(grant.nonce)
            ),
        ));
    }
    let declared = declared_length(headers)?;
    if declared != grant.len {
        return Err(bad(
            "wrong_length",
            format!("the grant is for {} bytes, the upload declares {declared}", grant.len),
        ));
    }
    let credits = p
        .node()
        .get::<serde_json::Value>(&format!("/v1/accounts/{}", grant.client))
        .await
        .map_err(|e| Refusal::node_unavailable(e.to_string()))?
        .and_then(|v| serde_json::from_value::<Credits>(v["account"]["credits"].clone()).ok())
        .unwrap_or_default();
    if credits == Credits(0) {
        return Err(Refusal::new(
            StatusCode::PAYMENT_REQUIRED,
            "no_credits",
            format!(
                "{} holds no credits, so it cannot open the deal this piece would be for",
                grant.client
            ),
        ));
    }
    let key = StageKey {
        client: grant.client,
        nonce: grant.nonce,
        index: grant.index,
    };
    // Checked and marked under one lock, so a client's parallel stagings cannot all slip in.
    {
        let mut receiving = staging.receiving.lock().unwrap_or_else(PoisonError::into_inner);
        if receiving.contains_key(&key) {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "upload_in_progress",
                format!("piece {} of nonce {nonce} is being staged already", grant.index),
            ));
        }
        let (held, count) = staging.held_by(&grant.client, &receiving, &key);
        within_quota(held, count, grant.len, p.0.store.capacity()).map_err(|why| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "staging_quota",
                format!("{} has {why}", grant.client),
            )
        })?;
        receiving.insert(key, grant.len);
    }
    let _receiving = Receiving { staging, key };
    let _slot = upload_slot(p)?;
    // A client sending the piece again (its first try broke off after the end) replaces it.
    drop(staging.take(&key));
    let reservation =
        p.0.store
            .reserve(grant.len)
            .map_err(|full| Refusal::new(StatusCode::INSUFFICIENT_STORAGE, "full", full.to_string()))?;
    let file = TempFile::new(p.0.store.staging_path());
    let tree = stream_to(&file.path(), body, grant.len, p).await?;
    if tree.len != grant.len {
        return Err(bad(
            "truncated",
            format!("upload ended after {} of {} bytes", tree.len, grant.len),
        ));
    }
    let root = tree.root();
    let ttl = staging.ttl();
    staging.pieces.lock().unwrap_or_else(PoisonError::into_inner).insert(
        key,
        Staged {
            file,
            tree,
            reservation,
            expires: Instant::now() + ttl,
        },
    );
    tracing::info!(client = %grant.client, index = grant.index, bytes = grant.len, "staged a piece");
    let body = json!({ "staged": true, "root": root, "expires_in_s": ttl.as_secs() });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /v1/pieces/{deal}/{index}/commit`: keeps a staged piece now that its deal is on chain.
pub(super) async fn commit(State(p): State<Provider>, Path(path): Path<(String, String)>) -> Result<Response, Refusal> {
    let result = keep(&p, &path).await;
    p.0.metrics.count_upload(&result);
    result
}

async fn keep(p: &Provider, path: &(String, String)) -> Result<Response, Refusal> {
    let id = piece_path(path)?;
    if p.0.store.has(&id) {
        return Ok((StatusCode::OK, Json(json!({ "stored": true, "already": true }))).into_response());
    }
    let deal = p.assigned_deal(id.deal, id.index).await?;
    let key = StageKey {
        client: deal.client,
        nonce: deal.terms.nonce,
        index: id.index,
    };
    // Taken before the staged piece is: a 409 (the same piece arriving by a direct upload) must
    // leave the staged piece in place for a retry.
    let _mark = UploadMark::take(p, id)?;
    p.0.staging.sweep();
    let Some(staged) = p.0.staging.take(&key) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_staged",
            format!(
                "no piece {} of {}'s file with this deal's nonce is staged here (never sent, or held longer than {} s); \
                 upload it to /v1/pieces/{}/{} with the client's signed grant in the `{UPLOAD_HEADER}` header",
                id.index,
                deal.client,
                p.0.staging.ttl().as_secs(),
                id.deal,
                id.index
            ),
        ));
    };
    let (expected_len, root) = (deal.terms.piece_len, deal.terms.pieces[usize::from(id.index)].root);
    if staged.tree.len != expected_len {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_length",
            format!(
                "the staged piece is {} bytes, the deal's pieces are {expected_len}",
                staged.tree.len
            ),
        ));
    }
    let Staged {
        file,
        tree,
        reservation,
        ..
    } = staged;
    keep_piece(p, id, file, tree, reservation, root).await?;
    tracing::info!(deal = %id.deal, index = id.index, bytes = expected_len, "kept a staged piece");
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_may_stage_half_the_capacity_in_at_most_256_pieces() {
        assert_eq!(within_quota(0, 0, 500, 1_000), Ok(()));
        assert_eq!(within_quota(400, 3, 100, 1_000), Ok(()));
        assert!(within_quota(400, 3, 101, 1_000).unwrap_err().contains("at most 500"));
        assert_eq!(within_quota(0, MAX_STAGED_PER_CLIENT - 1, 1, 1 << 40), Ok(()));
        assert!(within_quota(0, MAX_STAGED_PER_CLIENT, 1, 1 << 40)
            .unwrap_err()
            .contains("at most 256"));
        // A held total near u64::MAX cannot wrap past the share.
        assert!(within_quota(u64::MAX, 0, 1, u64::MAX).is_err());
    }
}
