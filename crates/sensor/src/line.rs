//! The line format devices and files feed `trellis agent sensor`: one reading per line, decimal
//! units, parsed exactly into the integer units of the wire format.
//!
//! ```text
//! weather: [timestamp_ms],temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm[,lat,lng]
//! energy:  [timestamp_ms],produced_kwh_total,consumed_kwh_total[,lat,lng]
//! ```
//!
//! An empty timestamp (or `now`) means "stamp it when sent"; `lat,lng` is the device's GPS fix.
//! Blank lines, `#` comments and header lines (starting with a letter) are skipped. Input comes
//! from devices the operator does not control the firmware of: every malformed line is a typed
//! error, never a panic (fuzzed: `fuzz/fuzz_targets/sensor_line.rs`).

use crate::reading::{Measurement, SensorKind};
use trellis_primitives::Location;

/// Why a line is not a reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(String);

fn bail<T>(msg: String) -> Result<T, LineError> {
    Err(LineError(msg))
}

/// One reading ready to sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The device's time, if the line gave one.
    pub timestamp_ms: Option<u64>,
    /// The values.
    pub measurement: Measurement,
    /// The GPS fix's H3 cell index, 0 without one.
    pub gps_cell: u64,
}

/// Parses a non-negative or negative decimal into integer units of 10^-`decimals`, exactly.
fn decimal(text: &str, decimals: u32, what: &str) -> Result<i64, LineError> {
    let t = text.trim();
    let (neg, digits) = t.strip_prefix('-').map_or((false, t), |d| (true, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return bail(format!("{what} `{text}` is not a decimal number"));
    }
    if frac.len() > decimals as usize {
        return bail(format!("{what} `{text}` has more than {decimals} decimal places"));
    }
    let scale = 10i64.pow(decimals);
    let too_large = || LineError(format!("{what} `{text}` is too large"));
    let w: i64 = whole.parse().map_err(|_| too_large())?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = decimals as usize)
            .parse()
            .map_err(|_| too_large())?
    };
    let v = w
        .checked_mul(scale)
        .and_then(|w| w.checked_add(f))
        .ok_or_else(too_large)?;
    Ok(if neg { -v } else { v })
}

fn unsigned<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, LineError> {
    T::try_from(v).map_err(|_| LineError(format!("{what} must be between 0 and its maximum, got {v}")))
}

/// Parses one input line; `Ok(None)` for blank, comment and header lines.
pub fn parse_line(kind: SensorKind, line: &str) -> Result<Option<Sample>, LineError> {
    let line = line.trim();
    let first = line.split(',').next().unwrap_or("").trim();
    let header = first != "now" && first.starts_with(|c: char| c.is_ascii_alphabetic());
    if line.is_empty() || line.starts_with('#') || header {
        return Ok(None);
    }
    let cols: Vec<&str> = line.split(',').map(str::trim).collect();
    let values = match kind {
        SensorKind::Weather => 7,
        SensorKind::Energy => 3,
    };
    if cols.len() != values && cols.len() != values + 2 {
        return bail(format!(
            "expected {values} columns ({}), or {} with lat,lng; got {}",
            match kind {
                SensorKind::Weather =>
                    "timestamp_ms,temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm",
                SensorKind::Energy => "timestamp_ms,produced_kwh_total,consumed_kwh_total",
            },
            values + 2,
            cols.len()
        ));
    }
    let timestamp_ms = match cols[0] {
        "" | "now" => None,
        t => Some(
            t.parse()
                .map_err(|_| LineError(format!("timestamp `{t}` is not ms since 1970")))?,
        ),
    };
    let gps_cell = if cols.len() == values + 2 {
        let number = |t: &str, what: &str| {
            t.parse::<f64>()
                .map_err(|_| LineError(format!("{what} `{t}` is not a number")))
        };
        let (lat, lng) = (
            number(cols[values], "latitude")?,
            number(cols[values + 1], "longitude")?,
        );
        Location::from_degrees(lat, lng)
            .map_err(|e| LineError(format!("{lat},{lng} is not a place: {e}")))?
            .index()
    } else {
        0
    };
    let measurement = match kind {
        SensorKind::Weather => Measurement::Weather {
            temperature_centi_c: decimal(cols[1], 2, "temperature_c")?,
            humidity_centi_pct: unsigned(decimal(cols[2], 2, "humidity_pct")?, "humidity_pct")?,
            pressure_pa: unsigned(decimal(cols[3], 2, "pressure_hpa")?, "pressure_hpa")?,
            wind_speed_cm_s: unsigned(decimal(cols[4], 2, "wind_m_s")?, "wind_m_s")?,
            wind_direction_deg: unsigned(decimal(cols[5], 0, "wind_dir_deg")?, "wind_dir_deg")?,
            rain_um: unsigned(decimal(cols[6], 3, "rain_mm")?, "rain_mm")?,
        },
        SensorKind::Energy => Measurement::Energy {
            produced_mwh_total: unsigned(decimal(cols[1], 6, "produced_kwh_total")?, "produced_kwh_total")?,
            consumed_mwh_total: unsigned(decimal(cols[2], 6, "consumed_kwh_total")?, "consumed_kwh_total")?,
        },
    };
    Ok(Some(Sample {
        timestamp_ms,
        measurement,
        gps_cell,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `v` in units of 10^-`places`, written as a decimal.
    fn write(v: i64, places: u32) -> String {
        let scale = 10i64.pow(places);
        let sign = if v < 0 { "-" } else { "" };
        match places {
            0 => v.to_string(),
            _ => format!("{sign}{}.{:0w$}", v.abs() / scale, v.abs() % scale, w = places as usize),
        }
    }

    proptest! {
        /// Whatever a device writes in the documented units parses back to the same integers.
        #[test]
        fn written_readings_parse_back_exactly(t in -9_000i64..9_000, h in 0u32..=10_000, p in 0u32..200_000, w in 0u32..20_000, d in 0u32..360, r in 0u64..1_000_000) {
            let line = format!(",{},{},{},{},{},{}", write(t, 2), write(i64::from(h), 2), write(i64::from(p), 2), write(i64::from(w), 2), d, write(r as i64, 3));
            let s = parse_line(SensorKind::Weather, &line).unwrap().unwrap();
            prop_assert_eq!(s.measurement, Measurement::Weather { temperature_centi_c: t, humidity_centi_pct: h, pressure_pa: p, wind_speed_cm_s: w, wind_direction_deg: d, rain_um: r });
        }
    }

    #[test]
    fn lines_parse_exactly_and_bad_lines_say_why() {
        let s = parse_line(SensorKind::Weather, "1796241600000,-3.25,81.5,1013.25,4.2,270,0.2")
            .unwrap()
            .unwrap();
        assert_eq!(s.timestamp_ms, Some(1_796_241_600_000));
        assert_eq!(
            s.measurement,
            Measurement::Weather {
                temperature_centi_c: -325,
                humidity_centi_pct: 8_150,
                pressure_pa: 101_325,
                wind_speed_cm_s: 420,
                wind_direction_deg: 270,
                rain_um: 200,
            }
        );
        assert_eq!(s.gps_cell, 0);
        let now = parse_line(SensorKind::Energy, "now,1,2").unwrap().unwrap();
        assert_eq!(now.timestamp_ms, None, "`now` is a timestamp, not a header");
        let e = parse_line(SensorKind::Energy, ",12.5,3.000001,37.77,-122.42")
            .unwrap()
            .unwrap();
        assert_eq!(e.timestamp_ms, None);
        assert_eq!(
            e.measurement,
            Measurement::Energy {
                produced_mwh_total: 12_500_000,
                consumed_mwh_total: 3_000_001
            }
        );
        assert_eq!(e.gps_cell, Location::from_degrees(37.77, -122.42).unwrap().index());
        assert_eq!(
            parse_line(SensorKind::Energy, "timestamp_ms,produced,consumed").unwrap(),
            None
        );
        assert_eq!(parse_line(SensorKind::Energy, "# comment").unwrap(), None);
        for bad in ["1,2", ",1.5,abc", ",-1,2", ",1.0000001,2"] {
            assert!(parse_line(SensorKind::Energy, bad).is_err(), "{bad}");
        }
        assert!(
            parse_line(SensorKind::Weather, ",20,120.5,1013,1,90,0").is_ok(),
            "range is the verifier's business"
        );
        assert!(parse_line(SensorKind::Weather, ",20,-5,1013,1,90,0").is_err());
    }
}
