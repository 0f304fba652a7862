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
use trellis_sim::air::AirModel;

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

/// Honest hotspots: enough neighbours around every hotspot for the verifier's statistics (the
/// region's fading, the location fit) to judge links, as in a city where a network has taken off.
pub(crate) const HONEST_HOTSPOTS: u32 = 24;
/// Block intervals between a devnet hotspot's beacons: three an epoch of 120 blocks.
pub(crate) const BEACON_EVERY_BLOCKS: u64 = 40;
/// The beacon interval devnet's verifier enforces, block intervals: below the agents' own, so
/// an honest beacon that arrives a little early is never `too_frequent`.
pub(crate) const VERIFIED_BEACON_INTERVAL_BLOCKS: u64 = 32;
/// Columns of the honest grid (rows follow).
const GRID_COLUMNS: u32 = 6;
/// The grid's south-west corner (lat, lng): the south of San Francisco.
const GRID_ORIGIN: (f64, f64) = (37.715, -122.495);
/// Grid spacing, degrees of latitude and longitude (~2 km each way at 37.7° N).
const GRID_STEP: (f64, f64) = (0.018, 0.0227);

/// The devnet's radio environment: urban log-distance path loss (exponent 3.5, σ 6 dB), so a
/// hotspot hears its neighbours up to 5-8 km away, not the whole city.
pub(crate) fn devnet_air() -> AirModel {
    AirModel {
        exponent: 3.5,
        shadowing_sigma_db: 6.0,
        sensitivity_dbm: -130.0,
    }
}

/// The honest hotspots, each under an owner of its own: a grid ~2 km apart over San Francisco,
/// every point moved up to ~450 m in a direction fixed by its index (real sites are not on a grid).
pub(crate) fn honest_hotspots() -> Vec<OwnedHotspot> {
    (0..HONEST_HOTSPOTS)
        .map(|i| {
            let (row, col) = (f64::from(i / GRID_COLUMNS), f64::from(i % GRID_COLUMNS));
            // A fixed irrational rotation per index spreads the offsets evenly around the circle.
            let angle = f64::from(i) * 2.399_963;
            let (lat, lng) = (
                GRID_ORIGIN.0 + row * GRID_STEP.0 + 0.004 * angle.sin(),
                GRID_ORIGIN.1 + col * GRID_STEP.1 + 0.005 * angle.cos(),
            );
            OwnedHotspot {
                owner: format!("hotspot-owner-{i}"),
                device: crate::devnet::device_key_name(DeviceClass::Hotspot, i),
                location: (lat, lng),
            }
        })
        .collect()
}

/// Where the Sybil cluster's radios really are: among the honest hotspots.
const SYBIL_SITE: (f64, f64) = (37.745, -122.44);

/// The devnet's cheaters: (device key name, asserted location, behaviour). Owned by `mallory`.
pub(crate) fn cheaters() -> Vec<(&'static str, (f64, f64), Cheat)> {
    let sybil = Cheat::Sybil { actual: SYBIL_SITE };
    vec![
        // Three identities on one site, each asserted 2.5-3 km from it in a different direction.
        ("cheater-sybil-0", (37.768, -122.44), sybil),
        ("cheater-sybil-1", (37.733, -122.412), sybil),
        ("cheater-sybil-2", (37.731, -122.47), sybil),
        ("cheater-ring-0", (37.30, -122.00), Cheat::Colluder),
        ("cheater-ring-1", (37.90, -121.55), Cheat::Colluder),
        ("cheater-ring-2", (37.95, -122.55), Cheat::Colluder),
        ("cheater-rssi-forger", (37.76, -122.475), Cheat::RssiForger),
        // Asserts ~39 km north of where its radio really is, among the honest hotspots.
        (
            "cheater-location-spoofer",
            (38.075, -122.42),
            Cheat::LocationSpoofer {
                actual: (37.725, -122.42),
            },
        ),
    ]
}

/// Starts an agent process for every honest hotspot and every cheater.
pub(crate) fn start_agents(env: &AgentEnv<'_>) -> Result<Vec<NodeProcess>> {
    let honest = honest_hotspots();
    let mut agents = Vec::with_capacity(honest.len() + cheaters().len());
    for h in &honest {
        agents.push(start_agent(env, &h.device, Cheat::None)?);
    }
    for (name, _, cheat) in cheaters() {
        agents.push(start_agent(env, name, cheat)?);
    }
    Ok(agents)
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
fn start_agent(env: &AgentEnv<'_>, name: &str, cheat: Cheat) -> Result<NodeProcess> {
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
