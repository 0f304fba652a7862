//! `trellis testnet`: a local multi-validator network. Generates validator keys, a funded
//! faucet account and a genesis, writes one `node.toml` per validator, then runs one
//! `trellis node run` process per validator on loopback until Ctrl-C.

use crate::{
    bft_node::{public_hex, write_validator_key},
    config::{ConsensusConfig, NodeConfig, ValidatorEntry},
    run::{self, API_URL_FILE},
};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
use rand::RngCore as _;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use trellis_ledger::{Genesis, GenesisAccount};
use trellis_primitives::{AccountAddress, Amount, Keypair};
use zeroize::Zeroizing;

/// Chain id of testnets.
pub(crate) const TESTNET_CHAIN_ID: &str = "trellis-testnet";
/// Faucet balance at genesis, in base units (1 billion TRL at 10^6 units each).
const FAUCET_UNITS: u64 = 1_000_000_000_000_000;
/// File (in the testnet directory) holding the faucet's seed in hex.
pub(crate) const FAUCET_SEED_FILE: &str = "faucet.seed";
/// How long validators may take to open their APIs.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Arguments of `trellis testnet`.
#[derive(Debug, Args)]
pub(crate) struct TestnetArgs {
    /// Number of validators (1 to 32). BFT tolerates f faulty validators out of 3f + 1.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory for keys, genesis, configs and data (reused if it holds a testnet).
    #[arg(long, default_value = ".trellis-testnet")]
    dir: PathBuf,
    /// Validator i listens on base+2i (API) and base+2i+1 (p2p). 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    base_port: u16,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 500)]
    block_interval_ms: u64,
    /// Delete the directory first and start a new chain.
    #[arg(long)]
    reset: bool,
    /// Write keys, genesis and configs, then exit (start the nodes yourself with
    /// `trellis node run --config DIR/vN/node.toml`).
    #[arg(long)]
    init_only: bool,
}

/// The config path of validator `i` in `dir`.
pub(crate) fn node_config_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("v{i}")).join("node.toml")
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn random_seed() -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    seed
}

/// Writes `genesis`, one key and one `node.toml` per validator (in `dir/vN/`) for a network of
/// `validators` validators on loopback.
pub(crate) fn write_network(
    dir: &Path,
    validators: usize,
    genesis: &Genesis,
    block_interval_ms: u64,
    base_port: u16,
) -> Result<()> {
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string_pretty(genesis)?)?;

    let mut entries = Vec::new();
    let mut ports = Vec::new();
    for i in 0..validators {
        let seed = random_seed();
        let key = PrivateKey::decode(bytes::Bytes::copy_from_slice(seed.as_ref()))
            .map_err(|e| anyhow::anyhow!("generated key is invalid: {e}"))?;
        let vdir = dir.join(format!("v{i}"));
        std::fs::create_dir_all(&vdir)?;
        write_validator_key(&vdir.join("validator.key"), &seed)?;
        let (api, p2p) = if base_port == 0 {
            (free_port()?, free_port()?)
        } else {
            let base = u32::from(base_port) + 2 * i as u32;
            if base + 1 > u32::from(u16::MAX) {
                bail!("--base-port {} leaves no room for {} validators", base_port, validators);
            }
            (base as u16, base as u16 + 1)
        };
        ports.push((api, p2p));
        entries.push(ValidatorEntry {
            public_key: public_hex(&key.public_key()),
            address: SocketAddr::from(([127, 0, 0, 1], p2p)),
        });
    }
    for (i, (api, p2p)) in ports.into_iter().enumerate() {
        let vdir = dir.join(format!("v{i}"));
        let config = NodeConfig {
            data_dir: vdir.join("data"),
            genesis: Some(genesis_path.clone()),
            api_listen: SocketAddr::from(([127, 0, 0, 1], api)),
            block_interval_ms,
            empty_blocks: true,
            reward_archive: None,
            consensus: Some(ConsensusConfig {
                key_file: vdir.join("validator.key"),
                p2p_listen: SocketAddr::from(([127, 0, 0, 1], p2p)),
                validators: entries.clone(),
                leader_timeout_ms: None,
            }),
        };
        config.validate()?;
        std::fs::write(node_config_path(dir, i), toml::to_string_pretty(&config)?)?;
    }
    Ok(())
}

/// Writes a new testnet into `args.dir`.
fn init(args: &TestnetArgs) -> Result<()> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let faucet_seed = random_seed();
    let faucet = Keypair::from_seed(*faucet_seed);
    write_validator_key(&dir.join(FAUCET_SEED_FILE), &faucet_seed)?;
    let admin_seed = random_seed();
    write_validator_key(&dir.join("admin.seed"), &admin_seed)?;
    let accounts = vec![GenesisAccount {
        address: AccountAddress::from(faucet.public()),
        balance: Amount::from_units(FAUCET_UNITS),
    }];
    let mut genesis = Genesis::single_authority(TESTNET_CHAIN_ID, Keypair::from_seed(*admin_seed).public(), accounts);
    genesis.timestamp_ms = trellis_chain::node::wall_clock_ms();
    genesis.normalise();
    write_network(&dir, args.validators, &genesis, args.block_interval_ms, args.base_port)?;
    println!(
        "testnet of {} validators written to {}\n  faucet: {} (seed in {}; import it with \
         `trellis wallet import --keystore faucet.json --seed-file {}`)",
        args.validators,
        dir.display(),
        AccountAddress::from(faucet.public()),
        dir.join(FAUCET_SEED_FILE).display(),
        dir.join(FAUCET_SEED_FILE).display(),
    );
    Ok(())
}

/// A `trellis` child process (a node, an agent) that is stopped (SIGTERM, then SIGKILL) when
/// dropped.
pub(crate) struct NodeProcess {
    child: Child,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let graceful = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if graceful {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if let Err(e) = child.kill() {
        tracing::warn!(error = %e, "cannot kill node process");
    }
    if let Err(e) = child.wait() {
        tracing::warn!(error = %e, "cannot reap node process");
    }
}

/// Starts `trellis node run --config CONFIG` with its output appended to `log`.
pub(crate) fn spawn_node(config: &Path, data_dir: &Path, log: &Path) -> Result<NodeProcess> {
    std::fs::create_dir_all(data_dir)?;
    // A stale URL from an earlier run must not be mistaken for this run's.
    match std::fs::remove_file(data_dir.join(API_URL_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("cannot remove a stale api.url"),
    }
    let args: Vec<std::ffi::OsString> = vec!["node".into(), "run".into(), "--config".into(), config.into()];
    spawn_trellis(&args, log)
}

/// Set on child processes to the parent's pid: a child exits when its parent is gone.
pub(crate) const EXIT_WITH_PARENT_ENV: &str = "TRELLIS_EXIT_WITH_PARENT";

/// Exits this process once the parent named by [`EXIT_WITH_PARENT_ENV`] is gone (checked twice
/// a second on a background thread). Exiting abruptly is safe: nodes are crash-consistent.
pub(crate) fn exit_with_parent() {
    #[cfg(unix)]
    {
        let Some(parent) = std::env::var(EXIT_WITH_PARENT_ENV)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        else {
            return;
        };
        std::thread::spawn(move || loop {
            if std::os::unix::process::parent_id() != parent {
                eprintln!("parent process {parent} is gone; exiting");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(500));
        });
    }
}

/// Starts this executable with `args`, its output appended to `log`; stopped when dropped.
pub(crate) fn spawn_trellis(args: &[std::ffi::OsString], log: &Path) -> Result<NodeProcess> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let exe = std::env::current_exe().context("cannot find the trellis executable")?;
    let child = Command::new(exe)
        .args(args)
        // If this process dies without stopping its children (SIGKILL), they follow it.
        .env(EXIT_WITH_PARENT_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start `trellis {}`",
                args.first().map(|a| a.to_string_lossy()).unwrap_or_default()
            )
        })?;
    Ok(NodeProcess { child })
}

impl NodeProcess {
    /// Waits until the node writes its API URL into `data_dir`.
    pub(crate) fn wait_for_url(&mut self, data_dir: &Path, log: &Path) -> Result<String> {
        self.wait_for_file(&data_dir.join(API_URL_FILE), log)
    }

    /// Waits until the process writes `url_file` (its URL, once listening).
    pub(crate) fn wait_for_file(&mut self, url_file: &Path, log: &Path) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Ok(url) = std::fs::read_to_string(url_file) {
                return Ok(url);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("process exited ({status}) during start; see {}", log.display());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "process did not start listening within {START_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Paths of validator `i` in `dir`: config, data directory, log.
pub(crate) fn validator_paths(dir: &Path, i: usize) -> (PathBuf, PathBuf, PathBuf) {
    let vdir = dir.join(format!("v{i}"));
    (vdir.join("node.toml"), vdir.join("data"), vdir.join("node.log"))
}

fn count_validators(dir: &Path) -> usize {
    (0..).take_while(|i| node_config_path(dir, *i).exists()).count()
}

/// Runs `trellis testnet`.
pub(crate) fn run(args: TestnetArgs) -> Result<()> {
    if !(1..=32).contains(&args.validators) {
        bail!("--validators must be in 1..=32, found {}", args.validators);
    }
    if args.reset && args.dir.exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("cannot remove {}", args.dir.display()))?;
    }
    let existing = count_validators(&args.dir);
    if existing == 0 {
        init(&args)?;
    } else if existing != args.validators {
        bail!(
            "{} holds a testnet of {existing} validators; use --validators {existing} or --reset",
            args.dir.display()
        );
    } else {
        println!("reusing the testnet in {}", args.dir.display());
    }
    if args.init_only {
        return Ok(());
    }
    let dir = args.dir.canonicalize()?;
    let mut validators = Vec::new();
    for i in 0..args.validators {
        let (config, data, log) = validator_paths(&dir, i);
        validators.push((spawn_node(&config, &data, &log)?, log));
    }
    let mut urls = Vec::new();
    for (i, (v, log)) in validators.iter_mut().enumerate() {
        let (_, data, _) = validator_paths(&dir, i);
        urls.push(v.wait_for_url(&data, log).with_context(|| format!("validator {i}"))?);
    }
    println!("{} validators running (Ctrl-C stops them):", validators.len());
    for (i, ((_, log), url)) in validators.iter().zip(&urls).enumerate() {
        println!("  v{i}: {url}  (log: {})", log.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut exited = vec![false; validators.len()];
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = run::shutdown_signal() => return,
                _ = tick.tick() => {}
            }
            for (i, ((v, _), reported)) in validators.iter_mut().zip(exited.iter_mut()).enumerate() {
                if *reported {
                    continue;
                }
                if let Ok(Some(status)) = v.child.try_wait() {
                    *reported = true;
                    tracing::error!(validator = i, %status, "validator exited; the others go on while a quorum remains");
                }
            }
        }
    });
    println!("stopping validators");
    drop(validators);
    Ok(())
}
