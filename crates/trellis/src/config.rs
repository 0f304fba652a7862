//! Node configuration: a TOML file, overridden by `TRELLIS_*` environment variables, validated once
//! at start with errors that name the field.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Settings of `trellis node run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeConfig {
    /// Directory of the database (`chain.redb`).
    pub(crate) data_dir: PathBuf,
    /// Genesis document (TOML or JSON), used only when the database is empty.
    pub(crate) genesis: Option<PathBuf>,
    /// Address the HTTP API listens on. Port 0 picks a free port (printed at start).
    #[serde(default = "default_api_listen")]
    pub(crate) api_listen: SocketAddr,
    /// Milliseconds between blocks.
    #[serde(default = "default_block_interval_ms")]
    pub(crate) block_interval_ms: u64,
    /// Produce blocks even when the mempool is empty.
    #[serde(default = "default_true")]
    pub(crate) empty_blocks: bool,
    /// Reward oracle archive directory (`epoch-<N>.json`) to serve under `/v1/rewards`.
    #[serde(default)]
    pub(crate) reward_archive: Option<PathBuf>,
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8645))
}
fn default_block_interval_ms() -> u64 {
    1_000
}
fn default_true() -> bool {
    true
}

/// Fastest block interval allowed: below this the fsync per block dominates and nothing is gained.
const MIN_BLOCK_INTERVAL_MS: u64 = 10;
/// Slowest block interval allowed (one hour).
const MAX_BLOCK_INTERVAL_MS: u64 = 3_600_000;

impl NodeConfig {
    /// Reads `path`, then applies environment overrides, then validates.
    pub(crate) fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
        let mut config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `TRELLIS_DATA_DIR`, `TRELLIS_GENESIS`, `TRELLIS_API_LISTEN`,
    /// `TRELLIS_BLOCK_INTERVAL_MS` and `TRELLIS_EMPTY_BLOCKS`.
    pub(crate) fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = var("TRELLIS_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("TRELLIS_GENESIS") {
            self.genesis = Some(v.into());
        }
        if let Some(v) = var("TRELLIS_API_LISTEN") {
            self.api_listen = v
                .parse()
                .with_context(|| format!("TRELLIS_API_LISTEN `{v}` is not host:port"))?;
        }
        if let Some(v) = var("TRELLIS_BLOCK_INTERVAL_MS") {
            self.block_interval_ms = v
                .parse()
                .with_context(|| format!("TRELLIS_BLOCK_INTERVAL_MS `{v}` is not a number"))?;
        }
        if let Some(v) = var("TRELLIS_EMPTY_BLOCKS") {
            self.empty_blocks = v
                .parse()
                .with_context(|| format!("TRELLIS_EMPTY_BLOCKS `{v}` is not true/false"))?;
        }
        Ok(())
    }

    /// Checks the invariants.
    pub(crate) fn validate(&self) -> Result<()> {
        if !(MIN_BLOCK_INTERVAL_MS..=MAX_BLOCK_INTERVAL_MS).contains(&self.block_interval_ms) {
            bail!(
                "block_interval_ms must be in {MIN_BLOCK_INTERVAL_MS}..={MAX_BLOCK_INTERVAL_MS}, found {}",
                self.block_interval_ms
            );
        }
        if self.data_dir.as_os_str().is_empty() {
            bail!("data_dir must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_validation_names_the_field() {
        let mut c: NodeConfig = toml::from_str("data_dir = \"/tmp/x\"").unwrap();
        assert_eq!(c.block_interval_ms, 1_000);
        c.apply_env(|k| (k == "TRELLIS_BLOCK_INTERVAL_MS").then(|| "5".to_string()))
            .unwrap();
        assert_eq!(c.block_interval_ms, 5);
        assert!(c.validate().unwrap_err().to_string().contains("block_interval_ms"));
        assert!(c
            .apply_env(|k| (k == "TRELLIS_API_LISTEN").then(|| "nope".to_string()))
            .is_err());
    }

    #[test]
    fn unknown_field_is_an_error() {
        assert!(toml::from_str::<NodeConfig>("data_dir = \"/x\"\nblock_intervl_ms = 5").is_err());
    }
}
