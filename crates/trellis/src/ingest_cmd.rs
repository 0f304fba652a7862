//! `trellis ingest run`: device ingest as its own service, in front of any node. It asks the
//! node's API which devices are registered and caches the answers.

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use trellis_ingest::{DeviceDirectory, IngestConfig, Lookup};
use trellis_primitives::DeviceAddress;

/// `trellis ingest …`.
#[derive(Debug, Subcommand)]
pub(crate) enum IngestCommand {
    /// Run device ingest from a config file (TOML; TRELLIS_* environment variables override it).
    ///
    /// Example: trellis ingest run --config ingest.toml
    Run {
        /// Config file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `ingest.toml`: the service settings plus where the node is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestFile {
    /// Node API base URL, for the device registry.
    pub(crate) node: String,
    /// How long a "registered" answer is trusted, in seconds (devices are never deregistered
    /// today, so this only bounds memory churn).
    #[serde(default = "default_known_ttl")]
    pub(crate) known_ttl_s: u64,
    /// How long an "unknown device" answer is trusted, in seconds: a newly onboarded device is
    /// accepted at most this long after its onboarding commits, and a flood of made-up keys costs
    /// the node one lookup per key per period.
    #[serde(default = "default_unknown_ttl")]
    pub(crate) unknown_ttl_s: u64,
    /// The ingest service itself.
    #[serde(flatten)]
    pub(crate) ingest: IngestConfig,
}

fn default_known_ttl() -> u64 {
    3_600
}
fn default_unknown_ttl() -> u64 {
    10
}

/// Most answers cached; beyond it the cache is cleared (lookups are cheap, memory is bounded).
const MAX_CACHED: usize = 100_000;

impl IngestFile {
    /// Reads `path`, applies `TRELLIS_INGEST_LISTEN` and `TRELLIS_API`, validates.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
        let mut file: IngestFile =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        file.apply_env(|k| std::env::var(k).ok())?;
        file.validate()?;
        Ok(file)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = var("TRELLIS_INGEST_LISTEN") {
            self.ingest.listen = v
                .parse()
                .with_context(|| format!("TRELLIS_INGEST_LISTEN `{v}` is not host:port"))?;
        }
        if let Some(v) = var("TRELLIS_API") {
            self.node = v;
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if !(self.node.starts_with("http://") || self.node.starts_with("https://")) {
            bail!("node must be an http(s) URL, found `{}`", self.node);
        }
        if self.unknown_ttl_s == 0 || self.known_ttl_s == 0 {
            bail!("known_ttl_s and unknown_ttl_s must be positive");
        }
        self.ingest.validate().map_err(anyhow::Error::msg)
    }
}

/// The node's device registry over its API, with answers cached.
pub(crate) struct ApiDirectory {
    http: reqwest::Client,
    node: String,
    known_ttl: Duration,
    unknown_ttl: Duration,
    cache: Mutex<BTreeMap<DeviceAddress, (bool, Instant)>>,
}

impl ApiDirectory {
    pub(crate) fn new(node: &str, known_ttl: Duration, unknown_ttl: Duration) -> Result<Self> {
        Ok(ApiDirectory {
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
            node: node.trim_end_matches('/').to_string(),
            known_ttl,
            unknown_ttl,
            cache: Mutex::new(BTreeMap::new()),
        })
    }

    fn cached(&self, device: &DeviceAddress) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (known, at) = cache.get(device)?;
        let ttl = if *known { self.known_ttl } else { self.unknown_ttl };
        (at.elapsed() < ttl).then_some(*known)
    }

    async fn ask(&self, device: &DeviceAddress) -> bool {
        let url = format!("{}/v1/devices/{device}", self.node);
        let known = match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => false,
            Ok(r) => {
                // Not an answer about the device: refuse now, ask again next time.
                tracing::warn!(status = %r.status(), "node refused a registry lookup");
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "node unreachable for a registry lookup");
                return false;
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(*device, (known, Instant::now()));
        known
    }
}

impl DeviceDirectory for ApiDirectory {
    fn is_registered<'a>(&'a self, device: &'a DeviceAddress) -> Lookup<'a> {
        Box::pin(async move {
            match self.cached(device) {
                Some(known) => known,
                None => self.ask(device).await,
            }
        })
    }
}

/// Runs `trellis ingest`.
pub(crate) async fn run(command: IngestCommand) -> Result<()> {
    let IngestCommand::Run { config } = command;
    let file = IngestFile::load(&config)?;
    let directory = ApiDirectory::new(
        &file.node,
        Duration::from_secs(file.known_ttl_s),
        Duration::from_secs(file.unknown_ttl_s),
    )?;
    let listen: SocketAddr = file.ingest.listen;
    let ingest = trellis_ingest::start(file.ingest.clone(), Arc::new(directory))
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot start ingest on {listen}"))?;
    let archive = match &file.ingest.archive_s3 {
        Some(s3) => format!("s3://{}/{}", s3.bucket, s3.prefix),
        None => file.ingest.archive_dir.display().to_string(),
    };
    println!(
        "ingest listening on http://{}/v1/reports (registry: {}; archive: {archive})",
        ingest.addr, file.node
    );
    crate::run::shutdown_signal().await;
    tracing::info!("shutting down; rolling the open segment into the archive");
    ingest.shutdown().await.map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_flattened_service_settings_and_env_overrides() {
        let text = "node = \"http://127.0.0.1:8645\"\nlisten = \"127.0.0.1:0\"\nwal_dir = \"/w\"\n\
                    archive_dir = \"/a\"\nsegment_roll_ms = 1000\ntimestamp_window_ms = 60000\n\
                    rate_burst = 20\nrate_per_minute = 60\ndedup_capacity = 10\nbatch_max = 8\n\
                    batch_wait_ms = 0\nqueue_max = 64\n";
        let mut file: IngestFile = toml::from_str(text).unwrap();
        assert_eq!(file.unknown_ttl_s, 10);
        file.validate().unwrap();
        file.apply_env(|k| (k == "TRELLIS_API").then(|| "ftp://x".to_string()))
            .unwrap();
        assert!(file.validate().unwrap_err().to_string().contains("http"));
        assert!(file
            .apply_env(|k| (k == "TRELLIS_INGEST_LISTEN").then(|| "nope".to_string()))
            .is_err());
        assert!(toml::from_str::<IngestFile>(&format!("{text}surprise = 1\n")).is_err());
    }
}
