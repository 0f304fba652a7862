//! `trellis bench bft`: finalized transfers per second and finality latency of real validator
//! processes on loopback, for several validator counts, beside the single-node sequencer and the
//! raw ed25519 batch verification rate measured in the same run.

use crate::{
    config::NodeConfig,
    testnet::{spawn_node, validator_paths, write_network, NodeProcess},
};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use trellis_ledger::{Genesis, GenesisAccount, Params, Transaction};
use trellis_primitives::{keys::verify_batch, Amount, Encode as _, Hash, Keypair, SignedMessage};

/// Options of `trellis bench bft`.
#[derive(Debug, Args)]
pub(crate) struct BftBenchArgs {
    /// Validator counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 7])]
    validators: Vec<usize>,
    /// Signed transfers per measurement.
    #[arg(long, default_value_t = 10_000)]
    txs: usize,
    /// Distinct sending accounts (at most 63 transfers each fit the mempool's nonce window).
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// Milliseconds between blocks (sequencer interval; BFT minimum interval).
    #[arg(long, default_value_t = 100)]
    block_interval_ms: u64,
    /// Concurrent HTTP connections of the load generator.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Give up on a measurement after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// Submit one in this many transfers is timed to its finalization.
const SAMPLE_EVERY: usize = 50;

fn key(i: usize) -> Keypair {
    crate::bench::bench_key(i, 0xbf)
}

/// What one measurement found.
struct Measured {
    rate: f64,
    p50: Duration,
    p99: Duration,
    seconds: f64,
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) async fn run(args: BftBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.txs > 0 && args.accounts > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    anyhow::ensure!(
        args.txs.div_ceil(args.accounts) < trellis_chain::mempool::MAX_NONCE_AHEAD as usize,
        "use more --accounts: at most 63 transfers per account fit the mempool's nonce window"
    );
    anyhow::ensure!(
        args.validators.iter().all(|n| (1..=32).contains(n)),
        "--validators must list counts in 1..=32"
    );
    let keys: Vec<Keypair> = (0..args.accounts).map(key).collect();
    let accounts = keys
        .iter()
        .map(|k| GenesisAccount {
            address: k.public().into(),
            balance: Amount::from_units(1 << 40),
        })
        .collect();
    let mut genesis = Genesis::single_authority("trellis-bench-bft", key(usize::MAX).public(), accounts);
    genesis.params = Params {
        min_fee: Amount::from_units(1),
        max_block_txs: 10_000,
        ..Params::default()
    };
    genesis.timestamp_ms = trellis_chain::node::wall_clock_ms();
    genesis.normalise();
    eprintln!("signing {} transfers (not timed)", args.txs);
    let txs = crate::bench::signed_transfers(&keys, args.txs, &genesis.chain_id);
    let raw = raw_batch_rate(&txs)?;

    let mut rows = Vec::new();
    eprintln!("measuring the single-node sequencer");
    let sequencer = measure(&args, &genesis, &txs, None).await?;
    for &n in &args.validators {
        eprintln!("measuring {n} validators");
        rows.push((n, measure(&args, &genesis, &txs, Some(n)).await?));
    }

    println!("| setup | finalized transfers/s | vs sequencer | vs raw batch verify | finality p50 | finality p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| raw ed25519 batch verify (1 core) | {raw:.0} sig/s | - | 1.00 | - | - |");
    let row = |name: String, m: &Measured| {
        println!(
            "| {name} | {:.0} | {:.2} | {:.3} | {} ms | {} ms |",
            m.rate,
            m.rate / sequencer.rate,
            m.rate / raw,
            m.p50.as_millis(),
            m.p99.as_millis()
        );
    };
    row("single-node sequencer".into(), &sequencer);
    for (n, m) in &rows {
        row(format!("{n} validator{} (BFT)", if *n == 1 { "" } else { "s" }), m);
    }
    println!();
    println!(
        "{} transfers from {} accounts over HTTP ({} connections), blocks every {} ms at most; every node \
         process, the load generator and this table share this machine's cores (sequencer run took {:.1}s).",
        args.txs, args.accounts, args.concurrency, args.block_interval_ms, sequencer.seconds
    );
    Ok(())
}

fn raw_batch_rate(txs: &[Transaction]) -> Result<f64> {
    let ids: Vec<Hash> = txs.iter().map(Transaction::id).collect();
    let items: Vec<SignedMessage<'_>> = txs
        .iter()
        .zip(&ids)
        .map(|(tx, id)| SignedMessage {
            message: id.as_bytes(),
            signature: &tx.signature,
            signer: tx.body.signer.key(),
        })
        .collect();
    let started = Instant::now();
    for chunk in items.chunks(1_024) {
        verify_batch(chunk).context("bench batch invalid")?;
    }
    Ok(items.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Starts the nodes (a sequencer when `validators` is `None`), submits every transfer, and
/// measures until the first node has committed them all.
async fn measure(
    args: &BftBenchArgs,
    genesis: &Genesis,
    txs: &[Transaction],
    validators: Option<usize>,
) -> Result<Measured> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let mut procs: Vec<NodeProcess> = Vec::new();
    let mut urls = Vec::new();
    let count = validators.unwrap_or(1);
    match validators {
        Some(n) => write_network(root, n, genesis, args.block_interval_ms, 0)?,
        None => write_sequencer(root, genesis, args.block_interval_ms)?,
    }
    for i in 0..count {
        let (config, data, log) = validator_paths(root, i);
        procs.push(spawn_node(&config, &data, &log)?);
    }
    for (i, p) in procs.iter_mut().enumerate() {
        let (_, data, log) = validator_paths(root, i);
        urls.push(p.wait_for_url(&data, &log)?);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    // Block arrival times at the first node, from its event stream.
    let arrivals = Arc::new(Mutex::new(BTreeMap::<u64, Instant>::new()));
    let watcher = tokio::spawn(watch_blocks(http.clone(), urls[0].clone(), arrivals.clone()));
    wait_for_height(&http, &urls[0], 2, Duration::from_secs(60)).await?;

    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(txs.iter().map(|t| t.to_bytes()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::<(Hash, Instant)>::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (http, urls, bodies, next, samples) = (
                http.clone(),
                urls.clone(),
                bodies.clone(),
                next.clone(),
                samples.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    let url = format!("{}/v1/txs", urls[i % urls.len()]);
                    let sent = Instant::now();
                    let r = http
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(body.clone())
                        .send()
                        .await?;
                    if !r.status().is_success() {
                        bail!("transfer {i} refused: {}", r.text().await.unwrap_or_default());
                    }
                    if i % SAMPLE_EVERY == 0 {
                        let v: serde_json::Value = r.json().await?;
                        let id: Hash = v["tx_id"]
                            .as_str()
                            .unwrap_or_default()
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad id"))?;
                        samples.lock().unwrap_or_else(|p| p.into_inner()).push((id, sent));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let done_at = loop {
        let committed = committed_txs(&http, &urls[0]).await?;
        if committed >= txs.len() as u64 {
            break Instant::now();
        }
        if Instant::now() > deadline {
            bail!(
                "only {committed} of {} transfers committed within {}s",
                txs.len(),
                args.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seconds = done_at.duration_since(started).as_secs_f64();
    // Latency of each sample: submission to the arrival of its block at the first node.
    let mut latencies = Vec::new();
    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for (id, sent) in samples {
        let v: serde_json::Value = http
            .get(format!("{}/v1/txs/{id}", urls[0]))
            .send()
            .await?
            .json()
            .await?;
        let Some(height) = v["height"].as_u64() else { continue };
        if let Some(at) = arrivals.lock().unwrap_or_else(|p| p.into_inner()).get(&height) {
            latencies.push(at.saturating_duration_since(sent));
        }
    }
    watcher.abort();
    drop(procs);
    anyhow::ensure!(!latencies.is_empty(), "no latency samples (block events missed)");
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() - 1) * p / 100];
    Ok(Measured {
        rate: txs.len() as f64 / seconds,
        p50: pct(50),
        p99: pct(99),
        seconds,
    })
}

fn write_sequencer(root: &Path, genesis: &Genesis, block_interval_ms: u64) -> Result<()> {
    let (config_path, data, _) = validator_paths(root, 0);
    std::fs::create_dir_all(&data)?;
    let genesis_path = root.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string(genesis)?)?;
    let config = NodeConfig {
        data_dir: data,
        genesis: Some(genesis_path),
        api_listen: "127.0.0.1:0".parse()?,
        block_interval_ms,
        empty_blocks: true,
        reward_archive: None,
        consensus: None,
    };
    std::fs::write(config_path, toml::to_string_pretty(&config)?)?;
    Ok(())
}

async fn wait_for_height(http: &reqwest::Client, url: &str, height: u64, within: Duration) -> Result<u64> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http.get(format!("{url}/v1/status")).send().await {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                let h = v["height"].as_u64().unwrap_or(0);
                if h >= height {
                    return Ok(h);
                }
            }
        }
        if Instant::now() > deadline {
            bail!("{url} did not reach height {height}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn committed_txs(http: &reqwest::Client, url: &str) -> Result<u64> {
    let text = http.get(format!("{url}/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("trellis_txs_committed_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("no trellis_txs_committed_total in /metrics")
}

async fn watch_blocks(http: reqwest::Client, url: String, arrivals: Arc<Mutex<BTreeMap<u64, Instant>>>) -> Result<()> {
    let mut response = http.get(format!("{url}/v1/events/blocks")).send().await?;
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await? {
        let now = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Some(data) = line.trim().strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                    if let Some(h) = v["height"].as_u64() {
                        arrivals.lock().unwrap_or_else(|p| p.into_inner()).insert(h, now);
                    }
                }
            }
        }
    }
    Ok(())
}
