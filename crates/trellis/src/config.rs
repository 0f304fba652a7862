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
    /// Run as one validator of a BFT network instead of a single-node sequencer.
    #[serde(default)]
    pub(crate) consensus: Option<ConsensusConfig>,
}

/// The `[consensus]` section: this validator's key and the whole validator set.
///
/// ```toml
/// [consensus]
/// key_file = "validator.key"        # 64 hex characters: the ed25519 seed; keep it private
/// p2p_listen = "0.0.0.0:9645"
/// [[consensus.validators]]
/// public_key = "3b6a27bc…"          # 64 hex characters
/// address = "10.0.0.1:9645"
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsensusConfig {
    /// File holding this validator's ed25519 seed in hex (`trellis testnet` writes them).
    pub(crate) key_file: PathBuf,
    /// Address other validators connect to.
    pub(crate) p2p_listen: SocketAddr,
    /// Every validator, this one included; all validators must list the same set.
    pub(crate) validators: Vec<ValidatorEntry>,
    /// Time to wait for a leader's proposal before moving on, in ms. Default: the larger of
    /// 1,000 and twice `block_interval_ms`.
    #[serde(default)]
    pub(crate) leader_timeout_ms: Option<u64>,
}

/// One validator of the set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidatorEntry {
    /// Its ed25519 public key in hex.
    pub(crate) public_key: String,
    /// Its p2p address.
    pub(crate) address: SocketAddr,
}

impl ConsensusConfig {
    /// The leader timeout for blocks every `block_interval_ms`.
    pub(crate) fn leader_timeout_ms(&self, block_interval_ms: u64) -> u64 {
        self.leader_timeout_ms
            .unwrap_or_else(|| (2 * block_interval_ms).max(1_000))
    }
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
    /// `TRELLIS_BLOCK_INTERVAL_MS`, `TRELLIS_EMPTY_BLOCKS` and `TRELLIS_P2P_LISTEN`.
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
        if let Some(v) = var("TRELLIS_P2P_LISTEN") {
            let Some(consensus) = self.consensus.as_mut() else {
                bail!("TRELLIS_P2P_LISTEN is set but the config has no [consensus] section");
            };
            consensus.p2p_listen = v
                .parse()
                .with_context(|| format!("TRELLIS_P2P_LISTEN `{v}` is not host:port"))?;
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
        if let Some(consensus) = &self.consensus {
            if consensus.validators.is_empty() {
                bail!("consensus.validators must list at least one validator");
            }
            let leader = consensus.leader_timeout_ms(self.block_interval_ms);
            if leader <= self.block_interval_ms {
                bail!(
                    "consensus.leader_timeout_ms ({leader}) must exceed block_interval_ms ({})",
                    self.block_interval_ms
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, v) in consensus.validators.iter().enumerate() {
                let valid = v.public_key.len() == 64 && v.public_key.bytes().all(|b| b.is_ascii_hexdigit());
                if !valid {
                    bail!("consensus.validators[{i}].public_key must be 64 hex characters");
                }
                if !seen.insert(v.public_key.to_ascii_lowercase()) {
                    bail!("consensus.validators[{i}].public_key is listed twice");
                }
            }
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
    fn consensus_section_is_checked() {
        let key = "ab".repeat(32);
        let text = format!(
            "data_dir = \"/x\"\nblock_interval_ms = 200\n[consensus]\nkey_file = \"k\"\np2p_listen = \"127.0.0.1:1\"\n\
             [[consensus.validators]]\npublic_key = \"{key}\"\naddress = \"127.0.0.1:1\"\n"
        );
        let mut c: NodeConfig = toml::from_str(&text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.consensus.as_ref().unwrap().leader_timeout_ms(200), 1_000);
        c.apply_env(|k| (k == "TRELLIS_P2P_LISTEN").then(|| "127.0.0.1:7".to_string()))
            .unwrap();
        assert_eq!(c.consensus.as_ref().unwrap().p2p_listen.port(), 7);
        let mut twice = c.clone();
        let first = twice.consensus.as_ref().unwrap().validators[0].clone();
        twice.consensus.as_mut().unwrap().validators.push(first);
        assert!(twice.validate().unwrap_err().to_string().contains("listed twice"));
        let mut short = c.clone();
        short.consensus.as_mut().unwrap().validators[0].public_key = "abc".into();
        assert!(short.validate().unwrap_err().to_string().contains("64 hex"));
        let mut slow = c;
        slow.consensus.as_mut().unwrap().leader_timeout_ms = Some(100);
        assert!(slow.validate().unwrap_err().to_string().contains("leader_timeout_ms"));
        let mut plain: NodeConfig = toml::from_str("data_dir = \"/x\"").unwrap();
        assert!(plain
            .apply_env(|k| (k == "TRELLIS_P2P_LISTEN").then(|| "127.0.0.1:7".to_string()))
            .is_err());
    }

    #[test]
    fn unknown_field_is_an_error() {
        assert!(toml::from_str::<NodeConfig>("data_dir = \"/x\"\nblock_intervl_ms = 5").is_err());
    }
}
