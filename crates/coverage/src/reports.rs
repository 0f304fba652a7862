//! What the verifier consumes: decoded beacon and witness reports (ingest turns the signed wire
//! messages into these, with the receive time stamped) and facts about hotspots from the chain.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use trellis_primitives::{DeviceAddress, Hash, Location};
use trellis_proto::{report::Kind, Envelope, LoggedReport};

/// A hotspot's report that it transmitted a beacon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconReport {
    /// The transmitting hotspot.
    pub beaconer: DeviceAddress,
    /// The block hash the payload was derived from.
    pub entropy: Hash,
    /// The transmitted payload.
    pub payload: Vec<u8>,
    /// Transmit frequency.
    pub frequency_hz: u64,
    /// Conducted transmit power, centi-dBm.
    pub tx_power_centi_dbm: i64,
    /// When ingest received the report (ms since the Unix epoch, ingest's clock).
    pub received_ms: u64,
}

/// A hotspot's report that it heard a beacon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessReport {
    /// The receiving hotspot.
    pub witness: DeviceAddress,
    /// The payload it heard.
    pub payload: Vec<u8>,
    /// Frequency it heard it on.
    pub frequency_hz: u64,
    /// Received signal strength, centi-dBm.
    pub rssi_centi_dbm: i64,
    /// When ingest received the report.
    pub received_ms: u64,
}

/// What the chain says about a hotspot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotFacts {
    /// Whether the device is registered as a hotspot (not another class).
    pub is_hotspot: bool,
    /// Its asserted location, if any.
    pub location: Option<Location>,
    /// Asserted antenna gain, centi-dBi.
    pub gain_centi_dbi: i64,
    /// Its regulatory region (frequency plan), derived from the asserted location.
    pub region: u16,
    /// The account it pays out to, if known.
    pub owner: Option<trellis_primitives::AccountAddress>,
}

/// Decodes the beacons and witnesses of the report-log frames received during
/// `[start_ms, end_ms)`: what every verifier of an epoch reads (frames that do not decode, and
/// other kinds, are skipped: ingest checked each before logging it).
pub fn from_log(frames: &[LoggedReport], start_ms: u64, end_ms: u64) -> (Vec<BeaconReport>, Vec<WitnessReport>) {
    let (mut beacons, mut witnesses) = (Vec::new(), Vec::new());
    for frame in frames.iter().filter(|f| (start_ms..end_ms).contains(&f.received_ms)) {
        let Some(signed) = &frame.report else { continue };
        let Ok(env) = Envelope::decode(&prost::Message::encode_to_vec(signed)) else {
            continue;
        };
        match env.report.kind {
            Some(Kind::Beacon(b)) => {
                let Ok(entropy) = <[u8; 32]>::try_from(b.entropy.as_slice()) else {
                    continue;
                };
                beacons.push(BeaconReport {
                    beaconer: env.device,
                    entropy: Hash(entropy),
                    payload: b.payload,
                    frequency_hz: b.frequency_hz,
                    tx_power_centi_dbm: b.tx_power_centi_dbm,
                    received_ms: frame.received_ms,
                });
            }
            Some(Kind::Witness(w)) => witnesses.push(WitnessReport {
                witness: env.device,
                payload: w.payload,
                frequency_hz: w.frequency_hz,
                rssi_centi_dbm: w.rssi_centi_dbm,
                received_ms: frame.received_ms,
            }),
            _ => {}
        }
    }
    (beacons, witnesses)
}

/// Everyone who reported.
pub fn reporters(beacons: &[BeaconReport], witnesses: &[WitnessReport]) -> BTreeSet<DeviceAddress> {
    beacons
        .iter()
        .map(|b| b.beaconer)
        .chain(witnesses.iter().map(|w| w.witness))
        .collect()
}
