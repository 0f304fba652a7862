//! `trellis chain`: look at a running chain, or check a stopped node's database.

use crate::{client::Client, run::DB_FILE, wallet::ApiArg};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use trellis_store::ChainStore;

/// Chain commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ChainCommand {
    /// Print the node's chain status.
    ///
    /// Example: trellis chain status --api http://127.0.0.1:8645
    Status {
        #[command(flatten)]
        api: ApiArg,
    },
    /// Replay every block of a stopped node's database from genesis and check every state root
    /// and the final state against the stored state.
    ///
    /// Example: trellis chain verify --data-dir .devnet/node
    Verify {
        /// The node's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// Runs a chain command.
pub(crate) async fn run(command: ChainCommand) -> Result<()> {
    match command {
        ChainCommand::Status { api } => {
            let status = Client::new(&api.api)?.get("/v1/status").await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        ChainCommand::Verify { data_dir } => {
            let db = data_dir.join(DB_FILE);
            if !db.exists() {
                bail!("{} does not exist", db.display());
            }
            let store =
                ChainStore::open(&db).with_context(|| format!("cannot open {} (stop the node first)", db.display()))?;
            let tip = store.tip()?.context("the database holds no chain")?;
            let started = std::time::Instant::now();
            let mut replayed = store.replay(|h| {
                if h % 1000 == 0 {
                    eprintln!("replayed {h}/{}", tip.height);
                }
            })?;
            let root = trellis_store::state_root(&mut replayed);
            let stored = store.load_ledger()?;
            if root != tip.state_root || stored.tip() != replayed.tip() {
                bail!(
                    "MISMATCH: replay ends at root {root}, the database tip says {}",
                    tip.state_root
                );
            }
            println!(
                "OK: replayed {} blocks from genesis in {:.2}s; state root {root} matches the stored state",
                tip.height,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
