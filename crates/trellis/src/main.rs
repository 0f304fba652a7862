//! `trellis`: the command line of the Trellis DePIN network.

mod agent;
mod agent_compute;
mod agent_sensor;
mod agent_storage;
mod air_hub;
mod bench;
mod bench_bft;
mod bench_compute;
mod bench_coverage;
mod bench_ingest;
mod bench_rewards;
mod bench_sensor;
mod bench_sim;
mod bench_storage;
mod bench_storage_net;
mod bft_node;
mod blocks;
mod chain_cmd;
mod client;
mod compute;
mod config;
mod coverage_source;
mod data_cmd;
mod devnet;
mod devnet_compute;
mod devnet_sensors;
mod devnet_storage;
mod hotspots;
mod ingest_cmd;
mod keystore;
mod oracle;
mod rewards_cmd;
mod run;
mod semtech;
mod sensor_source;
mod sim_cmd;
mod storage_audit;
mod storage_repair;
mod store;
mod testnet;
mod wallet;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Trellis: one ledger and one reward engine for wireless coverage, storage, compute, sensor and
/// energy networks.
///
/// Start here: `trellis devnet` runs a whole local network; `trellis --help` lists the rest.
#[derive(Debug, Parser)]
#[command(name = "trellis", version, propagate_version = true)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "TRELLIS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local network: genesis, node, maker, devices of every class.
    ///
    /// Example: trellis devnet --reset
    Devnet(devnet::DevnetArgs),
    /// Run a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Run a local multi-validator network: keys, genesis and one `trellis node` process per
    /// validator, all on loopback.
    ///
    /// Example: trellis testnet --validators 4 --dir .trellis-testnet
    Testnet(testnet::TestnetArgs),
    /// Software operators run next to their hardware.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Device ingest as its own service, in front of any node.
    #[command(subcommand)]
    Ingest(ingest_cmd::IngestCommand),
    /// The simulated radio medium hotspot agents share (UDP on loopback).
    ///
    /// Example: trellis air --listen 127.0.0.1:8647
    Air(air_hub::AirArgs),
    /// Keys and signed transactions.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Store files on the storage network and get them back (encrypted and erasure-coded on
    /// this machine).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Buy computation from providers you do not trust: render a scene in tiles, run a
    /// network's inference, or any job module; pay only for results that verify.
    #[command(subcommand)]
    Compute(compute::ComputeCommand),
    /// Sensor data: buy an allowance with credits, see what each epoch offers, fetch readings
    /// with their quality-of-data verdicts.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Inspect a chain.
    #[command(subcommand)]
    Chain(chain_cmd::ChainCommand),
    /// Rewards: audit the oracles.
    #[command(subcommand)]
    Rewards(rewards_cmd::RewardsCommand),
    /// Projections and simulations.
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// Benchmarks that print our rate next to the raw hardware limit.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Run a hotspot: beacon with fresh block entropy, witness what the radio hears, send
    /// heartbeats; every report signed with the device key and sent to ingest.
    ///
    /// Example: trellis agent hotspot --key-file hotspot.seed --air 127.0.0.1:8647
    Hotspot(agent::HotspotArgs),
    /// Run a storage provider: serve piece uploads, verified downloads and audit challenges for
    /// the storage device onboarded on chain, within the capacity given.
    ///
    /// Example: trellis agent storage --key-file provider.seed --dir /srv/trellis --capacity 50GiB
    Storage(agent_storage::StorageArgs),
    /// Offer this machine's CPU to the compute market: run assigned jobs in the deterministic
    /// executor, commit results, replay the jobs the chain draws it to verify.
    ///
    /// Example: trellis agent compute --key-file gpu.seed --dir /srv/trellis-compute --slots 4 --price 10
    Compute(agent_compute::ComputeArgs),
    /// Run a weather station or energy meter: take readings from the device (simulated, a CSV
    /// file, stdin, or HTTP from the device), sign each with the device key and send it to ingest.
    ///
    /// Line format (decimal units; empty timestamp = now; lat,lng = GPS fix, optional):
    ///   weather: [timestamp_ms],temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm[,lat,lng]
    ///   energy:  [timestamp_ms],produced_kwh_total,consumed_kwh_total[,lat,lng]
    ///
    /// Example: trellis agent sensor --key-file station.seed --source stdin < /dev/ttyUSB0
    #[command(verbatim_doc_comment)]
    Sensor(agent_sensor::SensorArgs),
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run a node from a config file (TOML; TRELLIS_* environment variables override it).
    ///
    /// Without a `[consensus]` section the node is a single-node sequencer; with one it is a
    /// validator of a BFT network (see README.md, "Running validators").
    ///
    /// Example: trellis node run --config node.toml
    Run {
        /// Config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// A loaded single-node config (internal).
    #[command(skip)]
    Start(config::NodeConfig),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Signed transfers committed per second vs raw ed25519 verification.
    ///
    /// Example: cargo run --release -p trellis -- bench ledger
    Ledger(bench::BenchArgs),
    /// One epoch's reward computation for a million devices vs raw blake3 hashing.
    ///
    /// Example: cargo run --release -p trellis -- bench rewards --devices 1000000
    Rewards(bench_rewards::RewardsBenchArgs),
    /// Device reports accepted per second by ingest over HTTP vs raw ed25519 batch verification.
    ///
    /// Example: cargo run --release -p trellis -- bench ingest --reports 20000
    Ingest(bench_ingest::IngestBenchArgs),
    /// One epoch of proof-of-coverage verification for many hotspots vs raw H3 grid distance.
    ///
    /// Example: cargo run --release -p trellis -- bench coverage --hotspots 100000
    Coverage(bench_coverage::CoverageBenchArgs),
    /// One epoch of sensor quality-of-data scoring for many stations vs raw ed25519 verification.
    ///
    /// Example: cargo run --release -p trellis -- bench sensor --stations 10000
    Sensor(bench_sensor::SensorBenchArgs),
    /// Simulated device-epochs per second of `sim network` at 1k to 100k devices vs raw ed25519
    /// verification.
    ///
    /// Example: cargo run --release -p trellis -- bench sim --sizes 1000,10000,100000
    Sim(bench_sim::SimBenchArgs),
    /// Finalized transfers per second and finality latency of 1, 4 and 7 validator processes on
    /// loopback, beside the single-node sequencer and raw ed25519 batch verification.
    ///
    /// Example: cargo run --release -p trellis -- bench bft --validators 1,4,7
    Bft(bench_bft::BftBenchArgs),
    /// Storage client encode/decode throughput vs raw Reed-Solomon, AEAD and blake3 rates.
    ///
    /// Example: cargo run --release -p trellis -- bench storage --mib 256
    Storage(bench_storage::StorageBenchArgs),
    /// The render kernel in the WASM runtime vs the same Rust natively; jobs through agent
    /// processes on loopback; verification cost as a share of provider work.
    ///
    /// Example: cargo run --release -p trellis -- bench compute
    Compute(bench_compute::ComputeBenchArgs),
}

fn init_logs(format: &str) {
    let filter = EnvFilter::try_from_env("TRELLIS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    testnet::exit_with_parent();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, no backtrace: these are user-facing errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // A validator and a testnet supervisor build their own runtimes.
    let command = match cli.command {
        Command::Node(NodeCommand::Run { config }) => {
            let config = config::NodeConfig::load(&config)?;
            if config.consensus.is_some() {
                return bft_node::run(config);
            }
            Command::Node(NodeCommand::Start(config))
        }
        Command::Testnet(args) => return testnet::run(args),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match command {
            Command::Devnet(args) => devnet::run(args).await,
            Command::Node(NodeCommand::Start(config)) => run::start(&config).await?.run_until_signal().await,
            Command::Node(NodeCommand::Run { .. }) | Command::Testnet(_) => unreachable!("dispatched above"),
            Command::Wallet(command) => wallet::run(command).await,
            Command::Store(command) => store::run(command).await,
            Command::Compute(command) => compute::run(command).await,
            Command::Data(command) => data_cmd::run(command).await,
            Command::Chain(command) => chain_cmd::run(command).await,
            Command::Sim(command) => sim_cmd::run(command),
            Command::Rewards(command) => rewards_cmd::run(command).await,
            Command::Bench(BenchCommand::Ledger(args)) => tokio::task::spawn_blocking(move || bench::run(args)).await?,
            Command::Bench(BenchCommand::Rewards(args)) => {
                tokio::task::spawn_blocking(move || bench_rewards::run(args)).await?
            }
            Command::Bench(BenchCommand::Ingest(args)) => bench_ingest::run(args).await,
            Command::Bench(BenchCommand::Bft(args)) => bench_bft::run(args).await,
            Command::Bench(BenchCommand::Compute(args)) => bench_compute::run(args).await,
            Command::Bench(BenchCommand::Storage(args)) => {
                tokio::task::spawn_blocking(move || bench_storage::run(args)).await?
            }
            Command::Agent(AgentCommand::Hotspot(args)) => agent::run(args).await,
            Command::Agent(AgentCommand::Storage(args)) => agent_storage::run(args).await,
            Command::Agent(AgentCommand::Compute(args)) => agent_compute::run(args).await,
            Command::Agent(AgentCommand::Sensor(args)) => agent_sensor::run(args).await,
            Command::Air(args) => air_hub::run(args).await,
            Command::Ingest(command) => ingest_cmd::run(command).await,
            Command::Bench(BenchCommand::Coverage(args)) => {
                tokio::task::spawn_blocking(move || bench_coverage::run(args)).await?
            }
            Command::Bench(BenchCommand::Sensor(args)) => {
                tokio::task::spawn_blocking(move || bench_sensor::run(args)).await?
            }
            Command::Bench(BenchCommand::Sim(args)) => {
                tokio::task::spawn_blocking(move || bench_sim::run_bench(args)).await?
            }
        }
    })
}
