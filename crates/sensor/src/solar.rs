//! The sun's elevation in integers, for the energy meters' irradiance bound.
//!
//! Declination from the phase of the tropical year since the March 2000 equinox, hour angle from
//! UTC and longitude; `sin(elevation) = sin φ sin δ + cos φ cos δ cos h`. The equation of time
//! (±16 min) and refraction are not modelled: the bound takes the highest sun within ±20 min and
//! adds one degree, so it only ever errs towards allowing production. Sines use Bhaskara I's
//! rational approximation (error below 0.17 % of full scale).

/// The March equinox of 2000, 07:35 UTC, ms since the Unix epoch.
const EQUINOX_2000_MS: i128 = 953_537_700_000;
/// The tropical year, ms (365.24219 days).
const TROPICAL_YEAR_MS: i128 = 31_556_925_216;
/// Earth's axial tilt, millidegrees.
const OBLIQUITY_MDEG: i64 = 23_440;
const DAY_MS: i64 = 86_400_000;
const PPM: i64 = 1_000_000;

/// `sin` of an angle in millidegrees, in parts per million.
pub fn sin_ppm(millideg: i64) -> i64 {
    let x = millideg.rem_euclid(360_000);
    let (x, sign) = if x >= 180_000 { (x - 180_000, -1) } else { (x, 1) };
    let p = i128::from(x) * i128::from(180_000 - x);
    // Bhaskara I: sin x° ≈ 4x(180 − x) / (40500 − x(180 − x)); in millidegrees 40500 → 40.5e9.
    let v = 4 * p * i128::from(PPM) / (40_500_000_000 - p);
    // |v| ≤ 10^6.
    sign * i64::try_from(v).unwrap_or(PPM)
}

/// `cos` of an angle in millidegrees, in parts per million.
pub fn cos_ppm(millideg: i64) -> i64 {
    sin_ppm(millideg + 90_000)
}

/// The sun's declination at `time_ms`, millidegrees.
pub fn declination_mdeg(time_ms: u64) -> i64 {
    let since = (i128::from(time_ms) - EQUINOX_2000_MS).rem_euclid(TROPICAL_YEAR_MS);
    let phase = i64::try_from(since * 360_000 / TROPICAL_YEAR_MS).unwrap_or(0);
    OBLIQUITY_MDEG * sin_ppm(phase) / PPM
}

/// `sin` of the sun's elevation at a place and time, ppm (negative below the horizon).
pub fn sin_elevation_ppm(lat_centi: i32, lng_centi: i32, time_ms: u64, hour_offset_mdeg: i64) -> i64 {
    let lat = i64::from(lat_centi) * 10;
    let dec = declination_mdeg(time_ms);
    let ms_of_day = i64::try_from(time_ms % DAY_MS as u64).unwrap_or(0);
    let hour = ms_of_day * 360_000 / DAY_MS - 180_000 + i64::from(lng_centi) * 10 + hour_offset_mdeg;
    (sin_ppm(lat) * sin_ppm(dec) + cos_ppm(lat) * cos_ppm(dec) / PPM * cos_ppm(hour)) / PPM
}

/// The most a panel could deliver at a place and time, as ppm of its rated capacity before the
/// tilt allowance: the highest `sin(elevation)` within ±20 minutes, plus one degree, clamped to
/// `0..=10^6`.
pub fn clear_sky_ppm(lat_centi: i32, lng_centi: i32, time_ms: u64) -> u64 {
    const SIN_ONE_DEGREE_PPM: i64 = 17_452;
    let best = [-5_000, 0, 5_000]
        .into_iter()
        .map(|off| sin_elevation_ppm(lat_centi, lng_centi, time_ms, off))
        .max()
        .unwrap_or(0);
    u64::try_from((best + SIN_ONE_DEGREE_PPM).clamp(0, PPM)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_is_within_its_error_bound_at_known_angles() {
        for (deg, exact) in [
            (0, 0),
            (30, 500_000),
            (90, 1_000_000),
            (150, 500_000),
            (210, -500_000),
            (270, -1_000_000),
        ] {
            assert!((sin_ppm(deg * 1000) - exact).abs() <= 1_700, "sin {deg}°");
        }
        assert!((cos_ppm(60_000) - 500_000).abs() <= 1_700);
        assert_eq!(sin_ppm(-90_000), -1_000_000);
    }

    #[test]
    fn declination_follows_the_seasons() {
        // 2026-06-21 and 2026-12-21, 12:00 UTC: near ±23.44°.
        assert!((declination_mdeg(1_782_043_200_000) - 23_440).abs() < 300);
        assert!((declination_mdeg(1_797_854_400_000) + 23_440).abs() < 300);
        // 2026-03-20 14:46 UTC, the equinox: near 0.
        assert!(declination_mdeg(1_774_017_960_000).abs() < 300);
    }

    #[test]
    fn the_sun_is_up_at_local_noon_and_down_at_midnight() {
        // San Francisco (37.77, -122.42) on 2026-12-02: local noon is ~20:10 UTC.
        let noon = 1_796_242_200_000; // 2026-12-02 20:10 UTC
        let s = sin_elevation_ppm(3_777, -12_242, noon, 0);
        // Elevation ≈ 90 − 37.8 − 22 = 30.2°, sin ≈ 0.50.
        assert!((s - 503_000).abs() < 20_000, "{s}");
        let midnight = noon + 12 * 3_600_000;
        assert!(sin_elevation_ppm(3_777, -12_242, midnight, 0) < -400_000);
        assert_eq!(clear_sky_ppm(3_777, -12_242, midnight), 0);
        // The equator at an equinox noon: straight overhead.
        assert!(clear_sky_ppm(0, 0, 1_774_008_000_000) > 990_000);
    }
}
