//! The coverage verifier run over the ingest report log for an epoch: verdicts and shares.
//!
//! The computation is a pure function of the epoch's logged reports and a snapshot of chain facts
//! ([`ChainFacts`]: block hashes and times, the reporters' device records), so the oracle (reading
//! its own node) and an auditor (reading any node's API) compute the same thing.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};
use trellis_chain::Node;
use trellis_coverage::{
    epoch::{run_epoch, History, PocOutcome},
    redundancy::RedundancyConfig,
    BeaconReport, CoverageConfig, HotspotFacts, WitnessReport,
};
use trellis_ledger::{DeviceClass, StateRead};
use trellis_primitives::{AccountAddress, DeviceAddress, Epoch, Hash, Location};
use trellis_proto::LoggedReport;
use trellis_rewards::DeviceShare;

/// Every hotspot is in one regulatory region until region plans are on chain.
const DEVNET_REGION: u16 = 1;

/// What the verifier needs to know about a device.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeviceFacts {
    pub(crate) owner: AccountAddress,
    pub(crate) class: DeviceClass,
    pub(crate) location: Option<Location>,
    pub(crate) gain_centi_dbi: i64,
}

/// The chain facts one epoch's verification reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainFacts {
    /// Blocks by height: (hash, timestamp), from two epochs before `epoch` to its end.
    pub(crate) blocks: BTreeMap<u64, (Hash, u64)>,
    /// The reporters' device records.
    pub(crate) devices: BTreeMap<DeviceAddress, DeviceFacts>,
}

/// The block heights an epoch's verification needs: entropy may come from up to two epochs back.
pub(crate) fn needed_heights(epoch: Epoch, len: u64) -> std::ops::RangeInclusive<u64> {
    (epoch.0 * len).saturating_sub(2 * len)..=(epoch.0 + 1) * len
}

pub(crate) use trellis_coverage::reports::{from_log as epoch_reports, reporters};

/// Where ingest rolled its reports: a local directory, or an S3-compatible bucket written as
/// `s3://bucket[/prefix]` (credentials, region and endpoint from the usual `AWS_*` variables:
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReportArchive {
    /// Ingest's `archive_dir`.
    Local(std::path::PathBuf),
    /// Ingest's `[archive_s3]` bucket.
    Bucket(trellis_ingest::S3Archive),
}

impl std::str::FromStr for ReportArchive {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(ReportArchive::Local(text.into()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{text}` names no bucket: expected s3://bucket[/prefix]"));
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(ReportArchive::Bucket(trellis_ingest::S3Archive {
            bucket: bucket.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            region: env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint: env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")),
            allow_http: env("AWS_ALLOW_HTTP").is_some_and(|v| v == "true"),
        }))
    }
}

/// Reads every frame of a report archive.
pub(crate) async fn read_reports(archive: &ReportArchive) -> Result<Vec<LoggedReport>> {
    match archive {
        ReportArchive::Local(dir) => {
            let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("cannot open the report archive {}", dir.display()))?;
            Ok(trellis_ingest::log::read_all(&store).await?)
        }
        ReportArchive::Bucket(s3) => {
            let store = s3.store().map_err(anyhow::Error::msg)?;
            Ok(trellis_ingest::log::read_all(store.as_ref()).await?)
        }
    }
}

/// Verdicts and shares of an epoch.
pub(crate) struct CoverageEpoch {
    pub(crate) outcomes: Vec<PocOutcome>,
    pub(crate) shares: Vec<DeviceShare>,
}

/// The verification itself: the reporters' chain facts as the verifier sees them, then the
/// coverage crate's epoch run.
pub(crate) fn compute(
    config: &CoverageConfig,
    redundancy: &RedundancyConfig,
    facts: &ChainFacts,
    history: &History,
    beacons: &[BeaconReport],
    witnesses: &[WitnessReport],
) -> CoverageEpoch {
    let hotspots: BTreeMap<DeviceAddress, HotspotFacts> = facts
        .devices
        .iter()
        .map(|(d, dev)| {
            let h = HotspotFacts {
                is_hotspot: dev.class == DeviceClass::Hotspot,
                location: dev.location,
                gain_centi_dbi: dev.gain_centi_dbi,
                region: DEVNET_REGION,
                owner: Some(dev.owner),
            };
            (*d, h)
        })
        .collect();
    let entropy_times: BTreeMap<Hash, u64> = facts.blocks.values().copied().collect();
    let (outcomes, shares) = run_epoch(
        config,
        redundancy,
        &hotspots,
        &entropy_times,
        history,
        beacons,
        witnesses,
    );
    CoverageEpoch { outcomes, shares }
}

/// Coverage shares from the report log and this node's state (the oracle's view).
pub(crate) struct CoverageSource {
    pub(crate) node: Node,
    pub(crate) config: CoverageConfig,
    pub(crate) redundancy: RedundancyConfig,
    /// Where earlier epochs' verdicts are (the reward archive).
    pub(crate) verdicts_dir: PathBuf,
}

impl CoverageSource {
    /// Verdicts and shares for `epoch` (which must be complete), from the report log's `frames`.
    pub(crate) fn run(&self, epoch: Epoch, frames: &[LoggedReport]) -> Result<CoverageEpoch> {
        let len = self.node.with_state(|s, _| s.params())?.epoch_len_blocks;
        let mut facts = ChainFacts::default();
        for height in needed_heights(epoch, len) {
            if let Some(block) = self.node.store().block(height)? {
                facts
                    .blocks
                    .insert(height, (block.header.hash(), block.header.timestamp_ms));
            }
        }
        let range = facts
            .blocks
            .get(&(epoch.0 * len))
            .zip(facts.blocks.get(&((epoch.0 + 1) * len)));
        let Some(((_, start_ms), (_, end_ms))) = range else {
            return Ok(CoverageEpoch {
                outcomes: Vec::new(),
                shares: Vec::new(),
            });
        };
        let (beacons, witnesses) = epoch_reports(frames, *start_ms, *end_ms);
        for device in reporters(&beacons, &witnesses) {
            if let Some(dev) = self.node.with_state(|s, _| s.device(&device))? {
                let location = dev.location.as_ref();
                facts.devices.insert(
                    device,
                    DeviceFacts {
                        owner: dev.owner,
                        class: dev.class,
                        location: location.map(|l| l.location),
                        gain_centi_dbi: location
                            .and_then(|l| l.antenna)
                            .map_or(0, |a| i64::from(a.gain_dbi_tenths) * 10),
                    },
                );
            }
        }
        let history = read_history(&self.verdicts_dir, epoch, &self.config)?;
        Ok(compute(
            &self.config,
            &self.redundancy,
            &facts,
            &history,
            &beacons,
            &witnesses,
        ))
    }
}

/// The verifier configuration an epoch ran with, archived beside its verdicts so auditors can
/// re-run it.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub(crate) struct VerifierSettings {
    pub(crate) coverage: CoverageConfig,
    pub(crate) redundancy: RedundancyConfig,
}

/// Writes the epoch's verdicts (canonical order) and the settings behind them.
pub(crate) fn write_verdicts(
    dir: &Path,
    epoch: Epoch,
    settings: &VerifierSettings,
    outcomes: &[PocOutcome],
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("verdicts-{}.json", epoch.0));
    let doc = serde_json::json!({ "settings": settings, "outcomes": outcomes });
    std::fs::write(&path, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("cannot write {}", path.display()))
}

/// The cross-epoch history for `epoch`: the verdicts of the `window` epochs before it (missing
/// files, e.g. before the first epoch, contribute nothing).
pub(crate) fn read_history(dir: &Path, epoch: Epoch, config: &CoverageConfig) -> Result<History> {
    let mut history = History::default();
    for back in 1..=History::epochs_read(config).min(epoch.0) {
        // An epoch without a verdict file (verified by nobody) adds nothing to the history.
        let Some(outcomes) = read_verdicts::<Vec<PocOutcome>>(dir, Epoch(epoch.0 - back), "outcomes", true)? else {
            continue;
        };
        history.absorb_epoch(config, back, &outcomes);
    }
    Ok(history)
}

/// Reads the settings an epoch was verified with.
pub(crate) fn read_settings(dir: &Path, epoch: Epoch) -> Result<VerifierSettings> {
    read_verdicts(dir, epoch, "settings", false)?.with_context(|| format!("no verdicts-{}.json", epoch.0))
}

/// Reads field `field` of `verdicts-<epoch>.json`; `None` if the file is missing and
/// `missing_ok`.
fn read_verdicts<T: serde::de::DeserializeOwned>(
    dir: &Path,
    epoch: Epoch,
    field: &str,
    missing_ok: bool,
) -> Result<Option<T>> {
    let path = dir.join(format!("verdicts-{}.json", epoch.0));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a verdict file", path.display()))?;
    let value = serde_json::from_value(doc[field].clone())
        .with_context(|| format!("{} has no valid `{field}`", path.display()))?;
    Ok(Some(value))
}

#[cfg(test)]
mod archive_tests {
    use super::ReportArchive;

    #[test]
    fn a_report_archive_is_a_directory_or_an_s3_bucket_with_a_prefix() {
        assert_eq!(
            ".devnet/ingest/archive".parse(),
            Ok(ReportArchive::Local(".devnet/ingest/archive".into()))
        );
        let Ok(ReportArchive::Bucket(s3)) = "s3://reports/ingest/eu-1/".parse() else {
            panic!("not a bucket");
        };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("reports", "ingest/eu-1"));
        let Ok(ReportArchive::Bucket(root)) = "s3://reports".parse() else {
            panic!("not a bucket");
        };
        assert_eq!((root.bucket.as_str(), root.prefix.as_str()), ("reports", ""));
        assert!("s3:///x".parse::<ReportArchive>().unwrap_err().contains("no bucket"));
    }
}
