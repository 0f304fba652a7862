//! Ranged piece downloads, streamed from disk 64 KiB group by group, each group checked against
//! the piece's tree before it is sent (integrity on read); bounded in number and in how long a
//! slow client may hold a reader.

use super::{
    disk::PieceId,
    egress::{OrderRefusal, ReserveError},
    server::{piece_path, Provider, Refusal},
};
use crate::piece::{group_range, GROUP_BYTES};
use crate::protocol::{ORDER_CLAIMED, ORDER_HEADER};
use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use std::{
    io::{Read, Seek, SeekFrom},
    sync::atomic::Ordering,
};
use trellis_ledger::{OrderExpiry, SignedEgressOrder};
use trellis_primitives::{Decode, Epoch};

/// Longest order header accepted (an encoded order is ~230 bytes, twice that in hex).
const MAX_ORDER_HEADER_BYTES: usize = 1_024;
/// Bytes read from disk at a time.
const DIRECT_READ_BYTES: usize = 1 << 20;
/// Groups read, checked against the tree and sent as one frame (256 KiB): per small read, the
/// hand-over to the runtime and the frame cost more than the bytes.
const READ_GROUPS: u64 = 4;
/// Tells the egress book a window is over when dropped.
struct WindowSent(Provider, trellis_ledger::SignedEgressOrder);

impl Drop for WindowSent {
    fn drop(&mut self) {
        self.0 .0.egress.sent(&self.1);
    }
}

/// A parsed `Range: bytes=a-b` (inclusive), clamped to the piece.
fn range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, Refusal> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        Refusal::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad_range",
            format!("expected `bytes=start-[end]` within 0..{len}"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = match end.trim() {
        "" => len.saturating_sub(1),
        e => e.parse::<u64>().map_err(|_| bad())?.min(len.saturating_sub(1)),
    };
    if start > end || start >= len {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

pub(super) async fn download(
    State(p): State<Provider>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let id = piece_path(&path)?;
    if !p.0.store.has(&id) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_piece",
            format!("piece {} of deal {} is not stored here", id.index, id.deal),
        ));
    }
    // Paid for and within the download limit before the piece's tree is read: a request
    // without a valid order costs the provider no disk reads.
    let order = authorize(&p, &id, &headers).await?;
    let permit = p.0.downloads.clone().try_acquire_owned().map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{} downloads in progress; retry shortly", p.0.limits.max_downloads),
        )
    })?;
    let tree = {
        let store = p.clone();
        tokio::task::spawn_blocking(move || store.0.store.tree(&id))
            .await
            .map_err(Refusal::internal)?
            .map_err(Refusal::internal)?
    };
    let piece_len = tree.len;
    let wanted = range(&headers, piece_len)?;
    let (start, end) = wanted.unwrap_or((0, tree.len.saturating_sub(1)));
    let length = if tree.len == 0 { 0 } else { end - start + 1 };
    // Recorded only once the download will be served: a busy refusal charges nobody. The guard
    // that ends the window is made with the reservation, so a client that leaves while it is
    // recorded still ends it.
    let mut window: Option<WindowSent> = None;
    if let Some(order) = order {
        let book = p.clone();
        window = tokio::task::spawn_blocking(move || {
            book.0.egress.reserve(order, length)?;
            Ok::<_, ReserveError>(Some(WindowSent(book, order)))
        })
        .await
        .map_err(Refusal::internal)?
        .map_err(|e| match e {
            ReserveError::Refused(r @ OrderRefusal::Exhausted { .. }) => {
                Refusal::new(StatusCode::PAYMENT_REQUIRED, "order_exhausted", r.to_string())
            }
            ReserveError::Refused(r @ OrderRefusal::Full) => {
                Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "orders_full", r.to_string())
            }
            ReserveError::Refused(r @ OrderRefusal::Claimed) => {
                Refusal::new(StatusCode::PAYMENT_REQUIRED, ORDER_CLAIMED, r.to_string())
            }
            ReserveError::Disk(e) => Refusal::internal(e),
        })?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let reader = p.clone();
    let runtime = tokio::runtime::Handle::current();
    // A client that stops reading frees its reader thread after the send timeout.
    let send_timeout = p.0.limits.send_timeout;
    let send = move |item: Result<Bytes, std::io::Error>| {
        runtime
            .block_on(tokio::time::timeout(send_timeout, tx.send(item)))
            .is_ok_and(|sent| sent.is_ok())
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // However the window ends, its serial's idle time starts then.
        let _window = window;
        let group = GROUP_BYTES as u64;
        let result = (|| -> std::io::Result<()> {
            if tree.len == 0 {
                return Ok(());
            }
            let mut file = reader.0.store.open_piece(&id)?;
            let first = start / group;
            file.seek(SeekFrom::Start(first * group))?;
            // Group boundaries are page-aligned, so the piece is read around the page cache.
            let mut file = crate::direct::DirectReader::new(file, DIRECT_READ_BYTES);
            // Groups are read, checked and sent READ_GROUPS at a time: one syscall and one frame
            // per batch.
            let mut buf = vec![0u8; GROUP_BYTES * READ_GROUPS as usize];
            let (mut index, last) = (first, end / group);
            while index <= last {
                let batch_last = (index + READ_GROUPS - 1).min(last);
                let batch_start = index * group;
                let batch_end = ((batch_last + 1) * group).min(tree.len);
                let batch = &mut buf[..(batch_end - batch_start) as usize];
                file.read_exact(batch)?;
                for (g, bytes) in (index..=batch_last).zip(batch.chunks(GROUP_BYTES)) {
                    // Integrity on read: never serve a group that no longer hashes as stored.
                    if !tree.check_group(g, bytes) {
                        reader.0.metrics.corrupt_reads.fetch_add(1, Ordering::Relaxed);
                        let at = group_range(tree.len, g).map_or(0, |(s, _)| s);
                        tracing::error!(deal = %id.deal, piece = id.index, offset = at, "stored data is corrupt");
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("stored data at offset {at} is corrupt"),
                        ));
                    }
                }
                let from = (start.max(batch_start) - batch_start) as usize;
                let to = ((end + 1).min(batch_end) - batch_start) as usize;
                reader
                    .0
                    .metrics
                    .bytes_out
                    .fetch_add((to - from) as u64, Ordering::Relaxed);
                if !send(Ok(Bytes::copy_from_slice(&batch[from..to]))) {
                    return Ok(()); // the client went away or stopped reading
                }
                index = batch_last + 1;
            }
            Ok(())
        })();
        if let Err(e) = result {
            if !send(Err(e)) {
                tracing::debug!("the client left before the read error could be reported");
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes");
    response = match wanted {
        Some(_) => response
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{piece_len}")),
        None => response.status(StatusCode::OK),
    };
    response.body(body).map_err(Refusal::internal)
}

/// Checks the download's egress order: `Some(order)` to record and be paid for, `None` for a
/// verifier's (repairs move the network's own data for free).
async fn authorize(p: &Provider, id: &PieceId, headers: &HeaderMap) -> Result<Option<SignedEgressOrder>, Refusal> {
    let paid = |code, message: String| Refusal::new(StatusCode::PAYMENT_REQUIRED, code, message);
    let forbidden = |code, message: String| Refusal::new(StatusCode::FORBIDDEN, code, message);
    let Some(value) = headers.get(ORDER_HEADER) else {
        return Err(paid(
            "order_required",
            format!("downloads need the client's signed egress order in the `{ORDER_HEADER}` header"),
        ));
    };
    let invalid = |m: String| Refusal::new(StatusCode::BAD_REQUEST, "invalid_order", m);
    if value.len() > MAX_ORDER_HEADER_BYTES {
        return Err(invalid(format!(
            "the order header is over {MAX_ORDER_HEADER_BYTES} bytes"
        )));
    }
    let bytes = hex::decode(value.as_bytes()).map_err(|_| invalid("the order header is not hex".into()))?;
    let order =
        SignedEgressOrder::from_bytes(&bytes).map_err(|e| invalid(format!("the order does not decode: {e}")))?;
    let status = p.chain_status().await?;
    if !order.verify(&status.chain_id) {
        return Err(forbidden(
            "bad_order_signature",
            format!("the order's signature does not verify for chain {}", status.chain_id),
        ));
    }
    let o = &order.order;
    if o.provider != p.device() || o.deal != id.deal {
        return Err(forbidden(
            "wrong_order",
            format!(
                "the order is for deal {} on {}, not this piece here",
                o.deal, o.provider
            ),
        ));
    }
    if status.verifiers.contains(&order.signer) {
        return Ok(None);
    }
    let deal = p.assigned_deal(id.deal, id.index).await?;
    if !order.signed_by_client() || deal.client != o.client {
        return Err(forbidden(
            "not_deal_client",
            "orders are signed by the deal's client (or a verifier)".into(),
        ));
    }
    match o.payable_in(Epoch(status.epoch)) {
        Ok(()) => {}
        Err(e @ OrderExpiry::Expired) => {
            return Err(paid(
                "order_expired",
                format!("{e} after epoch {}; it is epoch {}", o.expires.0, status.epoch),
            ))
        }
        Err(e @ OrderExpiry::TooFarAhead) => return Err(invalid(format!("{e}; the ledger would not pay it"))),
    }
    let ask = p.egress_price();
    if o.price_per_gib.0 < ask {
        return Err(paid(
            "price_too_low",
            format!(
                "this provider serves at {ask} credits per GiB; the order offers {}",
                o.price_per_gib
            ),
        ));
    }
    Ok(Some(order))
}
