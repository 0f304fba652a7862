//! `trellis bench coverage`: one epoch of proof-of-coverage verification (verdicts for every
//! beacon and witness, HIP-17 scales, HIP-15 shares) for N hotspots with ~W witnesses per beacon,
//! beside the raw rate of its dominant primitive (H3 grid distance) measured in the same run.

use anyhow::Result;
use clap::Args;
use h3o::{LatLng, Resolution};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};
use trellis_coverage::{
    density::{hip17_defaults, transmit_scales},
    entropy::beacon_payload,
    epoch::{coverage_shares, verify_epoch, History, ShareInputs},
    physics::{distance_m, max_rssi_centi_dbm},
    redundancy::RedundancyConfig,
    verify::VerifyContext,
    BeaconReport, CoverageConfig, HotspotFacts, WitnessReport,
};
use trellis_primitives::{AccountAddress, DeviceAddress, Hash, HashDomain, Location, PublicKey};

/// Options of `trellis bench coverage`.
#[derive(Debug, Args)]
pub(crate) struct CoverageBenchArgs {
    /// Hotspots, each beaconing once.
    #[arg(long, default_value_t = 100_000)]
    hotspots: u32,
    /// Witnesses per beacon (its nearest neighbours on the grid).
    #[arg(long, default_value_t = 10)]
    witnesses: u32,
}

const FREQ: u64 = 904_300_000;

/// Runs the benchmark and prints a Markdown table.
pub(crate) fn run(args: CoverageBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.hotspots > 1 && args.witnesses > 0,
        "need at least 2 hotspots and 1 witness"
    );
    // A square grid ~1 km apart around (35°N, 100°W); ids need not be real keys here.
    let side = (f64::from(args.hotspots)).sqrt().ceil() as u32;
    let mut cells = Vec::with_capacity(args.hotspots as usize);
    let mut facts = BTreeMap::new();
    for i in 0..args.hotspots {
        let (row, col) = (i / side, i % side);
        let ll = LatLng::new(35.0 + 0.009 * f64::from(row), -100.0 + 0.011 * f64::from(col))?;
        let location = Location::new(ll.to_cell(Resolution::Twelve))?;
        let device = DeviceAddress(PublicKey(*HashDomain::StateLeaf.hash(&i.to_le_bytes()).as_bytes()));
        cells.push((device, location, row, col));
        facts.insert(
            device,
            HotspotFacts {
                is_hotspot: true,
                location: Some(location),
                gain_centi_dbi: 300,
                region: 1,
                owner: None,
            },
        );
    }
    let entropy = HashDomain::BlockHeader.hash(b"bench entropy");
    let t0: u64 = 1_800_000_000_000;
    let (mut beacons, mut witnesses) = (Vec::new(), Vec::new());
    let radius = (f64::from(args.witnesses)).sqrt().ceil() as i64;
    for (i, (device, location, row, col)) in cells.iter().enumerate() {
        let received_ms = t0 + 1_000 + i as u64;
        beacons.push(BeaconReport {
            beaconer: *device,
            entropy,
            payload: beacon_payload(&entropy, device).to_vec(),
            frequency_hz: FREQ,
            tx_power_centi_dbm: 2_700,
            received_ms,
        });
        let mut count = 0;
        'neighbours: for dr in -radius..=radius {
            for dc in -radius..=radius {
                if (dr, dc) == (0, 0) || count >= args.witnesses {
                    continue;
                }
                let (r, c) = (i64::from(*row) + dr, i64::from(*col) + dc);
                if r < 0 || c < 0 || c >= i64::from(side) {
                    continue;
                }
                let Some((w, wl, _, _)) = cells.get((r * i64::from(side) + c) as usize) else {
                    continue;
                };
                let d = distance_m(location.cell(), wl.cell()).unwrap_or(1_000);
                let rssi = max_rssi_centi_dbm(2_700, 300, 300, d, FREQ) - 2_500;
                witnesses.push(WitnessReport {
                    witness: *w,
                    payload: beacon_payload(&entropy, device).to_vec(),
                    frequency_hz: FREQ,
                    rssi_centi_dbm: rssi,
                    received_ms: received_ms + 200,
                });
                count += 1;
                if count >= args.witnesses {
                    break 'neighbours;
                }
            }
        }
    }
    let reports = beacons.len() + witnesses.len();

    // Raw primitive: H3 grid distance for as many pairs as there are witnesses.
    let started = Instant::now();
    let mut acc = 0u64;
    for (i, w) in witnesses.iter().enumerate() {
        let a = cells[i % cells.len()].1.cell();
        let b = facts.get(&w.witness).and_then(|f| f.location).map_or(a, |l| l.cell());
        acc = acc.wrapping_add(distance_m(a, b).unwrap_or(0));
    }
    std::hint::black_box(acc);
    let raw_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let config = CoverageConfig::default();
    let hotspot = |d: &DeviceAddress| facts.get(d).cloned();
    let entropy_time = |h: &Hash| (*h == entropy).then_some(t0);
    let (deny, edges) = (BTreeSet::new(), BTreeSet::new());
    let ctx = VerifyContext {
        config: &config,
        hotspot: &hotspot,
        entropy_time_ms: &entropy_time,
        denylist: &deny,
        denylisted_edges: &edges,
    };
    let outcomes = verify_epoch(&ctx, &beacons, &witnesses, &History::default());
    let verify_s = started.elapsed().as_secs_f64();
    let scale_cells: BTreeMap<DeviceAddress, h3o::CellIndex> =
        cells.iter().map(|(d, l, _, _)| (*d, l.cell())).collect();
    let scales = transmit_scales(&scale_cells, &hip17_defaults());
    let owner = |d: &DeviceAddress| Some(AccountAddress(*d.key()));
    let everyone: BTreeSet<DeviceAddress> = cells.iter().map(|c| c.0).collect();
    let inputs = ShareInputs {
        redundancy: &RedundancyConfig::default(),
        transmit_scale_ppm: &scales,
        owner: &owner,
        recent_witnessers: &everyone,
        recent_beaconers: &everyone,
    };
    let shares = coverage_shares(&outcomes, &inputs);
    let total_s = started.elapsed().as_secs_f64();
    let valid = outcomes
        .iter()
        .flat_map(|o| o.witnesses.iter())
        .filter(|(_, v)| v.is_ok())
        .count();

    println!("| measurement | time | ratio to raw |");
    println!("|---|---:|---:|");
    println!(
        "| raw H3 grid distance, {} pairs | {raw_s:.2} s | 1.00 |",
        witnesses.len()
    );
    println!(
        "| verdicts for {} beacons + {} witnesses | {verify_s:.2} s | {:.1} |",
        beacons.len(),
        witnesses.len(),
        verify_s / raw_s.max(1e-9)
    );
    println!(
        "| verdicts + HIP-17 scales + shares (one core) | {total_s:.2} s | {:.1} |",
        total_s / raw_s.max(1e-9)
    );
    println!();
    println!(
        "{} hotspots, {reports} reports, {valid} valid witnesses, {} devices with shares.",
        args.hotspots,
        shares.len()
    );
    Ok(())
}
