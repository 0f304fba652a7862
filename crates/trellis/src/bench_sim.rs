//! `trellis bench sim`: simulated device-epochs per second of `trellis sim network` (every
//! verifier and the reward engine, for real) at growing network sizes, beside the raw ed25519
//! verification rate measured in the same run: every simulated report is signed by its device
//! and verified by ingest's batch check, so that rate bounds how many reports a core can move.

use anyhow::Result;
use clap::Args;
use std::time::Instant;
use trellis_primitives::Keypair;
use trellis_sim::network::{run, NetworkConfig};

/// Options of `trellis bench sim`.
#[derive(Debug, Args)]
pub(crate) struct SimBenchArgs {
    /// Network sizes (devices), comma separated.
    #[arg(long, default_value = "1000,10000,100000", value_delimiter = ',')]
    sizes: Vec<u32>,
    /// Epochs per size.
    #[arg(long, default_value_t = 3)]
    epochs: u32,
}

/// The default mix of classes for `devices` devices.
fn mix(devices: u32, epochs: u32) -> NetworkConfig {
    let part = |bps: u32| u32::try_from(u64::from(devices) * u64::from(bps) / 10_000).unwrap_or(u32::MAX);
    NetworkConfig {
        epochs,
        hotspots: part(5_700),
        stations: part(2_850),
        meters: part(570),
        storage: part(570),
        compute: part(310),
        ..NetworkConfig::default()
    }
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) fn run_bench(args: SimBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.epochs > 0 && !args.sizes.is_empty(),
        "need sizes and at least one epoch"
    );
    // Raw limit: single ed25519 verifications per second on this core.
    let key = Keypair::from_seed([7; 32]);
    let msg = [42u8; 64];
    let sig = key.sign(&msg);
    let n = 20_000;
    let started = Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(key.public().verify(&msg, &sig).is_ok());
    }
    let verify_per_s = f64::from(n) / started.elapsed().as_secs_f64().max(1e-9);
    anyhow::ensure!(ok == n, "raw verification failed");
    println!("Simulated device-epochs per second ({} epochs per size, one core), next to raw ed25519 verification ({verify_per_s:.0}/s):", args.epochs);
    println!();
    println!("| devices | hotspots | time | device-epochs/s | signed reports/s | reports/s ÷ raw verify/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &size in &args.sizes {
        let config = mix(size, args.epochs);
        let started = Instant::now();
        let result = run(&config, |_| {})?;
        let secs = started.elapsed().as_secs_f64();
        let device_epochs = config.devices() as f64 * f64::from(args.epochs);
        let rate = device_epochs / secs.max(1e-9);
        // Each report is signed by its device and verified by ingest: two ed25519 operations.
        let reports = result.ingest_admitted as f64 / secs.max(1e-9);
        println!(
            "| {} | {} | {secs:.2} s | {rate:.0} | {reports:.0} | {:.2} |",
            config.devices(),
            config.hotspots,
            reports / verify_per_s
        );
        drop(result);
    }
    Ok(())
}
