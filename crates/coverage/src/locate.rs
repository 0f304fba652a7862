//! The location fit: where the network's measurements put each hotspot.
//!
//! The environment check ([`crate::environment`]) judges links one at a time, and a single link
//! cannot tell a radio 2 km from where it claims from fading: at 3 km, moving 2 km shifts the
//! expected RSSI by 6–17 dB against σ ≈ 6 dB of log-normal fading. Dozens of links can. Every
//! hotspot that beacons and witnesses is heard by, and hears, its neighbours in many directions;
//! under log-distance path loss each link's residual is `10·n·log10(d_claimed / d_real)` plus
//! fading, so a hotspot that is not where it says shows residuals that grow toward where it really
//! is and shrink away from it. The fit searches the plane around the asserted cell for the place
//! that explains the hotspot's links best — the region's measured exponent, a free offset per
//! hotspot for its own antenna and cable (a constant bias cannot move a location), each link's
//! cost capped at a few σ² so one odd neighbour cannot drag the fit — and compares it with the
//! asserted place. When the best place is at least `min_offset_m` away and explains the links
//! better by at least `threshold` σ², the hotspot is located elsewhere: its beacons are invalid
//! (`located_elsewhere`, its witnesses neither paid nor blamed) and so are its witnesses of
//! others. For an honest hotspot alone among honest ones that improvement is close to χ² with
//! 2 degrees of freedom — provided the hotspot's bias is the one that explains its links best
//! at each place (profiled, [`BiasFit::Profiled`]): with a rougher estimate (the median
//! residual of the links clear of the floor, the fit's first rule) the asserted place is
//! charged for a bias that does not fit it, and the honest tail was so heavy that 16 σ² still
//! flagged 0.5–0.7 % of honest hotspot-epochs. Profiled, 16 σ² flags 0.1–0.3 %, and the
//! threshold is 10 σ² (χ²(2) tail e^−5 ≈ 0.7 %; the search picks the best of many places, and
//! a liar's neighbours see part of its lie, which the one-at-a-time flagging in [`apply`]
//! takes back): the simulator flags 0.5–0.7 % of honest hotspot-epochs over four seeds, inside
//! the 1 % it allows, as many as the median rule did at 16, and its Sybil identities capture
//! 3.1–7.2 % of an honest hotspot's pay where they captured 4.3–10.3 %.
//!
//! Receivers decode only above their floor, so a far link is heard only when it fades up: its
//! RSSI, taken at face value, says the two ends are closer than they are. Dropping such links
//! throws away the strongest evidence against a false claim (a radio heard loud by a neighbour
//! its asserted place puts at the edge of range), so every link is fitted by its likelihood
//! *given that it was heard*: the squared residual less `−2·ln Q((floor − predicted) / σ)`, the
//! cost of clearing the floor ([`crate::truncation`]). A link predicted well above the floor
//! costs its squared residual; one predicted below it costs little for being heard faded up;
//! one predicted faint and heard loud costs the most. The floor is the region's weakest
//! signals (first percentile); the region's fading is measured on the links predicted clear
//! of it, and each hotspot's bias starts from those. Against the simulator's Sybil clusters
//! this took what they capture from 20 % to about 4 % of an honest hotspot's pay on the test
//! seed (3 % with the profiled bias), against a limit of about 3.7 % for a perfect detector on
//! the same links (`trellis_sim::network::limit`).
//!
//! This is what catches Sybil clusters: one site, several identities asserted around it, each
//! claiming coverage it does not give. Whatever the cluster's members report themselves, their
//! beacons are measured by their honest neighbours, and those measurements converge on the one
//! place where all the radios are.
//!
//! Physical limits, stated: the fit's precision is about `σ·d / (10·n·log10(e)·√(links/2))` —
//! with σ = 6 dB, n = 3.5, links at ~3 km and 40 links, ~250 m. A claim within `min_offset_m`
//! (1 km) of the radio is not judged at all, and hotspots with fewer than `min_links` links, or
//! all their neighbours on one side, are not located precisely enough to judge. A new hotspot
//! has one epoch's links: a Sybil identity earns until its window holds enough (one to three
//! epochs at the simulator's density), which is most of what the limit above is.
//!
//! Geometry is exact integer arithmetic in H3 local IJ coordinates at the assertion resolution
//! (12): the cell lattice is a plane near any anchor, with axes 120° apart, so the squared
//! distance of an offset `(i, j)` is `(i² + j² − i·j)` cell spacings². Cells across icosahedron
//! faces or pentagons from the anchor have no local coordinates and are left out.

use crate::{
    bias::{least_cost, total_cost},
    environment::{median, EnvironmentCheck, Fading, LinkSample},
    epoch::{PastLink, PocOutcome},
    physics::{fspl_centi_db, ten_log10_centi_fast},
    verify::{BeaconInvalid, VerifyContext, WitnessInvalid},
};
use h3o::CellIndex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use trellis_primitives::DeviceAddress;

/// Parameters of the location fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFit {
    /// Fewest valid links (beacons heard by others plus beacons it heard) a hotspot needs in an
    /// epoch before it is located.
    pub min_links: u32,
    /// The best place must be at least this far from the asserted one (asserting a few hundred
    /// metres off is an installer's error, not a Sybil).
    pub min_offset_m: u64,
    /// How far around the asserted place to search.
    pub search_radius_m: u64,
    /// How much better the best place must explain the links, in σ² of the region's fading,
    /// hundredths.
    pub threshold_x100: i64,
    /// Links a place predicts at least this many σ (hundredths) above the weakest signals the
    /// region hears count as clear of the floor there: the hotspot's bias is their median
    /// residual (see [`cost`]).
    pub margin_sigmas_x100: i64,
    /// The region's fading (exponent, centre, σ) is measured on links predicted at least this
    /// many σ (hundredths) above the floor. Nearer the floor the faded-down links are missing,
    /// which shrinks the measured σ and inflates every hotspot's evidence: at one σ it measured
    /// 4.7 dB for 6 dB of fading in a test field; at one and a half, within a few per cent.
    pub fading_margin_sigmas_x100: i64,
    /// Each link costs at most the square of this many σ (hundredths): a neighbour whose own
    /// location is wrong costs at most this much wherever the hotspot is placed.
    pub clip_sigmas_x100: i64,
    /// Epochs before the current one whose links are fitted with it. A hotspot beacons about
    /// once an epoch, so one epoch gives it a dozen links or two; evidence grows with the links
    /// (an offset's cost rises linearly with them, an honest hotspot's improvement stays
    /// χ²(2)), so a window separates liars from fading that one epoch cannot.
    pub window_epochs: u64,
    /// How a hotspot's own antenna-and-cable bias is set at each place the fit tries. Archives
    /// from before [`BiasFit::Profiled`] used the median.
    #[serde(default = "median_bias_before")]
    pub bias: BiasFit,
    /// Whether each flagged hotspot is judged once more at the end, without all the other
    /// flagged ones' links, and cleared if that leaves it no better elsewhere (see [`apply`]).
    /// Off in archives from before the pass.
    #[serde(default)]
    pub recheck_flagged: bool,
}

/// How the fit sets a hotspot's bias (its antenna, cable and mast: one constant in every link)
/// at a candidate place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasFit {
    /// The median residual of the links the place predicts clear of the floor. Cheap, but not
    /// the bias that explains the links best, and which links count as clear changes from place
    /// to place: an honest hotspot's asserted place is charged for a bias that fits it badly
    /// about as often as a cheat's, and the improvement elsewhere has a tail far heavier than
    /// χ²(2) (a threshold of 16 σ² still flagged 0.5–0.7 % of honest hotspot-epochs).
    ClearMedian,
    /// The bias that minimises the place's cost (the likelihood profiled over the bias), by
    /// Newton steps from the clear median, each kept only if it lowers the cost. The
    /// improvement then follows χ²(2) closely and the threshold can sit near its 1 % point.
    Profiled,
}

fn median_bias_before() -> BiasFit {
    BiasFit::ClearMedian
}

impl Default for LocationFit {
    fn default() -> Self {
        LocationFit {
            min_links: 12,
            min_offset_m: 1_000,
            search_radius_m: 8_000,
            threshold_x100: 1_000,
            margin_sigmas_x100: 100,
            fading_margin_sigmas_x100: 150,
            clip_sigmas_x100: 400,
            window_epochs: 6,
            bias: BiasFit::Profiled,
            recheck_flagged: true,
        }
    }
}

/// Centre-to-centre distance of neighbouring resolution-12 cells, millimetres (as in
/// [`crate::physics`]).
const SPACING_MM: i64 = 16_308;

/// A point of the local lattice, in cell spacings.
pub(crate) type Ij = (i64, i64);

/// Squared length of a lattice offset, in spacings² (axes 120° apart).
fn norm2((i, j): Ij) -> i64 {
    i * i + j * j - i * j
}

/// One link as one of its ends sees it: where the other end is, relative to this end's asserted
/// cell, and how well the link carried (RSSI − EIRP − rx gain + FSPL(1 m), centi-dB).
#[derive(Clone, Copy)]
pub(crate) struct Observation {
    /// The hotspot at the other end.
    pub(crate) device: DeviceAddress,
    pub(crate) partner: Ij,
    pub(crate) gain_over_1m_centi_db: i64,
    /// How far above the region's floor it was heard, centi-dB (never below zero).
    pub(crate) headroom_centi_db: i64,
}

/// `10·log10(distance in metres)` of an offset, centi-dB; a metre at least 16 m (one spacing).
pub(crate) fn ten_log_d_centi(offset: Ij) -> i64 {
    let n2 = norm2(offset).max(1) as u64;
    let mm2 = n2.saturating_mul((SPACING_MM * SPACING_MM) as u64);
    // 10·log10(d_m) = 10·log10(d_mm²)/2 − 30 dB.
    ten_log10_centi_fast(mm2) / 2 - 3_000
}

/// How one hotspot's links are scored: the region's fading, the per-link cap and the margin
/// that marks a link as clear of the floor.
pub(crate) struct Scoring<'a> {
    pub(crate) fading: &'a Fading,
    /// Most one link can cost, thousandths of σ².
    pub(crate) clip_milli: i64,
    /// Links predicted at least this far above the floor set the hotspot's bias, centi-dB.
    pub(crate) margin_centi_db: i64,
    /// How the hotspot's own bias is set at each place.
    pub(crate) bias: BiasFit,
}

/// What a hotspot's links cost placed at `at`, thousandths of σ²: for each link, −2·ln of the
/// chance of hearing what was heard given that it was heard at all — its squared residual less
/// the cost of clearing the floor, `−2·ln Q((floor − predicted) / σ)` — capped per link. A link
/// predicted well above the floor costs its squared residual; one predicted below it is
/// expected to be heard only faded up and costs little for it, while a link heard loud where
/// the place predicts it faint costs the most. The hotspot's own antenna and cable bias starts
/// at the median residual of the links the place predicts clear of the floor (none, if none
/// is) and, under [`BiasFit::Profiled`], moves to where the cost is least.
pub(crate) fn cost(obs: &[Observation], scoring: &Scoring<'_>, at: Ij, scratch: &mut (Vec<i64>, Vec<i64>)) -> i64 {
    let (residuals, clear) = scratch;
    residuals.clear();
    residuals.extend(obs.iter().map(|o| {
        let d = ten_log_d_centi((o.partner.0 - at.0, o.partner.1 - at.1));
        scoring.fading.residual(o.gain_over_1m_centi_db, d)
    }));
    clear.clear();
    clear.extend(
        obs.iter()
            .zip(residuals.iter())
            .filter(|(o, r)| o.headroom_centi_db - **r >= scoring.margin_centi_db)
            .map(|(_, r)| *r),
    );
    // With no link clear of the floor there is nothing to measure a bias on: every residual is
    // of a link heard faded up, and their median would fold that fade into the antenna,
    // undoing the cut the cost accounts for. The declared gain stands.
    let start = median(clear).unwrap_or(0);
    match scoring.bias {
        BiasFit::ClearMedian => total_cost(obs, residuals, scoring, start),
        BiasFit::Profiled => least_cost(obs, residuals, scoring, start),
    }
}

/// Twelve directions 30° apart, as lattice vectors, with their lengths' ratio to one spacing in
/// thousandths (the axes and their sums have length 1; the others √3).
const DIRECTIONS: [(Ij, i64); 12] = [
    ((1, 0), 1_000),
    ((1, 1), 1_000),
    ((0, 1), 1_000),
    ((-1, 0), 1_000),
    ((-1, -1), 1_000),
    ((0, -1), 1_000),
    ((2, 1), 1_732),
    ((1, 2), 1_732),
    ((-1, 1), 1_732),
    ((-2, -1), 1_732),
    ((-1, -2), 1_732),
    ((1, -1), 1_732),
];

/// A point `spacings` away in direction `d`.
fn toward(from: Ij, (v, len): (Ij, i64), spacings: i64) -> Ij {
    let k = spacings * 1_000 / len;
    (from.0 + v.0 * k, from.1 + v.1 * k)
}

/// The best place found for a hotspot: a coarse scan of rings around the asserted place, then a
/// pattern search that halves its step down to one spacing. Returns the place and its cost.
fn best_place(
    obs: &[Observation],
    scoring: &Scoring<'_>,
    radius: i64,
    scratch: &mut (Vec<i64>, Vec<i64>),
) -> (Ij, i64) {
    let mut best = ((0, 0), cost(obs, scoring, (0, 0), scratch));
    let consider = |at: Ij, best: &mut (Ij, i64), scratch: &mut (Vec<i64>, Vec<i64>)| {
        if norm2(at) > radius * radius {
            return false;
        }
        let c = cost(obs, scoring, at, scratch);
        if c < best.1 {
            *best = (at, c);
            true
        } else {
            false
        }
    };
    for ring in 1..=4 {
        for d in DIRECTIONS {
            consider(toward((0, 0), d, radius * ring / 4), &mut best, scratch);
        }
    }
    let mut step = (radius / 8).max(1);
    while step >= 1 {
        let from = best.0;
        let moved = DIRECTIONS[..6]
            .iter()
            .fold(false, |m, d| consider(toward(from, *d, step), &mut best, scratch) | m);
        if !moved {
            step /= 2;
        }
    }
    best
}

/// One valid link of the epoch.
#[derive(Clone, Copy)]
struct FitLink {
    beaconer: DeviceAddress,
    witness: DeviceAddress,
    /// The beaconer's region.
    region: Option<CellIndex>,
    /// The witness's cell relative to the beaconer's.
    partner: Ij,
    rssi_centi_dbm: i64,
    sample: LinkSample,
}

/// The fading of each region with enough links, and of all links together under `None`.
fn fadings(
    env: &EnvironmentCheck,
    by_region: &BTreeMap<Option<CellIndex>, Vec<FitLink>>,
) -> BTreeMap<Option<CellIndex>, Fading> {
    let mut out: BTreeMap<Option<CellIndex>, Fading> = by_region
        .iter()
        .filter(|(r, ls)| r.is_some() && ls.len() >= env.min_samples as usize)
        .filter_map(|(r, ls)| Some((*r, Fading::measure(ls.iter().map(|l| l.sample))?)))
        .collect();
    if let Some(all) = Fading::measure(by_region.values().flatten().map(|l| l.sample)) {
        out.insert(None, all);
    }
    out
}

/// A hotspot's asserted cell and its region, looked up once.
struct Placed {
    cell: CellIndex,
    region: Option<CellIndex>,
}

/// Finds the hotspots the network's links place elsewhere and invalidates their reports.
///
/// `past` are the window's earlier links (see [`crate::epoch::History`]), judged with today's
/// asserted locations.
pub fn apply(
    fit: &LocationFit,
    env: &EnvironmentCheck,
    ctx: &VerifyContext<'_>,
    past: &[PastLink],
    outcomes: &mut [PocOutcome],
) {
    let region_res = env.region_resolution();
    let mut placed: BTreeMap<DeviceAddress, Option<(Placed, i64)>> = BTreeMap::new();
    let mut place = |d: &DeviceAddress| -> Option<(CellIndex, Option<CellIndex>, i64)> {
        let entry = placed.entry(*d).or_insert_with(|| {
            let facts = (ctx.hotspot)(d)?;
            let cell = facts.location?.cell();
            let region = region_res.and_then(|r| cell.parent(r));
            Some((Placed { cell, region }, facts.gain_centi_dbi))
        });
        entry.as_ref().map(|(p, g)| (p.cell, p.region, *g))
    };
    // Every valid link of the epoch and the window, measured once.
    let current = outcomes.iter().filter(|o| o.verdict.is_ok()).flat_map(|o| {
        o.witnesses.iter().filter(|(_, v)| v.is_ok()).map(|(w, _)| PastLink {
            beaconer: o.beacon.beaconer,
            witness: w.witness,
            tx_power_centi_dbm: o.beacon.tx_power_centi_dbm,
            frequency_hz: o.beacon.frequency_hz,
            rssi_centi_dbm: w.rssi_centi_dbm,
        })
    });
    let mut links: Vec<FitLink> = Vec::new();
    for l in past.iter().copied().chain(current) {
        let (Some((b_cell, b_region, b_gain)), Some((w_cell, _, w_gain))) = (place(&l.beaconer), place(&l.witness))
        else {
            continue;
        };
        let (Ok(b_ij), Ok(w_ij)) = (b_cell.to_local_ij(b_cell), w_cell.to_local_ij(b_cell)) else {
            continue;
        };
        let v: Ij = (
            i64::from(w_ij.coord.i - b_ij.coord.i),
            i64::from(w_ij.coord.j - b_ij.coord.j),
        );
        let gain = l.rssi_centi_dbm - l.tx_power_centi_dbm - b_gain - w_gain + fspl_centi_db(1, l.frequency_hz);
        let ten_log_d = ten_log_d_centi(v);
        if ten_log_d <= 0 {
            continue;
        }
        links.push(FitLink {
            beaconer: l.beaconer,
            witness: l.witness,
            region: b_region,
            partner: v,
            rssi_centi_dbm: l.rssi_centi_dbm,
            sample: LinkSample {
                exponent_x100: -gain * 100 / ten_log_d,
                gain_over_1m_centi_db: gain,
                ten_log_d_centi: ten_log_d,
            },
        });
    }
    // Receivers decode only what arrives above their floor, so far links are heard only when
    // they fade up: residuals near the floor are biased, and biased the more the farther a
    // hotspot's neighbours on one side are. The region's fading is measured again on the links
    // it predicts `fading_margin` σ above the weakest signals it hears (the region's first
    // percentile), where almost every link is heard whatever its fading.
    let regions = |links: &mut dyn Iterator<Item = &FitLink>| -> BTreeMap<Option<CellIndex>, Vec<FitLink>> {
        let mut by: BTreeMap<Option<CellIndex>, Vec<FitLink>> = BTreeMap::new();
        for l in links {
            by.entry(l.region).or_default().push(*l);
        }
        by
    };
    let first = fadings(env, &regions(&mut links.iter()));
    let floors: BTreeMap<Option<CellIndex>, i64> = regions(&mut links.iter())
        .into_iter()
        .map(|(r, ls)| {
            let mut rssi: Vec<i64> = ls.iter().map(|l| l.rssi_centi_dbm).collect();
            rssi.sort_unstable();
            (r, rssi[rssi.len() / 100])
        })
        .collect();
    let everywhere_floor = floors.values().min().copied().unwrap_or(i64::MIN);
    let floor_of = |region: &Option<CellIndex>| floors.get(region).copied().unwrap_or(everywhere_floor);
    let reliable = |l: &FitLink| {
        let Some(f) = first.get(&l.region).or(first.get(&None)) else {
            return false;
        };
        let floor = floor_of(&l.region);
        let predicted = l.rssi_centi_dbm - f.residual(l.sample.gain_over_1m_centi_db, l.sample.ten_log_d_centi);
        predicted >= floor + f.sigma_centi_db * fit.fading_margin_sigmas_x100 / 100
    };
    let kept: Vec<FitLink> = links.iter().copied().filter(|l| reliable(l)).collect();
    let fading = fadings(env, &regions(&mut kept.iter()));
    // Every link is fitted, the faint ones through the likelihood of being heard at all (see
    // [`cost`]): a link the asserted place predicts faint but that is heard loud is the
    // strongest evidence there is against that place.
    let mut seen: BTreeMap<DeviceAddress, Vec<Observation>> = BTreeMap::new();
    for l in &links {
        let gain = l.sample.gain_over_1m_centi_db;
        let floor = floor_of(&l.region);
        let headroom_centi_db = (l.rssi_centi_dbm - floor).max(0);
        seen.entry(l.beaconer).or_default().push(Observation {
            device: l.witness,
            partner: l.partner,
            gain_over_1m_centi_db: gain,
            headroom_centi_db,
        });
        seen.entry(l.witness).or_default().push(Observation {
            device: l.beaconer,
            partner: (-l.partner.0, -l.partner.1),
            gain_over_1m_centi_db: gain,
            headroom_centi_db,
        });
    }
    let radius = fit.search_radius_m as i64 * 1_000 / SPACING_MM;
    let min_offset2 = {
        let s = fit.min_offset_m as i64 * 1_000 / SPACING_MM;
        s * s
    };
    let mut scratch = (Vec::new(), Vec::new());
    // How much better `device`'s links, less those with `flagged` hotspots, are explained
    // elsewhere (σ², hundredths), when that place is far enough and the improvement enough.
    let mut judge = |device: &DeviceAddress, flagged: &BTreeSet<DeviceAddress>| -> Option<i64> {
        let obs: Vec<Observation> = seen[device]
            .iter()
            .filter(|o| !flagged.contains(&o.device))
            .copied()
            .collect();
        if obs.len() < fit.min_links as usize {
            return None;
        }
        let region = place(device).and_then(|(_, r, _)| r);
        let fading = fading.get(&region).or(fading.get(&None))?;
        if fading.sigma_centi_db <= 0 {
            return None;
        }
        let scoring = Scoring {
            fading,
            clip_milli: fit.clip_sigmas_x100 * fit.clip_sigmas_x100 / 10,
            margin_centi_db: fading.sigma_centi_db * fit.margin_sigmas_x100 / 100,
            bias: fit.bias,
        };
        let asserted = cost(&obs, &scoring, (0, 0), &mut scratch);
        let (at, c) = best_place(&obs, &scoring, radius, &mut scratch);
        // Thousandths of σ² to hundredths.
        let gain_x100 = (asserted - c) / 10;
        (norm2(at) >= min_offset2 && gain_x100 >= fit.threshold_x100).then_some(gain_x100)
    };
    // A hotspot beside a liar has a link whose far end is misplaced, and a few liars around it
    // can add up to a better fit elsewhere for it too. So the suspects are flagged one at a time,
    // the worst fit first, and those whose links include a flagged one are judged again without
    // it: a liar keeps its evidence (its honest neighbours), a neighbour loses what the liar lent.
    let none = BTreeSet::new();
    let mut suspects: BTreeMap<DeviceAddress, i64> =
        seen.keys().filter_map(|d| judge(d, &none).map(|g| (*d, g))).collect();
    let mut elsewhere = BTreeSet::new();
    while let Some((&worst, _)) = suspects.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) {
        suspects.remove(&worst);
        elsewhere.insert(worst);
        let partners: BTreeSet<DeviceAddress> = seen[&worst]
            .iter()
            .map(|o| o.device)
            .filter(|p| suspects.contains_key(p))
            .collect();
        for p in partners {
            match judge(&p, &elsewhere) {
                Some(g) => suspects.insert(p, g),
                None => suspects.remove(&p),
            };
        }
    }
    // One flagged while a liar beside it was not yet flagged kept what that liar lent it: every
    // flagged hotspot is judged once more without all the others' links, and cleared if that
    // leaves it no better elsewhere. (A liar keeps its honest neighbours' evidence, so this
    // clears the neighbours the order caught out, not the liars.)
    if fit.recheck_flagged {
        let mut others = elsewhere.clone();
        elsewhere.retain(|d| {
            others.remove(d);
            let still = judge(d, &others).is_some();
            others.insert(*d);
            still
        });
    }
    for o in outcomes.iter_mut().filter(|o| o.verdict.is_ok()) {
        if elsewhere.contains(&o.beacon.beaconer) {
            // The witnesses keep their verdicts: nobody is paid for an invalid beacon, and the
            // measurements stay in the next epochs' window.
            o.verdict = Err(BeaconInvalid::LocatedElsewhere);
            continue;
        }
        for (w, v) in o.witnesses.iter_mut().filter(|(_, v)| v.is_ok()) {
            if elsewhere.contains(&w.witness) {
                *v = Err(WitnessInvalid::LocatedElsewhere);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    /// Great-circle distance, floats: only the reference the lattice is checked against.
    fn haversine_m(a: LatLng, b: LatLng) -> f64 {
        let (la, lb) = (a.lat_radians(), b.lat_radians());
        let (dl, dg) = (lb - la, b.lng_radians() - a.lng_radians());
        let h = (dl / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dg / 2.0).sin().powi(2);
        2.0 * 6_371_008.8 * h.sqrt().asin()
    }

    #[test]
    fn lattice_distances_are_the_same_in_every_direction_and_near_the_average_spacing() {
        let origin = LatLng::new(37.77, -122.42).unwrap();
        let anchor = origin.to_cell(Resolution::Twelve);
        let a = anchor.to_local_ij(anchor).unwrap().coord;
        let mut ratios = Vec::new();
        for k in 0..24 {
            let angle = f64::from(k) * std::f64::consts::PI / 12.0;
            for km in [0.5, 3.0, 12.0] {
                let p = LatLng::new(
                    origin.lat() + km / 111.2 * angle.cos(),
                    origin.lng() + km / (111.2 * origin.lat_radians().cos()) * angle.sin(),
                )
                .unwrap();
                let cell = p.to_cell(Resolution::Twelve);
                let c = cell.to_local_ij(anchor).unwrap().coord;
                let v = (i64::from(c.i - a.i), i64::from(c.j - a.j));
                let lattice_m = (norm2(v) as f64).sqrt() * SPACING_MM as f64 / 1_000.0;
                ratios.push(lattice_m / haversine_m(origin, LatLng::from(cell)));
            }
        }
        // Cells here are larger than the average (H3 cells vary with their place on the
        // icosahedron), so the lattice measures short by about one factor in every direction,
        // and the fit is scale-free (a common factor is one more constant in every residual).
        // The gnomonic projection stretches a few per cent more one way than another: ±0.5 dB
        // at n = 3.5.
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        assert!((0.8..1.2).contains(&mean), "{mean}");
        for r in &ratios {
            assert!((r / mean - 1.0).abs() < 0.05, "{r} vs {mean}");
        }
    }

    #[test]
    fn ten_log_d_of_a_kilometre_is_thirty_db() {
        // 61.3 spacings ≈ 1 km.
        let d = ten_log_d_centi((61, 0));
        assert!((2_995..=3_000).contains(&d), "{d}");
        assert_eq!(ten_log_d_centi((0, 0)), ten_log_d_centi((1, 0)));
    }
}
