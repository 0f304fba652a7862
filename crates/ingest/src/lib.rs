//! Trellis device-facing ingest: the one door through which device reports enter the network.
//!
//! `POST /v1/reports` takes a protobuf `SignedReport` (see `trellis-proto`). A report is checked
//! for size and shape, timestamp window and registration at once; its signature is verified in a
//! batch with the others that arrived within a few milliseconds (batch ed25519 is ~3× cheaper per
//! signature); then duplicate suppression and the per-device rate limit apply, and accepted
//! reports are written to the [`log::ReportLog`] and fsynced **before** the device gets its
//! `202`. Every rejection has a typed reason, an HTTP status and a `/metrics` counter.
//! `POST /v1/reports/batch` takes up to [`admit::MAX_BATCH_REPORTS`] envelopes in one body, each
//! behind a varint length, and answers each in order: the same checks, one request's overhead.
//!
//! **Architecture invariant:** ingest judges only form and identity, never meaning: what a report
//! is worth is for the verifiers, which read the log. Rate limits and duplicate checks count only
//! reports whose signatures verified, so forgers cannot spend an honest device's budget.

pub mod admit;
pub mod checks;
pub mod config;
pub mod log;
mod service;

pub use checks::Rejection;
pub use config::{IngestConfig, S3Archive};
pub use service::{start, DeviceDirectory, IngestMetrics, Lookup, RunningIngest};
