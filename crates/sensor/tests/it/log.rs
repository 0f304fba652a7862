//! Readings decoded from report-log frames.

use super::*;
use trellis_proto::{report::Kind, EnergyReading, Envelope, Heartbeat, LoggedReport, Report, WeatherReading};
use trellis_sensor::{baselines, epoch_readings};

fn frame(seed: u8, received_ms: u64, kind: Kind) -> LoggedReport {
    let report = Report {
        timestamp_ms: received_ms - 100,
        kind: Some(kind),
    };
    LoggedReport {
        received_ms,
        report: Some(Envelope::sign(&report, &Keypair::from_seed([seed; 32]))),
    }
}

fn weather(t: i64) -> Kind {
    Kind::Weather(WeatherReading {
        temperature_centi_c: t,
        humidity_centi_pct: 5_000,
        pressure_pa: 101_000,
        wind_speed_cm_s: 100,
        wind_direction_deg: 90,
        rain_um: 0,
        gps_cell: 7,
    })
}

#[test]
fn the_log_yields_the_window_s_readings_and_each_device_s_latest_baseline() {
    let frames = vec![
        frame(1, 1_000, weather(100)),
        frame(1, 2_000, weather(200)),
        frame(2, 2_500, Kind::Heartbeat(Heartbeat { uptime_s: 3 })),
        frame(
            2,
            3_000,
            Kind::Energy(EnergyReading {
                produced_mwh_total: 5,
                consumed_mwh_total: 6,
                gps_cell: 0,
            }),
        ),
        frame(1, 4_000, weather(400)),
        LoggedReport {
            received_ms: 4_500,
            report: None,
        },
        frame(1, 6_000, weather(600)),
    ];
    let r = epoch_readings(&frames, 2_500, 6_000);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].device, device(2));
    assert_eq!(
        r[0].measurement,
        Measurement::Energy {
            produced_mwh_total: 5,
            consumed_mwh_total: 6
        }
    );
    assert_eq!((r[1].timestamp_ms, r[1].received_ms, r[1].gps_cell), (3_900, 4_000, 7));
    let b = baselines(&frames, 2_500, 10_000);
    assert_eq!(b.len(), 1);
    assert!(matches!(
        b[&device(1)].measurement,
        Measurement::Weather {
            temperature_centi_c: 200,
            ..
        }
    ));
    assert!(baselines(&frames, 2_500, 400).is_empty(), "outside the lookback");
}

#[test]
fn a_measurement_goes_to_the_wire_and_back_unchanged() {
    let m = Measurement::Weather {
        temperature_centi_c: -1_234,
        humidity_centi_pct: 9_876,
        pressure_pa: 99_999,
        wind_speed_cm_s: 1_500,
        wind_direction_deg: 359,
        rain_um: 42,
    };
    let e = Measurement::Energy {
        produced_mwh_total: 123_456_789,
        consumed_mwh_total: 987_654_321,
    };
    let frames = vec![frame(3, 7_000, m.to_report(11)), frame(3, 8_000, e.to_report(0))];
    let back = epoch_readings(&frames, 0, 10_000);
    assert_eq!(
        back.iter().map(|r| (&r.measurement, r.gps_cell)).collect::<Vec<_>>(),
        vec![(&m, 11), (&e, 0)]
    );
}
