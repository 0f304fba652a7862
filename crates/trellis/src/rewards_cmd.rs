//! `trellis rewards`: check the oracles.

use crate::{
    client::Client,
    coverage_source::{
        compute, epoch_reports, needed_heights, read_history, read_reports, read_settings, reporters, ChainFacts,
        DeviceFacts, VerifierSettings,
    },
    oracle::read_archive,
    wallet::ApiArg,
};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::{collections::BTreeMap, path::PathBuf};
use trellis_primitives::{DeviceAddress, Epoch, Hash};
use trellis_rewards::{AuditVerdict, DeviceShare, Pool};

/// Re-runs the coverage verifier for `epoch` from raw reports and chain facts read over the API.
async fn coverage_from_reports(
    client: &Client,
    epoch: Epoch,
    frames: &[trellis_proto::LoggedReport],
    archive_dir: &std::path::Path,
    settings: &VerifierSettings,
) -> Result<Vec<DeviceShare>> {
    let len = client.get("/v1/params").await?["params"]["epoch_len_blocks"]
        .as_u64()
        .context("params have no epoch length")?;
    let mut facts = ChainFacts::default();
    for height in needed_heights(epoch, len) {
        if let Ok(block) = client.get(&format!("/v1/blocks/{height}")).await {
            let hash: Hash = block["hash"]
                .as_str()
                .context("block without hash")?
                .parse()
                .context("malformed block hash")?;
            let ts = block["block"]["header"]["timestamp_ms"]
                .as_u64()
                .context("block without timestamp")?;
            facts.blocks.insert(height, (hash, ts));
        }
    }
    let (Some((_, start)), Some((_, end))) = (
        facts.blocks.get(&(epoch.0 * len)),
        facts.blocks.get(&((epoch.0 + 1) * len)),
    ) else {
        bail!("epoch {} is not complete on this node", epoch.0);
    };
    let (beacons, witnesses) = epoch_reports(frames, *start, *end);
    for device in reporters(&beacons, &witnesses) {
        let Ok(v) = client.get(&format!("/v1/devices/{device}")).await else {
            continue;
        };
        let d = &v["device"];
        let location = &d["location"];
        let facts_of = DeviceFacts {
            owner: serde_json::from_value(d["owner"].clone()).context("device without owner")?,
            class: serde_json::from_value(d["class"].clone()).context("device without class")?,
            location: serde_json::from_value(location["location"].clone()).ok(),
            gain_centi_dbi: location["antenna"]["gain_dbi_tenths"].as_i64().unwrap_or(0) * 10,
        };
        facts.devices.insert(device, facts_of);
    }
    let history = read_history(archive_dir, epoch, &settings.coverage)?;
    Ok(compute(
        &settings.coverage,
        &settings.redundancy,
        &facts,
        &history,
        &beacons,
        &witnesses,
    )
    .shares)
}

/// The first device (in address order) whose units differ, with (archived, recomputed) units.
fn first_share_difference(archived: &[&DeviceShare], recomputed: &[DeviceShare]) -> Option<(DeviceAddress, u64, u64)> {
    let a: BTreeMap<DeviceAddress, u64> = archived.iter().map(|s| (s.device, s.units)).collect();
    let r: BTreeMap<DeviceAddress, u64> = recomputed.iter().map(|s| (s.device, s.units)).collect();
    let devices: std::collections::BTreeSet<DeviceAddress> = a.keys().chain(r.keys()).copied().collect();
    devices.into_iter().find_map(|d| {
        let (x, y) = (a.get(&d).copied().unwrap_or(0), r.get(&d).copied().unwrap_or(0));
        (x != y).then_some((d, x, y))
    })
}

/// Reward commands.
#[derive(Debug, Subcommand)]
pub(crate) enum RewardsCommand {
    /// Recompute an epoch's manifest from the archive and compare it with the root on chain.
    ///
    /// Prints `MATCH <root>`, or the first device whose amount differs, and exits non-zero on a
    /// mismatch.
    ///
    /// Example: trellis rewards audit --epoch 3 --archive .devnet/node/rewards --reports .devnet/ingest/archive
    Audit {
        /// The epoch.
        #[arg(long)]
        epoch: u64,
        /// Directory of `epoch-<N>.json` archives.
        #[arg(long)]
        archive: PathBuf,
        /// The device report archive: ingest's archive directory, or its bucket as
        /// `s3://bucket[/prefix]` (AWS_* variables give credentials, region, endpoint). Re-runs
        /// the coverage verifier and the sensor QoD scorer over the epoch's raw reports and
        /// checks the archived shares first.
        #[arg(long)]
        reports: Option<crate::coverage_source::ReportArchive>,
        #[command(flatten)]
        api: ApiArg,
    },
}

/// Runs a rewards command.
pub(crate) async fn run(command: RewardsCommand) -> Result<()> {
    let RewardsCommand::Audit {
        epoch,
        archive: archive_dir,
        reports,
        api,
    } = command;
    let archive = read_archive(&archive_dir, Epoch(epoch))?;
    let client = Client::new(&api.api)?;
    if let Some(reports) = reports {
        let settings = read_settings(&archive_dir, Epoch(epoch))?;
        // One read of the report archive serves both verifiers.
        let frames = read_reports(&reports).await?;
        let recomputed = coverage_from_reports(&client, Epoch(epoch), &frames, &archive_dir, &settings).await?;
        let archived: Vec<&DeviceShare> = archive
            .inputs
            .shares
            .iter()
            .filter(|s| s.pool == Pool::Coverage)
            .collect();
        if let Some((device, archived_units, recomputed_units)) = first_share_difference(&archived, &recomputed) {
            println!(
                "MISMATCH epoch {epoch}: device {device} has {archived_units} coverage units in the archive, {recomputed_units} recomputed from the reports"
            );
            bail!("audit failed");
        }
        if let Some(sensor) = crate::sensor_source::read_archive(&archive_dir, Epoch(epoch))? {
            let recomputed =
                crate::sensor_source::recompute_from_api(&client, Epoch(epoch), &sensor.settings, &frames).await?;
            let archived: Vec<&DeviceShare> = archive
                .inputs
                .shares
                .iter()
                .filter(|s| s.pool == Pool::SensorEnergy)
                .collect();
            if let Some((device, archived_units, recomputed_units)) = first_share_difference(&archived, &recomputed) {
                println!(
                    "MISMATCH epoch {epoch}: device {device} has {archived_units} sensor units in the archive, {recomputed_units} recomputed from the readings"
                );
                bail!("audit failed");
            }
        }
    }
    // Storage shares are a pure function of the verdict files (the units proven HOLD_EPOCHS
    // before, less the providers convicted since): recompute them from those.
    if let Some(recomputed) = crate::storage_audit::units_paid_with(&archive_dir, Epoch(epoch))? {
        let archived: BTreeMap<DeviceAddress, u64> = archive
            .inputs
            .shares
            .iter()
            .filter(|s| s.pool == Pool::Storage && s.units > 0)
            .map(|s| (s.device, s.units))
            .collect();
        if archived != recomputed {
            let device = archived
                .keys()
                .chain(recomputed.keys())
                .find(|d| archived.get(d) != recomputed.get(d))
                .copied();
            println!(
                "MISMATCH epoch {epoch}: storage units of {} differ from the audit verdicts ({:?} archived, {:?} recomputed)",
                device.map(|d| d.to_string()).unwrap_or_default(),
                device.and_then(|d| archived.get(&d)),
                device.and_then(|d| recomputed.get(&d)),
            );
            bail!("audit failed");
        }
    }
    // Inputs the chain itself attests to must agree with the archive before anything else.
    let chain_epoch = client.get(&format!("/v1/epochs/{epoch}")).await?;
    let burned: trellis_primitives::Amount =
        serde_json::from_value(chain_epoch["burned"].clone()).context("node returned no burn total")?;
    if burned != archive.inputs.burned_in_epoch {
        println!(
            "MISMATCH epoch {epoch}: archive says {} burned, the chain says {burned}",
            archive.inputs.burned_in_epoch
        );
        bail!("audit failed");
    }
    // Compute units are the work the chain records as confirmed by replay in the epoch.
    let on_chain = verified_on_chain(&chain_epoch)?;
    let archived = crate::compute::archived_units(&archive.inputs.shares);
    if archived != on_chain {
        println!("MISMATCH epoch {epoch}: compute units differ from the chain's verified work ({archived:?} archived, {on_chain:?} on chain)");
        bail!("audit failed");
    }
    // Earned credits are paid first at the credit's value: both must be the chain's. Archives
    // from before that rule carry no value and pay no credits.
    if archive.inputs.credit_value.is_some() {
        let value: Option<trellis_rewards::CreditValue> =
            serde_json::from_value(chain_epoch["credit_value"].clone()).context("node returned no credit value")?;
        if value != archive.inputs.credit_value {
            println!(
                "MISMATCH epoch {epoch}: archive values a credit at {:?}, the chain at {value:?}",
                archive.inputs.credit_value
            );
            bail!("audit failed");
        }
        for (pool, field) in [(Pool::Storage, "storage_earned"), (Pool::Compute, "compute_earned")] {
            let on_chain = earned_on_chain(&chain_epoch, field)?;
            let archived: BTreeMap<DeviceAddress, u64> = archive
                .inputs
                .shares
                .iter()
                .filter(|s| s.pool == pool && s.earned_credits > 0)
                .map(|s| (s.device, s.earned_credits))
                .collect();
            if archived != on_chain {
                println!("MISMATCH epoch {epoch}: {field} differs from the chain ({archived:?} archived, {on_chain:?} on chain)");
                bail!("audit failed");
            }
        }
    }
    let posted = client.get(&format!("/v1/manifests/{epoch}")).await?;
    let root: Hash = posted["manifest"]["root"]
        .as_str()
        .context("node returned no manifest root")?
        .parse()
        .context("malformed root")?;
    match archive.audit(root)? {
        AuditVerdict::Match { root } => {
            println!("MATCH epoch {epoch} root {root}");
            Ok(())
        }
        AuditVerdict::DeviceMismatch {
            device,
            published,
            recomputed,
        } => {
            println!("MISMATCH epoch {epoch}: device {device} was paid {published}, recomputation gives {recomputed}");
            bail!("audit failed")
        }
        AuditVerdict::RootMismatch { on_chain, recomputed } => {
            println!("MISMATCH epoch {epoch}: on-chain root {on_chain}, recomputed {recomputed}");
            bail!("audit failed")
        }
    }
}

/// A `[{device, credits}]` list of `/v1/epochs/<N>` as a map, devices with none left out.
fn earned_on_chain(chain_epoch: &serde_json::Value, field: &str) -> Result<BTreeMap<DeviceAddress, u64>> {
    per_device_on_chain(chain_epoch, field, "credits", |v| {
        serde_json::from_value::<trellis_primitives::Credits>(v.clone())
            .ok()
            .map(|c| c.0)
    })
}

/// The compute pool's units the chain records for the epoch (`compute_verified`), as a map.
fn verified_on_chain(chain_epoch: &serde_json::Value) -> Result<BTreeMap<DeviceAddress, u64>> {
    per_device_on_chain(chain_epoch, "compute_verified", "units", serde_json::Value::as_u64)
}

/// A `[{device, <value>}]` list `field` of `/v1/epochs/<N>` as a map, read by `read`; devices
/// with zero left out.
fn per_device_on_chain(
    chain_epoch: &serde_json::Value,
    field: &str,
    value: &str,
    read: fn(&serde_json::Value) -> Option<u64>,
) -> Result<BTreeMap<DeviceAddress, u64>> {
    let mut on_chain = BTreeMap::new();
    for entry in chain_epoch[field].as_array().cloned().unwrap_or_default() {
        let device: DeviceAddress =
            serde_json::from_value(entry["device"].clone()).with_context(|| format!("{field} has no device"))?;
        let amount = read(&entry[value]).with_context(|| format!("{field} has no {value}"))?;
        if amount > 0 {
            on_chain.insert(device, amount);
        }
    }
    Ok(on_chain)
}
