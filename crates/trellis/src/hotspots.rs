//! Devnet's simulated hotspots: they beacon with fresh block entropy and witness each other
//! through a simulated radio medium, and send every report through the real ingest over HTTP.

use anyhow::{Context, Result};
use prost::Message;
use std::time::Duration;
use tokio::sync::watch;
use trellis_chain::Node;
use trellis_coverage::{entropy::beacon_payload, physics::distance_m};
use trellis_ledger::StateRead;
use trellis_primitives::{DeviceAddress, Keypair, Location};
use trellis_proto::{report::Kind, Beacon, Envelope, Report, Witness};
use trellis_sim::air::AirModel;

/// US915 uplink channel the devnet uses.
pub(crate) const FREQUENCY_HZ: u64 = 904_300_000;
/// Conducted transmit power of the simulated radios, centi-dBm (27 dBm: a typical LoRa gateway).
const TX_POWER_CENTI_DBM: i64 = 2_700;

/// How a simulated hotspot misbehaves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cheat {
    /// Honest.
    None,
    /// Reports every beacon it hears at −30 dBm, as if right next to the beaconer.
    RssiForger,
    /// Asserted its location far from where its radio really is.
    LocationSpoofer {
        /// Where it really is.
        actual: Location,
    },
}

/// The devnet's cheaters: (device key name, asserted location, behaviour). Owned by `mallory`.
pub(crate) fn cheaters() -> Vec<(&'static str, (f64, f64), Cheat)> {
    let mut out = vec![("cheater-rssi-forger", (37.70, -122.41), Cheat::RssiForger)];
    // Asserts ~39 km north of where its radio really is, among the honest hotspots.
    if let Ok(actual) = Location::from_degrees(37.705, -122.47) {
        out.push((
            "cheater-location-spoofer",
            (38.055, -122.47),
            Cheat::LocationSpoofer { actual },
        ));
    }
    out
}

/// The fleet.
pub(crate) struct HotspotFleet {
    pub(crate) node: Node,
    pub(crate) ingest_url: String,
    /// Every simulated hotspot and how it behaves.
    pub(crate) hotspots: Vec<(Keypair, Cheat)>,
    pub(crate) round_ms: u64,
    pub(crate) air: AirModel,
}

fn now_ms() -> u64 {
    trellis_chain::node::wall_clock_ms()
}

impl HotspotFleet {
    /// One hotspot beacons per round, in turn; all others that hear it witness.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let mut tick = tokio::time::interval(Duration::from_millis(self.round_ms));
        let mut round: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return Ok(());
                    }
                }
            }
            round += 1;
            if let Err(e) = self.round(&http, round).await {
                tracing::warn!(error = %format!("{e:#}"), round, "simulated hotspot round failed");
            }
        }
    }

    async fn post(&self, http: &reqwest::Client, key: &Keypair, kind: Kind) -> Result<()> {
        let report = Report {
            timestamp_ms: now_ms(),
            kind: Some(kind),
        };
        let body = Envelope::sign(&report, key).encode_to_vec();
        let response = http
            .post(&self.ingest_url)
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            let text = response.text().await.unwrap_or_default();
            tracing::debug!(%text, "ingest refused a simulated report");
        }
        Ok(())
    }

    /// Where a hotspot's radio really is, and its antenna gain (centi-dBi).
    fn radio(&self, device: &DeviceAddress, cheat: &Cheat) -> Result<Option<(h3o::CellIndex, i64)>> {
        let record = self.node.with_state(|s, _| s.device(device))?;
        Ok(record.and_then(|dev| dev.location).map(|l| {
            // A spoofer's radio is not where it said it is.
            let cell = match cheat {
                Cheat::LocationSpoofer { actual } => actual.cell(),
                _ => l.location.cell(),
            };
            (cell, l.antenna.map_or(0, |a| i64::from(a.gain_dbi_tenths) * 10))
        }))
    }

    async fn round(&self, http: &reqwest::Client, round: u64) -> Result<()> {
        if self.hotspots.is_empty() {
            return Ok(());
        }
        let (beaconer, beaconer_cheat) = &self.hotspots[(round as usize) % self.hotspots.len()];
        let beaconer_addr = DeviceAddress::from(beaconer.public());
        let entropy = self.node.tip().hash;
        let payload = beacon_payload(&entropy, &beaconer_addr).to_vec();
        let Some((from_cell, from_gain)) = self.radio(&beaconer_addr, beaconer_cheat)? else {
            return Ok(());
        };
        let beacon = Beacon {
            entropy: entropy.0.to_vec(),
            payload: payload.clone(),
            frequency_hz: FREQUENCY_HZ,
            tx_power_centi_dbm: TX_POWER_CENTI_DBM,
        };
        self.post(http, beaconer, Kind::Beacon(beacon))
            .await
            .context("posting a beacon")?;
        for (key, cheat) in self.hotspots.iter().filter(|(k, _)| k.public() != beaconer.public()) {
            let addr = DeviceAddress::from(key.public());
            let Some((to_cell, to_gain)) = self.radio(&addr, cheat)? else {
                continue;
            };
            let Some(distance) = distance_m(from_cell, to_cell) else {
                continue;
            };
            let gains_dbi = (from_gain + to_gain) as f64 / 100.0;
            let tx_dbm = TX_POWER_CENTI_DBM as f64 / 100.0;
            let Some(rssi) = self.air.rssi_dbm(
                &beaconer_addr,
                &addr,
                round,
                tx_dbm,
                gains_dbi,
                distance as f64,
                FREQUENCY_HZ,
            ) else {
                continue;
            };
            let rssi_centi_dbm = match cheat {
                Cheat::RssiForger => -3_000,
                _ => (rssi * 100.0) as i64,
            };
            let witness = Witness {
                payload: payload.clone(),
                frequency_hz: FREQUENCY_HZ,
                rssi_centi_dbm,
                snr_centi_db: 500,
            };
            self.post(http, key, Kind::Witness(witness))
                .await
                .context("posting a witness")?;
        }
        Ok(())
    }
}
