//! Checks on one device's readings in order: range and physics, clock, rate, spikes, stuck
//! values, and for energy meters the counters against capacity and the sun.

use crate::{
    config::QodConfig,
    reading::{Measurement, Reading, SensorFacts, SensorKind},
    solar::clear_sky_ppm,
};
use std::{fmt, str::FromStr};

/// A measured quantity, for typed reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Air temperature.
    Temperature,
    /// Relative humidity.
    Humidity,
    /// Air pressure.
    Pressure,
    /// Wind speed.
    Wind,
    /// Wind direction.
    WindDirection,
    /// Rain.
    Rain,
}

impl Field {
    const ALL: [Field; 6] = [
        Field::Temperature,
        Field::Humidity,
        Field::Pressure,
        Field::Wind,
        Field::WindDirection,
        Field::Rain,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Temperature => "temperature",
            Field::Humidity => "humidity",
            Field::Pressure => "pressure",
            Field::Wind => "wind",
            Field::WindDirection => "wind_direction",
            Field::Rain => "rain",
        }
    }
}

/// Why one reading does not count. Serialized as its stable code (`out_of_range:temperature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ReadingFlag {
    /// The device is not a sensor of this kind on chain.
    WrongClass,
    /// The device clock is too far from ingest's.
    ClockDrift,
    /// Its timestamp is not after the previous reading's.
    OutOfOrder,
    /// Sooner after the previous reading than the declared interval allows.
    TooFrequent,
    /// A value no instrument of this kind can read.
    OutOfRange(Field),
    /// A spike against the readings before and after it.
    Jump(Field),
    /// Part of a run of identical values: a stuck sensor.
    Flatline(Field),
    /// A meter counter went backwards.
    CounterBackwards,
    /// More energy produced than the declared capacity under the sun at that place and time.
    ProductionAboveIrradiance,
    /// More energy consumed than a metered site can draw.
    ConsumptionAboveLimit,
    /// The same values another device reported earlier.
    Copied,
}

impl fmt::Display for ReadingFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadingFlag::WrongClass => f.write_str("wrong_class"),
            ReadingFlag::ClockDrift => f.write_str("clock_drift"),
            ReadingFlag::OutOfOrder => f.write_str("out_of_order"),
            ReadingFlag::TooFrequent => f.write_str("too_frequent"),
            ReadingFlag::OutOfRange(x) => write!(f, "out_of_range:{}", x.name()),
            ReadingFlag::Jump(x) => write!(f, "jump:{}", x.name()),
            ReadingFlag::Flatline(x) => write!(f, "flatline:{}", x.name()),
            ReadingFlag::CounterBackwards => f.write_str("counter_backwards"),
            ReadingFlag::ProductionAboveIrradiance => f.write_str("production_above_irradiance"),
            ReadingFlag::ConsumptionAboveLimit => f.write_str("consumption_above_limit"),
            ReadingFlag::Copied => f.write_str("copied"),
        }
    }
}

impl From<ReadingFlag> for String {
    fn from(f: ReadingFlag) -> String {
        f.to_string()
    }
}

impl FromStr for ReadingFlag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let field = |name: &str| {
            Field::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| format!("unknown field `{name}`"))
        };
        Ok(match s.split_once(':') {
            Some(("out_of_range", x)) => ReadingFlag::OutOfRange(field(x)?),
            Some(("jump", x)) => ReadingFlag::Jump(field(x)?),
            Some(("flatline", x)) => ReadingFlag::Flatline(field(x)?),
            _ => match s {
                "wrong_class" => ReadingFlag::WrongClass,
                "clock_drift" => ReadingFlag::ClockDrift,
                "out_of_order" => ReadingFlag::OutOfOrder,
                "too_frequent" => ReadingFlag::TooFrequent,
                "counter_backwards" => ReadingFlag::CounterBackwards,
                "production_above_irradiance" => ReadingFlag::ProductionAboveIrradiance,
                "consumption_above_limit" => ReadingFlag::ConsumptionAboveLimit,
                "copied" => ReadingFlag::Copied,
                other => return Err(format!("unknown reading flag `{other}`")),
            },
        })
    }
}

impl TryFrom<String> for ReadingFlag {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Flags for one device's readings, which must be in receive order; `flags[i]` belongs to
/// `readings[i]`. `baseline` is the device's last reading before them, if any: the first reading
/// is checked against it like any other against its predecessor. Copies across devices are
/// found by the epoch scorer.
pub fn check_device(
    config: &QodConfig,
    facts: Option<&SensorFacts>,
    baseline: Option<&Reading>,
    readings: &[Reading],
) -> Vec<Vec<ReadingFlag>> {
    match baseline {
        Some(b) => {
            let with: Vec<Reading> = std::iter::once(b.clone()).chain(readings.iter().cloned()).collect();
            let mut flags = check_sequence(config, facts, &with);
            flags.remove(0);
            flags
        }
        None => check_sequence(config, facts, readings),
    }
}

fn check_sequence(config: &QodConfig, facts: Option<&SensorFacts>, readings: &[Reading]) -> Vec<Vec<ReadingFlag>> {
    let mut flags = vec![Vec::new(); readings.len()];
    let kind = facts.and_then(|f| f.kind);
    let interval_ms = facts
        .and_then(|f| f.interval_s)
        .unwrap_or(config.default_interval_s)
        .saturating_mul(1_000);
    let min_gap_ms = interval_ms.saturating_mul(u64::from(config.min_interval_bps)) / 10_000;
    // The previous reading in time that passed the clock checks.
    let mut prev: Option<usize> = None;
    for (i, r) in readings.iter().enumerate() {
        if kind != Some(r.measurement.kind()) {
            flags[i].push(ReadingFlag::WrongClass);
            continue;
        }
        if r.timestamp_ms.abs_diff(r.received_ms) > config.max_clock_drift_ms {
            flags[i].push(ReadingFlag::ClockDrift);
            continue;
        }
        let dt = match prev {
            Some(p) if r.timestamp_ms <= readings[p].timestamp_ms => {
                flags[i].push(ReadingFlag::OutOfOrder);
                continue;
            }
            Some(p) => Some(r.timestamp_ms - readings[p].timestamp_ms),
            None => None,
        };
        if dt.is_some_and(|dt| dt < min_gap_ms) {
            flags[i].push(ReadingFlag::TooFrequent);
            continue;
        }
        match &r.measurement {
            Measurement::Weather { .. } => range_flags(config, r, dt.unwrap_or(interval_ms), &mut flags[i]),
            Measurement::Energy { .. } => {
                if let (Some(p), Some(f)) = (prev, facts) {
                    energy_flags(config, f, &readings[p], r, &mut flags[i]);
                }
            }
        }
        prev = Some(i);
    }
    if kind == Some(SensorKind::Weather) {
        let clean: Vec<usize> = (0..readings.len()).filter(|&i| flags[i].is_empty()).collect();
        spike_flags(config, readings, &clean, &mut flags);
        flatline_flags(config, readings, &clean, &mut flags);
    }
    flags
}

fn range_flags(config: &QodConfig, r: &Reading, dt_ms: u64, out: &mut Vec<ReadingFlag>) {
    let Measurement::Weather {
        temperature_centi_c,
        humidity_centi_pct,
        pressure_pa,
        wind_speed_cm_s,
        wind_direction_deg,
        rain_um,
    } = r.measurement
    else {
        return;
    };
    let rain_limit = u128::from(config.rain_max_um_per_min) * u128::from(dt_ms.max(60_000)) / 60_000;
    let checks = [
        (
            Field::Temperature,
            (config.temperature_min_centi_c..=config.temperature_max_centi_c).contains(&temperature_centi_c),
        ),
        (Field::Humidity, humidity_centi_pct <= 10_000),
        (
            Field::Pressure,
            (config.pressure_min_pa..=config.pressure_max_pa).contains(&pressure_pa),
        ),
        (Field::Wind, wind_speed_cm_s <= config.wind_max_cm_s),
        (Field::WindDirection, wind_direction_deg < 360),
        (Field::Rain, u128::from(rain_um) <= rain_limit),
    ];
    out.extend(
        checks
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(f, _)| ReadingFlag::OutOfRange(f)),
    );
}

/// The three spike-checked values of a weather reading.
fn jump_values(r: &Reading) -> [(Field, i64); 3] {
    match r.measurement {
        Measurement::Weather {
            temperature_centi_c,
            humidity_centi_pct,
            pressure_pa,
            ..
        } => [
            (Field::Temperature, temperature_centi_c),
            (Field::Humidity, i64::from(humidity_centi_pct)),
            (Field::Pressure, i64::from(pressure_pa)),
        ],
        Measurement::Energy { .. } => [(Field::Temperature, 0), (Field::Humidity, 0), (Field::Pressure, 0)],
    }
}

/// Whether `b` jumped from `a` in `field` by more than the field's rate allows over the time
/// between them, plus its sensor noise.
fn jumped(config: &QodConfig, field: Field, a: &Reading, b: &Reading) -> bool {
    let (per_min, noise) = match field {
        Field::Temperature => (
            config.temperature_jump_centi_c_per_min,
            config.temperature_noise_centi_c,
        ),
        Field::Humidity => (config.humidity_jump_centi_pct_per_min, config.humidity_noise_centi_pct),
        _ => (config.pressure_jump_pa_per_min, config.pressure_noise_pa),
    };
    let value = |r: &Reading| {
        jump_values(r)
            .into_iter()
            .find(|(f, _)| *f == field)
            .map_or(0, |(_, v)| v)
    };
    let dt = i128::from(b.timestamp_ms.abs_diff(a.timestamp_ms).max(1_000));
    let change = i128::from(value(b).abs_diff(value(a)));
    change * 60_000 > i128::from(per_min) * dt + i128::from(noise) * 60_000
}

/// A reading is a spike in a field when it jumps from both readings around it (or from the only
/// one): a real change of weather is a step that later readings follow.
fn spike_flags(config: &QodConfig, readings: &[Reading], clean: &[usize], flags: &mut [Vec<ReadingFlag>]) {
    if clean.len() < 2 {
        return;
    }
    for (k, &i) in clean.iter().enumerate() {
        for field in [Field::Temperature, Field::Humidity, Field::Pressure] {
            let before = k
                .checked_sub(1)
                .map(|j| jumped(config, field, &readings[clean[j]], &readings[i]));
            let after = clean
                .get(k + 1)
                .map(|&j| jumped(config, field, &readings[i], &readings[j]));
            let spike = match (before, after) {
                (Some(b), Some(a)) => a && b,
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => false,
            };
            if spike {
                flags[i].push(ReadingFlag::Jump(field));
            }
        }
    }
}

/// Runs of at least `flatline_run` identical values. Saturated humidity (100 %, fog) is a real
/// plateau and exempt.
fn flatline_flags(config: &QodConfig, readings: &[Reading], clean: &[usize], flags: &mut [Vec<ReadingFlag>]) {
    let run_len = config.flatline_run as usize;
    for (slot, field) in [Field::Temperature, Field::Humidity, Field::Pressure]
        .into_iter()
        .enumerate()
    {
        let mut start = 0;
        while start < clean.len() {
            let v = jump_values(&readings[clean[start]])[slot].1;
            let mut end = start + 1;
            while end < clean.len() && jump_values(&readings[clean[end]])[slot].1 == v {
                end += 1;
            }
            let exempt = field == Field::Humidity && v == 10_000;
            if end - start >= run_len && !exempt {
                for &i in &clean[start..end] {
                    flags[i].push(ReadingFlag::Flatline(field));
                }
            }
            start = end;
        }
    }
}

/// The most energy a panel of `capacity_w` can deliver between two times at a place, mWh × 3.6e6
/// (i.e. mW·ms), summed over 10-minute steps, each at the best sun of its two ends.
fn max_production_mw_ms(config: &QodConfig, capacity_w: u64, centre: Option<(i32, i32)>, t0: u64, t1: u64) -> u128 {
    const STEP_MS: u64 = 600_000;
    const MAX_STEPS: u64 = 2 * 144;
    let peak_mw = u128::from(capacity_w) * 1_000 * u128::from(config.irradiance_gain_bps) / 10_000;
    let night_mw = u128::from(capacity_w) * 1_000 * u128::from(config.night_production_bps) / 10_000;
    let span = u128::from(t1 - t0);
    let Some((lat, lng)) = centre.filter(|_| (t1 - t0) / STEP_MS <= MAX_STEPS) else {
        // Unknown place, or a gap too long to step through: capacity at full sun throughout.
        return (peak_mw + night_mw) * span;
    };
    let mut total = night_mw * span;
    let mut t = t0;
    let mut sun = clear_sky_ppm(lat, lng, t0);
    while t < t1 {
        let next = (t + STEP_MS).min(t1);
        let next_sun = clear_sky_ppm(lat, lng, next);
        let ppm = u128::from(sun.max(next_sun));
        total += peak_mw * ppm / 1_000_000 * u128::from(next - t);
        (t, sun) = (next, next_sun);
    }
    total
}

fn energy_flags(config: &QodConfig, facts: &SensorFacts, prev: &Reading, cur: &Reading, out: &mut Vec<ReadingFlag>) {
    let (
        Measurement::Energy {
            produced_mwh_total: p0,
            consumed_mwh_total: c0,
        },
        Measurement::Energy {
            produced_mwh_total: p1,
            consumed_mwh_total: c1,
        },
    ) = (&prev.measurement, &cur.measurement)
    else {
        return;
    };
    if p1 < p0 || c1 < c0 {
        out.push(ReadingFlag::CounterBackwards);
        return;
    }
    let (t0, t1) = (prev.timestamp_ms, cur.timestamp_ms);
    // 1 mWh = 3.6e6 mW·ms.
    let produced = u128::from(p1 - p0) * 3_600_000;
    let capacity = facts.capacity_w.unwrap_or(config.default_capacity_w);
    if produced > max_production_mw_ms(config, capacity, facts.centre_centi_deg, t0, t1) {
        out.push(ReadingFlag::ProductionAboveIrradiance);
    }
    let consumed = u128::from(c1 - c0) * 3_600_000;
    if consumed > u128::from(config.max_consumption_w) * 1_000 * u128::from(t1 - t0) {
        out.push(ReadingFlag::ConsumptionAboveLimit);
    }
}
