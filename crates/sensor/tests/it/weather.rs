//! Weather stations.

use super::*;
use proptest::prelude::*;
use trellis_sensor::{checks::ReadingFlag, sensor_shares, DeviceFlag};

const SF: (f64, f64) = (37.77, -122.42);

fn one(at: (f64, f64)) -> BTreeMap<DeviceAddress, SensorFacts> {
    BTreeMap::from([(device(1), facts(SensorKind::Weather, at))])
}

fn set_temp(r: &mut Reading, v: i64) {
    if let Measurement::Weather {
        temperature_centi_c, ..
    } = &mut r.measurement
    {
        *temperature_centi_c = v;
    }
}

#[test]
fn an_honest_station_scores_full_marks() {
    let e = score(&one(SF), &station(1, SF, 1_500, NOON_SF_MS, 60));
    let q = verdict(&e, 1);
    assert_eq!((q.readings, q.valid, q.expected), (60, 60, 60));
    assert!(q.device_flags.is_empty() && q.flagged.is_empty(), "{q:?}");
    assert_eq!(q.qod_ppm, 1_000_000);
    // Mean of base + i (i = 0..60) plus jitter within ±8.
    assert!((q.mean_temperature_centi_c.unwrap() - 1_529).abs() <= 8);
}

#[test]
fn missing_readings_lower_completeness_in_proportion() {
    let e = score(&one(SF), &station(1, SF, 1_500, NOON_SF_MS, 45));
    assert_eq!(verdict(&e, 1).qod_ppm, 750_000);
}

#[test]
fn impossible_values_and_spikes_are_flagged_but_steps_are_weather() {
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    set_temp(&mut r[10], 9_999); // 99.99 °C: out of range
    let spike = r[20].measurement.clone();
    if let Measurement::Weather {
        temperature_centi_c, ..
    } = spike
    {
        set_temp(&mut r[20], temperature_centi_c + 1_000); // +10 °C for one minute
    }
    // A cold front: from reading 40 on, 6 °C colder, spread over three minutes.
    for (k, x) in r.iter_mut().enumerate().skip(40) {
        let drop = (((k - 40) as i64 + 1) * 200).min(600);
        if let Measurement::Weather {
            temperature_centi_c, ..
        } = &mut x.measurement
        {
            *temperature_centi_c -= drop;
        }
    }
    let e = score(&one(SF), &r);
    let flags = flags_of(&e, 1);
    assert_eq!(flags[10], vec!["out_of_range:temperature"]);
    assert_eq!(flags[20], vec!["jump:temperature"]);
    let others: Vec<usize> = (0..60).filter(|&i| !flags[i].is_empty()).collect();
    assert_eq!(others, vec![10, 20], "{flags:?}");
    assert_eq!(verdict(&e, 1).valid, 58);
}

#[test]
fn a_stuck_sensor_is_a_flatline() {
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    for x in r.iter_mut().skip(30) {
        set_temp(x, 1_234);
    }
    let e = score(&one(SF), &r);
    let flags = flags_of(&e, 1);
    assert!(flags[..30].iter().all(|f| f.is_empty()));
    assert!(flags[30..]
        .iter()
        .all(|f| f == &vec!["flatline:temperature".to_string()]));
    assert_eq!(verdict(&e, 1).qod_ppm, 500_000);
    // Eleven identical values in a row are still a sensor's jitter, not a stuck sensor.
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    for x in r.iter_mut().skip(30).take(11) {
        set_temp(x, 1_534);
    }
    assert_eq!(verdict(&score(&one(SF), &r), 1).valid, 60);
}

#[test]
fn clock_order_and_rate_are_checked() {
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    r[5].timestamp_ms -= 45_000; // device clock 45 s behind ingest
                                 // Arrives after reading 20 but claims to be 10 s older than it.
    let mut late = r[20].clone();
    late.timestamp_ms -= 10_000;
    late.received_ms += 1_000;
    set_temp(&mut late, 1_521);
    r.insert(21, late);
    // Five seconds after reading 30 (now at 31): surplus.
    let mut extra = r[31].clone();
    extra.timestamp_ms += 5_000;
    extra.received_ms += 5_000;
    set_temp(&mut extra, 1_531);
    r.insert(32, extra);
    let e = score(&one(SF), &r);
    let flags = flags_of(&e, 1);
    assert_eq!(flags[5], vec!["clock_drift"]);
    assert_eq!(flags[21], vec!["out_of_order"]);
    assert_eq!(flags[32], vec!["too_frequent"]);
    let bad: Vec<usize> = (0..flags.len()).filter(|&i| !flags[i].is_empty()).collect();
    assert_eq!(bad, vec![5, 21, 32]);
    assert_eq!(verdict(&e, 1).valid, 59);
}

#[test]
fn a_reading_from_the_wrong_class_counts_nowhere() {
    let mut f = one(SF);
    f.get_mut(&device(1)).unwrap().kind = Some(SensorKind::Energy);
    let e = score(&f, &station(1, SF, 1_500, NOON_SF_MS, 10));
    assert!(flags_of(&e, 1).iter().all(|x| x == &vec!["wrong_class".to_string()]));
    assert_eq!(verdict(&e, 1).qod_ppm, 0);
    // Unknown devices too.
    let e = score(&BTreeMap::new(), &station(1, SF, 1_500, NOON_SF_MS, 10));
    assert_eq!(verdict(&e, 1).kind, None);
    assert_eq!(verdict(&e, 1).qod_ppm, 0);
}

#[test]
fn gps_far_from_the_asserted_place_is_a_location_mismatch_and_no_fix_is_discounted() {
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    r[7].gps_cell = cell(37.40, -122.10); // ~45 km away
    let e = score(&one(SF), &r);
    assert_eq!(verdict(&e, 1).device_flags, vec![DeviceFlag::LocationMismatch]);
    assert_eq!(verdict(&e, 1).qod_ppm, 0);
    // A fix in the next cell is GPS error.
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    r[7].gps_cell = cell(37.775, -122.425);
    assert_eq!(verdict(&score(&one(SF), &r), 1).qod_ppm, 1_000_000);
    let mut r = station(1, SF, 1_500, NOON_SF_MS, 60);
    r.iter_mut().for_each(|x| x.gps_cell = 0);
    let e = score(&one(SF), &r);
    assert_eq!(verdict(&e, 1).device_flags, vec![DeviceFlag::NoGpsFix]);
    assert_eq!(verdict(&e, 1).qod_ppm, 500_000);
}

#[test]
fn a_copier_is_caught_and_the_original_keeps_its_score() {
    let sites = [SF, (37.80, -122.27)];
    let f: BTreeMap<_, _> = [
        (device(1), facts(SensorKind::Weather, sites[0])),
        (device(2), facts(SensorKind::Weather, sites[1])),
    ]
    .into_iter()
    .collect();
    let original = station(1, sites[0], 1_500, NOON_SF_MS, 60);
    // Device 2 re-signs device 1's values a second later, with its own GPS fix.
    let copy: Vec<Reading> = original
        .iter()
        .map(|r| Reading {
            device: device(2),
            timestamp_ms: r.timestamp_ms + 1_000,
            received_ms: r.received_ms + 1_000,
            gps_cell: cell(sites[1].0, sites[1].1),
            measurement: r.measurement.clone(),
        })
        .collect();
    let all: Vec<Reading> = copy.iter().chain(&original).cloned().collect();
    let e = score(&f, &all);
    assert_eq!(verdict(&e, 1).qod_ppm, 1_000_000);
    assert_eq!(verdict(&e, 2).device_flags, vec![DeviceFlag::CopiesAnotherDevice]);
    assert_eq!(verdict(&e, 2).flagged.get("copied"), Some(&60));
    assert_eq!(verdict(&e, 2).qod_ppm, 0);
}

/// Five stations within a few km of each other; station 5 reports a fabricated 8 °C warmer.
fn neighbourhood(fabricated_offset: i64) -> (BTreeMap<DeviceAddress, SensorFacts>, Vec<Reading>) {
    let sites = [
        (37.77, -122.42),
        (37.79, -122.41),
        (37.76, -122.44),
        (37.78, -122.45),
        (37.75, -122.40),
    ];
    let mut f = BTreeMap::new();
    let mut r = Vec::new();
    for (k, site) in sites.iter().enumerate() {
        let d = k as u8 + 1;
        f.insert(device(d), facts(SensorKind::Weather, *site));
        let offset = if d == 5 { fabricated_offset } else { 20 * k as i64 };
        r.extend(station(d, *site, 1_500 + offset, NOON_SF_MS, 60));
    }
    (f, r)
}

#[test]
fn a_station_far_off_its_neighbours_median_disagrees_and_the_rest_do_not() {
    let (f, r) = neighbourhood(800);
    let e = score(&f, &r);
    for d in 1..=4 {
        let q = verdict(&e, d);
        assert!(q.device_flags.is_empty(), "station {d}: {q:?}");
        // The fabricator is one of their references too: the median shrugs it off.
        assert_eq!(q.neighbours, 4, "{q:?}");
    }
    let q = verdict(&e, 5);
    assert_eq!(q.device_flags, vec![DeviceFlag::DisagreesWithNeighbours]);
    assert_eq!(q.neighbours, 4);
    assert_eq!(q.qod_ppm, 0);
    // Within the tolerance it is weather, not fabrication.
    let (f, r) = neighbourhood(300);
    assert!(verdict(&score(&f, &r), 5).device_flags.is_empty());
}

#[test]
fn devices_in_one_hex_split_it_and_a_lone_device_earns_the_whole() {
    let (f, r) = neighbourhood(0);
    let e = score(&f, &r);
    let shares = sensor_shares(&QodConfig::default(), &f, &e);
    assert_eq!(shares.len(), 5);
    let hex = |d: &DeviceAddress| {
        h3o::CellIndex::try_from(f[d].cell.unwrap())
            .unwrap()
            .parent(h3o::Resolution::Seven)
            .unwrap()
    };
    let mut per_hex: BTreeMap<h3o::CellIndex, Vec<u64>> = BTreeMap::new();
    for s in &shares {
        per_hex.entry(hex(&s.device)).or_default().push(s.units);
        assert_eq!(s.breakdown.counted_reports, 60);
    }
    assert!(per_hex.len() > 1, "the fixture spans several hexes");
    for units in per_hex.values() {
        let n = units.len() as u64;
        assert!(units.iter().all(|&u| u == 1_000_000 / n), "{units:?}");
    }
}

#[test]
fn flag_codes_round_trip() {
    for code in [
        "out_of_range:rain",
        "jump:pressure",
        "flatline:humidity",
        "copied",
        "clock_drift",
    ] {
        let f: ReadingFlag = code.parse().unwrap();
        assert_eq!(f.to_string(), code);
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{code}\""));
    }
    assert!("jump:colour".parse::<ReadingFlag>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Verdicts depend on what was received, never on the order a merged log lists it in.
    #[test]
    fn verdicts_do_not_depend_on_log_order(seed in any::<u64>(), offset in -1_500i64..1_500) {
        let (f, mut r) = neighbourhood(offset);
        let reference = score(&f, &r);
        let mut x = seed;
        for i in (1..r.len()).rev() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            r.swap(i, (x >> 33) as usize % (i + 1));
        }
        let shuffled = score(&f, &r);
        prop_assert_eq!(&shuffled, &reference);
        for q in &shuffled.devices {
            prop_assert!(q.qod_ppm <= 1_000_000 && q.valid <= q.readings);
        }
    }
}
