//! The QoD scorer run over the ingest report log for an epoch: verdicts, the archived readings
//! data consumers buy, and the sensor/energy pool's shares.
//!
//! Like coverage, a pure function of the epoch's logged readings and chain facts, so the oracle
//! (reading its node) and `trellis rewards audit` (reading any node's API) compute the same thing.

use anyhow::{Context, Result};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};
use trellis_chain::Node;
use trellis_ledger::{DeviceClass, StateRead};
use trellis_primitives::{AccountAddress, DeviceAddress, Epoch, Location};
use trellis_proto::LoggedReport;
use trellis_rewards::DeviceShare;
use trellis_sensor::{
    baselines, epoch_readings, reading::centre_centi_deg, score_epoch, sensor_shares, QodConfig, Reading,
    SensorArchive, SensorFacts, SensorKind,
};

/// The sensor kind of a device class.
pub(crate) fn kind_of(class: DeviceClass) -> Option<SensorKind> {
    match class {
        DeviceClass::Sensor => Some(SensorKind::Weather),
        DeviceClass::Energy => Some(SensorKind::Energy),
        _ => None,
    }
}

/// The scorer's facts about a device from its chain record.
pub(crate) fn facts_of(
    owner: AccountAddress,
    class: DeviceClass,
    location: Option<Location>,
    capability: impl Fn(&str) -> Option<u64>,
) -> SensorFacts {
    let cell = location.map(|l| l.index());
    SensorFacts {
        owner,
        kind: kind_of(class),
        cell,
        centre_centi_deg: cell.and_then(centre_centi_deg),
        interval_s: capability("interval_s"),
        capacity_w: capability("capacity_w"),
    }
}

pub(crate) fn archive_path(dir: &Path, epoch: Epoch) -> PathBuf {
    dir.join(SensorArchive::file_name(epoch))
}

/// Reads an epoch's sensor archive; `None` if the epoch had no sensor verification.
pub(crate) fn read_archive(dir: &Path, epoch: Epoch) -> Result<Option<SensorArchive>> {
    let path = archive_path(dir, epoch);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a sensor archive", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Scores `[start_ms, end_ms)` of the log with `facts`; the archive and the shares.
pub(crate) fn score(
    config: &QodConfig,
    epoch: Epoch,
    (start_ms, end_ms): (u64, u64),
    frames: &[LoggedReport],
    facts: &BTreeMap<DeviceAddress, SensorFacts>,
) -> (SensorArchive, Vec<DeviceShare>) {
    let readings = epoch_readings(frames, start_ms, end_ms);
    let before = baselines(frames, start_ms, config.baseline_lookback_ms);
    let qod = score_epoch(config, facts, &before, &readings, end_ms.saturating_sub(start_ms));
    let shares = sensor_shares(config, facts, &qod);
    let archive = SensorArchive {
        epoch,
        settings: config.clone(),
        start_ms,
        end_ms,
        qod,
    };
    (archive, shares)
}

/// The devices that sent readings.
pub(crate) fn reporters(readings: &[Reading]) -> std::collections::BTreeSet<DeviceAddress> {
    readings.iter().map(|r| r.device).collect()
}

/// Sensor shares from the report log and this node's state (the oracle's view).
pub(crate) struct SensorSource {
    pub(crate) node: Node,
    pub(crate) config: QodConfig,
    /// Where `sensor-<N>.json` goes (the reward archive).
    pub(crate) dir: PathBuf,
}

impl SensorSource {
    /// Scores `epoch` (which must be complete) from the report log's `frames`, archives the
    /// verdicts and returns the shares.
    pub(crate) fn run(&self, epoch: Epoch, frames: &[LoggedReport]) -> Result<Vec<DeviceShare>> {
        let len = self.node.with_state(|s, _| s.params())?.epoch_len_blocks;
        let time = |h: u64| -> Result<Option<u64>> { Ok(self.node.store().block(h)?.map(|b| b.header.timestamp_ms)) };
        let (Some(start), Some(end)) = (time(epoch.0 * len)?, time((epoch.0 + 1) * len)?) else {
            return Ok(Vec::new());
        };
        let mut facts = BTreeMap::new();
        for device in reporters(&epoch_readings(frames, start, end)) {
            if let Some(dev) = self.node.with_state(|s, _| s.device(&device))? {
                let capability = |name: &str| dev.capabilities.iter().find(|c| c.name == name).map(|c| c.value);
                let location = dev.location.as_ref().map(|l| l.location);
                facts.insert(device, facts_of(dev.owner, dev.class, location, capability));
            }
        }
        let (archive, shares) = score(&self.config, epoch, (start, end), frames, &facts);
        std::fs::create_dir_all(&self.dir)?;
        let path = archive_path(&self.dir, epoch);
        std::fs::write(&path, serde_json::to_vec(&archive)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let (devices, counted) = (archive.qod.devices.len(), shares.iter().filter(|s| s.units > 0).count());
        tracing::info!(
            epoch = epoch.0,
            devices,
            earning = counted,
            readings = archive.qod.readings.len(),
            "sensor QoD scored"
        );
        Ok(shares)
    }
}

/// Re-scores `epoch` from the raw report log's `frames` with chain facts read over a node's API
/// and the settings the epoch was archived with (the auditor's view): the shares it should have
/// paid.
pub(crate) async fn recompute_from_api(
    client: &crate::client::Client,
    epoch: Epoch,
    settings: &QodConfig,
    frames: &[LoggedReport],
) -> Result<Vec<DeviceShare>> {
    let len = client.get("/v1/params").await?["params"]["epoch_len_blocks"]
        .as_u64()
        .context("params have no epoch length")?;
    let mut window = Vec::new();
    for height in [epoch.0 * len, (epoch.0 + 1) * len] {
        let block = client
            .get(&format!("/v1/blocks/{height}"))
            .await
            .with_context(|| format!("epoch {} is not complete on this node", epoch.0))?;
        window.push(
            block["block"]["header"]["timestamp_ms"]
                .as_u64()
                .context("block without timestamp")?,
        );
    }
    let (start, end) = (window[0], window[1]);
    let mut facts = BTreeMap::new();
    for device in reporters(&epoch_readings(frames, start, end)) {
        let Ok(v) = client.get(&format!("/v1/devices/{device}")).await else {
            continue;
        };
        let d = &v["device"];
        let capability = |name: &str| {
            d["capabilities"]
                .as_array()
                .and_then(|caps| caps.iter().find(|c| c["name"] == name))
                .and_then(|c| c["value"].as_u64())
        };
        let owner = serde_json::from_value(d["owner"].clone()).context("device without owner")?;
        let class = serde_json::from_value(d["class"].clone()).context("device without class")?;
        let location = match &d["location"]["location"] {
            serde_json::Value::Null => None,
            v => Some(serde_json::from_value(v.clone()).context("device with a malformed location")?),
        };
        facts.insert(device, facts_of(owner, class, location, capability));
    }
    Ok(score(settings, epoch, (start, end), frames, &facts).1)
}
