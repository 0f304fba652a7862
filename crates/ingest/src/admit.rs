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
