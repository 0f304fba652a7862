//! Beacon and witness verdicts with typed invalid reasons (modelled on Helium's
//! `InvalidReason` list in its iot-verifier).

use crate::{
    config::CoverageConfig,
    entropy::beacon_payload,
    physics::{distance_m, max_rssi_centi_dbm},
    reports::{BeaconReport, HotspotFacts, WitnessReport},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use trellis_primitives::DeviceAddress;

/// Why a beacon is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum BeaconInvalid {
    /// The beaconer is not registered.
    #[error("beaconer is not a registered device")]
    UnknownDevice,
    /// Registered, but not as a hotspot.
    #[error("beaconer is not a hotspot")]
    NotAHotspot,
    /// No location asserted.
    #[error("beaconer has no asserted location")]
    NoAssertedLocation,
    /// On the denylist.
    #[error("beaconer is denylisted")]
    Denylisted,
    /// The entropy is not a known block hash.
    #[error("entropy is not a known block hash")]
    UnknownEntropy,
    /// The entropy is older than its lifespan, or newer than the report.
    #[error("entropy is not fresh")]
    StaleEntropy,
    /// The payload is not the one derived from the entropy.
    #[error("payload does not match the entropy")]
    PayloadMismatch,
    /// Another valid beacon fell in the same interval.
    #[error("more than one beacon in the beacon interval")]
    TooFrequent,
    /// Most of its witnesses hear it far better than the region's environment allows at the
    /// asserted location (see `environment`): the beaconer is not where it says.
    #[error("witnesses hear the beacon too well for the asserted location")]
    LocationInconsistent,
    /// The epoch's links, taken together, place the beaconer well away from its asserted
    /// location (see `locate`).
    #[error("the network's measurements place the beaconer elsewhere")]
    LocatedElsewhere,
}

/// Why a witness is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum WitnessInvalid {
    /// The witness is not registered.
    #[error("witness is not a registered device")]
    UnknownDevice,
    /// Registered, but not as a hotspot.
    #[error("witness is not a hotspot")]
    NotAHotspot,
    /// No location asserted.
    #[error("witness has no asserted location")]
    NoAssertedLocation,
    /// The witness key is denylisted.
    #[error("witness is denylisted")]
    Denylisted,
    /// This beaconer-witness pair is denylisted (a known collusion edge).
    #[error("beaconer-witness edge is denylisted")]
    DenylistedEdge,
    /// A hotspot witnessing its own beacon.
    #[error("self-witness")]
    SelfWitness,
    /// The witness and the beaconer have the same owner (unless the config counts those).
    #[error("witness has the same owner as the beaconer")]
    SameOwner,
    /// The beacon's entropy had expired when the witness arrived.
    #[error("entropy is not fresh")]
    StaleEntropy,
    /// Arrived too long after the beacon.
    #[error("arrived too late after the beacon")]
    TooLateAfterBeacon,
    /// Arrived too long after the first witness of the beacon.
    #[error("arrived too late after the first witness")]
    TooLateAfterFirstWitness,
    /// The payload is not the beacon's.
    #[error("payload does not match the beacon")]
    PayloadMismatch,
    /// Heard on a different frequency than was sent.
    #[error("frequency differs from the beacon's")]
    WrongFrequency,
    /// In a different regulatory region than the beaconer.
    #[error("different region than the beaconer")]
    WrongRegion,
    /// Closer than the minimum distance.
    #[error("closer to the beaconer than the minimum distance")]
    TooClose,
    /// Farther than the maximum distance (or not measurable).
    #[error("farther from the beaconer than the maximum distance")]
    TooFar,
    /// Stronger than free-space path loss allows at the asserted distance.
    #[error("RSSI above the free-space limit for the asserted distance")]
    RssiAboveFreeSpace,
    /// Another hotspot of the same owner already witnessed this beacon: one owner's radios in
    /// one place add no coverage by hearing the same beacon.
    #[error("another hotspot of this owner already witnessed the beacon")]
    OwnerAlreadyWitnessed,
    /// Weaker than any receiver decodes: the report is not of a real reception.
    #[error("RSSI below what a receiver can decode")]
    RssiBelowSensitivity,
    /// Hears better at its asserted distance than the region's measured environment allows
    /// (see `environment`).
    #[error("RSSI above what the region's environment allows at the asserted distance")]
    RssiAboveEnvironment,
    /// Most of this witness's reports of the epoch hear beacons far better than the
    /// environment allows at its asserted location (see `environment`): the witness is not
    /// where it says, so none of its reports count.
    #[error("the witness hears too well for its asserted location")]
    LocationInconsistent,
    /// The epoch's links, taken together, place the witness well away from its asserted
    /// location (see `locate`).
    #[error("the network's measurements place the witness elsewhere")]
    LocatedElsewhere,
    /// A second report from the same witness for the same beacon.
    #[error("duplicate witness")]
    Duplicate,
}

/// Chain facts and history the verdicts depend on.
pub struct VerifyContext<'a> {
    /// Parameters.
    pub config: &'a CoverageConfig,
    /// Facts about a device, `None` if unregistered.
    pub hotspot: &'a dyn Fn(&DeviceAddress) -> Option<HotspotFacts>,
    /// The timestamp of the block whose hash is `entropy`, `None` if unknown.
    pub entropy_time_ms: &'a dyn Fn(&trellis_primitives::Hash) -> Option<u64>,
    /// Denylisted keys.
    pub denylist: &'a BTreeSet<DeviceAddress>,
    /// Denylisted (beaconer, witness) edges.
    pub denylisted_edges: &'a BTreeSet<(DeviceAddress, DeviceAddress)>,
}

fn fresh(ctx: &VerifyContext<'_>, entropy_ms: u64, at_ms: u64) -> bool {
    at_ms >= entropy_ms && at_ms - entropy_ms <= ctx.config.entropy_lifespan_ms
}

/// Checks a beacon. `last_valid_beacon_ms` is the receive time of the beaconer's previous valid
/// beacon, if any.
pub fn verify_beacon(
    ctx: &VerifyContext<'_>,
    beacon: &BeaconReport,
    last_valid_beacon_ms: Option<u64>,
) -> Result<HotspotFacts, BeaconInvalid> {
    let facts = (ctx.hotspot)(&beacon.beaconer).ok_or(BeaconInvalid::UnknownDevice)?;
    if !facts.is_hotspot {
        return Err(BeaconInvalid::NotAHotspot);
    }
    if facts.location.is_none() {
        return Err(BeaconInvalid::NoAssertedLocation);
    }
    if ctx.denylist.contains(&beacon.beaconer) {
        return Err(BeaconInvalid::Denylisted);
    }
    let entropy_ms = (ctx.entropy_time_ms)(&beacon.entropy).ok_or(BeaconInvalid::UnknownEntropy)?;
    if !fresh(ctx, entropy_ms, beacon.received_ms) {
        return Err(BeaconInvalid::StaleEntropy);
    }
    if beacon.payload.as_slice() != beacon_payload(&beacon.entropy, &beacon.beaconer).as_slice() {
        return Err(BeaconInvalid::PayloadMismatch);
    }
    if let Some(last) = last_valid_beacon_ms {
        if beacon.received_ms < last.saturating_add(ctx.config.beacon_interval_ms) {
            return Err(BeaconInvalid::TooFrequent);
        }
    }
    Ok(facts)
}

/// Checks one witness of a valid beacon. `first_witness_ms` is the receive time of the first
/// witness of this beacon (the caller orders witnesses by receive time).
pub fn verify_witness(
    ctx: &VerifyContext<'_>,
    beacon: &BeaconReport,
    beaconer: &HotspotFacts,
    witness: &WitnessReport,
    first_witness_ms: u64,
) -> Result<(), WitnessInvalid> {
    let facts = (ctx.hotspot)(&witness.witness).ok_or(WitnessInvalid::UnknownDevice)?;
    if !facts.is_hotspot {
        return Err(WitnessInvalid::NotAHotspot);
    }
    let (Some(here), Some(there)) = (facts.location, beaconer.location) else {
        return Err(WitnessInvalid::NoAssertedLocation);
    };
    if ctx.denylist.contains(&witness.witness) {
        return Err(WitnessInvalid::Denylisted);
    }
    if ctx.denylisted_edges.contains(&(beacon.beaconer, witness.witness)) {
        return Err(WitnessInvalid::DenylistedEdge);
    }
    if witness.witness == beacon.beaconer {
        return Err(WitnessInvalid::SelfWitness);
    }
    if !ctx.config.count_same_owner_witnesses && facts.owner.is_some() && facts.owner == beaconer.owner {
        return Err(WitnessInvalid::SameOwner);
    }
    let entropy_ms = (ctx.entropy_time_ms)(&beacon.entropy).ok_or(WitnessInvalid::StaleEntropy)?;
    if !fresh(ctx, entropy_ms, witness.received_ms) {
        return Err(WitnessInvalid::StaleEntropy);
    }
    if witness.received_ms.abs_diff(beacon.received_ms) > ctx.config.witness_max_delay_after_beacon_ms {
        return Err(WitnessInvalid::TooLateAfterBeacon);
    }
    if witness.received_ms.saturating_sub(first_witness_ms) > ctx.config.witness_max_delay_after_first_ms {
        return Err(WitnessInvalid::TooLateAfterFirstWitness);
    }
    if witness.payload != beacon.payload {
        return Err(WitnessInvalid::PayloadMismatch);
    }
    if witness.frequency_hz.abs_diff(beacon.frequency_hz) > ctx.config.frequency_tolerance_hz {
        return Err(WitnessInvalid::WrongFrequency);
    }
    if facts.region != beaconer.region {
        return Err(WitnessInvalid::WrongRegion);
    }
    let distance = distance_m(here.cell(), there.cell()).ok_or(WitnessInvalid::TooFar)?;
    if distance < ctx.config.min_witness_distance_m {
        return Err(WitnessInvalid::TooClose);
    }
    if distance > ctx.config.max_witness_distance_m {
        return Err(WitnessInvalid::TooFar);
    }
    let limit = max_rssi_centi_dbm(
        beacon.tx_power_centi_dbm,
        beaconer.gain_centi_dbi,
        facts.gain_centi_dbi,
        distance,
        beacon.frequency_hz,
    );
    if witness.rssi_centi_dbm > limit + ctx.config.rssi_tolerance_centi_db {
        return Err(WitnessInvalid::RssiAboveFreeSpace);
    }
    if ctx
        .config
        .min_rssi_centi_dbm
        .is_some_and(|min| witness.rssi_centi_dbm < min)
    {
        return Err(WitnessInvalid::RssiBelowSensitivity);
    }
    Ok(())
}

/// Verdicts for every witness of one valid beacon, in a canonical order (receive time, then
/// witness key), marking repeats from the same witness as duplicates.
pub fn verify_witnesses(
    ctx: &VerifyContext<'_>,
    beacon: &BeaconReport,
    beaconer: &HotspotFacts,
    witnesses: &[WitnessReport],
) -> Vec<(WitnessReport, Result<(), WitnessInvalid>)> {
    let mut ordered: Vec<&WitnessReport> = witnesses.iter().collect();
    ordered.sort_by(|a, b| (a.received_ms, a.witness, &a.payload).cmp(&(b.received_ms, b.witness, &b.payload)));
    let first_ms = ordered.first().map_or(0, |w| w.received_ms);
    let mut seen = BTreeSet::new();
    let mut owners = BTreeSet::new();
    ordered
        .into_iter()
        .map(|w| {
            let mut verdict = if seen.insert(w.witness) {
                verify_witness(ctx, beacon, beaconer, w, first_ms)
            } else {
                Err(WitnessInvalid::Duplicate)
            };
            if verdict.is_ok() && ctx.config.one_witness_per_owner {
                let owner = (ctx.hotspot)(&w.witness).and_then(|f| f.owner);
                if owner.is_some_and(|o| !owners.insert(o)) {
                    verdict = Err(WitnessInvalid::OwnerAlreadyWitnessed);
                }
            }
            (w.clone(), verdict)
        })
        .collect()
}
