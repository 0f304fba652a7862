//! `trellis compute`: buy computation from providers you do not trust, and pay only for
//! results that verify.
//!
//! `render` splits a frame into tiles and renders each on the market with the reference path
//! tracer, checks every tile's result against the commitment the chain settled, and writes the
//! PNG. `infer` trains a small neural network here, runs its inference on the market and checks
//! the logits are bit-identical to the local ones. `run` runs any job module.

mod infer;
mod job;
mod render;
mod shares;

pub(crate) use job::{run_job, JobResult, JobTerms, Market};
pub(crate) use shares::{archived_units, compute_shares};

use crate::{
    client::{Client, Signer},
    wallet::{unlock, ApiArg, KeystoreArg},
};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::{path::PathBuf, sync::Arc, time::Duration};
use trellis_compute::{chain::NodeApi, transfer, Outcome};
use trellis_primitives::Credits;

/// Compute commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ComputeCommand {
    /// Render a scene with the reference path tracer, one tile per job; writes a PNG.
    ///
    /// Example: trellis compute render scene.txt --out frame.png --tiles 16 --keystore me.json
    Render(render::RenderArgs),
    /// Train a small network here, run its inference on the market, compare with local logits.
    ///
    /// Example: trellis compute infer --samples 400 --keystore me.json
    Infer(infer::InferArgs),
    /// Run any job module's entry point on an input file; writes the output.
    ///
    /// Example: trellis compute run --module job.wasm --entry main --input in.bin --out out.bin --keystore me.json
    Run(RunArgs),
}

/// How jobs are bought: options every compute command takes.
#[derive(Debug, Args)]
pub(crate) struct MarketArgs {
    #[command(flatten)]
    pub(crate) keystore: KeystoreArg,
    #[command(flatten)]
    pub(crate) api: ApiArg,
    /// The most to pay a provider, credits per 10^9 fuel.
    #[arg(long, default_value_t = 50)]
    pub(crate) max_price: u64,
    /// Lowest capability score (benchmark Mfuel/s) a provider must have.
    #[arg(long, default_value_t = 1)]
    pub(crate) min_score: u64,
    /// Share of jobs a verifier replays, ppm (at least the chain's minimum).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) sample_ppm: u32,
    /// Providers that run each job independently (1 to 3).
    #[arg(long, default_value_t = 1)]
    pub(crate) replicas: u8,
    /// Blocks a provider has to commit before its run is moved elsewhere.
    #[arg(long, default_value_t = 20)]
    pub(crate) deadline_blocks: u32,
    /// Longest to wait for all results, seconds.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout_secs: u64,
    /// Hide progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl MarketArgs {
    pub(crate) async fn market(&self) -> Result<Market> {
        let key = unlock(&self.keystore)?;
        // Jobs are followed block by block (the node's event stream), not on a poll period.
        let client = Client::new(&self.api.api)?.follow_blocks();
        Ok(Market {
            signer: Signer::new(client, key).await?,
            node: NodeApi::new(&self.api.api)?,
            http: transfer::http(),
        })
    }

    pub(crate) fn terms(&self, entry: &str, fuel: u64, memory_bytes: u64) -> JobTerms {
        JobTerms {
            entry: entry.to_string(),
            fuel,
            memory_bytes,
            max_price_per_gfuel: Credits(self.max_price),
            min_score: self.min_score,
            sample_ppm: self.sample_ppm,
            replicas: self.replicas,
            deadline_blocks: self.deadline_blocks,
            timeout: Duration::from_secs(self.timeout_secs),
        }
    }
}

/// Arguments of `trellis compute run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The job module (WebAssembly, importing nothing; see the job ABI in ARCHITECTURE.md).
    #[arg(long)]
    module: PathBuf,
    /// The exported entry point, `(i32, i32) -> i64`.
    #[arg(long)]
    entry: String,
    /// The input file.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the output.
    #[arg(long)]
    out: PathBuf,
    /// Fuel budget (WebAssembly operators; ~10^10 per second of one core).
    #[arg(long, default_value_t = 10_000_000_000)]
    fuel: u64,
    /// Memory cap, MiB.
    #[arg(long, default_value_t = 64)]
    memory_mib: u64,
    #[command(flatten)]
    market: MarketArgs,
}

/// Runs a compute command.
pub(crate) async fn run(command: ComputeCommand) -> Result<()> {
    match command {
        ComputeCommand::Render(args) => render::run(args).await,
        ComputeCommand::Infer(args) => infer::run(args).await,
        ComputeCommand::Run(args) => run_module(args).await,
    }
}

/// Checks a module and input here first, so mistakes cost nothing on chain.
pub(crate) fn check_locally(module: &[u8], entry: &str, input_len: usize) -> Result<()> {
    let exec = trellis_compute::Executor::new();
    let loaded = exec.load(module).context("the module is not a job module")?;
    if !loaded.has_entry(entry) {
        anyhow::bail!(
            "the module has no entry `{entry}(i32, i32) -> i64`; it exports {:?}",
            loaded.entries()
        );
    }
    if input_len > trellis_compute::limits::MAX_INPUT_BYTES {
        anyhow::bail!(
            "the input is {input_len} bytes; jobs take at most {}",
            trellis_compute::limits::MAX_INPUT_BYTES
        );
    }
    Ok(())
}

async fn run_module(args: RunArgs) -> Result<()> {
    let module = std::fs::read(&args.module).with_context(|| format!("cannot read {}", args.module.display()))?;
    let input = std::fs::read(&args.input).with_context(|| format!("cannot read {}", args.input.display()))?;
    check_locally(&module, &args.entry, input.len())?;
    let market = args.market.market().await?;
    let terms = args.market.terms(&args.entry, args.fuel, args.memory_mib << 20);
    let result = run_job(&market, Arc::new(module), Arc::new(input), &terms, b"run").await?;
    report(&result);
    match result.record.outcome {
        Outcome::Output { bytes } => {
            std::fs::write(&args.out, &bytes).with_context(|| format!("cannot write {}", args.out.display()))?;
            println!("wrote {} bytes to {}", bytes.len(), args.out.display());
            Ok(())
        }
        Outcome::Refused { message } => anyhow::bail!("the module refused the input: {message}"),
        Outcome::Trapped { trap } => anyhow::bail!("the job trapped: {}", trap.as_str()),
    }
}

pub(crate) fn report(r: &JobResult) {
    println!(
        "job {}: {} fuel, {} credits paid, {}, posted {} time(s)",
        r.id,
        r.record.fuel_used,
        r.paid.0,
        if r.verified {
            "verified by replay"
        } else {
            "not drawn for replay"
        },
        r.posts
    );
}
