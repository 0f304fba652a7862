//! `trellis bench ledger`: committed signed transfers per second through the real sequencer
//! (mempool, batch signature check, execution, state root, redb with fsync per block), next to the
//! raw ed25519 single and batch verification rates measured in the same run.

use anyhow::{Context, Result};
use clap::Args;
use std::{io::Write, time::Instant};
use trellis_chain::Node;
use trellis_ledger::{Genesis, GenesisAccount, Params, Transaction, TxBody, TxKind};
use trellis_primitives::{keys::verify_batch, AccountAddress, Amount, Keypair, SignedMessage};
use trellis_store::ChainStore;

/// Options of `trellis bench ledger`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Signed transfers to commit.
    #[arg(long, default_value_t = 40_000)]
    pub(crate) txs: usize,
    /// Distinct sending accounts (each sends txs/accounts transfers, in nonce order).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) accounts: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) block_txs: u32,
}

/// Deterministic benchmark key `i` of family `tag`.
pub(crate) fn bench_key(i: usize, tag: u8) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed[31] = tag;
    Keypair::from_seed(seed)
}

fn key(i: usize) -> Keypair {
    bench_key(i, 0xbe)
}

/// `n` signed transfers of 1 unit (fee 1) round robin over `keys`, each to the next key, in nonce
/// order per sender.
pub(crate) fn signed_transfers(keys: &[Keypair], n: usize, chain_id: &str) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            let (sender, nonce) = (i % keys.len(), (i / keys.len()) as u64);
            let to: AccountAddress = keys[(sender + 1) % keys.len()].public().into();
            let body = TxBody {
                chain_id: chain_id.to_string(),
                signer: keys[sender].public().into(),
                nonce,
                fee: Amount::from_units(1),
                kind: TxKind::Transfer {
                    to,
                    amount: Amount::from_units(1),
                },
            };
            Transaction::sign(body, &keys[sender])
        })
        .collect()
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) fn run(args: BenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.accounts > 0 && args.txs > 0,
        "--txs and --accounts must be positive"
    );
    let per_account = args.txs.div_ceil(args.accounts);
    anyhow::ensure!(
        per_account < trellis_chain::mempool::MAX_NONCE_AHEAD as usize,
        "use more --accounts: at most 63 txs per account fit the mempool's nonce window"
    );
    let keys: Vec<Keypair> = (0..args.accounts).map(key).collect();
    let admin = key(usize::MAX);
    let accounts = keys
        .iter()
        .map(|k| GenesisAccount {
            address: k.public().into(),
            balance: Amount::from_units(1 << 40),
        })
        .collect();
    let mut genesis = Genesis::single_authority("trellis-bench", admin.public(), accounts);
    genesis.params = Params {
        min_fee: Amount::from_units(1),
        max_block_txs: args.block_txs,
        ..Params::default()
    };
    eprintln!("signing {} transfers (not timed)", args.txs);
    let txs = signed_transfers(&keys, args.txs, &genesis.chain_id);

    // Raw limits, same messages as the chain will check.
    let ids: Vec<_> = txs.iter().map(Transaction::id).collect();
    let sample = txs.len().min(20_000);
    let started = Instant::now();
    for (tx, id) in txs.iter().zip(&ids).take(sample) {
        tx.body
            .signer
            .key()
            .verify(id.as_bytes(), &tx.signature)
            .context("bench signature invalid")?;
    }
    let single = rate(sample, started.elapsed().as_secs_f64());
    let items: Vec<SignedMessage<'_>> = txs
        .iter()
        .zip(&ids)
        .take(sample)
        .map(|(tx, id)| SignedMessage {
            message: id.as_bytes(),
            signature: &tx.signature,
            signer: tx.body.signer.key(),
        })
        .collect();
    let started = Instant::now();
    for chunk in items.chunks(args.block_txs as usize) {
        verify_batch(chunk).context("bench batch invalid")?;
    }
    let batch = rate(sample, started.elapsed().as_secs_f64());
    let fsync = fsync_rate()?;

    // End to end through the real node.
    let dir = tempfile::tempdir()?;
    let store = ChainStore::open(&dir.path().join("chain.redb"))?;
    store.initialise(&genesis)?;
    let node = Node::new(store)?;
    let started = Instant::now();
    for tx in txs {
        node.submit(tx)?;
    }
    let submitted = started.elapsed().as_secs_f64();
    let mut blocks = 0;
    let commit_start = Instant::now();
    while node.metrics().txs_committed() < args.txs as u64 {
        node.produce_block(0, false)?
            .context("mempool drained before every transfer committed")?;
        blocks += 1;
    }
    let commit = commit_start.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();
    let e2e = rate(args.txs, total);
    let commit_only = rate(args.txs, commit);

    println!("| measurement | rate | ratio to raw batch verify |");
    println!("|---|---:|---:|");
    println!(
        "| raw ed25519 single verify (1 core) | {single:.0} sig/s | {:.2} |",
        single / batch
    );
    println!(
        "| raw ed25519 batch verify, {} per batch (1 core) | {batch:.0} sig/s | 1.00 |",
        args.block_txs
    );
    println!("| raw fsync (4 KiB write + fsync) | {fsync:.0} /s | - |");
    println!(
        "| committed transfers, block building only ({blocks} blocks, fsync each) | {commit_only:.0} tx/s | {:.2} |",
        commit_only / batch
    );
    println!(
        "| committed transfers, end to end (mempool admission + blocks) | {e2e:.0} tx/s | {:.2} |",
        e2e / batch
    );
    println!();
    println!(
        "{} transfers from {} accounts, {} per block; admission took {submitted:.2}s, block building {commit:.2}s.",
        args.txs, args.accounts, args.block_txs
    );
    Ok(())
}

fn fsync_rate() -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("fsync.bin"))?;
    let block = [7u8; 4096];
    let n = 200;
    let started = Instant::now();
    for _ in 0..n {
        file.write_all(&block)?;
        file.sync_data()?;
    }
    Ok(rate(n, started.elapsed().as_secs_f64()))
}
