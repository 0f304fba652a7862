//! One epoch's quality-of-data verdicts: every reading's flags, then each device's score from its
//! valid readings, its location evidence, originality and agreement with its neighbours.

use crate::{
    checks::{check_device, ReadingFlag},
    config::QodConfig,
    reading::{Measurement, Reading, SensorFacts, SensorKind},
};
use h3o::{CellIndex, Resolution};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use trellis_primitives::DeviceAddress;

/// Why a whole device's epoch is discounted. Serialized as snake-case codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceFlag {
    /// No location asserted on chain: its data cannot be placed.
    NotLocated,
    /// Its GPS puts it away from its asserted location.
    LocationMismatch,
    /// No valid reading carried a GPS fix: the location is unverified (discounted, not zeroed).
    NoGpsFix,
    /// Too many of its readings repeat another device's earlier readings.
    CopiesAnotherDevice,
    /// Its weather differs from the median of the stations around it.
    DisagreesWithNeighbours,
}

impl DeviceFlag {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            DeviceFlag::NotLocated => "not_located",
            DeviceFlag::LocationMismatch => "location_mismatch",
            DeviceFlag::NoGpsFix => "no_gps_fix",
            DeviceFlag::CopiesAnotherDevice => "copies_another_device",
            DeviceFlag::DisagreesWithNeighbours => "disagrees_with_neighbours",
        }
    }

    /// Whether the flag zeroes the epoch (all but a missing GPS fix do).
    pub fn disqualifies(self) -> bool {
        self != DeviceFlag::NoGpsFix
    }
}

/// One reading and why it does not count (empty: it counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingVerdict {
    /// The reading.
    #[serde(flatten)]
    pub reading: Reading,
    /// Its flags, in check order.
    pub flags: Vec<ReadingFlag>,
}

/// A device's quality of data for the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceQod {
    /// The device.
    pub device: DeviceAddress,
    /// Its kind on chain (`None`: not a sensor).
    pub kind: Option<SensorKind>,
    /// Readings received in the epoch.
    pub readings: u32,
    /// Readings without a flag.
    pub valid: u32,
    /// Readings the declared interval asks for in the epoch.
    pub expected: u32,
    /// Flagged readings by flag code.
    pub flagged: BTreeMap<String, u32>,
    /// Device-level findings.
    pub device_flags: Vec<DeviceFlag>,
    /// Mean temperature of the valid readings, hundredths of °C (weather stations).
    pub mean_temperature_centi_c: Option<i64>,
    /// Mean relative humidity of the valid readings, hundredths of a percent.
    pub mean_humidity_centi_pct: Option<i64>,
    /// The neighbours' median temperature it was compared with, if it had enough neighbours.
    pub neighbour_median_temperature_centi_c: Option<i64>,
    /// How many stations were its neighbours.
    pub neighbours: u32,
    /// `valid / expected`, capped at one, ppm.
    pub completeness_ppm: u64,
    /// The quality of data: completeness after the device flags, ppm.
    pub qod_ppm: u64,
}

/// An epoch's verdicts, in canonical order (devices by address, readings by device then receive
/// order).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EpochQod {
    /// Every device that sent readings.
    pub devices: Vec<DeviceQod>,
    /// Every reading with its flags.
    pub readings: Vec<ReadingVerdict>,
}

/// Scores every reading received in an epoch of `epoch_ms` milliseconds. `readings` in log
/// order; `facts` for every device that might appear (missing devices' readings are
/// `wrong_class`); `baselines` each device's last reading before the epoch (see
/// [`crate::reading::baselines`]).
pub fn score_epoch(
    config: &QodConfig,
    facts: &BTreeMap<DeviceAddress, SensorFacts>,
    baselines: &BTreeMap<DeviceAddress, Reading>,
    readings: &[Reading],
    epoch_ms: u64,
) -> EpochQod {
    let mut by_device: BTreeMap<DeviceAddress, Vec<Reading>> = BTreeMap::new();
    for r in readings {
        by_device.entry(r.device).or_default().push(r.clone());
    }
    for list in by_device.values_mut() {
        // Receive order; the log is already in it, but a merged log need not be.
        list.sort_by_key(|r| (r.received_ms, r.timestamp_ms));
    }
    let mut flags: BTreeMap<DeviceAddress, Vec<Vec<ReadingFlag>>> = by_device
        .iter()
        .map(|(d, list)| (*d, check_device(config, facts.get(d), baselines.get(d), list)))
        .collect();
    mark_copies(&by_device, &mut flags);

    let mut devices: Vec<DeviceQod> = by_device
        .iter()
        .map(|(d, list)| device_verdict(config, facts.get(d), *d, list, &flags[d], epoch_ms))
        .collect();
    neighbour_check(config, facts, &mut devices);
    for q in &mut devices {
        q.qod_ppm = if q.device_flags.iter().any(|f| f.disqualifies()) {
            0
        } else if q.device_flags.contains(&DeviceFlag::NoGpsFix) {
            q.completeness_ppm * u64::from(config.no_gps_bps) / 10_000
        } else {
            q.completeness_ppm
        };
    }
    let readings = by_device
        .into_iter()
        .flat_map(|(d, list)| {
            let f = flags.remove(&d).unwrap_or_default();
            list.into_iter()
                .zip(f)
                .map(|(reading, flags)| ReadingVerdict { reading, flags })
        })
        .collect();
    EpochQod { devices, readings }
}

/// A reading that repeats values another device reported earlier (by receive time, then device
/// address) is a copy. A device repeating itself is the flatline check's business.
fn mark_copies(
    by_device: &BTreeMap<DeviceAddress, Vec<Reading>>,
    flags: &mut BTreeMap<DeviceAddress, Vec<Vec<ReadingFlag>>>,
) {
    let mut order: Vec<(u64, DeviceAddress, usize)> = by_device
        .iter()
        .flat_map(|(d, list)| list.iter().enumerate().map(|(i, r)| (r.received_ms, *d, i)))
        .collect();
    order.sort();
    let mut first: BTreeMap<&Measurement, DeviceAddress> = BTreeMap::new();
    for (_, d, i) in order {
        if flags[&d][i].contains(&ReadingFlag::WrongClass) {
            continue;
        }
        let m = &by_device[&d][i].measurement;
        match first.get(m) {
            Some(owner) if *owner != d => {
                if let Some(f) = flags.get_mut(&d) {
                    f[i].push(ReadingFlag::Copied);
                }
            }
            Some(_) => {}
            None => {
                first.insert(m, d);
            }
        }
    }
}

fn parent(cell: u64, resolution: u8) -> Option<CellIndex> {
    let res = Resolution::try_from(resolution).ok()?;
    CellIndex::try_from(cell).ok()?.parent(res)
}

/// Whether a GPS fix lies within the allowed rings of the asserted cell.
fn fix_matches(config: &QodConfig, asserted: u64, fix: u64) -> bool {
    let Ok(fix_cell) = CellIndex::try_from(fix) else {
        return false;
    };
    let res = u8::from(fix_cell.resolution()).min(config.location_resolution);
    match (parent(asserted, res), parent(fix, res)) {
        (Some(a), Some(b)) => a
            .grid_distance(b)
            .is_ok_and(|d| d.unsigned_abs() <= config.location_max_rings),
        _ => false,
    }
}

fn device_verdict(
    config: &QodConfig,
    facts: Option<&SensorFacts>,
    device: DeviceAddress,
    list: &[Reading],
    flags: &[Vec<ReadingFlag>],
    epoch_ms: u64,
) -> DeviceQod {
    let mut flagged: BTreeMap<String, u32> = BTreeMap::new();
    for f in flags.iter().flatten() {
        *flagged.entry(f.to_string()).or_default() += 1;
    }
    let valid: Vec<&Reading> = list
        .iter()
        .zip(flags)
        .filter(|(_, f)| f.is_empty())
        .map(|(r, _)| r)
        .collect();
    let copied = flags.iter().filter(|f| f.contains(&ReadingFlag::Copied)).count();
    let interval_ms = facts
        .and_then(|f| f.interval_s)
        .unwrap_or(config.default_interval_s)
        .saturating_mul(1_000)
        .max(1);
    let expected = u32::try_from((epoch_ms / interval_ms).max(1)).unwrap_or(u32::MAX);
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut device_flags = Vec::new();
    match facts.and_then(|f| f.cell) {
        None => device_flags.push(DeviceFlag::NotLocated),
        Some(cell) => {
            let fixes: Vec<u64> = valid.iter().map(|r| r.gps_cell).filter(|&c| c != 0).collect();
            if fixes.iter().any(|&fix| !fix_matches(config, cell, fix)) {
                device_flags.push(DeviceFlag::LocationMismatch);
            } else if fixes.is_empty() && !valid.is_empty() {
                device_flags.push(DeviceFlag::NoGpsFix);
            }
        }
    }
    if !list.is_empty()
        && copied as u128 * 10_000 >= list.len() as u128 * u128::from(config.copy_threshold_bps)
        && copied > 0
    {
        device_flags.push(DeviceFlag::CopiesAnotherDevice);
    }
    let mean = |pick: fn(&Measurement) -> Option<i64>| {
        let values: Vec<i64> = valid.iter().filter_map(|r| pick(&r.measurement)).collect();
        let n = i64::try_from(values.len()).ok().filter(|&n| n > 0)?;
        i64::try_from(
            values
                .iter()
                .map(|&v| i128::from(v))
                .sum::<i128>()
                .div_euclid(i128::from(n)),
        )
        .ok()
    };
    let completeness_ppm = (u64::from(count(valid.len())) * 1_000_000 / u64::from(expected)).min(1_000_000);
    DeviceQod {
        device,
        kind: facts.and_then(|f| f.kind),
        readings: count(list.len()),
        valid: count(valid.len()),
        expected,
        flagged,
        device_flags,
        mean_temperature_centi_c: mean(|m| match m {
            Measurement::Weather {
                temperature_centi_c, ..
            } => Some(*temperature_centi_c),
            Measurement::Energy { .. } => None,
        }),
        mean_humidity_centi_pct: mean(|m| match m {
            Measurement::Weather { humidity_centi_pct, .. } => Some(i64::from(*humidity_centi_pct)),
            Measurement::Energy { .. } => None,
        }),
        neighbour_median_temperature_centi_c: None,
        neighbours: 0,
        completeness_ppm,
        qod_ppm: 0,
    }
}

/// The lower median.
fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// Compares each weather station with the stations around it that have good data of their own
/// (no disqualifying flag so far). The references are fixed before any station is judged, so one
/// cheater's verdict never changes another's.
fn neighbour_check(config: &QodConfig, facts: &BTreeMap<DeviceAddress, SensorFacts>, devices: &mut [DeviceQod]) {
    let mut by_hex: BTreeMap<CellIndex, Vec<(usize, i64, i64)>> = BTreeMap::new();
    let mut hexes: BTreeMap<usize, CellIndex> = BTreeMap::new();
    for (i, q) in devices.iter().enumerate() {
        let (Some(t), Some(h)) = (q.mean_temperature_centi_c, q.mean_humidity_centi_pct) else {
            continue;
        };
        let Some(hex) = facts
            .get(&q.device)
            .and_then(|f| f.cell)
            .and_then(|c| parent(c, config.neighbour_resolution))
        else {
            continue;
        };
        if q.kind != Some(SensorKind::Weather) || q.device_flags.iter().any(|f| f.disqualifies()) {
            continue;
        }
        by_hex.entry(hex).or_default().push((i, t, h));
        hexes.insert(i, hex);
    }
    let mut verdicts = Vec::new();
    for (&i, hex) in &hexes {
        let near: BTreeSet<CellIndex> = hex.grid_disk::<Vec<_>>(config.neighbour_rings).into_iter().collect();
        let (temps, hums): (Vec<i64>, Vec<i64>) = near
            .iter()
            .filter_map(|c| by_hex.get(c))
            .flatten()
            .filter(|(j, _, _)| *j != i)
            .map(|(_, t, h)| (*t, *h))
            .unzip();
        let n = u32::try_from(temps.len()).unwrap_or(u32::MAX);
        let q = &devices[i];
        let (Some(t), Some(h)) = (q.mean_temperature_centi_c, q.mean_humidity_centi_pct) else {
            continue;
        };
        let (mt, mh) = (median(temps), median(hums));
        let disagrees = n >= config.min_neighbours
            && mt.zip(mh).is_some_and(|(mt, mh)| {
                t.abs_diff(mt) > config.neighbour_temperature_centi_c.unsigned_abs()
                    || h.abs_diff(mh) > config.neighbour_humidity_centi_pct.unsigned_abs()
            });
        verdicts.push((i, n, mt, disagrees));
    }
    for (i, n, mt, disagrees) in verdicts {
        let q = &mut devices[i];
        q.neighbours = n;
        q.neighbour_median_temperature_centi_c = mt.filter(|_| n >= config.min_neighbours);
        if disagrees {
            q.device_flags.push(DeviceFlag::DisagreesWithNeighbours);
        }
    }
}
