//! Hex density scaling (HIP-17): hotspots packed into the same area earn less per beacon than
//! hotspots that extend coverage.
//!
//! For each resolution `R` from fine to coarse, every hex gets
//! - `unclipped(h)`: the number of hotspots in it at the finest resolution, else the sum of its
//!   children's clipped values;
//! - `limit(h) = min(density_max, density_tgt × max(occupied − N + 1, 1))`, where `occupied` is
//!   the number of hexes in `h`'s 1-ring (itself included) whose unclipped value reaches
//!   `density_tgt`;
//! - `clipped(h) = min(unclipped(h), limit(h))`.
//!
//! A hotspot's transmit scale is the product over resolutions of `clipped / unclipped` of its hex.
//! Parameters per resolution are HIP-17's launch values (Helium chain variables `hip17_res_4` …
//! `hip17_res_10`). Scales are integers in parts per million, rounded down at each step.

use h3o::{CellIndex, Resolution};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use trellis_primitives::DeviceAddress;

/// Parts per million.
pub const PPM: u64 = 1_000_000;

/// One resolution's HIP-17 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionDensity {
    /// H3 resolution.
    pub resolution: u8,
    /// Occupied neighbours needed before the target density grows.
    pub siblings: u32,
    /// Target hotspots per hex.
    pub density_tgt: u64,
    /// Maximum hotspots per hex.
    pub density_max: u64,
}

/// HIP-17's launch parameters, finest resolution first.
pub fn hip17_defaults() -> Vec<ResolutionDensity> {
    let r = |resolution, siblings, density_tgt, density_max| ResolutionDensity {
        resolution,
        siblings,
        density_tgt,
        density_max,
    };
    vec![
        r(10, 2, 1, 1),
        r(9, 2, 1, 2),
        r(8, 2, 1, 4),
        r(7, 2, 5, 20),
        r(6, 1, 25, 100),
        r(5, 1, 100, 400),
        r(4, 1, 250, 800),
    ]
}

fn res(r: u8) -> Option<Resolution> {
    Resolution::try_from(r).ok()
}

/// The transmit scale (ppm) of every hotspot, given each hotspot's asserted cell.
/// `levels` must be ordered finest first, each coarser than the last.
pub fn transmit_scales(
    hotspots: &BTreeMap<DeviceAddress, CellIndex>,
    levels: &[ResolutionDensity],
) -> BTreeMap<DeviceAddress, u64> {
    // (unclipped, clipped) per hex, per level.
    let mut per_level: Vec<BTreeMap<CellIndex, (u64, u64)>> = Vec::with_capacity(levels.len());
    let mut below: BTreeMap<CellIndex, u64> = BTreeMap::new();
    for (i, level) in levels.iter().enumerate() {
        let Some(resolution) = res(level.resolution) else {
            continue;
        };
        let mut unclipped: BTreeMap<CellIndex, u64> = BTreeMap::new();
        if i == 0 {
            for cell in hotspots.values() {
                if let Some(hex) = cell.parent(resolution) {
                    *unclipped.entry(hex).or_default() += 1;
                }
            }
        } else {
            for (child, clipped) in &below {
                if let Some(hex) = child.parent(resolution) {
                    *unclipped.entry(hex).or_default() += clipped;
                }
            }
        }
        let mut values = BTreeMap::new();
        for (hex, count) in &unclipped {
            let occupied = hex
                .grid_disk_safe(1)
                .filter(|n| unclipped.get(n).is_some_and(|c| *c >= level.density_tgt))
                .count() as u64;
            let growth = (occupied + 1).saturating_sub(u64::from(level.siblings)).max(1);
            let limit = level.density_max.min(level.density_tgt.saturating_mul(growth));
            values.insert(*hex, (*count, (*count).min(limit)));
        }
        below = values.iter().map(|(h, (_, clipped))| (*h, *clipped)).collect();
        per_level.push(values);
    }
    hotspots
        .iter()
        .map(|(device, cell)| {
            let mut scale = PPM;
            for (level, values) in levels.iter().zip(&per_level) {
                let hex = res(level.resolution).and_then(|r| cell.parent(r));
                if let Some((unclipped, clipped)) = hex.and_then(|h| values.get(&h)) {
                    if *unclipped > 0 {
                        scale = scale * clipped / unclipped;
                    }
                }
            }
            (*device, scale)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::LatLng;
    use trellis_primitives::Keypair;

    fn dev(n: u32) -> DeviceAddress {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&n.to_le_bytes());
        Keypair::from_seed(seed).public().into()
    }

    fn cell(lat: f64, lng: f64) -> CellIndex {
        LatLng::new(lat, lng).unwrap().to_cell(Resolution::Twelve)
    }

    #[test]
    fn a_lone_hotspot_keeps_full_scale() {
        let hs = BTreeMap::from([(dev(1), cell(37.77, -122.42))]);
        assert_eq!(transmit_scales(&hs, &hip17_defaults())[&dev(1)], PPM);
    }

    #[test]
    fn two_hotspots_in_one_res10_hex_share_it_and_earn_half() {
        // A few metres apart: same res-10 hex (~15,000 m²). Res-10 limit is 1: each scales 1/2.
        let hs = BTreeMap::from([
            (dev(1), cell(37.770000, -122.420000)),
            (dev(2), cell(37.770030, -122.420030)),
        ]);
        let (a, b) = (cell(37.770000, -122.420000), cell(37.770030, -122.420030));
        assert_eq!(a.parent(Resolution::Ten), b.parent(Resolution::Ten));
        let scales = transmit_scales(&hs, &hip17_defaults());
        assert_eq!(scales[&dev(1)], PPM / 2);
        assert_eq!(scales[&dev(2)], PPM / 2);
    }

    #[test]
    fn a_dense_cluster_earns_less_each_than_a_spread_out_network() {
        // 30 hotspots in one res-8 hex vs 30 hotspots ~20 km apart.
        let mut dense = BTreeMap::new();
        let mut spread = BTreeMap::new();
        for i in 0..30u32 {
            let f = f64::from(i);
            dense.insert(
                dev(i),
                cell(37.7700 + 0.0004 * (f % 6.0), -122.4200 + 0.0004 * (f / 6.0).floor()),
            );
            spread.insert(dev(i), cell(36.0 + 0.2 * (f % 6.0), -121.0 + 0.2 * (f / 6.0).floor()));
        }
        let d = transmit_scales(&dense, &hip17_defaults());
        let s = transmit_scales(&spread, &hip17_defaults());
        assert!(s.values().all(|v| *v == PPM), "spread-out hotspots keep full scale");
        let dense_total: u64 = d.values().sum();
        assert!(
            dense_total < 10 * PPM,
            "30 clustered hotspots earn like fewer than 10: {dense_total}"
        );
        assert!(d.values().all(|v| *v < PPM));
    }
}
