//! The door every simulated report goes through: signed with the device's key into the wire
//! envelope, screened and admitted by the ingest crate's own pipeline (`trellis_ingest::admit`:
//! size, shape, clock window, batched signature verification, duplicates, per-device rate limit),
//! and handed to the verifiers as the report-log frames ingest would have written. Reports are
//! batched as ingest batches them: everything arriving within one 50 ms window shares its
//! receive time.

use std::collections::BTreeMap;
use trellis_ingest::{admit::screen, admit::Admission, Rejection};
use trellis_primitives::Keypair;
use trellis_proto::{report::Kind, Envelope, LoggedReport, Report};

/// Ingest's batching window.
const BATCH_MS: u64 = 50;
/// Device clocks may be this far from ingest's.
const WINDOW_MS: u64 = 60_000;

pub(super) struct Door {
    admission: Admission,
    /// Refusals by reason over the run.
    pub(super) refused: BTreeMap<&'static str, u64>,
    /// Reports admitted over the run.
    pub(super) admitted: u64,
}

/// One report waiting at the door: who signs it, when it arrives, when the device says it is.
pub(super) struct Arrival<'a> {
    pub(super) key: &'a Keypair,
    pub(super) received_ms: u64,
    pub(super) timestamp_ms: u64,
    pub(super) kind: Kind,
}

impl Door {
    pub(super) fn new() -> Self {
        Door {
            // Production-like limits: bursts of 100, 600 a minute per device.
            admission: Admission::new(1_000_000, 100, 600),
            refused: BTreeMap::new(),
            admitted: 0,
        }
    }

    /// Signs, screens and admits `arrivals`; the frames the log would hold, in receive order.
    pub(super) fn pass(&mut self, mut arrivals: Vec<Arrival<'_>>) -> Vec<LoggedReport> {
        arrivals.sort_by_key(|a| a.received_ms);
        let mut frames = Vec::with_capacity(arrivals.len());
        let mut batch = Vec::new();
        let mut batch_end = 0;
        for a in arrivals {
            let at = a.received_ms.div_ceil(BATCH_MS) * BATCH_MS;
            if at != batch_end && !batch.is_empty() {
                self.admit(&mut batch, batch_end, &mut frames);
            }
            batch_end = at;
            let report = Report {
                timestamp_ms: a.timestamp_ms,
                kind: Some(a.kind),
            };
            let bytes = prost::Message::encode_to_vec(&Envelope::sign(&report, a.key));
            match screen(&bytes, at, WINDOW_MS) {
                Ok(screened) => batch.push(screened),
                Err(r) => self.refuse(r),
            }
        }
        if !batch.is_empty() {
            self.admit(&mut batch, batch_end, &mut frames);
        }
        frames
    }

    fn admit(
        &mut self,
        batch: &mut Vec<(Envelope, trellis_proto::SignedReport)>,
        at: u64,
        frames: &mut Vec<LoggedReport>,
    ) {
        for verdict in self.admission.admit(batch, at) {
            match verdict {
                Ok(frame) => {
                    self.admitted += 1;
                    frames.push(frame);
                }
                Err(r) => self.refuse(r),
            }
        }
        batch.clear();
    }

    fn refuse(&mut self, r: Rejection) {
        *self.refused.entry(r.code()).or_default() += 1;
    }
}
