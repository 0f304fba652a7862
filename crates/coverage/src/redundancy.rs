//! Reward units per beacon with diminishing returns for redundant witnesses (HIP-15).
//!
//! HIP-15 ("Beaconing rewards"): with `w` valid witnesses of a beacon and redundancy target `N`
//! (Helium: 4) and decay `r` (Helium: 0.8), the beacon's normalised witness value is
//! `w / N` for `w ≤ N` and `1 + (1 − r^(w−N))` above it, approaching 2. The beaconer earns that
//! value; the witnesses share it equally. Only the first `max_witnesses` valid witnesses (by
//! arrival) count (Helium: 14).
//!
//! Units are micro-units (10^-6) in integers; shares round down, and the decay term rounds down
//! (so a value above `N` witnesses is at most one micro-unit generous).

use serde::{Deserialize, Serialize};

/// One unit, in micro-units.
pub const UNIT: u64 = 1_000_000;

/// HIP-15 parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedundancyConfig {
    /// Witnesses per beacon before returns diminish (HIP-15 `witness_redundancy`: 4).
    pub witness_redundancy: u32,
    /// Decay numerator/denominator (HIP-15 `poc_reward_decay_rate`: 0.8).
    pub decay_num: u32,
    /// Decay denominator.
    pub decay_den: u32,
    /// Valid witnesses per beacon that count, first arrivals first (Helium: 14).
    pub max_witnesses: u32,
}

impl Default for RedundancyConfig {
    fn default() -> Self {
        RedundancyConfig {
            witness_redundancy: 4,
            decay_num: 8,
            decay_den: 10,
            max_witnesses: 14,
        }
    }
}

/// Reward units of one beacon and of each of its witnesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BeaconUnits {
    /// The beaconer's units.
    pub beaconer_micro: u64,
    /// Each counted witness's units.
    pub per_witness_micro: u64,
    /// How many witnesses counted (≤ `max_witnesses`).
    pub counted_witnesses: u32,
}

/// Units for a beacon with `valid_witnesses` valid witnesses.
pub fn beacon_units(config: &RedundancyConfig, valid_witnesses: u32) -> BeaconUnits {
    let w = valid_witnesses.min(config.max_witnesses);
    let n = config.witness_redundancy.max(1);
    let value: u64 = if w <= n {
        u64::from(w) * UNIT / u64::from(n)
    } else {
        // 1 + (1 − r^(w−n)) = 2 − num^k / den^k, with k ≤ max_witnesses so the powers fit u128.
        let k = w - n;
        let num = u128::from(config.decay_num).pow(k);
        let den = u128::from(config.decay_den.max(1)).pow(k);
        let decayed = (u128::from(UNIT) * num / den) as u64;
        2 * UNIT - decayed
    };
    let per_witness = if w == 0 { 0 } else { value / u64::from(w) };
    BeaconUnits {
        beaconer_micro: value,
        per_witness_micro: per_witness,
        counted_witnesses: w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hip15_values_written_out() {
        let c = RedundancyConfig::default();
        // w = 0: nothing. w = 1..4: w/4 to the beaconer, 1/4 to each witness.
        assert_eq!(
            beacon_units(&c, 0),
            BeaconUnits {
                beaconer_micro: 0,
                per_witness_micro: 0,
                counted_witnesses: 0
            }
        );
        assert_eq!(beacon_units(&c, 1).beaconer_micro, 250_000);
        assert_eq!(
            beacon_units(&c, 4),
            BeaconUnits {
                beaconer_micro: 1_000_000,
                per_witness_micro: 250_000,
                counted_witnesses: 4
            }
        );
        // w = 5: 1 + (1 − 0.8) = 1.2; each of 5 gets 0.24.
        assert_eq!(
            beacon_units(&c, 5),
            BeaconUnits {
                beaconer_micro: 1_200_000,
                per_witness_micro: 240_000,
                counted_witnesses: 5
            }
        );
        // w = 6: 1 + (1 − 0.64) = 1.36; each of 6 gets 0.226666 (rounded down).
        assert_eq!(
            beacon_units(&c, 6),
            BeaconUnits {
                beaconer_micro: 1_360_000,
                per_witness_micro: 226_666,
                counted_witnesses: 6
            }
        );
        // Capped at 14: 1 + (1 − 0.8^10) = 1.892625…
        let capped = beacon_units(&c, 40);
        assert_eq!(capped, beacon_units(&c, 14));
        assert_eq!(capped.beaconer_micro, 1_892_626);
        assert_eq!(capped.counted_witnesses, 14);
    }

    #[test]
    fn more_witnesses_never_lower_the_beacon_value_but_lower_each_share() {
        let c = RedundancyConfig::default();
        for w in 1..14 {
            let (a, b) = (beacon_units(&c, w), beacon_units(&c, w + 1));
            assert!(b.beaconer_micro >= a.beaconer_micro, "w={w}");
            if w >= c.witness_redundancy {
                assert!(b.per_witness_micro < a.per_witness_micro, "w={w}");
            }
        }
    }
}
