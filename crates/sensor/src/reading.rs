//! Readings as the scorer sees them, decoded from the report log, and the chain facts about the
//! devices that sent them.

use prost::Message as _;
use serde::{Deserialize, Serialize};
use trellis_primitives::{AccountAddress, DeviceAddress};
use trellis_proto::{report::Kind, EnergyReading, Envelope, LoggedReport, WeatherReading};

/// What kind of sensor a device is on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// A weather station (device class `sensor`).
    Weather,
    /// An energy meter (device class `energy`).
    Energy,
}

impl SensorKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            SensorKind::Weather => "weather",
            SensorKind::Energy => "energy",
        }
    }
}

/// A weather measurement or an energy meter's counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Measurement {
    /// A weather station's measurement (units as in `trellis_proto::WeatherReading`).
    Weather {
        /// Hundredths of °C.
        temperature_centi_c: i64,
        /// Hundredths of a percent.
        humidity_centi_pct: u32,
        /// Pascals.
        pressure_pa: u32,
        /// cm/s.
        wind_speed_cm_s: u32,
        /// Degrees from north.
        wind_direction_deg: u32,
        /// Micrometres since the previous reading.
        rain_um: u64,
    },
    /// An energy meter's cumulative counters.
    Energy {
        /// Milliwatt-hours produced since installation.
        produced_mwh_total: u64,
        /// Milliwatt-hours consumed since installation.
        consumed_mwh_total: u64,
    },
}

impl Measurement {
    /// The wire report of this measurement with a GPS fix (`0`: none): what an agent signs.
    pub fn to_report(&self, gps_cell: u64) -> Kind {
        match *self {
            Measurement::Weather {
                temperature_centi_c,
                humidity_centi_pct,
                pressure_pa,
                wind_speed_cm_s,
                wind_direction_deg,
                rain_um,
            } => Kind::Weather(WeatherReading {
                temperature_centi_c,
                humidity_centi_pct,
                pressure_pa,
                wind_speed_cm_s,
                wind_direction_deg,
                rain_um,
                gps_cell,
            }),
            Measurement::Energy {
                produced_mwh_total,
                consumed_mwh_total,
            } => Kind::Energy(EnergyReading {
                produced_mwh_total,
                consumed_mwh_total,
                gps_cell,
            }),
        }
    }

    /// The kind of device that can take this measurement.
    pub fn kind(&self) -> SensorKind {
        match self {
            Measurement::Weather { .. } => SensorKind::Weather,
            Measurement::Energy { .. } => SensorKind::Energy,
        }
    }
}

/// One logged reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Who signed it.
    pub device: DeviceAddress,
    /// The device's clock, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Ingest's receive time (the log's clock), ms since the Unix epoch.
    pub received_ms: u64,
    /// The GPS fix's H3 cell index, 0 without a fix.
    pub gps_cell: u64,
    /// The values.
    pub measurement: Measurement,
}

/// What the scorer needs to know about a device from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorFacts {
    /// Who is paid for it.
    pub owner: AccountAddress,
    /// Its kind, or `None` if the device is not a sensor or energy meter.
    pub kind: Option<SensorKind>,
    /// Its asserted H3 cell index (resolution 12), if located.
    pub cell: Option<u64>,
    /// The asserted cell's centre in hundredths of a degree (latitude, longitude), for the sun's
    /// position. Computed once from the cell by [`centre_centi_deg`], outside the scorer.
    pub centre_centi_deg: Option<(i32, i32)>,
    /// Declared reporting interval (capability `interval_s`), seconds.
    pub interval_s: Option<u64>,
    /// Declared generation capacity (capability `capacity_w`), watts.
    pub capacity_w: Option<u64>,
}

/// A cell's centre rounded to hundredths of a degree. H3 computes it in floating point; rounding
/// to 0.01° (about 1 km) makes the result the same on every platform except within 1e-12 of a
/// rounding boundary, and a 0.01° difference moves the solar bound by far less than its margin.
pub fn centre_centi_deg(cell: u64) -> Option<(i32, i32)> {
    let cell = h3o::CellIndex::try_from(cell).ok()?;
    let ll = h3o::LatLng::from(cell);
    // Within ±18000, so the casts cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    Some(((ll.lat() * 100.0).round() as i32, (ll.lng() * 100.0).round() as i32))
}

/// Each device's last reading received in `[start_ms - lookback_ms, start_ms)`: the baseline its
/// first reading of the epoch is checked against (a meter's counters need a previous value).
pub fn baselines(
    frames: &[LoggedReport],
    start_ms: u64,
    lookback_ms: u64,
) -> std::collections::BTreeMap<DeviceAddress, Reading> {
    let mut out = std::collections::BTreeMap::new();
    for r in epoch_readings(frames, start_ms.saturating_sub(lookback_ms), start_ms) {
        let newer = out
            .get(&r.device)
            .is_none_or(|old: &Reading| (old.received_ms, old.timestamp_ms) <= (r.received_ms, r.timestamp_ms));
        if newer {
            out.insert(r.device, r);
        }
    }
    out
}

/// Decodes the weather and energy readings received during `[start_ms, end_ms)`, in log order.
/// Frames that do not decode, and other report kinds, are skipped: ingest checked every frame
/// before logging it.
pub fn epoch_readings(frames: &[LoggedReport], start_ms: u64, end_ms: u64) -> Vec<Reading> {
    let mut out = Vec::new();
    for frame in frames.iter().filter(|f| (start_ms..end_ms).contains(&f.received_ms)) {
        let Some(signed) = &frame.report else { continue };
        let Ok(env) = Envelope::decode(&signed.encode_to_vec()) else {
            continue;
        };
        let (measurement, gps_cell) = match env.report.kind {
            Some(Kind::Weather(w)) => (
                Measurement::Weather {
                    temperature_centi_c: w.temperature_centi_c,
                    humidity_centi_pct: w.humidity_centi_pct,
                    pressure_pa: w.pressure_pa,
                    wind_speed_cm_s: w.wind_speed_cm_s,
                    wind_direction_deg: w.wind_direction_deg,
                    rain_um: w.rain_um,
                },
                w.gps_cell,
            ),
            Some(Kind::Energy(e)) => (
                Measurement::Energy {
                    produced_mwh_total: e.produced_mwh_total,
                    consumed_mwh_total: e.consumed_mwh_total,
                },
                e.gps_cell,
            ),
            _ => continue,
        };
        out.push(Reading {
            device: env.device,
            timestamp_ms: env.report.timestamp_ms,
            received_ms: frame.received_ms,
            gps_cell,
            measurement,
        });
    }
    out
}
