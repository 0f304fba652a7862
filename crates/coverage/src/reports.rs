//! What the verifier consumes: decoded beacon and witness reports (ingest turns the signed wire
//! messages into these, with the receive time stamped) and facts about hotspots from the chain.

use serde::{Deserialize, Serialize};
use trellis_primitives::{DeviceAddress, Hash, Location};

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
