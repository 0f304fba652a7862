//! A field of hotspots on a simulated air (log-distance path loss, seeded log-normal fading):
//! the checks that judge a link against the network's own measurements — the environment check
//! and the location fit — on honest fields and on radios that are not where they say.

use super::*;
use trellis_coverage::{
    epoch::{verify_epoch, History, PocOutcome},
    locate::BiasFit,
    physics::fspl_centi_db,
};

const ORIGIN: (f64, f64) = (37.74, -122.46);
/// 7 × 7 hotspots, 1.5 km apart.
const SIDE: usize = 7;
const SPACING_M: f64 = 1_500.0;

fn offset(p: (f64, f64), east_m: f64, north_m: f64) -> (f64, f64) {
    (
        p.0 + north_m / 111_200.0,
        p.1 + east_m / (111_200.0 * p.0.to_radians().cos()),
    )
}

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let north = (b.0 - a.0) * 111_200.0;
    let east = (b.1 - a.1) * 111_200.0 * a.0.to_radians().cos();
    (north * north + east * east).sqrt()
}

/// splitmix64: the fading's seeded draws.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A standard normal draw from `seed` (sum of twelve uniforms).
fn normal(seed: u64) -> f64 {
    (0..12u64)
        .map(|k| (mix(seed ^ mix(k)) >> 11) as f64 / (1u64 << 53) as f64)
        .sum::<f64>()
        - 6.0
}

/// One radio: where it really is and where it says it is.
struct Radio {
    id: u8,
    actual: (f64, f64),
    asserted: (f64, f64),
}

struct Field {
    radios: Vec<Radio>,
    world: World,
}

/// The honest grid, then `extra` radios.
fn field(extra: Vec<Radio>) -> Field {
    let mut radios = Vec::new();
    for r in 0..SIDE {
        for c in 0..SIDE {
            let p = offset(ORIGIN, c as f64 * SPACING_M, r as f64 * SPACING_M);
            radios.push(Radio {
                id: 100 + (r * SIDE + c) as u8,
                actual: p,
                asserted: p,
            });
        }
    }
    radios.extend(extra);
    let mut world = World::new();
    world.facts.clear();
    for r in &radios {
        world.facts.insert(
            dev(r.id),
            HotspotFacts {
                is_hotspot: true,
                location: at(r.asserted.0, r.asserted.1),
                gain_centi_dbi: 300,
                region: 1,
                owner: Some(AccountAddress(*dev(r.id).key())),
            },
        );
    }
    Field { radios, world }
}

/// Exponent 3.5, σ 6 dB, decoded down to −130 dBm: every radio beacons once; everyone in range
/// witnesses at the RSSI its real distance gives.
fn epoch(f: &Field, round: u64) -> Vec<PocOutcome> {
    let mut beacons = Vec::new();
    let mut witnesses = Vec::new();
    for (k, b) in f.radios.iter().enumerate() {
        let payload = beacon_payload(&entropy(), &dev(b.id)).to_vec();
        let at_ms = T0 + 60_000 + k as u64 * 1_000;
        beacons.push(BeaconReport {
            beaconer: dev(b.id),
            entropy: entropy(),
            payload: payload.clone(),
            frequency_hz: FREQ,
            tx_power_centi_dbm: 2_700,
            received_ms: at_ms,
        });
        for w in f.radios.iter().filter(|w| w.id != b.id) {
            let d = metres(b.actual, w.actual).max(1.0);
            let fade = 6.0 * normal(mix(round) ^ (u64::from(b.id) << 8 | u64::from(w.id)));
            let loss = fspl_centi_db(1, FREQ) as f64 / 100.0 + 35.0 * d.log10() - fade;
            let rssi = 27.0 + 6.0 - loss;
            if rssi < -130.0 {
                continue;
            }
            witnesses.push(WitnessReport {
                witness: dev(w.id),
                payload: payload.clone(),
                frequency_hz: FREQ,
                rssi_centi_dbm: (rssi * 100.0).round() as i64,
                received_ms: at_ms + 300,
            });
        }
    }
    f.world
        .check(|ctx| verify_epoch(ctx, &beacons, &witnesses, &History::default()))
}

/// One radio's verdicts: on its beacons, and on its witnesses of others.
struct Verdicts(Vec<Result<(), BeaconInvalid>>, Vec<Result<(), WitnessInvalid>>);

fn verdicts_of(outcomes: &[PocOutcome], id: u8) -> Verdicts {
    let beacons = outcomes
        .iter()
        .filter(|o| o.beacon.beaconer == dev(id))
        .map(|o| o.verdict)
        .collect();
    let witnesses = outcomes
        .iter()
        .flat_map(|o| o.witnesses.iter())
        .filter(|(w, _)| w.witness == dev(id))
        .map(|(_, v)| *v)
        .collect();
    Verdicts(beacons, witnesses)
}

/// None of `verdicts` is valid, and at least half carry `reason` (the rest failed earlier checks,
/// such as a link closer than the minimum distance).
fn assert_none_valid_mostly(verdicts: &[Result<(), WitnessInvalid>], reason: WitnessInvalid) {
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(Result::is_err), "{verdicts:?}");
    let with_reason = verdicts.iter().filter(|v| **v == Err(reason)).count();
    assert!(with_reason * 2 >= verdicts.len(), "{verdicts:?}");
}

fn count_witness(outcomes: &[PocOutcome], reason: WitnessInvalid) -> usize {
    outcomes
        .iter()
        .flat_map(|o| o.witnesses.iter())
        .filter(|(_, v)| *v == Err(reason))
        .count()
}

fn centre() -> (f64, f64) {
    offset(ORIGIN, 3.0 * SPACING_M + 700.0, 3.0 * SPACING_M + 700.0)
}

#[test]
fn an_honest_field_keeps_its_beacons_and_almost_all_its_links() {
    let f = field(Vec::new());
    for round in 0..4 {
        let outcomes = epoch(&f, round);
        assert_eq!(outcomes.len(), SIDE * SIDE);
        assert!(outcomes.iter().all(|o| o.verdict.is_ok()), "round {round}");
        let links: usize = outcomes.iter().map(|o| o.witnesses.len()).sum();
        assert!(links > 800, "{links}");
        // 4 σ of Gaussian fading: 3·10⁻⁵ per link.
        assert!(count_witness(&outcomes, WitnessInvalid::RssiAboveEnvironment) <= 1);
        assert_eq!(count_witness(&outcomes, WitnessInvalid::LocatedElsewhere), 0);
    }
}

#[test]
fn a_radio_two_kilometres_from_its_claim_is_located_elsewhere() {
    let real = centre();
    let f = field(vec![Radio {
        id: 1,
        actual: real,
        asserted: offset(real, 2_000.0, 300.0),
    }]);
    for round in 0..3 {
        let outcomes = epoch(&f, round);
        let Verdicts(beacons, witnesses) = verdicts_of(&outcomes, 1);
        assert_eq!(beacons, vec![Err(BeaconInvalid::LocatedElsewhere)], "round {round}");
        assert!(witnesses.len() > 10, "{}", witnesses.len());
        assert_none_valid_mostly(&witnesses, WitnessInvalid::LocatedElsewhere);
        // Nobody else is blamed.
        let elsewhere = witnesses
            .iter()
            .filter(|v| **v == Err(WitnessInvalid::LocatedElsewhere))
            .count();
        assert_eq!(count_witness(&outcomes, WitnessInvalid::LocatedElsewhere), elsewhere);
        assert_eq!(outcomes.iter().filter(|o| o.verdict.is_err()).count(), 1);
    }
}

#[test]
fn every_identity_of_a_sybil_site_is_located_elsewhere() {
    let site = centre();
    let cluster = (0..4u8)
        .map(|k| {
            let angle = f64::from(k) * std::f64::consts::FRAC_PI_2 + 0.4;
            Radio {
                id: 10 + k,
                actual: site,
                asserted: offset(site, 2_200.0 * angle.cos(), 2_200.0 * angle.sin()),
            }
        })
        .collect();
    let f = field(cluster);
    let outcomes = epoch(&f, 9);
    // Witnesses of a beacon that is itself invalid keep their verdicts (nobody is paid for it).
    let valid_beacons: Vec<PocOutcome> = outcomes.iter().filter(|o| o.verdict.is_ok()).cloned().collect();
    for id in 10..14 {
        let Verdicts(beacons, _) = verdicts_of(&outcomes, id);
        assert_eq!(beacons, vec![Err(BeaconInvalid::LocatedElsewhere)], "identity {id}");
        let Verdicts(_, witnesses) = verdicts_of(&valid_beacons, id);
        assert_none_valid_mostly(&witnesses, WitnessInvalid::LocatedElsewhere);
    }
    // The honest field keeps its beacons but for the fit's false alarms (about 0.6 % of
    // hotspot-epochs at its threshold: see the next test); this epoch has one, on the field's
    // edge, 10.4 σ² better 1.3 km off with no Sybil link in its fit.
    let honest_flagged = f
        .radios
        .iter()
        .filter(|r| r.id >= 100 && verdicts_of(&outcomes, r.id).0 != vec![Ok(())])
        .count();
    assert!(honest_flagged <= 1, "{honest_flagged}");
}

#[test]
fn a_claim_within_the_minimum_offset_is_not_judged() {
    let real = centre();
    let f = field(vec![Radio {
        id: 1,
        actual: real,
        asserted: offset(real, 500.0, 0.0),
    }]);
    let Verdicts(beacons, witnesses) = verdicts_of(&epoch(&f, 0), 1);
    assert_eq!(beacons, vec![Ok(())]);
    assert!(witnesses.iter().all(Result::is_ok), "{witnesses:?}");
}

#[test]
fn a_radio_claiming_a_place_far_beyond_its_range_is_location_inconsistent() {
    // Heard at 1–5 km by radios it claims to be 25 km from: every link far above what the
    // field's own exponent allows.
    let real = centre();
    let f = field(vec![Radio {
        id: 1,
        actual: real,
        asserted: offset(real, 0.0, 25_000.0),
    }]);
    let outcomes = epoch(&f, 0);
    let Verdicts(beacons, witnesses) = verdicts_of(&outcomes, 1);
    assert_eq!(beacons, vec![Err(BeaconInvalid::LocationInconsistent)]);
    assert!(!witnesses.is_empty());
    // The links heard too well are marked as such, and the rest go with them: a witness that
    // hears most beacons too well is not where it says.
    assert_none_valid_mostly(&witnesses, WitnessInvalid::RssiAboveEnvironment);
    assert!(
        witnesses.contains(&Err(WitnessInvalid::LocationInconsistent)),
        "{witnesses:?}"
    );
}

#[test]
fn without_the_location_fit_a_two_kilometre_spoof_passes() {
    // The fit is what catches it: the environment check alone cannot (inside honest fading).
    let real = centre();
    let mut f = field(vec![Radio {
        id: 1,
        actual: real,
        asserted: offset(real, 2_000.0, 300.0),
    }]);
    f.world.config.location_fit = None;
    let Verdicts(beacons, _) = verdicts_of(&epoch(&f, 0), 1);
    assert_eq!(beacons, vec![Ok(())]);
}

#[test]
fn the_fit_does_not_depend_on_report_order() {
    let real = centre();
    let f = field(vec![Radio {
        id: 1,
        actual: real,
        asserted: offset(real, 1_800.0, -900.0),
    }]);
    let forward = epoch(&f, 3);
    let mut reversed = Field {
        radios: Vec::new(),
        world: World::new(),
    };
    reversed.world.facts = f.world.facts.clone();
    reversed.radios = f
        .radios
        .iter()
        .rev()
        .map(|r| Radio {
            id: r.id,
            actual: r.actual,
            asserted: r.asserted,
        })
        .collect();
    // Same links, other order of arrival: the verdicts per report are the same.
    let backward = epoch(&reversed, 3);
    let key = |o: &[PocOutcome]| {
        let mut v: Vec<_> = o
            .iter()
            .flat_map(|o| {
                std::iter::once((o.beacon.beaconer, None, format!("{:?}", o.verdict))).chain(
                    o.witnesses
                        .iter()
                        .map(move |(w, v)| (o.beacon.beaconer, Some(w.witness), format!("{v:?}"))),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&forward), key(&backward));
}

#[test]
fn honest_hotspots_are_rarely_located_elsewhere_and_less_with_the_profiled_bias() {
    // Sixty epochs of fresh fading over the honest field: the fit's false alarms per
    // hotspot-epoch, under the default settings and under the median bias at the same
    // threshold. The profile is what lets the threshold sit at 10 σ².
    let flagged = |bias: BiasFit| {
        let mut f = field(Vec::new());
        let fit = f.world.config.location_fit.as_mut().expect("on by default");
        fit.bias = bias;
        (100..160u64)
            .map(|round| epoch(&f, round).iter().filter(|o| o.verdict.is_err()).count())
            .sum::<usize>()
    };
    let hotspot_epochs = 60 * SIDE * SIDE;
    let (profiled, median) = (flagged(BiasFit::Profiled), flagged(BiasFit::ClearMedian));
    assert!(profiled * 100 <= hotspot_epochs, "{profiled} of {hotspot_epochs}");
    assert!(profiled * 3 < median * 2, "profiled {profiled}, median {median}");
    // Settings archived before the profile and the final recheck read back as the old rule.
    let mut old = serde_json::to_value(trellis_coverage::CoverageConfig::default()).unwrap();
    let fit = old["location_fit"].as_object_mut().unwrap();
    fit.remove("bias");
    fit.remove("recheck_flagged");
    let old: trellis_coverage::CoverageConfig = serde_json::from_value(old).unwrap();
    let fit = old.location_fit.unwrap();
    assert_eq!((fit.bias, fit.recheck_flagged), (BiasFit::ClearMedian, false));
    // A rule the fit does not know is refused by name, not read as a default.
    let mut odd = serde_json::to_value(trellis_coverage::CoverageConfig::default()).unwrap();
    odd["location_fit"]["bias"] = "mean".into();
    let err = serde_json::from_value::<trellis_coverage::CoverageConfig>(odd)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown variant `mean`") && err.contains("profiled"),
        "{err}"
    );
}
