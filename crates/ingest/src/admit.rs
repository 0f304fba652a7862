//! The admission pipeline without the network around it: what the HTTP front checks on arrival
//! ([`screen`]), then what the writer checks per batch ([`Admission::admit`]): batched signature
//! verification, duplicate suppression and the per-device rate limit. The service runs exactly
//! these; the network simulator runs them too, so its reports enter the verifiers the way a live
//! network's do.

use crate::checks::{Dedup, RateLimiter, Rejection};
use trellis_primitives::{keys::verify_batch_cached, KeyCache, SignedMessage};
use trellis_proto::{signing_hash, Envelope, LoggedReport, SignedReport, MAX_ENVELOPE_BYTES};

/// The arrival checks: size, shape, and the device clock against ours (`now_ms`) within
/// `window_ms`. Registration is asked of the directory separately (it may be a network call).
pub fn screen(body: &[u8], now_ms: u64, window_ms: u64) -> Result<(Envelope, SignedReport), Rejection> {
    if body.len() > MAX_ENVELOPE_BYTES {
        return Err(Rejection::TooLarge);
    }
    let envelope = Envelope::decode(body).map_err(|_| Rejection::Malformed)?;
    if envelope.report.timestamp_ms.abs_diff(now_ms) > window_ms {
        return Err(Rejection::StaleTimestamp);
    }
    let signed = <SignedReport as prost::Message>::decode(body).map_err(|_| Rejection::Malformed)?;
    Ok((envelope, signed))
}

/// Most reports one batch request may carry.
pub const MAX_BATCH_REPORTS: usize = 256;

/// Largest batch body: as many full envelopes as allowed, each behind its length prefix.
pub const MAX_BATCH_BYTES: usize = MAX_BATCH_REPORTS * (MAX_ENVELOPE_BYTES + 2);

/// Splits a batch body (`POST /v1/reports/batch`: signed envelopes, each behind a protobuf
/// varint length) into the envelopes' bytes. The framing is all or nothing: a body that does
/// not split exactly is refused whole, since nothing after a broken length can be trusted.
pub fn split_batch(body: &[u8]) -> Result<Vec<&[u8]>, Rejection> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(Rejection::TooLarge);
    }
    let mut rest = body;
    let mut items = Vec::new();
    while !rest.is_empty() {
        if items.len() == MAX_BATCH_REPORTS {
            return Err(Rejection::TooLarge);
        }
        let mut cursor = rest;
        let len = prost::encoding::decode_varint(&mut cursor).map_err(|_| Rejection::Malformed)?;
        if len > MAX_ENVELOPE_BYTES as u64 {
            return Err(Rejection::TooLarge);
        }
        let len = len as usize;
        if cursor.len() < len {
            return Err(Rejection::Malformed);
        }
        let (item, after) = cursor.split_at(len);
        items.push(item);
        rest = after;
    }
    if items.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(items)
}

/// The batch framing [`split_batch`] reads, for clients.
pub fn join_batch<B: AsRef<[u8]>>(envelopes: &[B]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in envelopes {
        prost::encoding::encode_varint(e.as_ref().len() as u64, &mut out);
        out.extend_from_slice(e.as_ref());
    }
    out
}

/// The writer's state: verified keys, recent report ids, rate buckets.
#[derive(Debug)]
pub struct Admission {
    keys: KeyCache,
    dedup: Dedup,
    limiter: RateLimiter,
}

impl Admission {
    /// Fresh state for `dedup_capacity` remembered reports and the per-device rate limit.
    pub fn new(dedup_capacity: usize, rate_burst: u64, rate_per_minute: u64) -> Self {
        Admission {
            keys: KeyCache::default(),
            dedup: Dedup::new(dedup_capacity),
            limiter: RateLimiter::new(rate_burst, rate_per_minute),
        }
    }

    /// Judges one batch received at `now_ms`: each screened report becomes the log frame to
    /// append, or the reason it is refused. Rate limits and duplicates count only reports whose
    /// signatures verified.
    pub fn admit(&mut self, batch: &[(Envelope, SignedReport)], now_ms: u64) -> Vec<Result<LoggedReport, Rejection>> {
        let verdicts = self.verify(batch);
        batch
            .iter()
            .zip(verdicts)
            .map(|((envelope, signed), ok)| {
                // Identical bodies from different devices are different reports.
                let id = trellis_proto::report_id(&envelope.device, &envelope.body);
                if !ok {
                    Err(Rejection::BadSignature)
                } else if self.dedup.contains(&id) {
                    Err(Rejection::Duplicate)
                } else if !self.limiter.allow(&envelope.device, now_ms) {
                    Err(Rejection::RateLimited)
                } else {
                    self.dedup.insert(id);
                    Ok(LoggedReport {
                        received_ms: now_ms,
                        report: Some(signed.clone()),
                    })
                }
            })
            .collect()
    }

    /// Batch-verifies; on failure, finds the bad ones one by one.
    fn verify(&mut self, batch: &[(Envelope, SignedReport)]) -> Vec<bool> {
        let hashes: Vec<_> = batch.iter().map(|(e, _)| signing_hash(&e.body)).collect();
        let items: Vec<SignedMessage<'_>> = batch
            .iter()
            .zip(&hashes)
            .map(|((e, _), h)| SignedMessage {
                message: h.as_bytes(),
                signature: &e.signature,
                signer: e.device.key(),
            })
            .collect();
        if verify_batch_cached(&items, &mut self.keys).is_ok() {
            return vec![true; items.len()];
        }
        items
            .iter()
            .map(|item| verify_batch_cached(std::slice::from_ref(item), &mut self.keys).is_ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_joined_batch_splits_back_into_its_envelopes(
            items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..20),
        ) {
            let body = join_batch(&items);
            let split: Vec<Vec<u8>> = split_batch(&body).unwrap().into_iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(split, items);
        }

        #[test]
        fn any_cut_of_a_batch_is_refused_or_a_prefix(
            items in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let body = join_batch(&items);
            let at = cut.index(body.len());
            match split_batch(&body[..at]) {
                Ok(split) => {
                    // A cut on a frame boundary is a shorter batch; anywhere else it is refused.
                    prop_assert!(split.len() < items.len());
                    prop_assert_eq!(join_batch(&split).len(), at);
                }
                Err(r) => prop_assert_eq!(r, Rejection::Malformed),
            }
        }
    }

    #[test]
    fn the_limits_are_refused_as_too_large() {
        let many = vec![vec![1u8]; MAX_BATCH_REPORTS + 1];
        assert_eq!(split_batch(&join_batch(&many)), Err(Rejection::TooLarge));
        assert_eq!(
            split_batch(&join_batch(&many[1..])).map(|v| v.len()),
            Ok(MAX_BATCH_REPORTS)
        );
        assert_eq!(
            split_batch(&join_batch(&[vec![0u8; MAX_ENVELOPE_BYTES + 1]])),
            Err(Rejection::TooLarge)
        );
        assert_eq!(split_batch(&[]), Err(Rejection::Malformed));
    }
}
