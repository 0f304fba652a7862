//! Quality-of-data thresholds. Defaults follow WMO instrument ranges and WeatherXM's published QoD
//! practice (range, jump, constant-value, location and spatial checks).

use serde::{Deserialize, Serialize};

/// Typed configuration of the QoD scorer. Every field is an integer in the unit its name says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QodConfig {
    /// Plausible air temperature, hundredths of °C (WMO records: −89.2 °C to 56.7 °C).
    pub temperature_min_centi_c: i64,
    /// Upper bound of plausible air temperature.
    pub temperature_max_centi_c: i64,
    /// Plausible station pressure, pascals (870 hPa in typhoons at sea level; stations up to
    /// ~5 km altitude read ~540 hPa).
    pub pressure_min_pa: u32,
    /// Upper bound of plausible station pressure (record 1084.8 hPa).
    pub pressure_max_pa: u32,
    /// Fastest plausible wind, cm/s (record gust 113 m/s).
    pub wind_max_cm_s: u32,
    /// Most rain plausible per minute, micrometres (record ~38 mm/min).
    pub rain_max_um_per_min: u64,
    /// Largest temperature change per minute a reading may show against its neighbours in time
    /// without being a spike, hundredths of °C.
    pub temperature_jump_centi_c_per_min: i64,
    /// Largest humidity change per minute, hundredths of a percent.
    pub humidity_jump_centi_pct_per_min: i64,
    /// Largest pressure change per minute, pascals.
    pub pressure_jump_pa_per_min: i64,
    /// Sensor noise allowed on top of the jump rates, hundredths of °C (a reading may differ
    /// from one a second earlier by this much).
    pub temperature_noise_centi_c: i64,
    /// Sensor noise on humidity, hundredths of a percent.
    pub humidity_noise_centi_pct: i64,
    /// Sensor noise on pressure, pascals.
    pub pressure_noise_pa: i64,
    /// Identical consecutive values of temperature or humidity at least this many times in a row
    /// (pressure: three times as many) are a stuck sensor (real sensors at these resolutions
    /// jitter).
    pub flatline_run: u32,
    /// A reading whose device clock differs from ingest's receive time by more than this is
    /// flagged (ingest itself refuses far larger drifts).
    pub max_clock_drift_ms: u64,
    /// A reading sooner than this share of the declared interval after the previous one is
    /// surplus (basis points of the interval).
    pub min_interval_bps: u32,
    /// Declared reporting interval when the device declares none, seconds.
    pub default_interval_s: u64,
    /// A device with at least this share of its readings equal to another device's earlier
    /// readings is a copier (basis points).
    pub copy_threshold_bps: u32,
    /// A GPS fix farther than this many cells at `location_resolution` from the asserted cell is
    /// a location mismatch.
    pub location_max_rings: u32,
    /// Resolution of the location comparison (7: cells of ~5 km²).
    pub location_resolution: u8,
    /// What a reading without GPS fix is worth, basis points (the location is unverified).
    pub no_gps_bps: u32,
    /// Neighbours are weather stations within this many rings at `neighbour_resolution`.
    pub neighbour_rings: u32,
    /// Resolution of the neighbour search (7: ring 3 reaches ~8 km).
    pub neighbour_resolution: u8,
    /// The neighbour check needs at least this many neighbours with good data.
    pub min_neighbours: u32,
    /// A station whose mean temperature differs from its neighbours' median by more than this
    /// disagrees with them (covers ~750 m of altitude at the standard lapse rate).
    pub neighbour_temperature_centi_c: i64,
    /// The same for relative humidity.
    pub neighbour_humidity_centi_pct: i64,
    /// A meter may produce at most its declared capacity times this factor of the clear-sky
    /// bound (ppm of capacity at the sun's elevation, see `solar`), in basis points: panels tilted
    /// towards a low sun catch more than horizontal irradiance suggests.
    pub irradiance_gain_bps: u32,
    /// Production allowed with the sun below the horizon (inverter noise), basis points of
    /// capacity.
    pub night_production_bps: u32,
    /// Largest plausible import of a metered site, watts (a 3-phase 160 A service ≈ 110 kW).
    pub max_consumption_w: u64,
    /// Declared capacity when an energy meter declares none, watts.
    pub default_capacity_w: u64,
    /// How far before the epoch to look for a device's baseline reading, ms.
    pub baseline_lookback_ms: u64,
    /// Resolution of the hexes whose devices share one hex's reward (7: ~5 km²): a station in
    /// an under-served hex earns the whole hex, ten in one hex earn a tenth each.
    pub density_resolution: u8,
}

impl Default for QodConfig {
    fn default() -> Self {
        QodConfig {
            temperature_min_centi_c: -9_000,
            temperature_max_centi_c: 6_000,
            pressure_min_pa: 50_000,
            pressure_max_pa: 108_500,
            wind_max_cm_s: 11_300,
            rain_max_um_per_min: 40_000,
            temperature_jump_centi_c_per_min: 200,
            humidity_jump_centi_pct_per_min: 1_500,
            pressure_jump_pa_per_min: 100,
            temperature_noise_centi_c: 20,
            humidity_noise_centi_pct: 100,
            pressure_noise_pa: 10,
            flatline_run: 12,
            max_clock_drift_ms: 30_000,
            min_interval_bps: 5_000,
            default_interval_s: 300,
            copy_threshold_bps: 2_000,
            location_max_rings: 1,
            location_resolution: 7,
            no_gps_bps: 5_000,
            neighbour_rings: 3,
            neighbour_resolution: 7,
            min_neighbours: 2,
            neighbour_temperature_centi_c: 500,
            neighbour_humidity_centi_pct: 2_500,
            irradiance_gain_bps: 25_000,
            night_production_bps: 50,
            max_consumption_w: 110_000,
            default_capacity_w: 5_000,
            baseline_lookback_ms: 6 * 3_600_000,
            density_resolution: 7,
        }
    }
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid QoD config: {0}")]
pub struct ConfigError(pub &'static str);

impl QodConfig {
    /// Checks the relations between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.temperature_min_centi_c >= self.temperature_max_centi_c || self.pressure_min_pa >= self.pressure_max_pa
        {
            return Err(ConfigError("a range's minimum must be below its maximum"));
        }
        if self.flatline_run < 2 {
            return Err(ConfigError("flatline_run must be at least 2"));
        }
        if self.min_interval_bps > 10_000 || self.copy_threshold_bps > 10_000 || self.no_gps_bps > 10_000 {
            return Err(ConfigError("basis points above 10000"));
        }
        for r in [
            self.location_resolution,
            self.neighbour_resolution,
            self.density_resolution,
        ] {
            if r > 12 {
                return Err(ConfigError("resolutions must be 0..=12"));
            }
        }
        if self.default_interval_s == 0 || self.default_capacity_w == 0 {
            return Err(ConfigError("default interval and capacity must be positive"));
        }
        Ok(())
    }
}
