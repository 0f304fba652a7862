//! Ingest configuration.

use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Settings of the ingest service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Where devices connect.
    pub listen: SocketAddr,
    /// Local directory for write-ahead segments.
    pub wal_dir: PathBuf,
    /// Local directory used as the object store for rolled segments (an S3 bucket in production).
    pub archive_dir: PathBuf,
    /// Roll a segment to the object store after this long.
    pub segment_roll_ms: u64,
    /// Accept device timestamps within this distance of ingest's clock.
    pub timestamp_window_ms: u64,
    /// Reports one device may send at once.
    pub rate_burst: u64,
    /// Sustained reports per device per minute.
    pub rate_per_minute: u64,
    /// Recent reports remembered for duplicate suppression.
    pub dedup_capacity: usize,
    /// Most reports verified in one signature batch.
    pub batch_max: usize,
    /// Extra time a batch lingers for more reports after taking everything queued (0: none;
    /// under load batches fill by themselves while the previous one is verified and fsynced).
    pub batch_wait_ms: u64,
    /// Reports waiting for verification before ingest answers "overloaded".
    pub queue_max: usize,
}

impl IngestConfig {
    /// Defaults with the given directories and listen address.
    pub fn new(listen: SocketAddr, wal_dir: PathBuf, archive_dir: PathBuf) -> Self {
        IngestConfig {
            listen,
            wal_dir,
            archive_dir,
            segment_roll_ms: 5 * 60_000,
            timestamp_window_ms: 60_000,
            rate_burst: 20,
            rate_per_minute: 60,
            dedup_capacity: 100_000,
            batch_max: 1_024,
            batch_wait_ms: 0,
            queue_max: 65_536,
        }
    }

    /// Checks the invariants, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_max == 0 {
            return Err("batch_max must be at least 1".into());
        }
        if self.queue_max < self.batch_max {
            return Err("queue_max must be at least batch_max".into());
        }
        if self.segment_roll_ms == 0 {
            return Err("segment_roll_ms must be at least 1".into());
        }
        if self.timestamp_window_ms == 0 {
            return Err("timestamp_window_ms must be at least 1".into());
        }
        Ok(())
    }
}
