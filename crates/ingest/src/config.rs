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
    /// Roll segments into an S3-compatible bucket instead of `archive_dir`.
    #[serde(default)]
    pub archive_s3: Option<S3Archive>,
}

/// An S3-compatible bucket for the report archive. Credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`), never from
/// the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Archive {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (e.g. `ingest/eu-1`); empty for the bucket root.
    #[serde(default)]
    pub prefix: String,
    /// Region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible service (MinIO, Ceph, R2, …); AWS when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Allow a plain-HTTP endpoint (only for services on a trusted network).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl IngestConfig {
    /// The object store segments roll into: the S3 bucket if configured, else `archive_dir`.
    pub fn archive_store(&self) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, String> {
        match &self.archive_s3 {
            Some(s3) => s3.store(),
            None => {
                std::fs::create_dir_all(&self.archive_dir)
                    .map_err(|e| format!("cannot create {}: {e}", self.archive_dir.display()))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&self.archive_dir)
                    .map_err(|e| format!("archive_dir {}: {e}", self.archive_dir.display()))?;
                Ok(std::sync::Arc::new(local))
            }
        }
    }
}

impl S3Archive {
    /// The bucket (under the prefix) as an object store.
    pub fn store(&self) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, String> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_allow_http(self.allow_http);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder
            .build()
            .map_err(|e| format!("archive_s3 (bucket {}): {e}", self.bucket))?;
        if self.prefix.is_empty() {
            return Ok(std::sync::Arc::new(s3));
        }
        Ok(std::sync::Arc::new(object_store::prefix::PrefixStore::new(
            s3,
            self.prefix.as_str(),
        )))
    }
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
            archive_s3: None,
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
        if let Some(s3) = &self.archive_s3 {
            if s3.bucket.is_empty() {
                return Err("archive_s3.bucket must not be empty".into());
            }
            if s3.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) && !s3.allow_http {
                return Err("archive_s3.endpoint is plain http: set archive_s3.allow_http = true to allow it".into());
            }
        }
        Ok(())
    }
}
