//! Devnet's sensor network: one `trellis agent sensor` process per weather station and energy
//! meter on simulated weather, the honest ones owned by the operator and Mallory's dishonest
//! ones (a stuck station, a copier, a fabricator and a meter that invents production), scored
//! every epoch by the reward oracle's QoD scorer.

use crate::{
    devnet::{account, demo_key, demo_seed, device_key_name},
    testnet::{spawn_trellis, NodeProcess},
};
use anyhow::Result;
use std::{ffi::OsString, path::Path};
use trellis_chain::Node;
use trellis_ledger::{Capability, DeviceClass, StateRead as _, Transaction, TxKind};
use trellis_primitives::{Amount, DeviceAddress, Keypair, Location};
use trellis_sensor::QodConfig;

/// Honest weather stations (enough that every one has neighbours to be compared with).
pub(crate) const WEATHER_STATIONS: u32 = 5;
/// Honest energy meters.
pub(crate) const ENERGY_METERS: u32 = 3;
/// Seconds between devnet readings (declared on chain as `interval_s` when the devices are
/// onboarded): eight block intervals, at least one second (4 s at the default 500 ms blocks).
pub(crate) fn interval_s(block_interval_ms: u64) -> u64 {
    (block_interval_ms * 8 / 1_000).max(1)
}

/// What devnet's weather stations and meters declare.
pub(crate) fn capabilities(class: DeviceClass, interval_s: u64) -> Vec<Capability> {
    let cap = |name: &str, value: u64| Capability {
        name: name.into(),
        value,
    };
    match class {
        DeviceClass::Energy => vec![cap("capacity_w", 5_000), cap("interval_s", interval_s)],
        _ => vec![cap("interval_s", interval_s)],
    }
}

/// Mallory's sensors: (device key name, class, asserted location, the agent's `--cheat`).
pub(crate) fn cheaters() -> Vec<(&'static str, DeviceClass, (f64, f64), String)> {
    let victim = DeviceAddress::from(demo_key(&device_key_name(DeviceClass::Sensor, 0)).public());
    vec![
        ("sensor-stuck", DeviceClass::Sensor, (37.775, -122.425), "stuck".into()),
        (
            "sensor-copier",
            DeviceClass::Sensor,
            (37.79, -122.40),
            format!("copy:{victim}"),
        ),
        (
            "sensor-fabricator",
            DeviceClass::Sensor,
            (37.785, -122.455),
            "offset:900".into(),
        ),
        (
            "energy-inflator",
            DeviceClass::Energy,
            (37.80, -122.41),
            "inflate:20000".into(),
        ),
    ]
}

/// The QoD settings for devnet's short epochs (15 readings in one at the default block
/// interval): a stuck sensor must show within one epoch.
pub(crate) fn qod_config(epoch_ms: u64, interval_s: u64) -> QodConfig {
    let per_epoch = epoch_ms / (interval_s * 1_000).max(1);
    QodConfig {
        flatline_run: u32::try_from(per_epoch.saturating_sub(1).clamp(3, 8)).unwrap_or(8),
        ..QodConfig::default()
    }
}

/// Queues Mallory's sensors' onboarding and location assertions (skipping those on chain).
pub(crate) fn queued_cheaters(
    node: &Node,
    maker: &Keypair,
    tx: &dyn Fn(&Keypair, u64, TxKind) -> Transaction,
    interval_s: u64,
    queued: &mut Vec<Transaction>,
) -> Result<()> {
    let mallory = demo_key("mallory");
    let mut missing = Vec::new();
    for (name, class, at, _) in cheaters() {
        let dk = demo_key(name);
        let device = DeviceAddress::from(dk.public());
        if node.with_state(|s, _| s.device(&device))?.is_none() {
            missing.push((dk, device, class, at));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut nonce = node.with_state(|s, _| s.account(&account("mallory")))?.nonce;
    // Mallory's hotspots were queued first from the same account: continue after them.
    nonce += queued.iter().filter(|t| t.body.signer == account("mallory")).count() as u64;
    let mut next = |kind: TxKind| {
        let t = tx(&mallory, nonce, kind);
        nonce += 1;
        t
    };
    queued.push(next(TxKind::BurnForCredits {
        amount: Amount::from_trl(10 * (missing.len() as u64 + 1)).unwrap_or_default(),
        beneficiary: account("mallory"),
    }));
    for (dk, device, class, (lat, lng)) in missing {
        let onboard = TxKind::OnboardDevice {
            device,
            maker: maker.public(),
            class,
            capabilities: capabilities(class, interval_s),
        };
        queued.push(next(onboard).cosign(maker).cosign(&dk));
        queued.push(next(TxKind::AssertLocation {
            device,
            location: Location::from_degrees(lat, lng)?,
            antenna: None,
        }));
    }
    Ok(())
}

/// Starts one `trellis agent sensor` process per devnet sensor and meter.
pub(crate) fn start_agents(dir: &Path, node_url: &str, ingest_url: &str) -> Result<Vec<NodeProcess>> {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents)?;
    let honest = (0..WEATHER_STATIONS)
        .map(|i| (device_key_name(DeviceClass::Sensor, i), None))
        .chain((0..ENERGY_METERS).map(|i| (device_key_name(DeviceClass::Energy, i), None)));
    let dishonest = cheaters()
        .into_iter()
        .map(|(name, _, _, cheat)| (name.to_string(), Some(cheat)));
    let mut processes = Vec::new();
    for (name, cheat) in honest.chain(dishonest) {
        let seed_file = agents.join(format!("{name}.seed"));
        if !seed_file.exists() {
            crate::bft_node::write_validator_key(&seed_file, &demo_seed(&name))?;
        }
        let mut args: Vec<OsString> = vec![
            "agent".into(),
            "sensor".into(),
            "--key-file".into(),
            seed_file.into_os_string(),
            "--node".into(),
            node_url.into(),
            "--ingest".into(),
            ingest_url.into(),
        ];
        if let Some(cheat) = cheat {
            args.push("--cheat".into());
            args.push(cheat.into());
        }
        processes.push(spawn_trellis(&args, &agents.join(format!("{name}.log")))?);
    }
    Ok(processes)
}
