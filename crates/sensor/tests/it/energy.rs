//! Energy meters.

use super::*;
use trellis_sensor::solar::clear_sky_ppm;

const SF: (f64, f64) = (37.77, -122.42);

/// A 5 kW rooftop array under a clear sky at 70 % of the bound, and a house drawing ~800 W, in
/// minute readings from `start_ms`.
fn meter(d: u8, start_ms: u64, n: u64, inflate_mwh: u64) -> Vec<Reading> {
    let (lat, lng) = trellis_sensor::reading::centre_centi_deg(cell(SF.0, SF.1)).unwrap();
    let (mut produced, mut consumed) = (9_000_000_000u64, 4_000_000_000u64);
    (0..n)
        .map(|i| {
            let t = start_ms + i * 60_000;
            if i > 0 {
                // mWh in one minute at P watts: P × 1000 / 60.
                let watts = 5_000 * clear_sky_ppm(lat, lng, t) * 7 / 10 / 1_000_000;
                produced += watts * 1_000 / 60 + inflate_mwh;
                consumed += (800 + jitter(d, i, 9, 50)) as u64 * 1_000 / 60;
            }
            Reading {
                device: device(d),
                timestamp_ms: t,
                received_ms: t + 120,
                gps_cell: cell(SF.0, SF.1),
                measurement: Measurement::Energy {
                    produced_mwh_total: produced,
                    consumed_mwh_total: consumed,
                },
            }
        })
        .collect()
}

fn one() -> BTreeMap<DeviceAddress, SensorFacts> {
    BTreeMap::from([(device(7), facts(SensorKind::Energy, SF))])
}

#[test]
fn an_honest_meter_passes_at_noon_and_at_night() {
    for start in [NOON_SF_MS, NOON_SF_MS + 12 * 3_600_000] {
        let e = score(&one(), &meter(7, start, 60, 0));
        let q = verdict(&e, 7);
        assert!(q.flagged.is_empty(), "{q:?}");
        assert_eq!(q.qod_ppm, 1_000_000);
    }
}

#[test]
fn production_beyond_capacity_or_at_night_is_flagged() {
    // 150 Wh a minute is 9 kW from a 5 kW array even at noon.
    let e = score(&one(), &meter(7, NOON_SF_MS, 60, 150_000));
    assert_eq!(verdict(&e, 7).flagged.get("production_above_irradiance"), Some(&59));
    // At midnight even 500 W (8.3 Wh a minute) is impossible.
    let e = score(&one(), &meter(7, NOON_SF_MS + 12 * 3_600_000, 60, 8_333));
    assert_eq!(verdict(&e, 7).flagged.get("production_above_irradiance"), Some(&59));
    // ...but the same 500 W at noon is weather.
    let e = score(&one(), &meter(7, NOON_SF_MS, 60, 8_333));
    assert!(verdict(&e, 7).flagged.is_empty());
}

#[test]
fn a_meter_that_was_offline_all_day_may_report_the_day_at_once() {
    let mut r = meter(7, NOON_SF_MS - 12 * 3_600_000, 2, 0);
    // Offline from midnight to midnight; the array produced ~20 kWh in between.
    r[1].timestamp_ms = r[0].timestamp_ms + 24 * 3_600_000;
    r[1].received_ms = r[1].timestamp_ms + 100;
    if let Measurement::Energy { produced_mwh_total, .. } = &mut r[1].measurement {
        *produced_mwh_total += 20_000_000;
    }
    assert!(verdict(&score(&one(), &r), 7).flagged.is_empty());
}

#[test]
fn counters_that_run_backwards_or_draw_too_much_are_flagged() {
    let mut r = meter(7, NOON_SF_MS, 60, 0);
    if let Measurement::Energy { consumed_mwh_total, .. } = &mut r[10].measurement {
        *consumed_mwh_total -= 100_000;
    }
    if let Measurement::Energy { consumed_mwh_total, .. } = &mut r[30].measurement {
        // 2 kWh in a minute: 120 kW.
        *consumed_mwh_total += 2_000_000;
    }
    for x in r.iter_mut().skip(31) {
        if let Measurement::Energy { consumed_mwh_total, .. } = &mut x.measurement {
            *consumed_mwh_total += 2_000_000;
        }
    }
    let flags = flags_of(&score(&one(), &r), 7);
    assert_eq!(flags[10], vec!["counter_backwards"]);
    assert_eq!(flags[30], vec!["consumption_above_limit"]);
    let bad: Vec<usize> = (0..60).filter(|&i| !flags[i].is_empty()).collect();
    // Reading 11 compares with the backwards reading 10 and sees a large (legal) jump forward.
    assert_eq!(bad, vec![10, 30], "{flags:?}");
}

#[test]
fn a_meter_copying_another_meter_is_caught() {
    let mut f = one();
    f.insert(device(8), facts(SensorKind::Energy, (37.80, -122.27)));
    let original = meter(7, NOON_SF_MS, 60, 0);
    let mut all = original.clone();
    all.extend(original.iter().map(|r| Reading {
        device: device(8),
        timestamp_ms: r.timestamp_ms + 500,
        received_ms: r.received_ms + 500,
        gps_cell: cell(37.80, -122.27),
        measurement: r.measurement.clone(),
    }));
    let e = score(&f, &all);
    assert_eq!(verdict(&e, 7).qod_ppm, 1_000_000);
    assert_eq!(verdict(&e, 8).qod_ppm, 0);
    assert_eq!(verdict(&e, 8).flagged.get("copied"), Some(&60));
}

#[test]
fn the_first_reading_of_an_epoch_is_checked_against_the_last_one_before_it() {
    let r = meter(7, NOON_SF_MS + 12 * 3_600_000, 61, 8_333);
    let (before, epoch) = r.split_at(1);
    let baselines = BTreeMap::from([(device(7), before[0].clone())]);
    let e = trellis_sensor::score_epoch(&QodConfig::default(), &one(), &baselines, epoch, EPOCH_MS);
    assert_eq!(verdict(&e, 7).flagged.get("production_above_irradiance"), Some(&60));
    assert_eq!(verdict(&e, 7).valid, 0);
    // Without a baseline the first reading can only be one itself.
    assert_eq!(verdict(&score(&one(), epoch), 7).valid, 1);
}
