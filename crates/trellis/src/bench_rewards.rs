//! `trellis bench rewards`: one epoch's reward computation (payouts, owner manifest, Merkle root)
//! for a million devices, beside the raw blake3 rate for the same number of leaf and node hashes.

use anyhow::Result;
use clap::Args;
use std::time::Instant;
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Epoch, HashDomain, PublicKey};
use trellis_rewards::{
    compute_epoch, shares::ShareBreakdown, DeviceShare, EmissionSchedule, EpochInputs, Pool, PoolAmounts, PoolSplit,
    RewardConfig,
};

/// Options of `trellis bench rewards`.
#[derive(Debug, Args)]
pub(crate) struct RewardsBenchArgs {
    /// Devices with shares.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) devices: u32,
    /// Distinct owners (devices are spread over them).
    #[arg(long, default_value_t = 250_000)]
    pub(crate) owners: u32,
}

fn key(domain: HashDomain, i: u32, tag: u8) -> PublicKey {
    PublicKey(*domain.hash_parts(&[&i.to_le_bytes(), &[tag]]).as_bytes())
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) fn run(args: RewardsBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.devices > 0 && args.owners > 0,
        "--devices and --owners must be positive"
    );
    let rss_before = peak_rss_kib();
    // Device ids need not be real keys here: the engine never verifies them.
    let shares: Vec<DeviceShare> = (0..args.devices)
        .map(|i| DeviceShare {
            device: DeviceAddress(key(HashDomain::StateLeaf, i, 0)),
            owner: AccountAddress(key(HashDomain::StateLeaf, i % args.owners, 1)),
            pool: Pool::EARNING[(i % 4) as usize],
            units: 1 + u64::from(i % 1_000) * 37,
            earned_credits: 0,
            breakdown: ShareBreakdown::default(),
        })
        .collect();
    let config = RewardConfig {
        schedule: EmissionSchedule::default(),
        split: PoolSplit::default(),
        treasury: AccountAddress(key(HashDomain::Genesis, 0, 2)),
        operations: AccountAddress(key(HashDomain::Genesis, 1, 2)),
    };
    let inputs = EpochInputs {
        epoch: Epoch(1),
        issued_so_far: Amount::ZERO,
        burned_in_epoch: Amount::ZERO,
        carry: PoolAmounts::default(),
        shares,
        credit_value: None,
    };
    let started = Instant::now();
    let result = compute_epoch(&config, &inputs)?;
    let engine_s = started.elapsed().as_secs_f64();
    let rss_after = peak_rss_kib();

    // Raw limit: the blake3 work a Merkle tree over these owners needs (one leaf hash per owner
    // and one node hash per inner node), with nothing else.
    let leaves = result.manifest.owners.len();
    let started = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..leaves {
        let h = HashDomain::RewardLeaf.hash_parts(&[&acc, &(i as u64).to_le_bytes()]);
        acc = *h.as_bytes();
    }
    for _ in 0..leaves.saturating_sub(1) {
        acc = *HashDomain::MerkleNode.hash_parts(&[&acc, &acc]).as_bytes();
    }
    let raw_s = started.elapsed().as_secs_f64();
    std::hint::black_box(acc);

    println!("| measurement | time | ratio to raw hashing |");
    println!("|---|---:|---:|");
    println!(
        "| raw blake3: {leaves} leaf + {} node hashes | {:.3} s | 1.00 |",
        leaves.saturating_sub(1),
        raw_s
    );
    println!(
        "| reward epoch: {} devices -> {} owners, payouts + manifest + root | {:.3} s | {:.1} |",
        args.devices,
        leaves,
        engine_s,
        engine_s / raw_s.max(1e-9)
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "| peak resident memory (shares in memory + computation) | {} MiB (was {} MiB) | - |",
            after / 1024,
            before / 1024
        );
    }
    println!();
    println!(
        "manifest root {}, total {}",
        result.manifest.root, result.manifest.total
    );
    Ok(())
}
