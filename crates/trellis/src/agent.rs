//! `trellis agent hotspot`: the software an operator runs next to a hotspot's radio. It beacons
//! once per interval with fresh block entropy, witnesses every beacon its radio hears, sends a
//! heartbeat, and signs every report with the device key for ingest.
//!
//! The radio is behind [`Radio`]; this build ships the simulated air ([`SimulatedRadio`], served
//! by `trellis air`). A LoRa gateway would implement the same three calls over its
//! concentrator (see ARCHITECTURE.md, "Hotspot agent").

use crate::{
    air_hub::{Frame, Radio, SimulatedRadio},
    semtech::SemtechRadio,
};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use prost::Message as _;
use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};
use trellis_coverage::entropy::beacon_payload;
use trellis_primitives::{DeviceAddress, Hash, Keypair};
use trellis_proto::{report::Kind, Beacon, Envelope, Heartbeat, Report, Witness};

/// US915 uplink channel the simulated hotspots use.
pub(crate) const FREQUENCY_HZ: u64 = 904_300_000;
/// Conducted transmit power, centi-dBm (27 dBm: a typical LoRa gateway).
pub(crate) const TX_POWER_CENTI_DBM: i64 = 2_700;
/// How often the simulated radio re-announces itself to the air.
const KEEPALIVE: Duration = Duration::from_secs(5);

/// What every device agent needs: its key and where ingest and the node are.
#[derive(Debug, Args)]
pub(crate) struct DeviceAgentArgs {
    /// File holding the device's ed25519 seed in hex: the key onboarded on chain for this device.
    #[arg(long)]
    pub(crate) key_file: PathBuf,
    /// Ingest base URL (reports go to <URL>/v1/reports).
    #[arg(long, env = "TRELLIS_INGEST", default_value = "http://127.0.0.1:8646")]
    pub(crate) ingest: String,
    /// Node API base URL (the device's record on chain, block entropy).
    #[arg(long, env = "TRELLIS_API", default_value = "http://127.0.0.1:8645")]
    pub(crate) node: String,
}

/// Arguments of `trellis agent hotspot`.
#[derive(Debug, Args)]
pub(crate) struct HotspotArgs {
    #[command(flatten)]
    device: DeviceAgentArgs,
    /// Address of the simulated air (`trellis air`).
    #[arg(long, default_value = "127.0.0.1:8647")]
    air: SocketAddr,
    /// Use a real LoRa gateway instead of the simulated air: listen here for its Semtech UDP
    /// packet forwarder (set the forwarder's server_address to this host and both ports to this
    /// port, usually 1680).
    #[arg(long, conflicts_with_all = ["position", "also_air"])]
    semtech_listen: Option<SocketAddr>,
    /// Where the radio really is, `LAT,LNG`. Default: the location asserted on chain.
    #[arg(long)]
    position: Option<String>,
    /// Milliseconds between this hotspot's beacons (must not be shorter than the network's
    /// beacon interval, or the extra beacons are invalid).
    #[arg(long, default_value_t = 60_000)]
    beacon_interval_ms: u64,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    heartbeat_interval_secs: u64,
    /// Stop after this many beacons (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    beacons: u64,
    /// Cheat: report every witness at this RSSI (centi-dBm) instead of what the radio heard.
    /// Only for demonstrating that the verifier catches it (devnet's RSSI forger).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    forge_rssi_centi_dbm: Option<i64>,
    /// Cheat: also join this second simulated air at the asserted location, transmit beacons on
    /// it and witness what arrives there: an off-band channel colluders use to witness each other
    /// without radio contact (devnet's Sybil cluster and collusion ring).
    #[arg(long, hide = true)]
    also_air: Option<SocketAddr>,
}

/// What the agent did, printed when it stops.
#[derive(Debug, Default)]
struct Tally {
    beacons: u64,
    witnesses: u64,
    heartbeats: u64,
    refused: u64,
}

struct Agent {
    key: Keypair,
    device: DeviceAddress,
    http: reqwest::Client,
    ingest: String,
    node: String,
    tally: Tally,
    started: Instant,
}

fn parse_position(text: &str) -> Result<(f64, f64)> {
    let (lat, lng) = text.split_once(',').context("--position must be LAT,LNG")?;
    let lat: f64 = lat.trim().parse().context("--position latitude is not a number")?;
    let lng: f64 = lng.trim().parse().context("--position longitude is not a number")?;
    trellis_primitives::Location::from_degrees(lat, lng).context("--position is not a valid place")?;
    Ok((lat, lng))
}

impl Agent {
    async fn get(&self, path: &str) -> Result<serde_json::Value> {
        let r = self.http.get(format!("{}{path}", self.node)).send().await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.with_context(|| format!("{path}: not JSON"))?;
        if !status.is_success() {
            bail!("{path}: {status}: {body}");
        }
        Ok(body)
    }

    /// The asserted position (cell centre) and antenna gain in centi-dBi.
    async fn asserted(&self) -> Result<((f64, f64), i64)> {
        let v = self.get(&format!("/v1/devices/{}", self.device)).await?;
        let assertion = &v["device"]["location"];
        let cell: trellis_primitives::Location =
            serde_json::from_value(assertion["location"].clone()).context("the device has no asserted location yet")?;
        let centre = h3o::LatLng::from(cell.cell());
        let gain = assertion["antenna"]["gain_dbi_tenths"].as_i64().unwrap_or(0) * 10;
        Ok(((centre.lat(), centre.lng()), gain))
    }

    async fn post(&mut self, kind: Kind) -> Result<()> {
        let report = Report {
            timestamp_ms: trellis_chain::node::wall_clock_ms(),
            kind: Some(kind),
        };
        let body = Envelope::sign(&report, &self.key).encode_to_vec();
        let response = self
            .http
            .post(format!("{}/v1/reports", self.ingest))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .context("ingest unreachable")?;
        if !response.status().is_success() {
            self.tally.refused += 1;
            let text = response.text().await.unwrap_or_default();
            tracing::warn!(%text, "ingest refused a report");
        }
        Ok(())
    }

    async fn beacon(&mut self, radio: &impl Radio) -> Result<Frame> {
        let status = self.get("/v1/status").await?;
        let entropy: Hash = status["hash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .context("/v1/status has no block hash")?;
        let payload = beacon_payload(&entropy, &self.device).to_vec();
        self.post(Kind::Beacon(Beacon {
            entropy: entropy.0.to_vec(),
            payload: payload.clone(),
            frequency_hz: FREQUENCY_HZ,
            tx_power_centi_dbm: TX_POWER_CENTI_DBM,
        }))
        .await?;
        let frame = Frame {
            from: None,
            payload,
            frequency_hz: FREQUENCY_HZ,
            power_centi_dbm: TX_POWER_CENTI_DBM,
            snr_centi_db: 0,
        };
        radio.transmit(&frame).await?;
        self.tally.beacons += 1;
        tracing::info!(beacons = self.tally.beacons, "beaconed");
        Ok(frame)
    }

    async fn witness(&mut self, frame: Frame) -> Result<()> {
        self.post(Kind::Witness(Witness {
            payload: frame.payload,
            frequency_hz: frame.frequency_hz,
            rssi_centi_dbm: frame.power_centi_dbm,
            snr_centi_db: frame.snr_centi_db,
        }))
        .await?;
        self.tally.witnesses += 1;
        tracing::debug!(from = ?frame.from, rssi_centi_dbm = frame.power_centi_dbm, "witnessed");
        Ok(())
    }
}

/// The radio an agent drives.
enum AnyRadio {
    /// A radio in the simulated air.
    Simulated(SimulatedRadio),
    /// A LoRa gateway over the Semtech packet forwarder protocol.
    Gateway(SemtechRadio),
}

impl Radio for AnyRadio {
    async fn transmit(&self, frame: &Frame) -> Result<()> {
        match self {
            AnyRadio::Simulated(r) => r.transmit(frame).await,
            AnyRadio::Gateway(r) => r.transmit(frame).await,
        }
    }

    async fn receive(&self) -> Result<Frame> {
        match self {
            AnyRadio::Simulated(r) => r.receive().await,
            AnyRadio::Gateway(r) => r.receive().await,
        }
    }

    async fn keepalive(&self) -> Result<()> {
        match self {
            AnyRadio::Simulated(r) => r.keepalive().await,
            AnyRadio::Gateway(r) => r.keepalive().await,
        }
    }
}

/// Runs `trellis agent hotspot`.
pub(crate) async fn run(args: HotspotArgs) -> Result<()> {
    anyhow::ensure!(
        args.beacon_interval_ms > 0 && args.heartbeat_interval_secs > 0,
        "intervals must be positive"
    );
    let seed = crate::bft_node::read_seed(&args.device.key_file)?;
    let key = Keypair::from_seed(*seed);
    let device = DeviceAddress::from(key.public());
    let mut agent = Agent {
        key,
        device,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        ingest: args.device.ingest.trim_end_matches('/').to_string(),
        node: args.device.node.trim_end_matches('/').to_string(),
        tally: Tally::default(),
        started: Instant::now(),
    };
    let (asserted, gain) = agent.asserted().await?;
    let position = match &args.position {
        Some(text) => parse_position(text)?,
        None => asserted,
    };
    let radio = match args.semtech_listen {
        Some(listen) => {
            let radio = SemtechRadio::listen(listen).await?;
            println!(
                "hotspot {device} waiting for its packet forwarder on udp://{}",
                radio.local_addr()?
            );
            AnyRadio::Gateway(radio)
        }
        None => {
            let radio = SimulatedRadio::join(args.air, device, position, gain).await?;
            println!(
                "hotspot {device} on the air at {:.5},{:.5} (air {})",
                position.0, position.1, args.air
            );
            AnyRadio::Simulated(radio)
        }
    };
    let side = match args.also_air {
        Some(addr) => Some(SimulatedRadio::join(addr, device, asserted, gain).await?),
        None => None,
    };
    let side_receive = || async {
        match &side {
            Some(radio) => radio.receive().await,
            None => std::future::pending().await,
        }
    };

    let interval = Duration::from_millis(args.beacon_interval_ms);
    // Hotspots spread their beacons over the interval: the first comes after an offset derived
    // from the device key.
    let offset_ms =
        u64::from_le_bytes(device.key().0[..8].try_into().unwrap_or([0; 8])) % interval.as_millis().max(1) as u64;
    let mut beacon_tick =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_millis(offset_ms), interval);
    let mut heartbeat_tick = tokio::time::interval(Duration::from_secs(args.heartbeat_interval_secs));
    let mut keepalive_tick = tokio::time::interval(KEEPALIVE);
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = beacon_tick.tick() => {
                match agent.beacon(&radio).await {
                    Ok(frame) => {
                        if let Some(side) = &side {
                            side.transmit(&frame).await?;
                        }
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "beacon failed"),
                }
                if args.beacons > 0 && agent.tally.beacons >= args.beacons {
                    break;
                }
            }
            _ = heartbeat_tick.tick() => {
                let uptime_s = agent.started.elapsed().as_secs();
                match agent.post(Kind::Heartbeat(Heartbeat { uptime_s })).await {
                    Ok(()) => agent.tally.heartbeats += 1,
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "heartbeat failed"),
                }
            }
            _ = keepalive_tick.tick() => {
                radio.keepalive().await?;
                if let Some(side) = &side {
                    side.keepalive().await?;
                }
            }
            frame = side_receive() => {
                if let Err(e) = agent.witness(frame?).await {
                    tracing::warn!(error = %format!("{e:#}"), "witness failed");
                }
            }
            frame = radio.receive() => {
                let mut frame = frame?;
                if let Some(forged) = args.forge_rssi_centi_dbm {
                    frame.power_centi_dbm = forged;
                }
                if let Err(e) = agent.witness(frame).await {
                    tracing::warn!(error = %format!("{e:#}"), "witness failed");
                }
            }
        }
    }
    let t = &agent.tally;
    println!(
        "hotspot {device} stopped: {} beacons, {} witnesses, {} heartbeats, {} refused by ingest",
        t.beacons, t.witnesses, t.heartbeats, t.refused
    );
    Ok(())
}
