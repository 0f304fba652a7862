//! Starting a node: open or initialise the database, serve the API, run the sequencer, stop
//! cleanly on Ctrl-C/SIGTERM.

use crate::config::NodeConfig;
use anyhow::{bail, Context, Result};
use std::{net::SocketAddr, path::Path};
use tokio::{net::TcpListener, sync::watch};
use trellis_chain::{Node, SequencerConfig};
use trellis_ledger::Genesis;
use trellis_store::ChainStore;

/// Name of the database file inside the data directory.
pub(crate) const DB_FILE: &str = "chain.redb";
/// File the node writes its API URL to once listening (scripts and tests read it).
pub(crate) const API_URL_FILE: &str = "api.url";

/// Reads a genesis document, TOML or JSON by extension.
pub(crate) fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read genesis {}", path.display()))?;
    let genesis = if path.extension().is_some_and(|e| e == "json") {
        Genesis::from_json(&text)
    } else {
        Genesis::from_toml(&text)
    };
    genesis.with_context(|| format!("genesis {}", path.display()))
}

/// Opens the node's database, initialising it from the configured genesis if it is empty.
pub(crate) fn open_chain(config: &NodeConfig) -> Result<Node> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let db = config.data_dir.join(DB_FILE);
    let store =
        ChainStore::open(&db).with_context(|| format!("cannot open {} (is another node using it?)", db.display()))?;
    if store.tip()?.is_none() {
        let Some(path) = &config.genesis else {
            bail!(
                "{} holds no chain and no genesis is configured (set `genesis` or TRELLIS_GENESIS)",
                db.display()
            );
        };
        let genesis = read_genesis(path)?;
        store.initialise(&genesis)?;
        tracing::info!(chain_id = %genesis.chain_id, "initialised chain from genesis");
    }
    Ok(Node::new(store)?)
}

/// A node that is serving.
pub(crate) struct RunningNode {
    /// The chain.
    pub(crate) node: Node,
    /// Where the API listens.
    pub(crate) api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    sequencer: tokio::task::JoinHandle<Result<(), trellis_chain::NodeError>>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The API's options for a node: its reward archive, and when it keeps one, the sensor data
/// gateway's meter beside the chain data (`data-meter.redb`).
pub(crate) fn api_options(config: &NodeConfig) -> Result<trellis_api::ApiOptions> {
    let data_meter = match &config.reward_archive {
        Some(_) => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let path = config.data_dir.join("data-meter.redb");
            let meter = trellis_api::data::DataMeter::open(&path)
                .with_context(|| format!("cannot open the data meter {}", path.display()))?;
            Some(std::sync::Arc::new(meter))
        }
        None => None,
    };
    Ok(trellis_api::ApiOptions {
        reward_archive: config.reward_archive.clone(),
        data_meter,
    })
}

/// Opens the chain, binds the API and starts the sequencer.
pub(crate) async fn start(config: &NodeConfig) -> Result<RunningNode> {
    let node = open_chain(config)?;
    let listener = TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api_listen))?;
    let api_addr = listener.local_addr()?;
    let (shutdown, watcher) = watch::channel(false);
    let mut api_watcher = watcher.clone();
    let options = crate::run::api_options(config)?;
    let api = tokio::spawn(trellis_api::serve_with(node.clone(), options, listener, async move {
        // Either a shutdown signal or the sender being dropped ends the server.
        let _sender_gone_means_stop = api_watcher.wait_for(|stop| *stop).await;
    }));
    let seq_config = SequencerConfig {
        block_interval_ms: config.block_interval_ms,
        empty_blocks: config.empty_blocks,
    };
    let sequencer = tokio::spawn(node.clone().run_sequencer(seq_config, watcher));
    let url = format!("http://{api_addr}");
    std::fs::write(config.data_dir.join(API_URL_FILE), &url).context("cannot write api.url")?;
    tracing::info!(%url, height = node.tip().height, "node started");
    Ok(RunningNode {
        node,
        api_addr,
        shutdown,
        sequencer,
        api,
    })
}

impl RunningNode {
    /// A receiver that flips to `true` when the node shuts down (for services beside it).
    pub(crate) fn shutdown_watch(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Runs until Ctrl-C, SIGTERM or a fatal sequencer error, then shuts down.
    pub(crate) async fn run_until_signal(self) -> Result<()> {
        let RunningNode {
            shutdown,
            mut sequencer,
            api,
            ..
        } = self;
        let outcome = tokio::select! {
            _ = shutdown_signal() => { tracing::info!("shutting down"); None }
            result = &mut sequencer => Some(result),
        };
        shutdown.send_replace(true);
        let seq_result = match outcome {
            Some(result) => result,
            None => sequencer.await,
        };
        api.await.context("API task failed")?.context("API server failed")?;
        seq_result
            .context("sequencer task failed")?
            .context("sequencer stopped")?;
        Ok(())
    }
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ctrl_c_error_means_stop = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ctrl_c_error_means_stop = tokio::signal::ctrl_c().await;
    }
}
