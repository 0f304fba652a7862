//! Proof-of-coverage parameters, with Helium's values as defaults.

use serde::{Deserialize, Serialize};

/// Typed configuration of the coverage verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    /// At most one valid beacon per hotspot per interval. Helium's IoT network settled on one
    /// beacon per ~6 hours per hotspot (iot-config `beacon_interval`, 6 h).
    pub beacon_interval_ms: u64,
    /// How long block entropy stays usable for beacons after its block. Helium's entropy server
    /// rotates entropy every few minutes and accepts it for a bounded window; we allow 10 min.
    pub entropy_lifespan_ms: u64,
    /// A witness must be received within this long after the beacon's receive time.
    pub witness_max_delay_after_beacon_ms: u64,
    /// …and within this long after the first witness of the same beacon (a late witness is
    /// probably relayed, not heard). Helium's iot-verifier uses a comparable bound.
    pub witness_max_delay_after_first_ms: u64,
    /// Witnesses closer than this earn nothing (Helium: 0.3 km, `witness_too_close`).
    pub min_witness_distance_m: u64,
    /// Witnesses farther than this are invalid (Helium: 100 km, `witness_too_far`).
    pub max_witness_distance_m: u64,
    /// Allowed difference between the beacon's and the witness's frequency (Helium's
    /// `incorrect_frequency` check; 100 kHz tolerance here).
    pub frequency_tolerance_hz: u64,
    /// Extra allowance above the free-space limit, in centi-dB: covers the ±1.5 dB of distance
    /// error from H3 grid distance (see `physics::distance_m`) and receiver calibration error.
    pub rssi_tolerance_centi_db: i64,
    /// Reciprocity looks back this many epochs besides the current one (Helium required recent
    /// participation in both roles; with daily epochs, 2 means the last three days).
    pub reciprocity_window_epochs: u64,
    /// Whether a witness counts when its hotspot has the same owner as the beaconer. Off by
    /// default: an operator's hotspots vouching for each other prove nothing to the network (the
    /// devnet's Sybil cluster earns as much as honest hotspots otherwise), and honest operators
    /// lose only the witnesses among their own hotspots. Helium met the same cluster with its
    /// denylist. Archives written before this setting existed were verified with it on.
    #[serde(default = "same_owner_counted_before")]
    pub count_same_owner_witnesses: bool,
    /// Count only the first valid witness of each owner per beacon (by receive time): an
    /// operator's several radios hearing one beacon prove one reception, and a Sybil cluster's
    /// members share one witness reward. Off in archives from before the rule.
    #[serde(default)]
    pub one_witness_per_owner: bool,
    /// Witnesses weaker than this cannot have decoded the beacon (an SX1302 at SF12 decodes
    /// down to about −137 dBm; −140 dBm leaves margin). `None` in archives from before the
    /// check.
    #[serde(default)]
    pub min_rssi_centi_dbm: Option<i64>,
    /// The environment check (see [`crate::environment`]); `None` in archives from before it.
    #[serde(default)]
    pub environment: Option<crate::environment::EnvironmentCheck>,
    /// The location fit (see [`crate::locate`]), run after the environment check and only with
    /// it; `None` in archives from before it.
    #[serde(default)]
    pub location_fit: Option<crate::locate::LocationFit>,
}

fn same_owner_counted_before() -> bool {
    true
}

impl Default for CoverageConfig {
    fn default() -> Self {
        CoverageConfig {
            beacon_interval_ms: 6 * 3_600_000,
            entropy_lifespan_ms: 10 * 60_000,
            witness_max_delay_after_beacon_ms: 10_000,
            witness_max_delay_after_first_ms: 2_000,
            min_witness_distance_m: 300,
            max_witness_distance_m: 100_000,
            frequency_tolerance_hz: 100_000,
            rssi_tolerance_centi_db: 300,
            reciprocity_window_epochs: 2,
            count_same_owner_witnesses: false,
            one_witness_per_owner: true,
            min_rssi_centi_dbm: Some(-14_000),
            environment: Some(crate::environment::EnvironmentCheck::default()),
            location_fit: Some(crate::locate::LocationFit::default()),
        }
    }
}
