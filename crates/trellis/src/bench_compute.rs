//! `trellis bench compute`: the render kernel in our deterministic WASM runtime beside the same
//! Rust code compiled natively, in the same run (what the deterministic runtime costs); then real jobs through
//! a node and `trellis agent compute` processes on loopback (what the market adds per job); then
//! what verification costs as a share of the providers' work.

use crate::{
    bench_storage_net::BenchDevices,
    client::{Client, Signer},
    compute::{run_job, JobTerms, Market},
    config::NodeConfig,
    devnet::demo_key,
};
use anyhow::{ensure, Result};
use clap::Args;
use std::{sync::Arc, time::Instant};
use trellis_chain::Node;
use trellis_compute::{
    chain::NodeApi,
    kernels::{GUEST_WASM, INFER_ENTRY, RENDER_ENTRY},
    transfer, Executor, Limits, Outcome,
};
use trellis_kernels::{mlp, render};
use trellis_ledger::{Capability, DeviceClass, Genesis, GenesisAccount, GenesisMaker};
use trellis_primitives::{Amount, Credits, Keypair};

/// Options of `trellis bench compute`.
#[derive(Debug, Args)]
pub(crate) struct ComputeBenchArgs {
    /// Side of the square tile rendered natively and in WASM, pixels.
    #[arg(long, default_value_t = 64)]
    tile: u32,
    /// Samples per pixel of that tile.
    #[arg(long, default_value_t = 16)]
    samples: u32,
    /// Small jobs run through the market on loopback (0 skips that part).
    #[arg(long, default_value_t = 40)]
    jobs: usize,
    /// Compute provider processes for the market part.
    #[arg(long, default_value_t = 3)]
    providers: u32,
    /// Share of jobs replayed, ppm, for the verification-cost figure.
    #[arg(long, default_value_t = 100_000)]
    sample_ppm: u32,
}

const MEMORY: u64 = 64 << 20;

/// Best of three timings of `f`, seconds.
fn best_of_three<T>(mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        let started = Instant::now();
        let out = f()?;
        best = best.min(started.elapsed().as_secs_f64());
        last = Some(out);
    }
    let out = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok((best, out))
}

/// Runs the benchmark and prints Markdown tables.
pub(crate) async fn run(args: ComputeBenchArgs) -> Result<()> {
    ensure!(
        args.tile > 0 && args.samples > 0,
        "--tile and --samples must be positive"
    );
    let tile = render::Tile::grid(args.tile, args.tile, 1, args.samples, 6, 1)[0];
    let input = tile.encode(render::DEMO_SCENE.as_bytes());
    let exec = Executor::new();
    // Validating, rewriting (NaNs) and compiling the module: once per module and provider.
    let (load_s, module) = best_of_three(|| Ok(exec.load(GUEST_WASM)?))?;
    let limits = Limits {
        fuel: trellis_ledger::tx::MAX_JOB_FUEL,
        memory_bytes: MEMORY,
    };
    let (native_s, native) = best_of_three(|| render::run(&input).map_err(anyhow::Error::msg))?;
    let (wasm_s, ex) = best_of_three(|| Ok(exec.run(&module, RENDER_ENTRY, &input, limits)?))?;
    let Outcome::Output { bytes } = &ex.outcome else {
        anyhow::bail!("the WASM render failed: {:?}", ex.outcome)
    };
    ensure!(bytes == &native, "WASM and native pixels differ");

    let data = mlp::spirals(2_000, 3);
    let model = mlp::Model::new(&[2, 64, 64, 2], 3);
    let batch: Vec<Vec<f32>> = data.iter().map(|(x, _)| x.clone()).collect();
    let mlp_input = model.job_input(&batch);
    let (mlp_native_s, mlp_native) = best_of_three(|| mlp::run(&mlp_input).map_err(anyhow::Error::msg))?;
    let (mlp_wasm_s, mlp_ex) = best_of_three(|| Ok(exec.run(&module, INFER_ENTRY, &mlp_input, limits)?))?;
    ensure!(
        mlp_ex.outcome == Outcome::Output { bytes: mlp_native },
        "WASM and native logits differ"
    );

    let pixels = f64::from(args.tile * args.tile);
    println!("| kernel | native | in wasmtime (ours) | ratio (ours / native) | fuel/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| render {0}×{0} tile, {1} spp (Mpixel-samples/s) | {2:.2} | {3:.2} | {4:.2} | {5:.0} M |",
        args.tile,
        args.samples,
        pixels * f64::from(args.samples) / native_s / 1e6,
        pixels * f64::from(args.samples) / wasm_s / 1e6,
        native_s / wasm_s,
        ex.fuel_used as f64 / wasm_s / 1e6
    );
    println!(
        "| MLP 2-64-64-2 inference, {} samples (k samples/s) | {:.1} | {:.1} | {:.2} | {:.0} M |",
        batch.len(),
        batch.len() as f64 / mlp_native_s / 1e3,
        batch.len() as f64 / mlp_wasm_s / 1e3,
        mlp_native_s / mlp_wasm_s,
        mlp_ex.fuel_used as f64 / mlp_wasm_s / 1e6
    );
    println!();
    println!(
        "Loading the {} KiB reference module (validate, canonicalise NaNs, compile): {:.1} ms, once per module.",
        GUEST_WASM.len() / 1024,
        load_s * 1e3
    );
    println!();
    if args.jobs == 0 {
        return Ok(());
    }
    market(&args, wasm_s).await
}

/// Jobs end to end on loopback: node (10 ms blocks), provider processes, the consumer driver.
async fn market(args: &ComputeBenchArgs, tile_wasm_s: f64) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (owner, client) = (demo_key("bench-owner"), demo_key("bench-client"));
    let names: Vec<String> = (0..args.providers).map(|i| format!("bench-compute-{i}")).collect();
    let mut accounts: Vec<GenesisAccount> = [&owner, &client]
        .iter()
        .map(|k| GenesisAccount {
            address: k.public().into(),
            balance: Amount::from_trl(100_000).unwrap_or_default(),
        })
        .collect();
    accounts.extend(names.iter().map(|n| GenesisAccount {
        address: demo_key(n).public().into(),
        balance: Amount::from_trl(100).unwrap_or_default(),
    }));
    let mut genesis = Genesis::single_authority("bench-compute", demo_key("bench-admin").public(), accounts);
    genesis.makers.push(GenesisMaker {
        key: demo_key("bench-maker").public(),
        name: "bench maker".into(),
    });
    genesis.initial_price_micro_usd_per_trl = Some(1_000_000);
    genesis.timestamp_ms = trellis_chain::node::wall_clock_ms();
    let genesis_path = tmp.path().join("genesis.toml");
    std::fs::write(&genesis_path, toml::to_string_pretty(&genesis)?)?;
    let block_ms = 10;
    let config = NodeConfig {
        data_dir: tmp.path().join("node"),
        genesis: Some(genesis_path),
        api_listen: "127.0.0.1:0".parse()?,
        block_interval_ms: block_ms,
        empty_blocks: true,
        reward_archive: None,
        consensus: None,
    };
    let running = crate::run::start(&config).await?;
    let api = format!("http://{}", running.api_addr);
    let node = running.node.clone();
    let n = names.clone();
    tokio::task::spawn_blocking(move || setup(&node, &demo_key("bench-owner"), &demo_key("bench-client"), &n))
        .await??;
    let node = running.node.clone();
    let (dir, url, n) = (tmp.path().to_path_buf(), api.clone(), names.clone());
    let _agents =
        tokio::task::spawn_blocking(move || crate::devnet_compute::start_providers(&dir, &node, &url, &owner, &n))
            .await??;

    let market = Market {
        signer: Signer::new(Client::new(&api)?.follow_blocks(), client).await?,
        node: NodeApi::new(&api)?,
        http: transfer::http(),
    };
    let job_input = Arc::new(render::Tile::grid(8, 8, 1, 1, 2, 1)[0].encode(render::DEMO_SCENE.as_bytes()));
    let module = Arc::new(GUEST_WASM.to_vec());
    let terms = JobTerms {
        entry: RENDER_ENTRY.into(),
        fuel: 100_000_000,
        memory_bytes: MEMORY,
        max_price_per_gfuel: Credits(100),
        min_score: 1,
        sample_ppm: 50_000,
        replicas: 1,
        deadline_blocks: 500,
        timeout: std::time::Duration::from_secs(300),
    };
    // One at a time: the latency a single job sees.
    let started = Instant::now();
    let serial = args.jobs.min(10);
    for i in 0..serial {
        run_job(
            &market,
            module.clone(),
            job_input.clone(),
            &terms,
            format!("serial {i}").as_bytes(),
        )
        .await?;
    }
    let latency_s = started.elapsed().as_secs_f64() / serial as f64;
    // All at once: what the market sustains.
    let started = Instant::now();
    let jobs = (0..args.jobs).map(|i| {
        let (market, module, input, terms) = (&market, module.clone(), job_input.clone(), &terms);
        async move { run_job(market, module, input, terms, format!("parallel {i}").as_bytes()).await }
    });
    for result in futures::future::join_all(jobs).await {
        result?;
    }
    let parallel_s = started.elapsed().as_secs_f64();
    let exec_s = {
        let exec = Executor::new();
        let m = exec.load(GUEST_WASM)?;
        let started = Instant::now();
        exec.run(
            &m,
            RENDER_ENTRY,
            &job_input,
            Limits {
                fuel: terms.fuel,
                memory_bytes: MEMORY,
            },
        )?;
        started.elapsed().as_secs_f64()
    };
    // Replaying means fetching the module and input from the provider, then the same run.
    let providers = market.node.providers().await?;
    let endpoint = providers
        .iter()
        .find_map(|p| p.endpoint.clone())
        .ok_or_else(|| anyhow::anyhow!("no provider endpoint"))?;
    let spec_hash = (
        trellis_compute::blob_hash(&module),
        trellis_compute::blob_hash(&job_input),
    );
    let started = Instant::now();
    for _ in 0..10 {
        transfer::fetch_blob(
            &market.http,
            &endpoint,
            &spec_hash.0,
            trellis_compute::limits::MAX_MODULE_BYTES,
        )
        .await?;
        transfer::fetch_blob(
            &market.http,
            &endpoint,
            &spec_hash.1,
            trellis_compute::limits::MAX_INPUT_BYTES,
        )
        .await?;
    }
    let fetch_s = started.elapsed().as_secs_f64() / 10.0;
    let rate = f64::from(args.sample_ppm) / 1e6;
    println!(
        "| market on loopback ({} providers, {block_ms} ms blocks) | figure |",
        args.providers
    );
    println!("|---|---|");
    println!(
        "| one job, post to verified result (mean of {serial}) | {:.0} ms = {:.1} block intervals |",
        latency_s * 1e3,
        latency_s * 1e3 / block_ms as f64
    );
    println!("| of which executing the job | {:.2} ms |", exec_s * 1e3);
    println!(
        "| {} jobs at once | {:.1} jobs/s |",
        args.jobs,
        args.jobs as f64 / parallel_s
    );
    println!(
        "| replay's extra work: fetch module (64 KiB) + input | {:.2} ms |",
        fetch_s * 1e3
    );
    println!(
        "| verifier work / provider work at {:.0} % sampling, {}×{} tile | {:.3} |",
        rate * 100.0,
        args.tile,
        args.tile,
        rate * (tile_wasm_s + fetch_s) / tile_wasm_s
    );
    Ok(())
}

/// Onboards and stakes the compute devices for `owner`, buys the client credits.
fn setup(node: &Node, owner: &Keypair, client: &Keypair, names: &[String]) -> Result<()> {
    let devices: Vec<Keypair> = names.iter().map(|n| demo_key(n)).collect();
    let slots = Capability {
        name: "slots".into(),
        value: 2,
    };
    let benchmark = BenchDevices {
        owner,
        maker: &demo_key("bench-maker"),
        class: DeviceClass::Compute,
        capabilities: vec![slots],
    };
    benchmark.onboard(node, &devices, client)
}
