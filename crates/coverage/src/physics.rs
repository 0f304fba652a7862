//! Radio physics in integers: distance between H3 cells and free-space path loss.
//!
//! Free-space path loss (Friis): `FSPL(dB) = 20·log10(d) + 20·log10(f) + 20·log10(4π/c)` with `d`
//! in metres and `f` in hertz; the constant is −147.55 dB. A signal can arrive no stronger than
//! `tx power + tx gain + rx gain − FSPL`, so a witness that reports more is lying about where it
//! is, what it heard, or both. All values here are centi-dB (1/100 dB) in `i64`.

use h3o::{CellIndex, Resolution};

/// Centre-to-centre distance of neighbouring resolution-12 cells, in millimetres: the average
/// hexagon edge at res 12 is 9.4155 m (H3 docs, "Table of cell statistics"), and neighbouring
/// centres are √3 edges apart.
const RES12_SPACING_MM: u64 = 16_308;
/// The same at resolution 7 (edge 1,406.48 m), used when the res-12 grid is too distorted to
/// measure (across icosahedron faces or pentagons).
const RES7_SPACING_MM: u64 = 2_436_096;

/// Distance between two cells in metres, from H3 grid distance times the average cell spacing.
///
/// Two errors stack: the hex-grid metric exceeds straight-line distance by up to 2/√3 − 1 ≈
/// 15.5 % off the grid axes, and real cells are up to ~10 % smaller or larger than the average
/// depending on where they sit on the icosahedron (measured −5 % in San Francisco). Together that
/// is within about ±1.5 dB of path loss, covered by the RSSI tolerance; honest witnesses sit
/// 10–40 dB under the free-space limit anyway. `None` if even the coarse grid cannot measure it
/// (very distant cells, pentagon distortion).
pub fn distance_m(a: CellIndex, b: CellIndex) -> Option<u64> {
    if let Ok(cells) = a.grid_distance(b) {
        return Some(u64::from(cells.unsigned_abs()) * RES12_SPACING_MM / 1_000);
    }
    let (pa, pb) = (a.parent(Resolution::Seven)?, b.parent(Resolution::Seven)?);
    let cells = pa.grid_distance(pb).ok()?;
    Some(u64::from(cells.unsigned_abs()) * RES7_SPACING_MM / 1_000)
}

/// `log2(x)` in Q16 fixed point (x ≥ 1), by the classic shift-and-square method: exact in the
/// integer part, 16 fractional bits each settled by one squaring.
pub const fn log2_q16(x: u64) -> u64 {
    let x = if x == 0 { 1 } else { x };
    let int = 63 - x.leading_zeros() as u64;
    // Mantissa in Q62: m ∈ [1, 2).
    let mut m: u128 = ((x as u128) << 62) >> int;
    let mut frac: u64 = 0;
    let mut bit = 16;
    while bit > 0 {
        bit -= 1;
        m = (m * m) >> 62;
        if m >= 2u128 << 62 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << 16) | frac
}

/// `log2(1 + k/256)` in Q16 for k = 0..=256, by [`log2_q16`] at compile time.
const LOG2_STEPS: [u64; 257] = {
    let mut t = [0u64; 257];
    let mut k = 0;
    while k <= 256 {
        // log2((256 + k) · 2^40) − 48 = log2(1 + k/256), exact to the last Q16 bit.
        t[k] = log2_q16((256 + k as u64) << 40) - (48 << 16);
        k += 1;
    }
    t
};

/// [`log2_q16`] by table and linear interpolation: within one Q16 unit of it (interpolating a
/// 1/256 step of `log2(1 + x)` errs by at most 2.8·10⁻⁶) at a few nanoseconds, for the location
/// fit's thousands of distances per hotspot.
pub fn log2_q16_fast(x: u64) -> u64 {
    let x = x.max(1);
    let int = 63 - u64::from(x.leading_zeros());
    // The bits below the leading one as a Q32 fraction.
    let frac = if int >= 32 {
        (x >> (int - 32)) & 0xFFFF_FFFF
    } else {
        (x << (32 - int)) & 0xFFFF_FFFF
    };
    let k = (frac >> 24) as usize;
    let rest = frac & 0xFF_FFFF;
    let (a, b) = (LOG2_STEPS[k], LOG2_STEPS[k + 1]);
    (int << 16) + a + (((b - a) * rest + (1 << 23)) >> 24)
}

/// `10·log10(x)` in centi-dB for x ≥ 1, by [`log2_q16_fast`].
pub fn ten_log10_centi_fast(x: u64) -> i64 {
    // 10·log10(2) = 3.0102999566…; ×100 for centi-dB.
    const TEN_LOG10_2_X1E9: u128 = 3_010_299_957;
    let den = 1_000_000_000u128 << 16;
    ((u128::from(log2_q16_fast(x)) * TEN_LOG10_2_X1E9 * 100 + den / 2) / den) as i64
}

/// `20·log10(x)` in centi-dB, for x ≥ 1.
pub fn twenty_log10_centi(x: u64) -> i64 {
    // 20·log10(x) = 20·log10(2)·log2(x) = 6.0205999…·log2(x); ×100 for centi-dB.
    const TWENTY_LOG10_2_X1E9: u128 = 6_020_599_913;
    let den = 1_000_000_000u128 << 16;
    // Rounded to the nearest centi-dB.
    let v = (u128::from(log2_q16(x)) * TWENTY_LOG10_2_X1E9 * 100 + den / 2) / den;
    v as i64
}

/// `20·log10(4π/c)` in centi-dB (c = 299,792,458 m/s): −147.55 dB.
const FRIIS_CONSTANT_CENTI_DB: i64 = -14_755;

/// Free-space path loss in centi-dB for `distance_m` metres at `frequency_hz`.
pub fn fspl_centi_db(distance_m: u64, frequency_hz: u64) -> i64 {
    twenty_log10_centi(distance_m.max(1)) + twenty_log10_centi(frequency_hz.max(1)) + FRIIS_CONSTANT_CENTI_DB
}

/// The strongest signal (centi-dBm) a receiver can see from a transmitter at that distance.
pub fn max_rssi_centi_dbm(
    tx_power_centi_dbm: i64,
    tx_gain_centi_dbi: i64,
    rx_gain_centi_dbi: i64,
    distance_m: u64,
    frequency_hz: u64,
) -> i64 {
    tx_power_centi_dbm + tx_gain_centi_dbi + rx_gain_centi_dbi - fspl_centi_db(distance_m, frequency_hz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::LatLng;

    #[test]
    fn log2_is_exact_on_powers_of_two_and_close_elsewhere() {
        assert_eq!(log2_q16(1), 0);
        assert_eq!(log2_q16(1024), 10 << 16);
        // log2(10) = 3.321928… -> 217,706.9 in Q16.
        assert!((217_705..=217_707).contains(&log2_q16(10)), "{}", log2_q16(10));
        assert_eq!(twenty_log10_centi(10), 2_000);
        assert_eq!(twenty_log10_centi(1_000_000), 12_000);
    }

    #[test]
    fn fspl_matches_the_textbook_values() {
        // 1 km at 915 MHz: 20log10(1000) + 20log10(915e6) - 147.55 = 60 + 179.23 - 147.55 = 91.68 dB.
        let v = fspl_centi_db(1_000, 915_000_000);
        assert!((9_166..=9_170).contains(&v), "{v}");
        // 10 km at 868 MHz: 80 + 178.77 - 147.55 = 111.22 dB.
        let v = fspl_centi_db(10_000, 868_000_000);
        assert!((11_120..=11_124).contains(&v), "{v}");
        // Doubling distance adds 6.02 dB.
        assert_eq!(
            fspl_centi_db(2_000, 915_000_000) - fspl_centi_db(1_000, 915_000_000),
            602
        );
    }

    #[test]
    fn grid_distance_tracks_great_circle_distance_within_the_documented_bound() {
        // Two points ~1.11 km apart along a meridian (0.01° of latitude).
        let a = LatLng::new(37.7700, -122.4200).unwrap().to_cell(Resolution::Twelve);
        let b = LatLng::new(37.7800, -122.4200).unwrap().to_cell(Resolution::Twelve);
        let d = distance_m(a, b).unwrap();
        assert!((1_000..=1_290).contains(&d), "{d}");
        assert_eq!(distance_m(a, a), Some(0));
        // ~55 km: still measured.
        let c = LatLng::new(38.2700, -122.4200).unwrap().to_cell(Resolution::Twelve);
        let d = distance_m(a, c).unwrap();
        assert!((50_000..=64_000).contains(&d), "{d}");
    }

    proptest::proptest! {
        #[test]
        fn the_fast_logarithm_is_within_one_q16_unit_of_the_exact_one(x in 1u64..u64::MAX) {
            let (fast, exact) = (log2_q16_fast(x), log2_q16(x));
            proptest::prop_assert!(fast.abs_diff(exact) <= 1, "x={} fast={} exact={}", x, fast, exact);
            proptest::prop_assert!(ten_log10_centi_fast(x).abs_diff(twenty_log10_centi(x) / 2) <= 1);
        }

        // Floats only here, as the reference the integer code is checked against.
        #[test]
        fn integer_twenty_log10_is_within_a_hundredth_of_a_db_and_monotonic(x in 1u64..u64::MAX / 2) {
            let reference = 2000.0 * (x as f64).log10();
            let ours = twenty_log10_centi(x) as f64;
            proptest::prop_assert!((ours - reference).abs() <= 1.0, "x={} ours={} reference={}", x, ours, reference);
            proptest::prop_assert!(twenty_log10_centi(x + 1) >= twenty_log10_centi(x));
        }
    }
}
