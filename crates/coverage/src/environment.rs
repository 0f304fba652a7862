//! The environment check: physics relative to the network's own measurements.
//!
//! Free space is the loosest bound there is: real links lose far more (a path-loss exponent of
//! 2.7–3.5 in suburbs against free space's 2), so a radio heard at 3 km through buildings is
//! weaker than free space allows at 40 km, and a location spoofer passes the free-space check.
//! The network measures its environment every epoch: each valid witness implies an exponent
//! `n = (tx power + gains − RSSI − FSPL(1 m)) / (10·log10 d)`. Per region (the beaconer's hex at
//! `resolution`), once there are `min_samples` witnesses, the region's median exponent predicts
//! each link's RSSI at its asserted distance; the residuals (observed − predicted, in dB: the
//! same spread at every distance under log-normal fading) have a median and a spread (1.4826 ×
//! their median absolute deviation estimates σ). A witness more than `sigmas` σ above the
//! prediction hears better than the environment lets anyone hear at its asserted distance: it
//! is invalid (`rssi_above_environment`); when that is most of a beacon's witnesses, the
//! beaconer is the one not where it says (`location_inconsistent`), and its witnesses are not
//! blamed. Regions with too few witnesses of their own are judged against the whole epoch's.
//! Medians make it robust: cheaters must be most of a
//! region's witnesses to move the reference.
//!
//! Physical limits, stated: a radio at true distance `d` claiming `D` shows a residual of
//! `10·n_env·log10(D/d)` dB; with `n_env` = 3.5, σ = 6 dB and 4 σ, it is caught once
//! `D/d > 10^(24/35) ≈ 4.9` (3 km claiming 15 km or more), and not below that: closer spoofs are
//! inside honest fading.
//! Witness rings far apart must either claim a signal this strong or one below what any
//! receiver decodes (`rssi_below_sensitivity`): they cannot fabricate a plausible one.

use crate::{
    epoch::PocOutcome,
    physics::{distance_m, fspl_centi_db, twenty_log10_centi},
    verify::{BeaconInvalid, VerifyContext, WitnessInvalid},
};
use h3o::{CellIndex, Resolution};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use trellis_primitives::DeviceAddress;

/// Parameters of the environment check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentCheck {
    /// Regions are the beaconers' hexes at this resolution (4: ~1,770 km²).
    pub resolution: u8,
    /// Fewest valid witnesses a region needs in the epoch before its environment is trusted.
    pub min_samples: u32,
    /// A witness is invalid when it hears this many standard deviations of the region's fading
    /// (hundredths) above what the region's median exponent predicts at its asserted distance.
    pub sigmas_x100: i64,
}

impl EnvironmentCheck {
    /// The H3 resolution of regions; `None` when the configured number is not one (0..=15), in
    /// which case no link has a region and the check stays silent rather than guessing one.
    pub fn region_resolution(&self) -> Option<Resolution> {
        Resolution::try_from(self.resolution).ok()
    }
}

impl Default for EnvironmentCheck {
    fn default() -> Self {
        EnvironmentCheck {
            resolution: 4,
            min_samples: 200,
            sigmas_x100: 400,
        }
    }
}

/// The path-loss exponent a link implies, hundredths: the excess loss over the first metre
/// divided by `10·log10(distance)`. `None` for distances under 2 m (no exponent to speak of).
pub fn implied_exponent_x100(
    eirp_centi_dbm: i64,
    rx_gain_centi_dbi: i64,
    rssi_centi_dbm: i64,
    distance_m: u64,
    frequency_hz: u64,
) -> Option<i64> {
    let ten_log_d = twenty_log10_centi(distance_m) / 2;
    if ten_log_d <= 0 || distance_m < 2 {
        return None;
    }
    let excess = eirp_centi_dbm + rx_gain_centi_dbi - rssi_centi_dbm - fspl_centi_db(1, frequency_hz);
    Some(excess * 100 / ten_log_d)
}

fn region(ctx: &VerifyContext<'_>, check: &EnvironmentCheck, o: &PocOutcome) -> Option<CellIndex> {
    let facts = (ctx.hotspot)(&o.beacon.beaconer)?;
    facts.location?.cell().parent(check.region_resolution()?)
}

/// One valid witness link, measured.
struct Link {
    outcome: usize,
    witness: usize,
    exponent_x100: i64,
    /// `RSSI − EIRP − rx gain + FSPL(1 m)`: minus the loss beyond the first metre, centi-dB.
    excess_centi_db_over_1m_negated: i64,
    /// `10·log10(asserted distance)`, centi-dB.
    ten_log_d_centi: i64,
}

/// Every valid witness of a valid beacon, measured.
fn links(ctx: &VerifyContext<'_>, outcomes: &[PocOutcome]) -> Vec<Link> {
    let mut out = Vec::new();
    for (i, o) in outcomes.iter().enumerate().filter(|(_, o)| o.verdict.is_ok()) {
        let Some(beaconer) = (ctx.hotspot)(&o.beacon.beaconer) else {
            continue;
        };
        for (j, (w, _)) in o.witnesses.iter().enumerate().filter(|(_, (_, v))| v.is_ok()) {
            let Some(facts) = (ctx.hotspot)(&w.witness) else {
                continue;
            };
            let (Some(a), Some(b)) = (beaconer.location, facts.location) else {
                continue;
            };
            let Some(d) = distance_m(a.cell(), b.cell()) else {
                continue;
            };
            let eirp = o.beacon.tx_power_centi_dbm + beaconer.gain_centi_dbi;
            let Some(n) = implied_exponent_x100(eirp, facts.gain_centi_dbi, w.rssi_centi_dbm, d, o.beacon.frequency_hz)
            else {
                continue;
            };
            out.push(Link {
                outcome: i,
                witness: j,
                exponent_x100: n,
                excess_centi_db_over_1m_negated: w.rssi_centi_dbm - eirp - facts.gain_centi_dbi
                    + fspl_centi_db(1, o.beacon.frequency_hz),
                ten_log_d_centi: twenty_log10_centi(d) / 2,
            });
        }
    }
    out
}

/// The lower median.
pub(crate) fn median(v: &mut [i64]) -> Option<i64> {
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

/// Marks the witnesses that hear better than their region's environment allows.
pub fn apply(check: &EnvironmentCheck, ctx: &VerifyContext<'_>, outcomes: &mut [PocOutcome]) {
    let links = links(ctx, outcomes);
    let mut region_of: BTreeMap<usize, CellIndex> = BTreeMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        if let Some(r) = region(ctx, check, o) {
            region_of.insert(i, r);
        }
    }
    let mut by_region: BTreeMap<CellIndex, Vec<&Link>> = BTreeMap::new();
    for l in &links {
        if let Some(r) = region_of.get(&l.outcome) {
            by_region.entry(*r).or_default().push(l);
        }
    }
    // Regions with too few witnesses of their own are judged against the whole epoch's.
    let (mut judged, mut sparse): (Vec<Vec<&Link>>, Vec<&Link>) = (Vec::new(), Vec::new());
    for region_links in by_region.into_values() {
        if region_links.len() >= check.min_samples as usize {
            judged.push(region_links);
        } else {
            sparse.extend(region_links);
        }
    }
    if !sparse.is_empty() {
        let all: Vec<&Link> = links.iter().collect();
        if all.len() >= check.min_samples as usize {
            mark(check, &all, &sparse, outcomes);
        }
    }
    for region_links in &judged {
        mark(check, region_links, region_links, outcomes);
    }
    blame_misplaced(outcomes);
}

/// When most of a beacon's witnesses hear it better than the environment allows at the
/// beaconer's asserted place, the place is what is wrong: the beacon is invalid
/// (`location_inconsistent`), and its witnesses are neither paid nor blamed (a witness is judged
/// only for valid beacons). The same holds the other way round: a witness that hears most of
/// the beacons it reports too well is not where it says, and none of its reports count.
fn blame_misplaced(outcomes: &mut [PocOutcome]) {
    let above_environment = |v: &Result<(), WitnessInvalid>| *v == Err(WitnessInvalid::RssiAboveEnvironment);
    let inconsistent = |above: usize, judged: usize| above >= 2 && above * 2 >= judged;
    for o in outcomes.iter_mut().filter(|o| o.verdict.is_ok()) {
        let above = o.witnesses.iter().filter(|(_, v)| above_environment(v)).count();
        let judged = above + o.witnesses.iter().filter(|(_, v)| v.is_ok()).count();
        if inconsistent(above, judged) {
            o.verdict = Err(BeaconInvalid::LocationInconsistent);
            o.witnesses.clear();
        }
    }
    // (too well heard, judged) per witness, over the beacons that stay valid.
    let mut tally: BTreeMap<DeviceAddress, (usize, usize)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.verdict.is_ok()) {
        for (w, v) in o.witnesses.iter().filter(|(_, v)| v.is_ok() || above_environment(v)) {
            let t = tally.entry(w.witness).or_default();
            t.0 += usize::from(above_environment(v));
            t.1 += 1;
        }
    }
    for o in outcomes.iter_mut().filter(|o| o.verdict.is_ok()) {
        for (w, v) in o.witnesses.iter_mut().filter(|(_, v)| v.is_ok()) {
            if tally
                .get(&w.witness)
                .is_some_and(|&(above, judged)| inconsistent(above, judged))
            {
                *v = Err(WitnessInvalid::LocationInconsistent);
            }
        }
    }
}

/// A region's fading, measured from its links: the median path-loss exponent, and the median
/// and spread of the links' residuals against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fading {
    /// The median implied exponent, hundredths.
    pub exponent_x100: i64,
    /// The median of `observed − exponent's prediction`, centi-dB.
    pub centre_centi_db: i64,
    /// 1.4826 × the residuals' median absolute deviation (σ for Gaussian fading), centi-dB.
    pub sigma_centi_db: i64,
}

/// One measured link: the exponent it implies (hundredths), `RSSI − EIRP − rx gain + FSPL(1 m)`
/// (minus the loss beyond the first metre, centi-dB) and `10·log10(distance)` (centi-dB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSample {
    /// Implied path-loss exponent, hundredths.
    pub exponent_x100: i64,
    /// Minus the loss beyond the first metre, centi-dB.
    pub gain_over_1m_centi_db: i64,
    /// `10·log10(distance in metres)`, centi-dB.
    pub ten_log_d_centi: i64,
}

impl Fading {
    /// The fading of `samples`; `None` when there are none.
    pub fn measure(samples: impl Iterator<Item = LinkSample> + Clone) -> Option<Fading> {
        let exponent_x100 = median(&mut samples.clone().map(|l| l.exponent_x100).collect::<Vec<_>>())?;
        let raw = |l: LinkSample| l.gain_over_1m_centi_db + exponent_x100 * l.ten_log_d_centi / 100;
        let mut residuals: Vec<i64> = samples.map(raw).collect();
        let centre_centi_db = median(&mut residuals)?;
        let mad = median(
            &mut residuals
                .iter()
                .map(|r| (r - centre_centi_db).abs())
                .collect::<Vec<_>>(),
        )?;
        Some(Fading {
            exponent_x100,
            centre_centi_db,
            sigma_centi_db: mad * 14_826 / 10_000,
        })
    }

    /// How much better (positive) or worse a link is heard than this fading predicts at
    /// `10·log10(distance)` = `ten_log_d_centi`, centi-dB.
    pub fn residual(&self, gain_over_1m_centi_db: i64, ten_log_d_centi: i64) -> i64 {
        gain_over_1m_centi_db + self.exponent_x100 * ten_log_d_centi / 100 - self.centre_centi_db
    }
}

impl Link {
    fn sample(&self) -> LinkSample {
        LinkSample {
            exponent_x100: self.exponent_x100,
            gain_over_1m_centi_db: self.excess_centi_db_over_1m_negated,
            ten_log_d_centi: self.ten_log_d_centi,
        }
    }
}

/// Marks the links of `judged` whose residual against the fading measured over `reference` is
/// too high.
fn mark(check: &EnvironmentCheck, reference: &[&Link], judged: &[&Link], outcomes: &mut [PocOutcome]) {
    let Some(fading) = Fading::measure(reference.iter().map(|l| l.sample())) else {
        return;
    };
    let limit = fading.sigma_centi_db * check.sigmas_x100 / 100;
    for l in judged {
        if fading.residual(l.excess_centi_db_over_1m_negated, l.ten_log_d_centi) > limit {
            outcomes[l.outcome].witnesses[l.witness].1 = Err(WitnessInvalid::RssiAboveEnvironment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_implied_exponent_of_free_space_is_two_and_of_a_suburb_more() {
        // Free space at 1 km, 915 MHz: RSSI = 27 dBm − 91.7 dB.
        let fspl = fspl_centi_db(1_000, 915_000_000);
        let n = implied_exponent_x100(2_700, 0, 2_700 - fspl, 1_000, 915_000_000).unwrap();
        assert!((199..=201).contains(&n), "{n}");
        // 30 dB more loss over 1 km: exponent 2 + 30/30 = 3.
        let n = implied_exponent_x100(2_700, 0, 2_700 - fspl - 3_000, 1_000, 915_000_000).unwrap();
        assert!((299..=301).contains(&n), "{n}");
        assert_eq!(implied_exponent_x100(2_700, 0, -9_000, 1, 915_000_000), None);
    }
}
