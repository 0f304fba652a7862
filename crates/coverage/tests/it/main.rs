//! One test per invalid reason, each producing exactly that reason, and honest reports that stay
//! valid.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use trellis_coverage::{
    entropy::beacon_payload,
    physics::{distance_m, max_rssi_centi_dbm},
    verify::{verify_witnesses, VerifyContext},
    verify_beacon, verify_witness, BeaconInvalid, BeaconReport, CoverageConfig, HotspotFacts, WitnessInvalid,
    WitnessReport,
};
use trellis_primitives::{AccountAddress, DeviceAddress, Hash, HashDomain, Keypair, Location};

mod field;

const T0: u64 = 1_800_000_000_000;
const FREQ: u64 = 904_300_000;

fn dev(n: u8) -> DeviceAddress {
    Keypair::from_seed([n; 32]).public().into()
}

fn entropy() -> Hash {
    HashDomain::BlockHeader.hash(b"block 100")
}

/// A small world: hotspot 1 beacons in San Francisco; 2 is 1.1 km north; 3 is 50 m away; 4 is
/// 150 km away; 5 is a storage device; 6 has no location; 7 is in another region.
struct World {
    facts: BTreeMap<DeviceAddress, HotspotFacts>,
    config: CoverageConfig,
    denylist: BTreeSet<DeviceAddress>,
    edges: BTreeSet<(DeviceAddress, DeviceAddress)>,
}

fn at(lat: f64, lng: f64) -> Option<Location> {
    Some(Location::from_degrees(lat, lng).unwrap())
}

impl World {
    fn new() -> World {
        let hs = |location, region| HotspotFacts {
            is_hotspot: true,
            location,
            gain_centi_dbi: 300,
            region,
            owner: None,
        };
        let mut facts = BTreeMap::new();
        facts.insert(dev(1), hs(at(37.7700, -122.4200), 1));
        facts.insert(dev(2), hs(at(37.7800, -122.4200), 1));
        facts.insert(dev(3), hs(at(37.7704, -122.4200), 1));
        facts.insert(dev(4), hs(at(39.1200, -122.4200), 1));
        facts.insert(
            dev(5),
            HotspotFacts {
                is_hotspot: false,
                ..hs(at(37.78, -122.43), 1)
            },
        );
        facts.insert(dev(6), hs(None, 1));
        facts.insert(dev(7), hs(at(37.7800, -122.4100), 2));
        World {
            facts,
            config: CoverageConfig::default(),
            denylist: BTreeSet::new(),
            edges: BTreeSet::new(),
        }
    }

    fn check<T>(&self, f: impl FnOnce(&VerifyContext<'_>) -> T) -> T {
        let hotspot = |d: &DeviceAddress| self.facts.get(d).cloned();
        let entropy_time = |h: &Hash| (*h == entropy()).then_some(T0);
        let ctx = VerifyContext {
            config: &self.config,
            hotspot: &hotspot,
            entropy_time_ms: &entropy_time,
            denylist: &self.denylist,
            denylisted_edges: &self.edges,
        };
        f(&ctx)
    }
}

fn beacon() -> BeaconReport {
    BeaconReport {
        beaconer: dev(1),
        entropy: entropy(),
        payload: beacon_payload(&entropy(), &dev(1)).to_vec(),
        frequency_hz: FREQ,
        tx_power_centi_dbm: 2_700,
        received_ms: T0 + 60_000,
    }
}

/// An honest witness by `n`: RSSI 20 dB under the free-space limit for its asserted distance.
fn witness(w: &World, n: u8) -> WitnessReport {
    let d = distance_m(
        w.facts[&dev(1)].location.unwrap().cell(),
        w.facts[&dev(n)]
            .location
            .unwrap_or(w.facts[&dev(2)].location.unwrap())
            .cell(),
    )
    .unwrap();
    let limit = max_rssi_centi_dbm(2_700, 300, 300, d.max(1), FREQ);
    WitnessReport {
        witness: dev(n),
        payload: beacon().payload,
        frequency_hz: FREQ,
        rssi_centi_dbm: limit - 2_000,
        received_ms: T0 + 60_500,
    }
}

fn beacon_verdict(w: &World, b: &BeaconReport, last: Option<u64>) -> Result<(), BeaconInvalid> {
    w.check(|ctx| verify_beacon(ctx, b, last).map(|_| ()))
}

fn witness_verdict(w: &World, wr: &WitnessReport) -> Result<(), WitnessInvalid> {
    let b = beacon();
    w.check(|ctx| {
        let facts = verify_beacon(ctx, &b, None).unwrap();
        verify_witness(ctx, &b, &facts, wr, T0 + 60_500)
    })
}

#[test]
fn honest_beacon_and_witness_are_valid() {
    let w = World::new();
    assert_eq!(beacon_verdict(&w, &beacon(), None), Ok(()));
    assert_eq!(
        beacon_verdict(&w, &beacon(), Some(beacon().received_ms - w.config.beacon_interval_ms)),
        Ok(())
    );
    assert_eq!(witness_verdict(&w, &witness(&w, 2)), Ok(()));
}

#[test]
fn beacon_from_unknown_device_is_unknown_device() {
    let w = World::new();
    let b = BeaconReport {
        beaconer: dev(99),
        payload: beacon_payload(&entropy(), &dev(99)).to_vec(),
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &b, None), Err(BeaconInvalid::UnknownDevice));
}

#[test]
fn beacon_from_a_storage_device_is_not_a_hotspot() {
    let w = World::new();
    let b = BeaconReport {
        beaconer: dev(5),
        payload: beacon_payload(&entropy(), &dev(5)).to_vec(),
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &b, None), Err(BeaconInvalid::NotAHotspot));
}

#[test]
fn beacon_without_location_is_no_asserted_location() {
    let w = World::new();
    let b = BeaconReport {
        beaconer: dev(6),
        payload: beacon_payload(&entropy(), &dev(6)).to_vec(),
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &b, None), Err(BeaconInvalid::NoAssertedLocation));
}

#[test]
fn denylisted_beaconer_is_denylisted() {
    let mut w = World::new();
    w.denylist.insert(dev(1));
    assert_eq!(beacon_verdict(&w, &beacon(), None), Err(BeaconInvalid::Denylisted));
}

#[test]
fn beacon_with_unknown_entropy_is_unknown_entropy() {
    let w = World::new();
    let fake = HashDomain::BlockHeader.hash(b"not a block");
    let b = BeaconReport {
        entropy: fake,
        payload: beacon_payload(&fake, &dev(1)).to_vec(),
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &b, None), Err(BeaconInvalid::UnknownEntropy));
}

#[test]
fn beacon_after_the_entropy_lifespan_or_before_its_block_is_stale() {
    let w = World::new();
    let late = BeaconReport {
        received_ms: T0 + w.config.entropy_lifespan_ms + 1,
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &late, None), Err(BeaconInvalid::StaleEntropy));
    let early = BeaconReport {
        received_ms: T0 - 1,
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &early, None), Err(BeaconInvalid::StaleEntropy));
}

#[test]
fn beacon_with_a_precomputed_or_foreign_payload_is_a_payload_mismatch() {
    let w = World::new();
    let b = BeaconReport {
        payload: beacon_payload(&entropy(), &dev(2)).to_vec(),
        ..beacon()
    };
    assert_eq!(beacon_verdict(&w, &b, None), Err(BeaconInvalid::PayloadMismatch));
}

#[test]
fn second_beacon_within_the_interval_is_too_frequent() {
    let w = World::new();
    let last = beacon().received_ms - w.config.beacon_interval_ms + 1;
    assert_eq!(
        beacon_verdict(&w, &beacon(), Some(last)),
        Err(BeaconInvalid::TooFrequent)
    );
}

#[test]
fn witness_reasons_for_identity_and_lists() {
    let mut w = World::new();
    assert_eq!(
        witness_verdict(
            &w,
            &WitnessReport {
                witness: dev(99),
                ..witness(&w, 2)
            }
        ),
        Err(WitnessInvalid::UnknownDevice)
    );
    assert_eq!(
        witness_verdict(
            &w,
            &WitnessReport {
                witness: dev(5),
                ..witness(&w, 2)
            }
        ),
        Err(WitnessInvalid::NotAHotspot)
    );
    assert_eq!(
        witness_verdict(
            &w,
            &WitnessReport {
                witness: dev(6),
                ..witness(&w, 2)
            }
        ),
        Err(WitnessInvalid::NoAssertedLocation)
    );
    let honest = witness(&w, 2);
    w.edges.insert((dev(1), dev(2)));
    assert_eq!(witness_verdict(&w, &honest), Err(WitnessInvalid::DenylistedEdge));
    w.denylist.insert(dev(2));
    assert_eq!(witness_verdict(&w, &honest), Err(WitnessInvalid::Denylisted));
}

#[test]
fn hotspot_witnessing_its_own_beacon_is_a_self_witness() {
    let w = World::new();
    let own = WitnessReport {
        witness: dev(1),
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &own), Err(WitnessInvalid::SelfWitness));
}

#[test]
fn a_witness_of_the_same_owner_is_invalid_unless_configured() {
    let mut w = World::new();
    let owner = AccountAddress::from(Keypair::from_seed([77; 32]).public());
    let other = AccountAddress::from(Keypair::from_seed([78; 32]).public());
    w.facts.get_mut(&dev(1)).unwrap().owner = Some(owner);
    w.facts.get_mut(&dev(2)).unwrap().owner = Some(owner);
    let honest = witness(&w, 2);
    assert_eq!(witness_verdict(&w, &honest), Err(WitnessInvalid::SameOwner));
    w.config.count_same_owner_witnesses = true;
    assert_eq!(witness_verdict(&w, &honest), Ok(()));
    w.config.count_same_owner_witnesses = false;
    w.facts.get_mut(&dev(2)).unwrap().owner = Some(other);
    assert_eq!(witness_verdict(&w, &honest), Ok(()));
    // Archived settings from before the rule existed verify as they did then.
    let mut old = serde_json::to_value(CoverageConfig::default()).unwrap();
    old.as_object_mut().unwrap().remove("count_same_owner_witnesses");
    let old: CoverageConfig = serde_json::from_value(old).unwrap();
    assert!(old.count_same_owner_witnesses);
}

#[test]
fn witness_timing_reasons() {
    let w = World::new();
    let expired = WitnessReport {
        received_ms: T0 + w.config.entropy_lifespan_ms + 1,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &expired), Err(WitnessInvalid::StaleEntropy));
    let late = WitnessReport {
        received_ms: beacon().received_ms + w.config.witness_max_delay_after_beacon_ms + 1,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &late), Err(WitnessInvalid::TooLateAfterBeacon));
    // Within the beacon bound but 2 s after the first witness (at T0 + 60.5 s).
    let straggler = WitnessReport {
        received_ms: T0 + 60_500 + w.config.witness_max_delay_after_first_ms + 1,
        ..witness(&w, 2)
    };
    assert_eq!(
        witness_verdict(&w, &straggler),
        Err(WitnessInvalid::TooLateAfterFirstWitness)
    );
}

#[test]
fn witness_signal_reasons() {
    let w = World::new();
    let wrong_payload = WitnessReport {
        payload: vec![0; 16],
        ..witness(&w, 2)
    };
    assert_eq!(
        witness_verdict(&w, &wrong_payload),
        Err(WitnessInvalid::PayloadMismatch)
    );
    let wrong_freq = WitnessReport {
        frequency_hz: FREQ + w.config.frequency_tolerance_hz + 1,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &wrong_freq), Err(WitnessInvalid::WrongFrequency));
    let edge_freq = WitnessReport {
        frequency_hz: FREQ + w.config.frequency_tolerance_hz,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &edge_freq), Ok(()));
    assert_eq!(witness_verdict(&w, &witness(&w, 7)), Err(WitnessInvalid::WrongRegion));
}

#[test]
fn witness_distance_reasons() {
    let w = World::new();
    assert_eq!(witness_verdict(&w, &witness(&w, 3)), Err(WitnessInvalid::TooClose));
    assert_eq!(witness_verdict(&w, &witness(&w, 4)), Err(WitnessInvalid::TooFar));
}

#[test]
fn rssi_above_free_space_path_loss_is_rejected_and_just_below_is_accepted() {
    let w = World::new();
    let d = distance_m(
        w.facts[&dev(1)].location.unwrap().cell(),
        w.facts[&dev(2)].location.unwrap().cell(),
    )
    .unwrap();
    // 1.1 km at 904.3 MHz: FSPL ≈ 92.5 dB; 27 dBm + 3 + 3 dBi -> limit ≈ -59.5 dBm.
    let limit = max_rssi_centi_dbm(2_700, 300, 300, d, FREQ);
    assert!((-6_100..=-5_800).contains(&limit), "{limit}");
    let at_limit = WitnessReport {
        rssi_centi_dbm: limit + w.config.rssi_tolerance_centi_db,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &at_limit), Ok(()));
    let forged = WitnessReport {
        rssi_centi_dbm: limit + w.config.rssi_tolerance_centi_db + 1,
        ..witness(&w, 2)
    };
    assert_eq!(witness_verdict(&w, &forged), Err(WitnessInvalid::RssiAboveFreeSpace));
}

#[test]
fn repeated_witness_is_a_duplicate_and_order_does_not_change_verdicts() {
    let w = World::new();
    let b = beacon();
    let first = witness(&w, 2);
    let again = WitnessReport {
        received_ms: first.received_ms + 100,
        ..first.clone()
    };
    let close = witness(&w, 3);
    let verdicts = |reports: &[WitnessReport]| {
        w.check(|ctx| {
            let facts = verify_beacon(ctx, &b, None).unwrap();
            verify_witnesses(ctx, &b, &facts, reports)
        })
    };
    let forward = verdicts(&[first.clone(), again.clone(), close.clone()]);
    let reversed = verdicts(&[close, again, first]);
    assert_eq!(forward, reversed);
    let reasons: Vec<_> = forward.iter().map(|(r, v)| (r.witness, *v)).collect();
    assert!(reasons.contains(&(dev(2), Ok(()))));
    assert!(reasons.contains(&(dev(2), Err(WitnessInvalid::Duplicate))));
    assert!(reasons.contains(&(dev(3), Err(WitnessInvalid::TooClose))));
}

mod epoch_shares {
    use super::*;
    use trellis_coverage::{
        epoch::{coverage_shares, verify_epoch, History, ShareInputs},
        redundancy::RedundancyConfig,
    };
    use trellis_primitives::AccountAddress;

    fn owner(d: &DeviceAddress) -> Option<AccountAddress> {
        Some(AccountAddress(*d.key()))
    }

    fn run(
        w: &World,
        beacons: &[BeaconReport],
        witnesses: &[WitnessReport],
        reciprocal: bool,
    ) -> Vec<trellis_rewards::DeviceShare> {
        let outcomes = w.check(|ctx| verify_epoch(ctx, beacons, witnesses, &History::default()));
        let scales = BTreeMap::new();
        let (recent_w, recent_b): (BTreeSet<_>, BTreeSet<_>) = if reciprocal {
            ([dev(1)].into(), [dev(2)].into())
        } else {
            (BTreeSet::new(), BTreeSet::new())
        };
        let inputs = ShareInputs {
            redundancy: &RedundancyConfig::default(),
            transmit_scale_ppm: &scales,
            owner: &owner,
            recent_witnessers: &recent_w,
            recent_beaconers: &recent_b,
        };
        coverage_shares(&outcomes, &inputs)
    }

    fn units(shares: &[trellis_rewards::DeviceShare], d: DeviceAddress) -> u64 {
        shares.iter().find(|s| s.device == d).map_or(0, |s| s.units)
    }

    #[test]
    fn one_beacon_one_witness_pays_a_quarter_unit_each() {
        let w = World::new();
        let shares = run(&w, &[beacon()], &[witness(&w, 2)], true);
        assert_eq!(units(&shares, dev(1)), 250_000);
        assert_eq!(units(&shares, dev(2)), 250_000);
    }

    #[test]
    fn without_reciprocity_nobody_earns_and_the_reason_is_recorded() {
        let w = World::new();
        let shares = run(&w, &[beacon()], &[witness(&w, 2)], false);
        assert_eq!(units(&shares, dev(1)) + units(&shares, dev(2)), 0);
        let b = shares.iter().find(|s| s.device == dev(1)).unwrap();
        assert_eq!(b.breakdown.rejected_reports.get("beacon_no_reciprocity"), Some(&1));
    }

    #[test]
    fn rssi_forger_and_too_close_witness_earn_nothing_and_do_not_dilute_honest_ones() {
        let w = World::new();
        let honest = witness(&w, 2);
        let mut forged = witness(&w, 4);
        forged.rssi_centi_dbm = -3_000; // -30 dBm from 150 km away
        let close = witness(&w, 3);
        let shares = run(&w, &[beacon()], &[honest, forged, close], true);
        assert_eq!(units(&shares, dev(2)), 250_000, "still the only valid witness");
        assert_eq!(units(&shares, dev(4)) + units(&shares, dev(3)), 0);
        let f = shares.iter().find(|s| s.device == dev(4)).unwrap();
        assert_eq!(f.breakdown.rejected_reports.get("witness_too_far"), Some(&1));
        let c = shares.iter().find(|s| s.device == dev(3)).unwrap();
        assert_eq!(c.breakdown.rejected_reports.get("witness_too_close"), Some(&1));
    }

    #[test]
    fn verdicts_and_shares_do_not_depend_on_input_order() {
        let w = World::new();
        let ws = [witness(&w, 2), witness(&w, 3), witness(&w, 4), witness(&w, 7)];
        let mut reversed = ws.to_vec();
        reversed.reverse();
        let a = serde_json::to_vec(&run(&w, &[beacon()], &ws, true)).unwrap();
        let b = serde_json::to_vec(&run(&w, &[beacon()], &reversed, true)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_second_beacon_in_the_interval_is_judged_after_the_first_whatever_the_input_order() {
        let w = World::new();
        let first = beacon();
        let second = BeaconReport {
            received_ms: first.received_ms + 1_000,
            ..beacon()
        };
        let outcomes = |bs: &[BeaconReport]| w.check(|ctx| verify_epoch(ctx, bs, &[], &History::default()));
        let forward = outcomes(&[first.clone(), second.clone()]);
        let backward = outcomes(&[second, first]);
        assert_eq!(forward, backward);
        assert_eq!(forward[0].verdict, Ok(()));
        assert_eq!(forward[1].verdict, Err(BeaconInvalid::TooFrequent));
    }

    #[test]
    fn history_carries_the_beacon_interval_and_reciprocity_across_epochs() {
        let w = World::new();
        // Epoch e-1: hotspot 1 beacons, 2 witnesses it validly.
        let earlier = w.check(|ctx| verify_epoch(ctx, &[beacon()], &[witness(&w, 2)], &History::default()));
        let mut history = History::default();
        history.absorb(&earlier);
        assert_eq!(history.last_beacon_ms.get(&dev(1)), Some(&beacon().received_ms));
        assert!(history.recent_beaconers.contains(&dev(1)) && history.recent_witnessers.contains(&dev(2)));
        // Epoch e: a beacon one second later is within the interval, whatever the epoch boundary.
        let soon = BeaconReport {
            received_ms: beacon().received_ms + 1_000,
            ..beacon()
        };
        let now = w.check(|ctx| verify_epoch(ctx, &[soon], &[], &history));
        assert_eq!(now[0].verdict, Err(BeaconInvalid::TooFrequent));
    }
}
