//! Integration tests of the QoD scorer: each check catches what it names and nothing honest.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod energy;
mod log;
mod weather;

use std::collections::BTreeMap;
use trellis_primitives::{AccountAddress, DeviceAddress, Keypair, Location};
use trellis_sensor::{
    reading::centre_centi_deg, score_epoch, EpochQod, Measurement, QodConfig, Reading, SensorFacts, SensorKind,
};

/// 2026-12-02 20:00 UTC: local noon in San Francisco is about ten minutes later.
pub(crate) const NOON_SF_MS: u64 = 1_796_241_600_000;
/// One-minute readings over a one-hour epoch.
pub(crate) const INTERVAL_S: u64 = 60;
pub(crate) const EPOCH_MS: u64 = 3_600_000;

pub(crate) fn device(n: u8) -> DeviceAddress {
    Keypair::from_seed([n; 32]).public().into()
}

pub(crate) fn cell(lat: f64, lng: f64) -> u64 {
    Location::from_degrees(lat, lng).expect("valid place").index()
}

pub(crate) fn facts(kind: SensorKind, at: (f64, f64)) -> SensorFacts {
    let c = cell(at.0, at.1);
    SensorFacts {
        owner: AccountAddress::from(Keypair::from_seed([200; 32]).public()),
        kind: Some(kind),
        cell: Some(c),
        centre_centi_deg: centre_centi_deg(c),
        interval_s: Some(INTERVAL_S),
        capacity_w: Some(5_000),
    }
}

/// A deterministic jitter in `-span..=span` for reading `i` of device `d`.
pub(crate) fn jitter(d: u8, i: u64, salt: u64, span: i64) -> i64 {
    let mut x = (u64::from(d) << 40) ^ (i << 8) ^ salt ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % (2 * span as u64 + 1)) as i64 - span
}

/// An honest station's minute readings: about `base` centi-°C, 65 % humidity, 1013 hPa, each
/// with sensor jitter, GPS fix at its own cell.
pub(crate) fn station(d: u8, at: (f64, f64), base: i64, start_ms: u64, n: u64) -> Vec<Reading> {
    (0..n)
        .map(|i| {
            let t = start_ms + i * INTERVAL_S * 1_000 + 200;
            Reading {
                device: device(d),
                timestamp_ms: t,
                received_ms: t + 150,
                gps_cell: cell(at.0, at.1),
                measurement: Measurement::Weather {
                    temperature_centi_c: base + i as i64 + jitter(d, i, 1, 8),
                    humidity_centi_pct: (6_500 + jitter(d, i, 2, 40)) as u32,
                    pressure_pa: (101_300 + jitter(d, i, 3, 6)) as u32,
                    wind_speed_cm_s: (300 + jitter(d, i, 4, 100)) as u32,
                    wind_direction_deg: (180 + jitter(d, i, 5, 30)) as u32,
                    rain_um: 0,
                },
            }
        })
        .collect()
}

pub(crate) fn score(facts: &BTreeMap<DeviceAddress, SensorFacts>, readings: &[Reading]) -> EpochQod {
    score_epoch(&QodConfig::default(), facts, &BTreeMap::new(), readings, EPOCH_MS)
}

pub(crate) fn verdict(epoch: &EpochQod, d: u8) -> &trellis_sensor::DeviceQod {
    epoch
        .devices
        .iter()
        .find(|q| q.device == device(d))
        .expect("device scored")
}

/// The flag codes of device `d`'s readings, by reading.
pub(crate) fn flags_of(epoch: &EpochQod, d: u8) -> Vec<Vec<String>> {
    epoch
        .readings
        .iter()
        .filter(|r| r.reading.device == device(d))
        .map(|r| r.flags.iter().map(|f| f.to_string()).collect())
        .collect()
}
