//! The hotspot's own bias at a candidate place, profiled: the antenna-and-cable offset that
//! makes the place's links cost least (see [`crate::locate::BiasFit::Profiled`]).
//!
//! A link's cost in the location fit is `e² − L(z)` (thousandths of σ²), capped, where `e` is
//! its residual less the bias in σ, `z` is where the floor sits under its prediction in σ and
//! `L(z) = −2·ln Q(z)` ([`crate::truncation`]). Both `e` and `z` move by `−1/σ` per unit of
//! bias, so the uncapped sum is convex in the bias (`L″` lies in (0, 2)) and Newton's method
//! finds its least in a few steps. Integers throughout, like the rest of the fit.

use crate::{
    locate::{Observation, Scoring},
    truncation::minus_two_ln_q_milli,
};

/// Newton steps the profiled bias takes at most; from the clear median, two or three settle
/// it to a hundredth of a dB.
const BIAS_STEPS: usize = 4;

/// Each link's `(e, z)` in thousandths under `bias`: its residual in σ and where the floor sits
/// under its prediction in σ.
fn standardised(o: &Observation, residual: i64, bias: i64, sigma: i64) -> (i64, i64) {
    let e = (residual - bias).saturating_mul(1_000) / sigma;
    let z = (residual - bias - o.headroom_centi_db).saturating_mul(1_000) / sigma;
    (e, z)
}

/// One link's cost in thousandths of σ², uncapped.
fn link_cost((e, z): (i64, i64)) -> i64 {
    e.saturating_mul(e) / 1_000 - minus_two_ln_q_milli(z)
}

/// The capped cost of every link under `bias`.
pub(crate) fn total_cost(obs: &[Observation], residuals: &[i64], scoring: &Scoring<'_>, bias: i64) -> i64 {
    let sigma = scoring.fading.sigma_centi_db.max(1);
    obs.iter()
        .zip(residuals)
        .map(|(o, r)| link_cost(standardised(o, *r, bias, sigma)).min(scoring.clip_milli))
        .sum()
}

/// The Newton step toward the bias of least cost, centi-dB, over the links under their cap
/// (a capped link costs the same whatever the bias). With `e` and `z` as in [`standardised`]
/// and `L(z) = −2·ln Q(z)`, a link's cost is `e² − L(z)`; both move by `−1/σ` per unit of
/// bias, so its slope is `(L′(z) − 2e)/σ` and its curvature `(2 − L″(z))/σ²`, positive
/// (`L″` lies in (0, 2)): the uncapped sum is convex and the step is
/// `σ·Σ(2e − L′) / Σ(2 − L″)`. `L′` and `L″` are central differences on the table.
fn newton_step(obs: &[Observation], residuals: &[i64], scoring: &Scoring<'_>, bias: i64) -> Option<i64> {
    let sigma = scoring.fading.sigma_centi_db.max(1);
    let (mut slope, mut curvature) = (0i64, 0i64);
    for (o, r) in obs.iter().zip(residuals) {
        let (e, z) = standardised(o, *r, bias, sigma);
        if link_cost((e, z)) >= scoring.clip_milli {
            continue;
        }
        let (lo, mid, hi) = (
            minus_two_ln_q_milli(z - 100),
            minus_two_ln_q_milli(z),
            minus_two_ln_q_milli(z + 100),
        );
        // Thousandths: L′ = (hi − lo) / 0.2, L″ = (hi − 2·mid + lo) / 0.01.
        slope = slope.saturating_add(e.saturating_mul(2).saturating_sub((hi - lo) * 5));
        curvature = curvature.saturating_add(2_000 - (hi - 2 * mid + lo) * 100);
    }
    if curvature <= 0 {
        return None;
    }
    let step = i128::from(sigma) * i128::from(slope) / i128::from(curvature);
    // A step of more than ±30 dB is a cost with no minimum worth taking (every link capped
    // but a faint few).
    Some(step.clamp(-3_000, 3_000) as i64).filter(|s| *s != 0)
}

/// The least capped cost over the bias, from `start` (the clear links' median): Newton steps,
/// each kept only if the cost falls — a capped sum can overshoot where links leave or join the
/// cap — else half of it is tried, else the search ends. Never more than the cost at `start`.
pub(crate) fn least_cost(obs: &[Observation], residuals: &[i64], scoring: &Scoring<'_>, start: i64) -> i64 {
    let mut best = (start, total_cost(obs, residuals, scoring, start));
    for _ in 0..BIAS_STEPS {
        let Some(step) = newton_step(obs, residuals, scoring, best.0) else {
            break;
        };
        let tried = [best.0.saturating_add(step), best.0.saturating_add(step / 2)]
            .into_iter()
            .map(|b| (b, total_cost(obs, residuals, scoring, b)))
            .find(|(_, c)| *c < best.1);
        match tried {
            Some(better) => best = better,
            None => break,
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        environment::Fading,
        locate::{cost, ten_log_d_centi, BiasFit},
    };
    use trellis_primitives::DeviceAddress;

    /// σ 6 dB, exponent 3.5.
    fn fading() -> Fading {
        Fading {
            exponent_x100: 350,
            centre_centi_db: 0,
            sigma_centi_db: 600,
        }
    }

    /// Links capped at 4 σ, clear 1 σ above the floor.
    fn scoring(fading: &Fading, bias: BiasFit) -> Scoring<'_> {
        Scoring {
            fading,
            clip_milli: 16_000,
            margin_centi_db: 600,
            bias,
        }
    }

    /// A link to a partner ~3 km east, heard `residual` centi-dB above what the fading predicts
    /// and `headroom_centi_db` above the floor.
    fn link(residual: i64, headroom_centi_db: i64) -> Observation {
        let partner = (184, 0);
        Observation {
            device: DeviceAddress::from(trellis_primitives::Keypair::from_seed([7; 32]).public()),
            partner,
            gain_over_1m_centi_db: -fading().exponent_x100 * ten_log_d_centi(partner) / 100 + residual,
            headroom_centi_db,
        }
    }

    #[test]
    fn a_link_predicted_faint_costs_little_heard_faint_and_most_heard_loud() {
        let fading = fading();
        let scoring = scoring(&fading, BiasFit::ClearMedian);
        // Five links heard as predicted, 30 dB clear of the floor, fix the bias at zero.
        let anchors = vec![link(0, 3_000); 5];
        let mut scratch = (Vec::new(), Vec::new());
        let mut with = |extra: Observation| {
            let mut obs = anchors.clone();
            obs.push(extra);
            cost(&obs, &scoring, (0, 0), &mut scratch) - cost(&anchors, &scoring, (0, 0), &mut scratch)
        };
        // 2 σ loud, predicted clear of the floor: its squared residual, 4 σ².
        let clear = with(link(1_200, 3_000));
        assert!((3_980..=4_000).contains(&clear), "{clear}");
        // 2 σ loud but heard just above the floor (predicted 10 dB under it): a link like this
        // is only ever heard faded up, so it costs less than nothing (−2·ln Q(1.67) ≈ 6.1).
        let faint = with(link(1_200, 200));
        assert!((-2_200..=-2_000).contains(&faint), "{faint}");
        // 4 σ loud where the place predicts it 2 dB above the floor: nearly the full 16 σ² cap,
        // the evidence the fit used to throw away with every link near the floor.
        let loud = with(link(2_400, 2_600));
        assert!((15_000..=16_000).contains(&loud), "{loud}");
    }

    #[test]
    fn clear_of_the_floor_the_profiled_bias_is_the_mean_and_costs_the_spread_about_it() {
        let fading = fading();
        let mut scratch = (Vec::new(), Vec::new());
        // Three links as predicted, two 1 σ loud, all 30 dB clear of the floor.
        let obs: Vec<Observation> = [0, 0, 0, 600, 600].into_iter().map(|r| link(r, 3_000)).collect();
        // The median (0) leaves the two loud links 1 σ each: 2 σ².
        let median = cost(&obs, &scoring(&fading, BiasFit::ClearMedian), (0, 0), &mut scratch);
        assert_eq!(median, 2_000);
        // The mean (0.4 σ) leaves 3 × 0.4² + 2 × 0.6² = 1.2 σ², the least any bias can.
        let profiled = cost(&obs, &scoring(&fading, BiasFit::Profiled), (0, 0), &mut scratch);
        assert!((1_195..=1_205).contains(&profiled), "{profiled}");
    }

    #[test]
    fn the_profiled_cost_never_exceeds_the_median_one_and_is_a_minimum() {
        let fading = fading();
        let (median, profiled) = (
            scoring(&fading, BiasFit::ClearMedian),
            scoring(&fading, BiasFit::Profiled),
        );
        let mut scratch = (Vec::new(), Vec::new());
        // Seeded links (splitmix64): residuals ±3 σ, headroom 0–40 dB, so some links sit on
        // the floor, some are capped, and some are clear.
        let mut state = 11u64;
        let mut next = |bound: i64| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % bound as u64) as i64
        };
        for _ in 0..200 {
            let n = 3 + next(40) as usize;
            let obs: Vec<Observation> = (0..n).map(|_| link(next(3_600) - 1_800, next(4_000))).collect();
            let m = cost(&obs, &median, (0, 0), &mut scratch);
            let p = cost(&obs, &profiled, (0, 0), &mut scratch);
            assert!(p <= m, "profiled {p} > median {m}");
            // No bias a few tenths of a dB either side does better than the one settled on.
            let residuals: Vec<i64> = obs
                .iter()
                .map(|o| o.gain_over_1m_centi_db + 350 * ten_log_d_centi(o.partner) / 100)
                .collect();
            for b in (-3_000..=3_000).step_by(10) {
                assert!(
                    total_cost(&obs, &residuals, &profiled, b) + 30 >= p,
                    "bias {b} beats the profile"
                );
            }
        }
    }
}
