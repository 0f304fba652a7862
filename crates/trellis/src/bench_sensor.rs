//! `trellis bench sensor`: one epoch of quality-of-data scoring (decode from report-log frames,
//! every check, neighbours, shares) for N weather stations and meters, beside the raw ed25519
//! verification rate measured in the same run: every reading is signature-checked at ingest, so
//! that is the rate scoring has to keep well ahead of.

use anyhow::Result;
use clap::Args;
use std::{collections::BTreeMap, time::Instant};
use trellis_primitives::{AccountAddress, DeviceAddress, Keypair, Location};
use trellis_proto::{Envelope, LoggedReport, Report};
use trellis_sensor::{
    baselines, epoch_readings, reading::centre_centi_deg, score_epoch, sensor_shares, QodConfig, SensorFacts,
    SensorKind,
};
use trellis_sim::weather::{Meter, WeatherField};

/// Options of `trellis bench sensor`.
#[derive(Debug, Args)]
pub(crate) struct SensorBenchArgs {
    /// Weather stations (a tenth as many energy meters join them).
    #[arg(long, default_value_t = 10_000)]
    stations: u32,
    /// Readings per device in the epoch.
    #[arg(long, default_value_t = 12)]
    readings: u32,
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) fn run(args: SensorBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.stations > 0 && args.readings > 1,
        "need stations and at least 2 readings"
    );
    let interval_ms = 300_000u64;
    let start = 1_796_241_600_000u64;
    let epoch_ms = interval_ms * u64::from(args.readings);
    let field = WeatherField { seed: 1 };
    let side = f64::from(args.stations).sqrt().ceil() as u32;
    let owner = AccountAddress::from(Keypair::from_seed([9; 32]).public());
    let meters = args.stations / 10;
    let mut facts = BTreeMap::new();
    let mut frames = Vec::new();
    for i in 0..args.stations + meters {
        let key = crate::bench::bench_key(i as usize, 0x5e);
        let device = DeviceAddress::from(key.public());
        let (row, col) = (i / side, i % side);
        // Stations ~2 km apart around (35°N, 100°W); meters among them.
        let (lat, lng) = (35.0 + 0.018 * f64::from(row), -100.0 + 0.022 * f64::from(col));
        let location = Location::from_degrees(lat, lng)?;
        let kind = if i < args.stations {
            SensorKind::Weather
        } else {
            SensorKind::Energy
        };
        facts.insert(
            device,
            SensorFacts {
                owner,
                kind: Some(kind),
                cell: Some(location.index()),
                centre_centi_deg: centre_centi_deg(location.index()),
                interval_s: Some(interval_ms / 1_000),
                capacity_w: Some(5_000),
            },
        );
        let mut meter = Meter {
            capacity_w: 5_000,
            base_load_w: 700,
            produced_mwh_total: 0,
            consumed_mwh_total: 0,
            at_ms: start,
        };
        let centre = centre_centi_deg(location.index()).unwrap_or((0, 0));
        for r in 0..args.readings {
            let t = start + u64::from(r) * interval_ms + u64::from(i % 1_000);
            let m = match kind {
                SensorKind::Weather => field.measure(lat, lng, t, u64::from(i)),
                SensorKind::Energy => {
                    meter.advance(centre.0, centre.1, t, u64::from(i));
                    meter.measurement()
                }
            };
            let report = Report {
                timestamp_ms: t,
                kind: Some(m.to_report(location.index())),
            };
            frames.push(LoggedReport {
                received_ms: t + 50,
                report: Some(Envelope::sign(&report, &key)),
            });
        }
    }
    frames.sort_by_key(|f| f.received_ms);
    let n = frames.len();

    // Raw limit: verifying each reading's signature once, as ingest does.
    let envelopes: Vec<Envelope> = frames
        .iter()
        .filter_map(|f| f.report.as_ref())
        .filter_map(|s| Envelope::decode(&prost::Message::encode_to_vec(s)).ok())
        .collect();
    let started = Instant::now();
    let mut valid = 0usize;
    for e in &envelopes {
        let h = trellis_proto::signing_hash(&e.body);
        valid += usize::from(e.device.key().verify(h.as_bytes(), &e.signature).is_ok());
    }
    let verify_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(valid == n, "benchmark readings must all verify");

    let config = QodConfig::default();
    let started = Instant::now();
    let readings = epoch_readings(&frames, start, start + epoch_ms + 1_000);
    let decode_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let before = baselines(&frames, start, config.baseline_lookback_ms);
    let qod = score_epoch(&config, &facts, &before, &readings, epoch_ms);
    let shares = sensor_shares(&config, &facts, &qod);
    let score_s = started.elapsed().as_secs_f64();
    let earning = shares.iter().filter(|s| s.units > 0).count();
    let rate = |secs: f64| n as f64 / secs.max(1e-9);
    println!(
        "QoD for {} stations and {meters} meters, {} readings each ({n} readings), {earning} devices earning:",
        args.stations, args.readings
    );
    println!();
    println!("| measurement | time | readings/s | ratio to raw verify |");
    println!("|---|---:|---:|---:|");
    println!(
        "| raw ed25519 verify, one per reading | {verify_s:.2} s | {:.0} | 1.00 |",
        rate(verify_s)
    );
    println!(
        "| decode from report-log frames | {decode_s:.2} s | {:.0} | {:.2} |",
        rate(decode_s),
        verify_s / decode_s.max(1e-9)
    );
    println!(
        "| score (every check, neighbours, shares) | {score_s:.2} s | {:.0} | {:.2} |",
        rate(score_s),
        verify_s / score_s.max(1e-9)
    );
    Ok(())
}
