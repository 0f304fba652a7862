//! Simulated weather and energy meters, for devnet's sensor agents and the network simulator.
//!
//! The weather is one smooth field over the map (a latitude gradient, a diurnal cycle peaking at
//! 15:00 local solar time, travelling synoptic waves of days, and sub-degree local variation),
//! so nearby stations agree the way real neighbours do; each station adds its own sensor noise at
//! the instruments' resolution. Meters follow the real sun (the verifier's integer solar
//! position) under passing clouds, with a household load. Deterministic: a pure function of the
//! seed, the station and the time. Floats are fine here and nowhere in verification.

use std::f64::consts::TAU;
use trellis_sensor::{solar::sin_elevation_ppm, Measurement};

const DAY_MS: f64 = 86_400_000.0;

/// splitmix64: a fast, well-mixed hash for reproducible noise.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Reproducible noise in `[-1, 1]` for a key, a time slot and a channel.
pub fn noise(key: u64, slot: u64, channel: u64) -> f64 {
    let h = mix(key ^ mix(slot ^ mix(channel)));
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// The shared weather field.
#[derive(Debug, Clone, Copy)]
pub struct WeatherField {
    /// Varies the synoptic waves between runs.
    pub seed: u64,
}

impl WeatherField {
    /// Air temperature in °C at a place and time, before any sensor's noise.
    pub fn temperature_c(&self, lat: f64, lng: f64, t_ms: u64) -> f64 {
        let t = t_ms as f64;
        let solar_hours = (t % DAY_MS) / 3_600_000.0 + lng / 15.0;
        let diurnal = (TAU * (solar_hours - 15.0) / 24.0).cos();
        let phase = (self.seed % 1_000) as f64 / 1_000.0 * TAU;
        let synoptic = (TAU * t / (3.0 * DAY_MS) + lat * 0.7 + phase).sin();
        let local = 0.4 * (lat * 60.0).sin() * (lng * 60.0).cos();
        15.0 - 0.5 * (lat - 37.0) + 4.0 * diurnal + 3.0 * synoptic + local
    }

    /// One station's measurement at `t_ms`; `station` keys its sensor noise, `slot` the instant.
    pub fn measure(&self, lat: f64, lng: f64, t_ms: u64, station: u64) -> Measurement {
        let slot = t_ms / 1_000;
        let temp = self.temperature_c(lat, lng, t_ms) + 0.06 * noise(station, slot, 1);
        let t = t_ms as f64;
        let humidity =
            (70.0 - 2.5 * (temp - 15.0) + 3.0 * (lat * 40.0 + lng * 25.0).sin() + 0.4 * noise(station, slot, 2))
                .clamp(5.0, 100.0);
        let pressure = 101_325.0 + 600.0 * (TAU * t / (4.0 * DAY_MS) + lng * 0.3).sin() + 1.5 * noise(station, slot, 3);
        let wind = (3.0 + 2.0 * (TAU * t / (6.0 * 3_600_000.0) + lat).sin() + 0.8 * noise(station, slot, 4)).max(0.0);
        let direction = (200.0 + 40.0 * (TAU * t / DAY_MS).sin() + 8.0 * noise(station, slot, 5)).rem_euclid(360.0);
        let raining = (TAU * t / (3.0 * DAY_MS) + lat * 0.7).sin() < -0.8;
        Measurement::Weather {
            temperature_centi_c: (temp * 100.0).round() as i64,
            humidity_centi_pct: (humidity * 100.0).round() as u32,
            pressure_pa: pressure.round() as u32,
            wind_speed_cm_s: (wind * 100.0).round() as u32,
            wind_direction_deg: (direction.floor() as u32) % 360,
            rain_um: if raining {
                20 + (noise(station, slot, 6).abs() * 30.0) as u64
            } else {
                0
            },
        }
    }
}

/// A metered site: a rooftop array and a household, with cumulative registers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meter {
    /// Rated array capacity, watts.
    pub capacity_w: u64,
    /// Average household draw, watts.
    pub base_load_w: u64,
    /// Produced register, mWh.
    pub produced_mwh_total: u64,
    /// Consumed register, mWh.
    pub consumed_mwh_total: u64,
    /// When the registers were last advanced, ms.
    pub at_ms: u64,
}

impl Meter {
    /// Advances the registers to `t_ms` at a place (hundredths of a degree) in steps of at most
    /// a minute; `key` keys the clouds and the load's noise.
    pub fn advance(&mut self, lat_centi: i32, lng_centi: i32, t_ms: u64, key: u64) {
        while self.at_ms < t_ms {
            let next = (self.at_ms + 60_000).min(t_ms);
            let dt = (next - self.at_ms) as f64;
            let sun = sin_elevation_ppm(lat_centi, lng_centi, self.at_ms, 0).max(0) as f64 / 1e6;
            let minute = self.at_ms / 60_000;
            let cloud = 0.75 + 0.25 * noise(key, minute / 30, 7);
            let produced_w = self.capacity_w as f64 * 0.8 * sun * cloud;
            let hour = ((self.at_ms % 86_400_000) as f64 / 3.6e6 + f64::from(lng_centi) / 1_500.0).rem_euclid(24.0);
            let evening = if (17.0..22.0).contains(&hour) { 1.6 } else { 0.8 };
            let load_w = self.base_load_w as f64 * evening * (1.0 + 0.1 * noise(key, minute, 8));
            // W × ms / 3600 = mWh.
            self.produced_mwh_total += (produced_w * dt / 3_600.0) as u64;
            self.consumed_mwh_total += (load_w.max(0.0) * dt / 3_600.0) as u64;
            self.at_ms = next;
        }
    }

    /// The registers as a reading.
    pub fn measurement(&self) -> Measurement {
        Measurement::Energy {
            produced_mwh_total: self.produced_mwh_total,
            consumed_mwh_total: self.consumed_mwh_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_agree_and_stations_jitter() {
        let field = WeatherField { seed: 7 };
        let t = 1_796_241_600_000;
        let a = field.temperature_c(37.77, -122.42, t);
        let b = field.temperature_c(37.80, -122.45, t);
        assert!((a - b).abs() < 1.5, "{a} {b}");
        let m1 = field.measure(37.77, -122.42, t, 1);
        let m2 = field.measure(37.77, -122.42, t + 5_000, 1);
        assert_ne!(m1, m2);
        assert_eq!(m1, field.measure(37.77, -122.42, t, 1), "deterministic");
    }

    #[test]
    fn a_meter_produces_by_day_and_not_by_night() {
        let start = 1_796_241_600_000; // SF noon-ish
        let mut m = Meter {
            capacity_w: 5_000,
            base_load_w: 700,
            produced_mwh_total: 0,
            consumed_mwh_total: 0,
            at_ms: start,
        };
        m.advance(3_777, -12_242, start + 3_600_000, 1);
        assert!(m.produced_mwh_total > 1_000_000, "{m:?}"); // > 1 kWh in a noon hour
        let day = m.produced_mwh_total;
        m.advance(3_777, -12_242, start + 13 * 3_600_000, 1);
        let m_night = m.produced_mwh_total;
        m.advance(3_777, -12_242, start + 14 * 3_600_000, 1);
        assert_eq!(m.produced_mwh_total, m_night, "no sun at 1 am");
        assert!(m_night > day && m.consumed_mwh_total > 5_000_000);
    }
}
