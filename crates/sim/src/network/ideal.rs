//! The realized limit: what the best location-blind test could make of the readings a hotspot
//! actually drew.
//!
//! [`super::limit`] says how often a perfect verifier would miss a misplaced hotspot *on
//! average over fading*, from the links' expected heard strengths. A run draws one set of
//! readings, and on a few identities the draw is far from its expectation: a Sybil identity
//! whose links all run 2–10 km was heard, epoch after epoch, on readings its true place
//! explained no better than its claim. No verifier can catch what the readings do not show, so
//! the report's limit is taken on the readings themselves: the generalized likelihood-ratio
//! test with everything a verifier could wish to know but the radio's place — the simulator's
//! true path-loss model (exponent, fading σ, the receivers' floor), each link fitted by its
//! likelihood given that it was heard, the hotspot's own bias maximised out, and its honest
//! neighbours' true places (links to other cheaters are left out, which helps it) — searching
//! the same 8 km disc as the location fit for the place that explains the links best. Its
//! statistic is twice the log-likelihood gained there over the asserted place; its threshold
//! is the 99th percentile of the same statistic over a sample of honest hotspots in the same
//! run (1 % false alarms, the whole budget the bounds allow).
//!
//! Floats, as in the rest of the physical model: nothing here is trusted by a verifier.

use super::limit::ln_upper_tail;

/// One link as the ideal test sees it from one end: the other end relative to this end's
/// asserted place, metres east and north, and what was heard, dBm.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    /// Metres east of the asserted place.
    pub east_m: f64,
    /// Metres north of the asserted place.
    pub north_m: f64,
    /// The RSSI heard, dBm.
    pub rssi_dbm: f64,
}

/// The true propagation model and the disc searched.
#[derive(Debug, Clone, Copy)]
pub struct Ideal {
    /// Mean RSSI at one metre (transmit power, both antennas, free-space loss of the first
    /// metre), dBm.
    pub at_1m_dbm: f64,
    /// Path-loss exponent.
    pub exponent: f64,
    /// Fading σ, dB.
    pub sigma_db: f64,
    /// The receivers' floor, dBm.
    pub floor_dbm: f64,
    /// How far from the asserted place the search looks, metres.
    pub radius_m: f64,
}

/// `ln(1/√(2π))`.
const LN_INV_SQRT_2PI: f64 = -0.918_938_533_204_672_7;
/// The cut's table covers `u` from this to [`CUT_HIGH`] in steps of [`CUT_STEP`].
const CUT_LOW: f64 = -40.0;
const CUT_HIGH: f64 = 8.0;
const CUT_STEP: f64 = 0.01;

/// `(ln Φ(u), φ(u)/Φ(u))` at every step of the table: the search evaluates them millions of
/// times a run, and a table with linear steps of 0.01 is within 10⁻⁵ of them.
fn cut_table() -> &'static [(f64, f64)] {
    static TABLE: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let n = ((CUT_HIGH - CUT_LOW) / CUT_STEP).round() as usize;
        (0..=n)
            .map(|k| {
                let u = CUT_LOW + k as f64 * CUT_STEP;
                let ln_phi = ln_upper_tail(-u);
                (ln_phi, (LN_INV_SQRT_2PI - u * u / 2.0 - ln_phi).exp())
            })
            .collect()
    })
}

/// `(ln Φ(u), φ(u)/Φ(u))`: the log-chance a link whose mean sits `u` σ above the floor is heard
/// at all, and the inverse Mills ratio (its slope). Nil far above the floor; far below it, the
/// asymptotes `−u²/2 − ln(−u·√(2π))` and `−u`.
fn cut(u: f64) -> (f64, f64) {
    if u >= CUT_HIGH {
        return (0.0, 0.0);
    }
    if u < CUT_LOW {
        return (-u * u / 2.0 + LN_INV_SQRT_2PI - (-u).ln(), -u);
    }
    let table = cut_table();
    let x = (u - CUT_LOW) / CUT_STEP;
    let k = (x as usize).min(table.len() - 2);
    let f = x - k as f64;
    let (a, b) = (table[k], table[k + 1]);
    (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f)
}
/// Newton steps on the bias: the profile is concave, and from the clear links' mean three
/// settle it well under 0.01 dB.
const BIAS_STEPS: usize = 3;

impl Ideal {
    fn mean_dbm(&self, d_m: f64) -> f64 {
        self.at_1m_dbm - 10.0 * self.exponent * d_m.max(1.0).log10()
    }

    /// Twice the log-likelihood of `links` if the radio were at `(x, y)`, its bias maximised
    /// out. `means` is scratch.
    fn profiled(&self, links: &[Heard], (x, y): (f64, f64), means: &mut Vec<f64>) -> f64 {
        let s = self.sigma_db;
        means.clear();
        means.extend(links.iter().map(|l| self.mean_dbm((l.east_m - x).hypot(l.north_m - y))));
        // Start from the mean residual of the links clear of the floor (zero if none is).
        let (sum, n) = links
            .iter()
            .zip(means.iter())
            .filter(|(_, m)| **m >= self.floor_dbm + s)
            .fold((0.0, 0.0), |(a, n), (l, m)| (a + l.rssi_dbm - m, n + 1.0));
        let mut b = if n > 0.0 { sum / n } else { 0.0 };
        // ℓ(m) = −(r − m)²/2σ² − ln Φ(u), u = (m − floor)/σ: concave in m, so in the bias.
        for _ in 0..BIAS_STEPS {
            let (mut g, mut h) = (0.0, 0.0);
            for (l, m) in links.iter().zip(means.iter()) {
                let m = m + b;
                let u = (m - self.floor_dbm) / s;
                let (_, mills) = cut(u);
                g += (l.rssi_dbm - m) / (s * s) - mills / s;
                h += (-1.0 + mills * (u + mills)) / (s * s);
            }
            if h >= 0.0 {
                break;
            }
            b -= g / h;
        }
        2.0 * links
            .iter()
            .zip(means.iter())
            .map(|(l, m)| {
                let m = m + b;
                let (ln_heard, _) = cut((m - self.floor_dbm) / s);
                -(l.rssi_dbm - m).powi(2) / (2.0 * s * s) - ln_heard
            })
            .sum::<f64>()
    }

    /// How much better the best place in the disc explains `links` than the asserted place
    /// (the origin), σ²-scaled log-likelihood: a square grid of 1 km (the likelihood of links
    /// kilometres long is smooth at that scale), then a pattern search from its four best
    /// points halving its step down to 10 m.
    pub fn improvement(&self, links: &[Heard]) -> f64 {
        if links.is_empty() {
            return 0.0;
        }
        let mut means = Vec::with_capacity(links.len());
        let at_claim = self.profiled(links, (0.0, 0.0), &mut means);
        let r = self.radius_m;
        let grid = 1_000.0;
        let steps = (r / grid) as i64;
        let mut scored: Vec<((f64, f64), f64)> = Vec::new();
        for i in -steps..=steps {
            for j in -steps..=steps {
                let p = (i as f64 * grid, j as f64 * grid);
                if p.0.hypot(p.1) <= r {
                    scored.push((p, self.profiled(links, p, &mut means)));
                }
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut best = at_claim;
        for &(start, value) in scored.iter().take(4) {
            let (mut at, mut v) = (start, value);
            let mut step = grid / 2.0;
            while step >= 10.0 {
                let mut moved = false;
                for (dx, dy) in [
                    (1.0, 0.0),
                    (-1.0, 0.0),
                    (0.0, 1.0),
                    (0.0, -1.0),
                    (0.7, 0.7),
                    (-0.7, 0.7),
                    (0.7, -0.7),
                    (-0.7, -0.7),
                ] {
                    let p = (at.0 + dx * step, at.1 + dy * step);
                    if p.0.hypot(p.1) > r {
                        continue;
                    }
                    let pv = self.profiled(links, p, &mut means);
                    if pv > v {
                        (at, v, moved) = (p, pv, true);
                    }
                }
                if !moved {
                    step /= 2.0;
                }
            }
            best = best.max(v);
        }
        best - at_claim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ideal() -> Ideal {
        Ideal {
            at_1m_dbm: 1.4,
            exponent: 3.5,
            sigma_db: 6.0,
            floor_dbm: -130.0,
            radius_m: 8_000.0,
        }
    }

    /// Neighbours on a ring of `ring_m` around a radio really at `actual`, heard at their
    /// mean strength from there (no fading) plus `bias` dB.
    fn ring(actual: (f64, f64), ring_m: f64, bias: f64) -> Vec<Heard> {
        let model = ideal();
        (0..24)
            .map(|k| {
                let a = f64::from(k) * std::f64::consts::PI / 12.0;
                let p = (ring_m * a.cos(), ring_m * a.sin());
                Heard {
                    east_m: p.0,
                    north_m: p.1,
                    rssi_dbm: model.mean_dbm((p.0 - actual.0).hypot(p.1 - actual.1)) + bias,
                }
            })
            .collect()
    }

    #[test]
    fn the_cut_table_matches_the_tail_and_its_asymptotes() {
        for u in [-39.5, -12.345, -2.0, 0.0, 0.005, 1.5, 7.99] {
            let (ln_phi, mills) = cut(u);
            let exact = ln_upper_tail(-u);
            assert!(
                (ln_phi - exact).abs() < 1e-4 * (1.0 + exact.abs()),
                "{u}: {ln_phi} vs {exact}"
            );
            let exact_mills = (LN_INV_SQRT_2PI - u * u / 2.0 - exact).exp();
            assert!((mills - exact_mills).abs() < 1e-4 * (1.0 + exact_mills), "{u}");
        }
        // Across the table's ends the function barely jumps.
        assert!((cut(CUT_LOW - 1e-9).0 - cut(CUT_LOW).0).abs() < 0.01);
        assert!(cut(CUT_HIGH - 1e-9).0.abs() < 1e-12 && cut(CUT_HIGH).1 == 0.0);
    }

    #[test]
    fn a_radio_where_it_claims_gains_nothing_whatever_its_bias() {
        for bias in [-6.0, 0.0, 4.0] {
            let g = ideal().improvement(&ring((0.0, 0.0), 2_000.0, bias));
            assert!(g.abs() < 0.05, "bias {bias}: {g}");
        }
    }

    #[test]
    fn a_radio_two_kilometres_off_is_found_and_its_gain_grows_with_the_offset() {
        let near = ideal().improvement(&ring((700.0, 0.0), 3_000.0, 2.0));
        let far = ideal().improvement(&ring((2_000.0, 0.0), 3_000.0, 2.0));
        // Without fading the gain is the evidence itself: 700 m off on 24 links at 3 km is
        // about 5 σ² (under the χ²(2) 1 % point, 9.21), 2 km off far past it.
        assert!((3.0..9.21).contains(&near), "{near}");
        assert!(far > 4.0 * near && far > 30.0, "{far} vs {near}");
    }
}
