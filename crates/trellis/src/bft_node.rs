//! `trellis node run` with a `[consensus]` section: one validator of a BFT network. The API is
//! the same as the single-node sequencer's; a transaction is committed once the validators
//! finalize the block holding it.

use crate::{
    config::{ConsensusConfig, NodeConfig},
    run as single,
};
use anyhow::{bail, Context as _, Result};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    Signer as _,
};
use commonware_runtime::{tokio as cw_tokio, Runner as _, Spawner as _, Supervisor as _};
use std::{path::Path, time::Duration};
use tokio::{net::TcpListener, sync::watch};
use trellis_bft::{
    net::{NetConfig, Peer},
    validator::Timing,
};
use trellis_chain::Node;
use trellis_ledger::StateRead as _;
use zeroize::Zeroizing;

/// Sub-directory of `data_dir` holding the consensus journal and block archives.
pub(crate) const CONSENSUS_DIR: &str = "consensus";
/// Largest validator key file read (64 hex digits and some whitespace).
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Reads a key file holding a 32-byte ed25519 seed in hex (validator and device keys).
pub(crate) fn read_seed(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        bail!("{} is too large to be a key file", path.display());
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut())
        .with_context(|| format!("{} must hold 64 hex digits", path.display()))?;
    Ok(seed)
}

/// Reads a validator key file.
pub(crate) fn read_validator_key(path: &Path) -> Result<PrivateKey> {
    let seed = read_seed(path)?;
    PrivateKey::decode(bytes::Bytes::copy_from_slice(seed.as_ref()))
        .map_err(|e| anyhow::anyhow!("{} is not an ed25519 seed: {e}", path.display()))
}

/// Writes a new seed file (hex) readable by its owner only; refuses to overwrite.
pub(crate) fn write_validator_key(path: &Path, seed: &[u8; 32]) -> Result<()> {
    crate::keystore::write_private(path, hex::encode(seed).as_bytes())
}

/// A public key in hex, as configs list them.
pub(crate) fn public_hex(key: &PublicKey) -> String {
    hex::encode(key.encode())
}

fn parse_public(text: &str) -> Result<PublicKey> {
    let bytes = hex::decode(text).with_context(|| format!("public key `{text}` is not hex"))?;
    PublicKey::decode(bytes::Bytes::from(bytes)).map_err(|e| anyhow::anyhow!("public key `{text}` is invalid: {e}"))
}

/// Consensus timing for blocks every `block_interval_ms`.
pub(crate) fn timing(block_interval_ms: u64, consensus: &ConsensusConfig) -> Timing {
    let leader = Duration::from_millis(consensus.leader_timeout_ms(block_interval_ms));
    Timing {
        leader_timeout: leader,
        certification_timeout: leader * 2,
        timeout_retry: leader * 5,
        skip_timeout: leader * 6,
        block_interval: Duration::from_millis(block_interval_ms),
    }
}

/// Runs a validator until Ctrl-C or SIGTERM. Builds its own runtime (Commonware's tokio runtime,
/// so consensus storage and networking go through it).
pub(crate) fn run(config: NodeConfig) -> Result<()> {
    let consensus = config
        .consensus
        .clone()
        .context("the config has no [consensus] section")?;
    let key = read_validator_key(&consensus.key_file)?;
    let peers = consensus
        .validators
        .iter()
        .map(|v| {
            Ok(Peer {
                key: parse_public(&v.public_key)?,
                address: v.address,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if !peers.iter().any(|p| p.key == key.public_key()) {
        bail!(
            "the key in {} ({}) is not in consensus.validators",
            consensus.key_file.display(),
            public_hex(&key.public_key())
        );
    }
    let timing = timing(config.block_interval_ms, &consensus);
    timing.validate().map_err(anyhow::Error::msg)?;
    let node = single::open_chain(&config)?;
    let chain_id = node.with_state(|s, _| s.chain_id())?;
    node.set_finality(format!(
        "final on commit: blocks are finalized by BFT consensus among {} validators",
        peers.len()
    ));
    let runtime = cw_tokio::Config::new()
        .with_storage_directory(config.data_dir.join(CONSENSUS_DIR))
        .with_worker_threads(2);
    let net = NetConfig {
        key,
        listen: consensus.p2p_listen,
        peers,
        namespace: chain_id.into_bytes(),
        timing,
    };
    cw_tokio::Runner::new(runtime).start(|context| async move { serve(context, config, net, node).await })
}

async fn serve(context: cw_tokio::Context, config: NodeConfig, net: NetConfig, node: Node) -> Result<()> {
    let listener = TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api_listen))?;
    let api_addr = listener.local_addr()?;
    let (shutdown, mut watcher) = watch::channel(false);
    let options = crate::run::api_options(&config)?;
    let api = tokio::spawn(trellis_api::serve_with(node.clone(), options, listener, async move {
        let _sender_gone_means_stop = watcher.wait_for(|stop| *stop).await;
    }));
    let listen = net.listen;
    let validators = net.peers.len();
    let running = trellis_bft::net::start(context.child("bft"), net, node.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let url = format!("http://{api_addr}");
    std::fs::write(config.data_dir.join(single::API_URL_FILE), &url).context("cannot write api.url")?;
    tracing::info!(%url, p2p = %listen, validators, height = node.tip().height, "validator started");
    let engine = running.validator.engine;
    let outcome = tokio::select! {
        _ = single::shutdown_signal() => { tracing::info!("shutting down"); Ok(()) }
        ended = engine => Err(anyhow::anyhow!("the consensus engine stopped: {ended:?}")),
    };
    shutdown.send_replace(true);
    api.await.context("API task failed")?.context("API server failed")?;
    // Stops every consensus task and lets storage close cleanly.
    if let Err(e) = context.stop(0, Some(Duration::from_secs(5))).await {
        tracing::warn!(error = ?e, "consensus did not stop cleanly");
    }
    outcome
}
