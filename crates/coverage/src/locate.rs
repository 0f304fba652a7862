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
//! hotspot for its own antenna and cable (a constant bias cannot move a location), residuals
//! clipped at a few σ so one odd neighbour cannot drag the fit — and compares it with the
//! asserted place. When the best place is at least `min_offset_m` away and explains the links
//! better by at least `threshold` σ² (for an honest hotspot that improvement is χ²-distributed
//! with 2 degrees of freedom: 25 σ² has a chance of e^−12.5 ≈ 4·10⁻⁶ per hotspot and epoch), the
//! hotspot is located elsewhere: its beacons are invalid (`located_elsewhere`, its witnesses
//! neither paid nor blamed) and so are its witnesses of others.
//!
//! This is what catches Sybil clusters: one site, several identities asserted around it, each
//! claiming coverage it does not give. Whatever the cluster's members report themselves, their
//! beacons are measured by their honest neighbours, and those measurements converge on the one
//! place where all the radios are.
//!
//! Physical limits, stated: the fit's precision is about `σ·d / (10·n·log10(e)·√(links/2))` —
//! with σ = 6 dB, n = 3.5, links at ~3 km and 40 links, ~250 m. A claim within `min_offset_m`
//! (1 km) of the radio is not judged at all, and hotspots with fewer than `min_links` links, or
//! all their neighbours on one side, are not located precisely enough to judge.
//!
//! Geometry is exact integer arithmetic in H3 local IJ coordinates at the assertion resolution
//! (12): the cell lattice is a plane near any anchor, with axes 120° apart, so the squared
//! distance of an offset `(i, j)` is `(i² + j² − i·j)` cell spacings². Cells across icosahedron
//! faces or pentagons from the anchor have no local coordinates and are left out.

use crate::{
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
    /// Links are used only where the region's fading predicts them at least this many σ
    /// (hundredths) above the weakest signals the region hears (see [`apply`]).
    pub margin_sigmas_x100: i64,
    /// Residuals are clipped at this many σ (hundredths): a neighbour whose own location is
    /// wrong costs at most this much wherever the hotspot is placed.
    pub clip_sigmas_x100: i64,
    /// Epochs before the current one whose links are fitted with it. A hotspot beacons about
    /// once an epoch, so one epoch gives it a dozen links or two; evidence grows with the links
    /// (an offset's cost rises linearly with them, an honest hotspot's improvement stays
    /// χ²(2)), so a window separates liars from fading that one epoch cannot.
    pub window_epochs: u64,
}

impl Default for LocationFit {
    fn default() -> Self {
        LocationFit {
            min_links: 12,
            min_offset_m: 1_000,
            search_radius_m: 8_000,
            threshold_x100: 2_500,
            margin_sigmas_x100: 100,
            clip_sigmas_x100: 300,
            window_epochs: 6,
        }
    }
}

/// Centre-to-centre distance of neighbouring resolution-12 cells, millimetres (as in
/// [`crate::physics`]).
const SPACING_MM: i64 = 16_308;

/// A point of the local lattice, in cell spacings.
type Ij = (i64, i64);

/// Squared length of a lattice offset, in spacings² (axes 120° apart).
fn norm2((i, j): Ij) -> i64 {
    i * i + j * j - i * j
}

/// One link as one of its ends sees it: where the other end is, relative to this end's asserted
/// cell, and how well the link carried (RSSI − EIRP − rx gain + FSPL(1 m), centi-dB).
#[derive(Clone, Copy)]
struct Observation {
    /// The hotspot at the other end.
    device: DeviceAddress,
    partner: Ij,
    gain_over_1m_centi_db: i64,
}

/// `10·log10(distance in metres)` of an offset, centi-dB; a metre at least 16 m (one spacing).
fn ten_log_d_centi(offset: Ij) -> i64 {
    let n2 = norm2(offset).max(1) as u64;
    let mm2 = n2.saturating_mul((SPACING_MM * SPACING_MM) as u64);
    // 10·log10(d_m) = 10·log10(d_mm²)/2 − 30 dB.
    ten_log10_centi_fast(mm2) / 2 - 3_000
}

/// What a hotspot's links cost placed at `at`, under `fading`: the sum of clipped squared
/// residuals around their median (the hotspot's own antenna and cable bias).
fn cost(obs: &[Observation], fading: &Fading, clip: i64, at: Ij, scratch: &mut Vec<i64>) -> i64 {
    scratch.clear();
    scratch.extend(obs.iter().map(|o| {
        let d = ten_log_d_centi((o.partner.0 - at.0, o.partner.1 - at.1));
        fading.residual(o.gain_over_1m_centi_db, d)
    }));
    let Some(bias) = median(scratch) else { return 0 };
    let clip2 = clip * clip;
    scratch.iter().map(|r| ((r - bias) * (r - bias)).min(clip2)).sum()
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
fn best_place(obs: &[Observation], fading: &Fading, clip: i64, radius: i64, scratch: &mut Vec<i64>) -> (Ij, i64) {
    let mut best = ((0, 0), cost(obs, fading, clip, (0, 0), scratch));
    let consider = |at: Ij, best: &mut (Ij, i64), scratch: &mut Vec<i64>| {
        if norm2(at) > radius * radius {
            return false;
        }
        let c = cost(obs, fading, clip, at, scratch);
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
    // hotspot's neighbours on one side are. The fit uses only links the region's fading predicts
    // `margin` σ above the weakest signals it hears (the region's first percentile), where
    // almost every link is heard whatever its fading — and measures the fading again from them.
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
    let reliable = |l: &FitLink| {
        let Some(f) = first.get(&l.region).or(first.get(&None)) else {
            return false;
        };
        let floor = floors.get(&l.region).copied().unwrap_or(everywhere_floor);
        let predicted = l.rssi_centi_dbm - f.residual(l.sample.gain_over_1m_centi_db, l.sample.ten_log_d_centi);
        predicted >= floor + f.sigma_centi_db * fit.margin_sigmas_x100 / 100
    };
    let kept: Vec<FitLink> = links.iter().copied().filter(|l| reliable(l)).collect();
    let fading = fadings(env, &regions(&mut kept.iter()));
    let mut seen: BTreeMap<DeviceAddress, Vec<Observation>> = BTreeMap::new();
    for l in &kept {
        let gain = l.sample.gain_over_1m_centi_db;
        seen.entry(l.beaconer).or_default().push(Observation {
            device: l.witness,
            partner: l.partner,
            gain_over_1m_centi_db: gain,
        });
        seen.entry(l.witness).or_default().push(Observation {
            device: l.beaconer,
            partner: (-l.partner.0, -l.partner.1),
            gain_over_1m_centi_db: gain,
        });
    }
    let radius = fit.search_radius_m as i64 * 1_000 / SPACING_MM;
    let min_offset2 = {
        let s = fit.min_offset_m as i64 * 1_000 / SPACING_MM;
        s * s
    };
    let mut scratch = Vec::new();
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
        let clip = fading.sigma_centi_db * fit.clip_sigmas_x100 / 100;
        let asserted = cost(&obs, fading, clip, (0, 0), &mut scratch);
        let (at, c) = best_place(&obs, fading, clip, radius, &mut scratch);
        let gain_x100 = (asserted - c).saturating_mul(100) / (fading.sigma_centi_db * fading.sigma_centi_db);
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
