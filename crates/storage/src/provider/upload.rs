//! Piece uploads: streamed to a temporary file while every chunk is hashed, checked against the
//! deal's length and root, then made durable; one upload per piece at a time, stalled or
//! cancelled uploads cleaned up.

use super::{
    disk::{PieceId, Reservation},
    server::{declared_length, piece_path, Provider, Refusal},
};
use crate::{
    protocol::{decode_upload_header, SignedUploadGrant, UPLOAD_HEADER},
    spool::{Durability, Spool},
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures::StreamExt;
use serde_json::json;
use std::sync::atomic::Ordering;

/// A file in `tmp/`, removed when dropped unless kept (renamed into the store), also when the
/// request is cancelled mid-stream.
#[derive(Debug)]
pub(super) struct TempFile(Option<std::path::PathBuf>);

impl TempFile {
    pub(super) fn new(path: std::path::PathBuf) -> Self {
        TempFile(Some(path))
    }

    pub(super) fn path(&self) -> std::path::PathBuf {
        self.0.clone().unwrap_or_default()
    }

    /// Leaves the file where it is (it was renamed into the store).
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an abandoned upload");
                }
            }
        }
    }
}

/// Marks a piece as being uploaded (one upload per piece at a time); clears the mark when
/// dropped, also when the request is cancelled mid-stream.
pub(super) struct UploadMark<'a> {
    provider: &'a Provider,
    id: PieceId,
}

impl<'a> UploadMark<'a> {
    /// Marks `id`, or refuses if it is being uploaded already.
    pub(super) fn take(provider: &'a Provider, id: PieceId) -> Result<Self, Refusal> {
        let fresh = provider
            .0
            .uploading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id);
        if !fresh {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "upload_in_progress",
                format!("piece {} of deal {} is being uploaded already", id.index, id.deal),
            ));
        }
        Ok(UploadMark { provider, id })
    }
}

impl Drop for UploadMark<'_> {
    fn drop(&mut self) {
        self.provider
            .0
            .uploading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Keeps a fully received piece if its bytes hash to `root`: made durable and visible off the
/// async threads, its room turned from reserved to used. Otherwise `file` is removed and the
/// room given back.
pub(super) async fn keep_piece(
    p: &Provider,
    id: PieceId,
    file: TempFile,
    tree: crate::piece::PieceTree,
    reservation: Reservation,
    root: trellis_primitives::Hash,
) -> Result<(), Refusal> {
    if tree.root() != root {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_commitment",
            format!(
                "the bytes hash to {}, but the deal commits piece {} to {root}",
                tree.root(),
                id.index
            ),
        ));
    }
    let (store, temp) = (p.clone(), file.path());
    tokio::task::spawn_blocking(move || store.0.store.commit(&id, &temp, &tree, reservation))
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)?;
    file.keep();
    Ok(())
}

pub(super) async fn upload(
    State(p): State<Provider>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let result = receive(&p, &path, &headers, body).await;
    p.0.metrics.count_upload(&result);
    result
}

async fn receive(p: &Provider, path: &(String, String), headers: &HeaderMap, body: Body) -> Result<Response, Refusal> {
    let id = piece_path(path)?;
    // The grant first (no node call for an upload without a valid one for this piece), then
    // whose it is.
    let (grant, verifiers) = upload_grant(p, &id, headers).await?;
    let deal = p.assigned_deal(id.deal, id.index).await?;
    if grant.signer != *deal.client.key() && !verifiers.contains(&grant.signer) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "not_deal_client",
            format!(
                "the upload grant is signed by {}, not by deal {}'s client (or a verifier)",
                grant.signer, id.deal
            ),
        ));
    }
    let expected = deal.terms.piece_len;
    let root = deal.terms.pieces[usize::from(id.index)].root;
    let declared = declared_length(headers)?;
    if declared > expected {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "piece {} of deal {} is {expected} bytes, not {declared}",
                id.index, id.deal
            ),
        ));
    }
    if declared < expected {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "wrong_length",
            format!(
                "piece {} of deal {} is {expected} bytes, not {declared}",
                id.index, id.deal
            ),
        ));
    }
    if p.0.store.has(&id) {
        return Ok((StatusCode::OK, Json(json!({ "stored": true, "already": true }))).into_response());
    }
    let _slot = upload_slot(p)?;
    let _mark = UploadMark::take(p, id)?;
    let reservation =
        p.0.store
            .reserve(expected)
            .map_err(|full| Refusal::new(StatusCode::INSUFFICIENT_STORAGE, "full", full.to_string()))?;
    let file = TempFile::new(p.0.store.temp_path(&id));
    let tree = stream_to(&file.path(), body, expected, p).await?;
    if tree.len != expected {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "truncated",
            format!("upload ended after {} of {expected} bytes", tree.len),
        ));
    }
    keep_piece(p, id, file, tree, reservation, root).await?;
    tracing::info!(deal = %id.deal, index = id.index, bytes = expected, "stored a piece");
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))).into_response())
}

/// The direct upload's grant, checked against this chain, this provider, the piece in the path
/// and the epoch; with the chain's verifier keys (who, besides the deal's client, may sign one).
async fn upload_grant(
    p: &Provider,
    id: &PieceId,
    headers: &HeaderMap,
) -> Result<(SignedUploadGrant, Vec<trellis_primitives::PublicKey>), Refusal> {
    let forbidden = |code, message: String| Refusal::new(StatusCode::FORBIDDEN, code, message);
    let Some(value) = headers.get(UPLOAD_HEADER) else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "upload_unsigned",
            format!("uploads need the deal client's (or a verifier's) signed grant in the `{UPLOAD_HEADER}` header"),
        ));
    };
    let signed = decode_upload_header(value.as_bytes())
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_upload_grant", e))?;
    let status = p.chain_status().await?;
    if !signed.verify(&status.chain_id) {
        return Err(forbidden(
            "bad_upload_signature",
            format!(
                "the upload grant's signature does not verify for chain {}",
                status.chain_id
            ),
        ));
    }
    let g = &signed.grant;
    if g.provider != p.device() || g.deal != id.deal || g.index != id.index {
        return Err(forbidden(
            "wrong_upload_grant",
            format!(
                "the grant is for piece {} of deal {} on {}, not this upload",
                g.index, g.deal, g.provider
            ),
        ));
    }
    if status.epoch > g.expires.0 {
        return Err(forbidden(
            "upload_grant_expired",
            format!(
                "the grant expired after epoch {}; it is epoch {}",
                g.expires.0, status.epoch
            ),
        ));
    }
    Ok((signed, status.verifiers.clone()))
}

/// One of the provider's upload slots, or a refusal to retry later.
pub(super) fn upload_slot(p: &Provider) -> Result<tokio::sync::OwnedSemaphorePermit, Refusal> {
    p.0.uploads.clone().try_acquire_owned().map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{} uploads in progress; retry shortly", p.0.limits.max_uploads),
        )
    })
}

pub(super) async fn stream_to(
    temp: &std::path::Path,
    body: Body,
    limit: u64,
    p: &Provider,
) -> Result<crate::piece::PieceTree, Refusal> {
    let (limits, metrics) = (p.0.limits, &p.0.metrics);
    let mut spool = Spool::create(temp, Durability::Durable)
        .await
        .map_err(Refusal::internal)?;
    let mut stream = body.into_data_stream();
    let (mut received, started) = (0u64, std::time::Instant::now());
    loop {
        let elapsed = started.elapsed();
        if elapsed > limits.upload_rate_grace
            && u128::from(received) < u128::from(limits.min_upload_bytes_per_s) * elapsed.as_millis() / 1000
        {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_too_slow",
                format!(
                    "{received} bytes in {} ms is below the {} bytes/s this provider needs",
                    elapsed.as_millis(),
                    limits.min_upload_bytes_per_s
                ),
            ));
        }
        let next = tokio::time::timeout(limits.upload_idle_timeout, stream.next())
            .await
            .map_err(|_| {
                Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "upload_stalled",
                    format!(
                        "no data for {} ms after {received} bytes",
                        limits.upload_idle_timeout.as_millis()
                    ),
                )
            })?;
        let Some(frame) = next else { break };
        let bytes = frame.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "truncated",
                format!("upload broke off after {received} bytes: {e}"),
            )
        })?;
        if received + bytes.len() as u64 > limit {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("upload exceeds the piece length {limit}"),
            ));
        }
        received += bytes.len() as u64;
        metrics.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        spool.write(bytes).await.map_err(Refusal::internal)?;
    }
    spool.finish().await.map_err(Refusal::internal)
}
