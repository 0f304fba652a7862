//! `trellis devnet`: a whole local network in one command.
//!
//! Creates (once) a genesis with demo accounts and committees, starts a node, and through real
//! signed transactions registers a maker by admin multisig, buys credits, onboards devices of
//! every class with maker attestation, asserts their locations and stakes collateral on the
//! storage and compute providers. Later issues plug their simulated devices in here.

use crate::{
    air_hub::AirHub,
    config::NodeConfig,
    coverage_source::CoverageSource,
    hotspots::{cheaters, onboard_owned_hotspots, AgentEnv, Cheat, OwnedHotspot},
    keystore::Keystore,
    oracle::RewardOracle,
    run::{self, RunningNode},
};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::sync::Arc;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use trellis_chain::{Node, TxStatus};
use trellis_coverage::{redundancy::RedundancyConfig, CoverageConfig};
use trellis_ingest::{DeviceDirectory, IngestConfig};
use trellis_ledger::{
    Antenna, Capability, Committee, DeviceClass, Genesis, GenesisAccount, GovAction, Params, RewardParams, StateRead,
    Transaction, TxBody, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Hash, Keypair, Location};
use trellis_rewards::{EmissionSchedule, PoolSplit};
use trellis_sim::air::AirModel;

/// The chain's device registry, as ingest sees it.
struct NodeDirectory(Node);

impl DeviceDirectory for NodeDirectory {
    fn is_registered<'a>(&'a self, device: &'a DeviceAddress) -> trellis_ingest::Lookup<'a> {
        let known = matches!(self.0.with_state(|s, _| s.device(device)), Ok(Some(_)));
        Box::pin(async move { known })
    }
}

/// Passphrase of the demo key files. They hold play money on a local chain.
pub(crate) const DEVNET_PASSPHRASE: &str = "devnet";
/// How long the setup may take before devnet gives up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of `trellis devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Directory for the chain, genesis, config and demo key files.
    #[arg(long, default_value = ".devnet")]
    pub(crate) dir: PathBuf,
    /// API listen address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8645")]
    pub(crate) api_listen: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 500)]
    pub(crate) block_interval_ms: u64,
    /// Device ingest listen address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8646")]
    pub(crate) ingest_listen: SocketAddr,
    /// Simulated air (UDP) listen address for the hotspot agents (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8647")]
    pub(crate) air_listen: SocketAddr,
    /// Delete the directory first and start a fresh chain.
    #[arg(long)]
    pub(crate) reset: bool,
}

/// The deterministic demo key called `name`. Anyone can recompute these: devnet only.
pub(crate) fn demo_key(name: &str) -> Keypair {
    Keypair::from_seed(demo_seed(name))
}

/// The seed of [`demo_key`] `name`.
pub(crate) fn demo_seed(name: &str) -> [u8; 32] {
    blake3::derive_key("trellis devnet demo key 2026", name.as_bytes())
}

pub(crate) fn account(name: &str) -> AccountAddress {
    demo_key(name).public().into()
}

fn committee(prefix: &str, threshold: u32) -> Committee {
    let mut members: Vec<_> = (1..=3).map(|i| demo_key(&format!("{prefix}-{i}")).public()).collect();
    members.sort();
    Committee { threshold, members }
}

/// The devnet genesis.
pub(crate) fn genesis(timestamp_ms: u64) -> Genesis {
    let trl = |n: u64| Amount::from_trl(n).unwrap_or(Amount::ZERO);
    Genesis {
        chain_id: "trellis-devnet".into(),
        timestamp_ms,
        params: Params {
            epoch_len_blocks: 120,
            unbonding_delay_blocks: 20,
            onboard_fee: trl(1),
            // Replays run as long as the job: 100 blocks (50 s at the default interval) leaves
            // a verifier time to fetch, replay and submit a minute-long tile.
            compute_verify_window_blocks: 100,
            ..Params::default()
        },
        admins: committee("admin", 2),
        oracles: committee("oracle", 2),
        verifiers: vec![demo_key("verifier-1").public()],
        makers: Vec::new(),
        accounts: vec![
            GenesisAccount {
                address: account("faucet"),
                balance: trl(1_000_000),
            },
            GenesisAccount {
                address: account("operator"),
                balance: trl(10_000),
            },
            GenesisAccount {
                address: account("consumer"),
                balance: trl(1_000),
            },
            GenesisAccount {
                address: account("admin-1"),
                balance: trl(100),
            },
            GenesisAccount {
                address: account("oracle-1"),
                balance: trl(100),
            },
            GenesisAccount {
                address: account("mallory"),
                balance: trl(1_000),
            },
        ],
        initial_price_micro_usd_per_trl: Some(1_500_000),
        rewards: Some(reward_params()),
    }
}

/// Runs the devnet until Ctrl-C.
pub(crate) async fn run(args: DevnetArgs) -> Result<()> {
    if args.reset && args.dir.exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("cannot remove {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let genesis_path = args.dir.join("genesis.toml");
    if !genesis_path.exists() {
        let text = toml::to_string_pretty(&genesis(trellis_chain::node::wall_clock_ms()))?;
        std::fs::write(&genesis_path, text)?;
    }
    write_wallets(&args.dir.join("wallets"))?;
    let config = NodeConfig {
        data_dir: args.dir.join("node"),
        genesis: Some(genesis_path),
        api_listen: args.api_listen,
        block_interval_ms: args.block_interval_ms,
        empty_blocks: true,
        reward_archive: Some(args.dir.join("node").join("rewards")),
        consensus: None,
    };
    std::fs::write(args.dir.join("node.toml"), toml::to_string_pretty(&config)?)?;
    config.validate()?;
    let running: RunningNode = run::start(&config).await?;
    let node = running.node.clone();
    let sensor_interval_s = crate::devnet_sensors::interval_s(args.block_interval_ms);
    let devices = tokio::task::spawn_blocking(move || setup(&node, sensor_interval_s))
        .await
        .context("devnet setup task failed")??;
    // Ingest, in process, in front of the same chain; simulated hotspots report through it.
    let roll_ms = 10 * args.block_interval_ms;
    let mut ingest_config = IngestConfig::new(
        args.ingest_listen,
        args.dir.join("ingest").join("wal"),
        args.dir.join("ingest").join("archive"),
    );
    ingest_config.segment_roll_ms = roll_ms;
    ingest_config.rate_burst = 100;
    ingest_config.rate_per_minute = 6_000;
    let ingest = trellis_ingest::start(ingest_config, Arc::new(NodeDirectory(running.node.clone())))
        .await
        .map_err(anyhow::Error::msg)?;
    let ingest_url = format!("http://{}/v1/reports", ingest.addr);
    // The simulated air, in process, and one `trellis agent hotspot` process per hotspot.
    let air = serve_air(&running, args.air_listen, crate::hotspots::devnet_air()).await?;
    // The colluders' off-band channel: everyone hears everyone, at an RSSI plausible for their
    // asserted distance (path-loss exponent 2.5, little fading).
    let collusion = AirModel {
        exponent: 2.5,
        shadowing_sigma_db: 1.0,
        sensitivity_dbm: -200.0,
    };
    let collusion_air = serve_air(&running, SocketAddr::from(([127, 0, 0, 1], 0)), collusion).await?;
    let url = format!("http://{}", running.api_addr);
    let env = AgentEnv {
        collusion_air,
        dir: &args.dir,
        node_url: &url,
        ingest_url: &format!("http://{}", ingest.addr),
        air,
        beacon_interval_ms: crate::hotspots::BEACON_EVERY_BLOCKS * args.block_interval_ms,
    };
    let agents = crate::hotspots::start_agents(&env)?;
    // Storage providers, one `trellis agent storage` process each, with their URLs on chain.
    let providers = {
        let (dir, node, url) = (args.dir.clone(), running.node.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            crate::devnet_storage::start_providers(&dir, &node, &url, &demo_key("operator"))
        })
        .await
        .context("storage provider start failed")??
    };
    // Compute providers, one `trellis agent compute` process per compute device.
    let computers = {
        let (dir, node, url) = (args.dir.clone(), running.node.clone(), url.clone());
        let names: Vec<String> = (0..crate::devnet_compute::COMPUTE_PROVIDERS)
            .map(|i| device_key_name(DeviceClass::Compute, i))
            .collect();
        tokio::task::spawn_blocking(move || {
            crate::devnet_compute::start_providers(&dir, &node, &url, &demo_key("operator"), &names)
        })
        .await
        .context("compute provider start failed")??
    };
    // Weather stations and energy meters, one `trellis agent sensor` process each.
    let sensors = crate::devnet_sensors::start_agents(&args.dir, &url, &format!("http://{}", ingest.addr))?;
    let epoch_ms = genesis_epoch_len() * args.block_interval_ms;
    let audit = trellis_storage::audit::AuditConfig {
        // Devnet epochs are a minute: 8 chunks an epoch is far above the 66 a day needed.
        chunks_per_piece: 8,
        deadline_ms: (epoch_ms / 2).min(5_000),
        ..trellis_storage::audit::AuditConfig::default()
    };
    audit.validate(epoch_ms).map_err(anyhow::Error::msg)?;
    let coverage_config = CoverageConfig {
        beacon_interval_ms: crate::hotspots::VERIFIED_BEACON_INTERVAL_BLOCKS * args.block_interval_ms,
        ..CoverageConfig::default()
    };
    let oracle = RewardOracle {
        node: running.node.clone(),
        signer: demo_key("oracle-1"),
        cosigners: vec![demo_key("oracle-2")],
        archive: args.dir.join("node").join("rewards"),
        reports: Some(crate::coverage_source::ReportArchive::Local(
            args.dir.join("ingest").join("archive"),
        )),
        coverage: Some(CoverageSource {
            node: running.node.clone(),
            config: coverage_config,
            redundancy: RedundancyConfig::default(),
            verdicts_dir: args.dir.join("node").join("rewards"),
        }),
        storage: Some(crate::storage_audit::StorageAuditor {
            node: running.node.clone(),
            payer: demo_key("oracle-1"),
            verifier: std::sync::Arc::new(demo_key("verifier-1")),
            config: audit,
            dir: args.dir.join("node").join("rewards"),
        }),
        sensor: Some(crate::sensor_source::SensorSource {
            node: running.node.clone(),
            config: crate::devnet_sensors::qod_config(epoch_ms, sensor_interval_s),
            dir: args.dir.join("node").join("rewards"),
        }),
        settle_delay_ms: 2 * roll_ms,
    };
    let oracle_shutdown = running.shutdown_watch();
    tokio::spawn(async move {
        if let Err(e) = oracle.run(oracle_shutdown).await {
            tracing::error!(error = %format!("{e:#}"), "reward oracle stopped");
        }
    });
    println!("Trellis devnet is running.");
    println!("  API:        {url}   (try {url}/v1/status, {url}/openapi.json)");
    println!("  Explorer:   {url}/   (map, devices and their earnings, blocks, epochs, economy)");
    println!(
        "  chain id:   trellis-devnet, block every {} ms",
        args.block_interval_ms
    );
    println!(
        "  wallets:    {}/wallets/{{faucet,operator,consumer}}.json  passphrase `{DEVNET_PASSPHRASE}`",
        args.dir.display()
    );
    println!(
        "  ingest:     {ingest_url}   ({} honest and {} cheating hotspot agents report through it)",
        crate::hotspots::HONEST_HOTSPOTS,
        cheaters().len()
    );
    println!(
        "  air:        {air} (simulated radio; agent logs and seeds in {}/agents)",
        args.dir.display()
    );
    for (name, _, _) in cheaters() {
        println!(
            "              {name:<24} {}",
            DeviceAddress::from(demo_key(name).public())
        );
    }
    println!(
        "  providers:  {} storage provider agents (logs in {}/agents), audited every epoch; try\n              \
         TRELLIS_PASSPHRASE={DEVNET_PASSPHRASE} trellis store put FILE --keystore {}/wallets/consumer.json --api {url}",
        providers.len(),
        args.dir.display(),
        args.dir.display()
    );
    println!(
        "  compute:    {} compute provider agents (asks {}..{} credits per 10^9 fuel); try\n              \
         TRELLIS_PASSPHRASE={DEVNET_PASSPHRASE} trellis compute render demo --out frame.png --keystore {}/wallets/consumer.json --api {url}",
        computers.len(),
        crate::devnet_compute::provider_price(0),
        crate::devnet_compute::provider_price(crate::devnet_compute::COMPUTE_PROVIDERS - 1),
        args.dir.display()
    );
    println!(
        "  sensors:    {} weather stations and {} energy meters reporting every {} s (logs in {}/agents), and\n              \
         Mallory's stuck station, copier, fabricator and inflating meter, scored for quality of data",
        crate::devnet_sensors::WEATHER_STATIONS,
        crate::devnet_sensors::ENERGY_METERS,
        sensor_interval_s,
        args.dir.display()
    );
    for (name, _, _, _) in crate::devnet_sensors::cheaters() {
        println!(
            "              {name:<24} {}",
            DeviceAddress::from(demo_key(name).public())
        );
    }
    println!(
        "  rewards:    settled each epoch ({} blocks) by the oracle; archive {}/node/rewards",
        genesis_epoch_len(),
        args.dir.display()
    );
    let per_class: Vec<String> = DeviceClass::ALL
        .into_iter()
        .map(|c| format!("{} {}", crate::devnet_storage::count_for(c), c.name()))
        .collect();
    println!(
        "  devices:    {} honest onboarded ({}), e.g.",
        devices.len(),
        per_class.join(", ")
    );
    let mut shown = std::collections::BTreeSet::new();
    for (class, device) in &devices {
        if shown.insert(class.name()) {
            println!("              {:<8} {device}", class.name());
        }
    }
    println!("  try:        TRELLIS_PASSPHRASE={DEVNET_PASSPHRASE} trellis wallet show --keystore {}/wallets/operator.json --api {url}", args.dir.display());
    println!("Ctrl-C stops it; running it again resumes the same chain (--reset starts over).");
    let result = running.run_until_signal().await;
    drop(agents);
    drop(providers);
    drop(computers);
    drop(sensors);
    // Rolls the open report segment into the archive.
    if let Err(e) = ingest.shutdown().await {
        tracing::warn!(error = %e, "ingest did not shut down cleanly");
    }
    result
}

/// Runs a simulated air on `listen` until the node shuts down; its address.
async fn serve_air(running: &RunningNode, listen: SocketAddr, model: AirModel) -> Result<SocketAddr> {
    let hub = AirHub::bind(listen, model).await?;
    let addr = hub.local_addr()?;
    let mut shutdown = running.shutdown_watch();
    tokio::spawn(async move {
        let stop = async move {
            let _stopped_or_gone = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = hub.serve(stop).await {
            tracing::error!(error = %format!("{e:#}"), %addr, "simulated air stopped");
        }
    });
    Ok(addr)
}

/// The devnet's reward parameters: the engine's defaults (10,000 TRL per epoch, halving every
/// 730 epochs, 30/20/20/10/10/10 split), with burns re-minted up to 1,000 TRL per epoch; treasury
/// and operations are demo accounts.
pub(crate) fn reward_params() -> RewardParams {
    let schedule = EmissionSchedule::default();
    RewardParams {
        initial_epoch_emission: schedule.initial_epoch_emission,
        halving_period_epochs: schedule.halving_period_epochs,
        supply_cap: None,
        net_emission_cap_per_epoch: Amount::from_trl(1_000),
        split: PoolSplit::default(),
        treasury: account("treasury"),
        operations: account("operations"),
    }
}

fn genesis_epoch_len() -> u64 {
    genesis(0).params.epoch_len_blocks
}

fn write_wallets(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in ["faucet", "operator", "consumer"] {
        let path = dir.join(format!("{name}.json"));
        if !path.exists() {
            Keystore::seal(&demo_key(name), DEVNET_PASSPHRASE)?.write_new(&path)?;
        }
    }
    Ok(())
}

fn device_key(class: DeviceClass, i: u32) -> Keypair {
    demo_key(&device_key_name(class, i))
}

pub(crate) fn device_key_name(class: DeviceClass, i: u32) -> String {
    format!("device-{}-{i}", class.name())
}

pub(crate) fn capabilities(class: DeviceClass) -> Vec<Capability> {
    let cap = |name: &str, value: u64| Capability {
        name: name.into(),
        value,
    };
    match class {
        DeviceClass::Hotspot => vec![cap("frequency_khz", 868_100), cap("max_eirp_dbm", 27)],
        DeviceClass::Storage => vec![
            cap("capacity_bytes", 2 << 30),
            cap(
                trellis_storage::EGRESS_PRICE,
                crate::devnet_storage::PROVIDER_EGRESS_PRICE,
            ),
            cap("price_per_gib_epoch", crate::devnet_storage::PROVIDER_PRICE),
        ],
        DeviceClass::Compute => vec![cap("memory_bytes", 8 << 30), cap("slots", 4)],
        DeviceClass::Sensor | DeviceClass::Energy => crate::devnet_sensors::capabilities(class, 300),
    }
}

/// Submits the setup transactions (skipping what is already on chain) and waits for them.
fn setup(node: &Node, sensor_interval_s: u64) -> Result<Vec<(DeviceClass, DeviceAddress)>> {
    let maker = demo_key("maker-1");
    let operator = demo_key("operator");
    let admin = demo_key("admin-1");
    let tx = setup_signer(node, Amount::from_units(10_000))?;
    let mut pending = Vec::new();
    let maker_known = node.with_state(|s, _| {
        trellis_ledger::Store::get(s, &trellis_ledger::state::keys::maker(&maker.public())).is_some()
    });
    if !maker_known {
        let nonce = node.with_state(|s, _| s.account(&account("admin-1")))?.nonce;
        let register = GovAction::RegisterMaker {
            key: maker.public(),
            name: "Trellis Reference Hardware".into(),
        };
        let t = tx(&admin, nonce, TxKind::Governance { action: register }).cosign(&demo_key("admin-2"));
        pending.push(node.submit(t)?);
        wait_all(node, &pending)?;
        pending.clear();
    }
    let mut nonce = node.with_state(|s, _| s.account(&account("operator")))?.nonce;
    let mut next = |kind: TxKind| {
        let t = tx(&operator, nonce, kind);
        nonce += 1;
        t
    };
    let mut devices = Vec::new();
    let mut queued = Vec::new();
    if node.with_state(|s, _| s.account(&account("operator")))?.credits.0 == 0 {
        // Enough for every location assertion below (20 devices at 1,000,000 credits each).
        queued.push(next(TxKind::BurnForCredits {
            amount: Amount::from_trl(200).unwrap_or_default(),
            beneficiary: account("operator"),
        }));
    }
    for (c, class) in DeviceClass::ALL.into_iter().enumerate() {
        for i in 0..crate::devnet_storage::count_for(class) {
            let dk = device_key(class, i);
            let device = DeviceAddress::from(dk.public());
            devices.push((class, device));
            // Hotspots belong to operators of their own (below): the verifier does not count
            // witnesses among one owner's hotspots.
            if class == DeviceClass::Hotspot || node.with_state(|s, _| s.device(&device))?.is_some() {
                continue;
            }
            let onboard = TxKind::OnboardDevice {
                device,
                maker: maker.public(),
                class,
                capabilities: match class {
                    DeviceClass::Sensor | DeviceClass::Energy => {
                        crate::devnet_sensors::capabilities(class, sensor_interval_s)
                    }
                    _ => capabilities(class),
                },
            };
            queued.push(next(onboard).cosign(&maker).cosign(&dk));
            // A small grid around San Francisco, one class per row.
            let location = Location::from_degrees(37.70 + 0.02 * c as f64, -122.50 + 0.03 * f64::from(i))?;
            let antenna = (class == DeviceClass::Hotspot).then_some(Antenna {
                gain_dbi_tenths: 30,
                elevation_m: 10,
            });
            queued.push(next(TxKind::AssertLocation {
                device,
                location,
                antenna,
            }));
            if matches!(class, DeviceClass::Storage | DeviceClass::Compute) {
                queued.push(next(TxKind::Stake {
                    device,
                    amount: Amount::from_trl(100).unwrap_or_default(),
                }));
            }
        }
    }
    crate::hotspots::queued_cheaters(node, &maker, &tx, &mut queued)?;
    crate::devnet_sensors::queued_cheaters(node, &maker, &tx, sensor_interval_s, &mut queued)?;
    // The mempool holds at most 64 nonces ahead per account: submit in windows.
    for chunk in queued.chunks(32) {
        let ids = chunk
            .iter()
            .map(|t| node.submit(t.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        wait_all(node, &ids)?;
    }
    onboard_owned_hotspots(node, &maker, &tx, &operator, &crate::hotspots::honest_hotspots())?;
    let ring: Vec<OwnedHotspot> = cheaters()
        .into_iter()
        .enumerate()
        .filter(|(_, (_, _, cheat))| matches!(cheat, Cheat::Colluder))
        .map(|(i, (name, location, _))| OwnedHotspot {
            owner: format!("ring-owner-{i}"),
            device: name.to_string(),
            location,
        })
        .collect();
    onboard_owned_hotspots(node, &maker, &tx, &demo_key("mallory"), &ring)?;
    Ok(devices)
}

/// Signs a devnet transaction `(key, nonce, kind)` on this chain with a fixed `fee`.
pub(crate) fn setup_signer(node: &Node, fee: Amount) -> Result<impl Fn(&Keypair, u64, TxKind) -> Transaction> {
    let chain_id = node.with_state(|s, _| s.chain_id())?;
    Ok(move |key: &Keypair, nonce: u64, kind: TxKind| {
        Transaction::sign(
            TxBody {
                chain_id: chain_id.clone(),
                signer: key.public().into(),
                nonce,
                fee,
                kind,
            },
            key,
        )
    })
}

pub(crate) fn wait_all(node: &Node, ids: &[Hash]) -> Result<()> {
    let deadline = std::time::Instant::now() + SETUP_TIMEOUT;
    for id in ids {
        loop {
            match node.tx_status(id)? {
                TxStatus::Committed { receipt, .. } => {
                    if let TxOutcome::Failed { code, message } = receipt.outcome {
                        bail!("devnet setup transaction {id} failed ({code}): {message}");
                    }
                    break;
                }
                TxStatus::Rejected { code, message } => {
                    bail!("devnet setup transaction {id} was rejected ({code}): {message}")
                }
                TxStatus::Pending | TxStatus::Unknown if std::time::Instant::now() > deadline => {
                    bail!("devnet setup timed out waiting for {id}")
                }
                TxStatus::Pending | TxStatus::Unknown => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    Ok(())
}
