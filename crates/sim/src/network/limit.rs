//! The limit of detection for a hotspot that is not where it claims, on the links it has.
//!
//! Whatever a verifier does, all it has against a hotspot's asserted place is the hotspot's
//! links: each one's RSSI against what the propagation model predicts for the asserted
//! distance. A radio really at `S` but asserted at `A` is heard at the strength of its real
//! distance, not of the claimed one; a free per-hotspot offset (antenna, cable, mast) absorbs
//! the mean difference, and fading of σ dB hides the rest. Receivers decode only above their
//! sensitivity, so what is heard of a link is the fading distribution cut at the floor: far
//! links are heard only when they fade up, and say little about where anyone is. The best any
//! test can do (the likelihood-ratio test, with the true model) compares its statistic with the
//! χ² of two degrees of freedom (the place's two coordinates); on a misplaced hotspot that
//! statistic follows, near enough, the non-central χ² with non-centrality
//! `λ = Σ w·(δ − δ̄)²`, where `δ` is each link's difference between the mean RSSI heard from the
//! asserted and from the real place (both cut at the floor), `w` the inverse of the variance
//! of what is heard, and `δ̄` their weighted mean. At a false-alarm rate `α` per honest
//! device-epoch the threshold is `t = −2·ln α`, and the ideal detector misses the hotspot with
//! probability `P(χ²₂(λ) < t)`.
//!
//! The simulator knows where every radio really is, so it computes that miss probability for
//! every Sybil identity's every epoch, on the very links the verifier judged (the window's and
//! the epoch's). The report prints the mean as the attack's expected limit: what a Sybil
//! identity would capture, on average over fading, against a perfect verifier allowed the
//! issue's whole false-positive budget. The limit the bounds are judged by is taken on the
//! readings actually drawn ([`super::ideal`]): over a handful of identities one unlucky draw
//! moves it by a few per cent either way.
//! Floats, as in the rest of the physical model: nothing here is trusted by a verifier.

/// False alarms the ideal detector may raise per honest device-epoch: the whole budget the
/// simulator's bounds allow honest devices (1 %).
pub const IDEAL_FALSE_ALARM: f64 = 0.01;

/// One link as the ideal detector sees it: the mean RSSI (before fading) it would have from the
/// asserted places of its ends and from their real places, dBm.
#[derive(Debug, Clone, Copy)]
pub struct LinkMeans {
    /// From the asserted places.
    pub claimed_dbm: f64,
    /// From the real places.
    pub real_dbm: f64,
}

/// `erfc(a) = t·e^poly` for `a ≥ 0` (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2·10⁻⁷): `(t, poly)`.
fn erfc_parts(a: f64) -> (f64, f64) {
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (t, poly)
}

/// `Q(z) = P(N(0,1) > z)`, from the complementary error function.
fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let (t, poly) = erfc_parts(x.abs());
    let erfc = t * poly.exp();
    if x >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

/// `ln Q(z)`, the same fit taken in logs: no underflow however far into the tail.
pub fn ln_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let (t, poly) = erfc_parts(x.abs());
    if x >= 0.0 {
        t.ln() + poly - std::f64::consts::LN_2
    } else {
        (1.0 - t * poly.exp() / 2.0).ln()
    }
}

/// Mean and variance of what is heard of a link of mean `mu` under fading `sigma` by a receiver
/// that decodes only above `floor` (the normal distribution cut below `floor`).
fn heard(mu: f64, sigma: f64, floor: f64) -> (f64, f64) {
    let z = (floor - mu) / sigma;
    let tail = upper_tail(z);
    if tail < 1e-300 {
        // Never heard: what would be is right at the floor, and tells nothing.
        return (floor, 0.0);
    }
    let density = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mills = density / tail;
    (
        mu + sigma * mills,
        sigma * sigma * (1.0 + z * mills - mills * mills).max(0.0),
    )
}

/// Non-centrality of the evidence `links` hold against the asserted places, under fading of
/// `sigma_db` and receivers that hear nothing below `floor_dbm`.
pub fn noncentrality(links: &[LinkMeans], sigma_db: f64, floor_dbm: f64) -> f64 {
    if sigma_db <= 0.0 {
        return 0.0;
    }
    // Each link's difference of heard means and its weight (the inverse heard variance, at the
    // real place: the detector's statistic spreads as the truth does).
    let terms: Vec<(f64, f64)> = links
        .iter()
        .filter_map(|l| {
            let (claimed, _) = heard(l.claimed_dbm, sigma_db, floor_dbm);
            let (real, var) = heard(l.real_dbm, sigma_db, floor_dbm);
            (var > 1e-9).then(|| (claimed - real, 1.0 / var))
        })
        .collect();
    let total: f64 = terms.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mean = terms.iter().map(|(d, w)| d * w).sum::<f64>() / total;
    terms.iter().map(|(d, w)| w * (d - mean) * (d - mean)).sum()
}

/// `P(χ²₂(λ) ≥ t)`: the Poisson mixture of central χ² with `2 + 2j` degrees of freedom, whose
/// tails are `e^(−t/2) · Σ_{m ≤ j} (t/2)^m / m!`.
pub fn power(lambda: f64, t: f64) -> f64 {
    let (half_l, half_t) = (lambda.max(0.0) / 2.0, t.max(0.0) / 2.0);
    if half_l > 600.0 {
        // e^(−λ/2) underflows; the statistic is then so far past any sane threshold that the
        // test never misses.
        return 1.0;
    }
    let mut poisson = (-half_l).exp();
    let mut term = (-half_t).exp();
    let mut tail = term;
    let mut total = 0.0;
    let mut weight_left = 1.0;
    let mut j = 0.0;
    while weight_left > 1e-12 && j < 4_000.0 {
        total += poisson * tail;
        weight_left -= poisson;
        j += 1.0;
        poisson *= half_l / j;
        term *= half_t / j;
        tail += term;
    }
    // Whatever weight is left sits on ever larger degrees of freedom, whose tails tend to one.
    (total + weight_left.max(0.0)).clamp(0.0, 1.0)
}

/// The ideal detector's chance of missing a hotspot with `links`, ppm.
pub fn miss_ppm(links: &[LinkMeans], sigma_db: f64, floor_dbm: f64) -> u64 {
    let t = -2.0 * IDEAL_FALSE_ALARM.ln();
    let miss = 1.0 - power(noncentrality(links, sigma_db, floor_dbm), t);
    (miss * 1e6).round().clamp(0.0, 1e6) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded standard normal (splitmix64 and Box–Muller): the reference the series is checked
    /// against.
    struct Normals(u64);

    impl Normals {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn next(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// Links far above the floor, whose claimed means differ from the real ones by `shifts`.
    fn strong(shifts: &[f64]) -> Vec<LinkMeans> {
        shifts
            .iter()
            .map(|s| LinkMeans {
                claimed_dbm: -80.0 + s,
                real_dbm: -80.0,
            })
            .collect()
    }

    #[test]
    fn with_no_evidence_the_detector_fires_at_its_false_alarm_rate() {
        let t = -2.0 * IDEAL_FALSE_ALARM.ln();
        assert!((power(0.0, t) - IDEAL_FALSE_ALARM).abs() < 1e-12);
        assert_eq!(miss_ppm(&[], 6.0, -130.0), 990_000);
        // A constant shift is the antenna's offset, not a place.
        assert_eq!(miss_ppm(&strong(&[7.0; 40]), 6.0, -130.0), 990_000);
    }

    #[test]
    fn the_tail_and_the_cut_normal_match_their_textbook_values() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(1.0) - 0.158_655_25).abs() < 1e-7);
        assert!((upper_tail(-2.0) - 0.977_249_87).abs() < 1e-7);
        for z in [-3.0, -0.5, 0.0, 1.0, 6.0] {
            assert!((ln_upper_tail(z) - upper_tail(z).ln()).abs() < 1e-6, "{z}");
        }
        // Forty σ out, where Q itself underflows: ln Q → −z²/2 − ln(z·√(2π)).
        let asymptote = -800.0 - (40.0 * (2.0 * std::f64::consts::PI).sqrt()).ln();
        assert!(
            (ln_upper_tail(40.0) - asymptote).abs() < 1e-3,
            "{}",
            ln_upper_tail(40.0)
        );
        // Cut at the mean: mean + σ·√(2/π), variance σ²·(1 − 2/π).
        let (m, v) = heard(0.0, 1.0, 0.0);
        assert!((m - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-6, "{m}");
        assert!((v - (1.0 - 2.0 / std::f64::consts::PI)).abs() < 1e-6, "{v}");
        // Far above the floor the cut does nothing.
        let (m, v) = heard(-80.0, 6.0, -130.0);
        assert!((m + 80.0).abs() < 1e-9 && (v - 36.0).abs() < 1e-6);
    }

    #[test]
    fn the_series_matches_sampled_noncentral_chi_squared() {
        let mut n = Normals(42);
        for (lambda, t) in [(1.0, 2.0), (4.0, 9.21), (9.0, 9.21), (20.0, 9.21), (60.0, 25.0)] {
            let a = f64::sqrt(lambda);
            let samples = 200_000;
            let hits = (0..samples)
                .filter(|_| {
                    let (x, y) = (n.next() + a, n.next());
                    x * x + y * y >= t
                })
                .count();
            let sampled = hits as f64 / f64::from(samples);
            let series = power(lambda, t);
            assert!(
                (sampled - series).abs() < 0.005,
                "λ {lambda} t {t}: {sampled} vs {series}"
            );
        }
        assert_eq!(power(5_000.0, 9.21), 1.0);
    }

    #[test]
    fn spread_shifts_are_evidence_in_proportion_to_their_variance_unless_below_the_floor() {
        // Shifts of ±6 dB against σ = 6: one σ² per link.
        let shifts: Vec<f64> = (0..30).map(|i| if i % 2 == 0 { 6.0 } else { -6.0 }).collect();
        assert!((noncentrality(&strong(&shifts), 6.0, -130.0) - 30.0).abs() < 1e-6);
        // Thirty σ² of evidence is missed about one time in two hundred at a 1 % false-alarm
        // rate (P(χ²₂(30) < 9.21) = 0.52 %).
        let miss = miss_ppm(&strong(&shifts), 6.0, -130.0);
        assert!((5_000..5_300).contains(&miss), "{miss}");
        // Four links of it, mostly not.
        assert!(miss_ppm(&strong(&shifts[..4]), 6.0, -130.0) > 400_000);
        // The same shifts on links two σ under the floor are heard only when they fade up, and
        // then at nearly the same strength whichever place is true.
        let faint: Vec<LinkMeans> = strong(&shifts)
            .into_iter()
            .map(|l| LinkMeans {
                claimed_dbm: l.claimed_dbm - 62.0,
                real_dbm: l.real_dbm - 62.0,
            })
            .collect();
        let weak = noncentrality(&faint, 6.0, -130.0);
        assert!(weak < 30.0 / 4.0, "{weak}");
    }
}
