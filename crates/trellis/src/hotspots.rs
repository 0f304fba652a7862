//! Devnet's hotspots: every one runs as a `trellis agent hotspot` process on the simulated air
//! (`air_hub.rs`), the honest ones and Mallory's cheaters alike; a cheater differs only in how it
//! runs its agent.

use crate::{
    devnet::{account, capabilities, demo_key, demo_seed, wait_all},
    testnet::{spawn_trellis, NodeProcess},
};
use anyhow::Result;
use std::{ffi::OsString, net::SocketAddr, path::Path};
use trellis_chain::Node;
use trellis_ledger::{Antenna, DeviceClass, StateRead as _, Transaction, TxKind};
use trellis_primitives::{Amount, DeviceAddress, Keypair, Location};

/// The RSSI the forger claims for every witness, centi-dBm (as if right next to the beaconer).
pub(crate) const FORGED_RSSI_CENTI_DBM: i64 = -3_000;

/// How a devnet hotspot misbehaves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cheat {
    /// Honest.
    None,
    /// Reports every beacon it hears at [`FORGED_RSSI_CENTI_DBM`].
    RssiForger,
    /// Asserted its location far from where its radio really is.
    LocationSpoofer {
        /// Where its radio really is (lat, lng).
        actual: (f64, f64),
    },
    /// One of several hotspots of one operator in one place, asserted a few km apart, that also
    /// witness each other over an off-band channel with RSSI plausible for the asserted spread.
    Sybil {
        /// Where the cluster's radios really are (lat, lng).
        actual: (f64, f64),
    },
    /// A ring member: honest about its location, but witnesses the other members' beacons,
    /// 80-90 km away and out of radio range, over an off-band channel with plausible RSSI.
    Colluder,
}

/// Where the Sybil cluster really is.
const SYBIL_SITE: (f64, f64) = (37.76, -122.40);

/// The devnet's cheaters: (device key name, asserted location, behaviour). Owned by `mallory`.
pub(crate) fn cheaters() -> Vec<(&'static str, (f64, f64), Cheat)> {
    let sybil = Cheat::Sybil { actual: SYBIL_SITE };
    vec![
        ("cheater-sybil-0", SYBIL_SITE, sybil),
        ("cheater-sybil-1", (37.78, -122.38), sybil),
        ("cheater-sybil-2", (37.745, -122.375), sybil),
        ("cheater-ring-0", (37.30, -122.00), Cheat::Colluder),
        ("cheater-ring-1", (37.90, -121.55), Cheat::Colluder),
        ("cheater-ring-2", (37.95, -122.55), Cheat::Colluder),
        ("cheater-rssi-forger", (37.70, -122.41), Cheat::RssiForger),
        // Asserts ~39 km north of where its radio really is, among the honest hotspots.
        (
            "cheater-location-spoofer",
            (38.055, -122.47),
            Cheat::LocationSpoofer {
                actual: (37.705, -122.47),
            },
        ),
    ]
}

/// Where the agents find the rest of the devnet.
pub(crate) struct AgentEnv<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) node_url: &'a str,
    pub(crate) ingest_url: &'a str,
    pub(crate) air: SocketAddr,
    /// The colluders' off-band channel.
    pub(crate) collusion_air: SocketAddr,
    pub(crate) beacon_interval_ms: u64,
}

/// Starts one agent process for the demo key `name`, behaving as `cheat`. Its seed goes to
/// `dir/agents/<name>.seed` (demo keys are public anyway) and its log next to it.
pub(crate) fn start_agent(env: &AgentEnv<'_>, name: &str, cheat: Cheat) -> Result<NodeProcess> {
    let agents = env.dir.join("agents");
    std::fs::create_dir_all(&agents)?;
    let seed_file = agents.join(format!("{name}.seed"));
    if !seed_file.exists() {
        crate::bft_node::write_validator_key(&seed_file, &demo_seed(name))?;
    }
    let mut args: Vec<OsString> = vec![
        "agent".into(),
        "hotspot".into(),
        "--key-file".into(),
        seed_file.into_os_string(),
        "--node".into(),
        env.node_url.into(),
        "--ingest".into(),
        env.ingest_url.into(),
        "--air".into(),
        env.air.to_string().into(),
        "--beacon-interval-ms".into(),
        env.beacon_interval_ms.to_string().into(),
    ];
    match cheat {
        Cheat::None => {}
        Cheat::RssiForger => {
            args.push("--forge-rssi-centi-dbm".into());
            args.push(FORGED_RSSI_CENTI_DBM.to_string().into());
        }
        Cheat::LocationSpoofer { actual: (lat, lng) } => {
            args.push("--position".into());
            args.push(format!("{lat},{lng}").into());
        }
        Cheat::Sybil { actual: (lat, lng) } => {
            args.push("--position".into());
            args.push(format!("{lat},{lng}").into());
            args.push("--also-air".into());
            args.push(env.collusion_air.to_string().into());
        }
        Cheat::Colluder => {
            args.push("--also-air".into());
            args.push(env.collusion_air.to_string().into());
        }
    }
    spawn_trellis(&args, &agents.join(format!("{name}.log")))
}

/// A hotspot with an owner account of its own.
pub(crate) struct OwnedHotspot {
    /// Demo key name of the owner account.
    pub(crate) owner: String,
    /// Demo key name of the device.
    pub(crate) device: String,
    /// Asserted location.
    pub(crate) location: (f64, f64),
}

/// Onboards each hotspot under its own owner: `funder` sends every new owner 100 TRL, then each
/// owner buys credits, onboards its hotspot (co-signed by `maker` and the device) and asserts its
/// location. Hotspots already on chain are skipped.
pub(crate) fn onboard_owned_hotspots(
    node: &Node,
    maker: &Keypair,
    tx: &dyn Fn(&Keypair, u64, TxKind) -> Transaction,
    funder: &Keypair,
    hotspots: &[OwnedHotspot],
) -> Result<()> {
    let mut missing = Vec::new();
    for h in hotspots {
        let device = DeviceAddress::from(demo_key(&h.device).public());
        if node.with_state(|s, _| s.device(&device))?.is_none() {
            missing.push(h);
        }
    }
    let funder_account = trellis_primitives::AccountAddress::from(funder.public());
    let mut nonce = node.with_state(|s, _| s.account(&funder_account))?.nonce;
    let mut funding = Vec::new();
    for h in &missing {
        if node.with_state(|s, _| s.account(&account(&h.owner)))?.balance < Amount::from_units(1) {
            let kind = TxKind::Transfer {
                to: account(&h.owner),
                amount: Amount::from_trl(100).unwrap_or_default(),
            };
            funding.push(node.submit(tx(funder, nonce, kind))?);
            nonce += 1;
        }
    }
    wait_all(node, &funding)?;
    let mut ids = Vec::new();
    for h in &missing {
        let owner = demo_key(&h.owner);
        let dk = demo_key(&h.device);
        let device = DeviceAddress::from(dk.public());
        let state = node.with_state(|s, _| s.account(&account(&h.owner)))?;
        let mut nonce = state.nonce;
        let mut next = |kind: TxKind| {
            let t = tx(&owner, nonce, kind);
            nonce += 1;
            t
        };
        let mut txs = Vec::new();
        if state.credits.0 == 0 {
            txs.push(next(TxKind::BurnForCredits {
                amount: Amount::from_trl(10).unwrap_or_default(),
                beneficiary: account(&h.owner),
            }));
        }
        let onboard = TxKind::OnboardDevice {
            device,
            maker: maker.public(),
            class: DeviceClass::Hotspot,
            capabilities: capabilities(DeviceClass::Hotspot),
        };
        txs.push(next(onboard).cosign(maker).cosign(&dk));
        txs.push(next(TxKind::AssertLocation {
            device,
            location: Location::from_degrees(h.location.0, h.location.1)?,
            antenna: Some(Antenna {
                gain_dbi_tenths: 30,
                elevation_m: 10,
            }),
        }));
        for t in txs {
            ids.push(node.submit(t)?);
        }
    }
    wait_all(node, &ids)
}

/// Mallory's hotspots, onboarded through the same maker: one forges RSSI, one spoofs its location.
pub(crate) fn queued_cheaters(
    node: &Node,
    maker: &Keypair,
    tx: &dyn Fn(&Keypair, u64, TxKind) -> Transaction,
    queued: &mut Vec<Transaction>,
) -> Result<()> {
    let mallory = demo_key("mallory");
    let mut nonce = node.with_state(|s, _| s.account(&account("mallory")))?.nonce;
    let mut next = |kind: TxKind| {
        let t = tx(&mallory, nonce, kind);
        nonce += 1;
        t
    };
    let missing = cheaters()
        .into_iter()
        .filter(|(_, _, cheat)| !matches!(cheat, Cheat::Colluder))
        .map(|(name, _, _)| node.with_state(|s, _| s.device(&DeviceAddress::from(demo_key(name).public()))))
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .filter(|d| d.is_none())
        .count() as u64;
    let (credits, fee) = node.with_state(|s, _| -> Result<_> {
        Ok((
            s.account(&account("mallory"))?.credits.0,
            s.params()?.location_fee_credits.0,
        ))
    })?;
    if credits < missing * fee {
        // At the devnet's $1.50 per TRL, 10 TRL buy 1.5 location assertions' worth of credits.
        queued.push(next(TxKind::BurnForCredits {
            amount: Amount::from_trl(10 * (missing + 1)).unwrap_or_default(),
            beneficiary: account("mallory"),
        }));
    }
    for (name, (lat, lng), cheat) in cheaters() {
        if matches!(cheat, Cheat::Colluder) {
            continue;
        }
        let dk = demo_key(name);
        let device = DeviceAddress::from(dk.public());
        if node.with_state(|s, _| s.device(&device))?.is_some() {
            continue;
        }
        let onboard = TxKind::OnboardDevice {
            device,
            maker: maker.public(),
            class: DeviceClass::Hotspot,
            capabilities: capabilities(DeviceClass::Hotspot),
        };
        queued.push(next(onboard).cosign(maker).cosign(&dk));
        let antenna = Some(Antenna {
            gain_dbi_tenths: 30,
            elevation_m: 10,
        });
        queued.push(next(TxKind::AssertLocation {
            device,
            location: Location::from_degrees(lat, lng)?,
            antenna,
        }));
    }
    Ok(())
}
