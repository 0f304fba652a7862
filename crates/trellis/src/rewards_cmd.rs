//! `trellis rewards`: check the oracles.

use crate::{client::Client, oracle::read_archive, wallet::ApiArg};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use trellis_primitives::{Epoch, Hash};
use trellis_rewards::AuditVerdict;

/// Reward commands.
#[derive(Debug, Subcommand)]
pub(crate) enum RewardsCommand {
    /// Recompute an epoch's manifest from the archive and compare it with the root on chain.
    ///
    /// Prints `MATCH <root>`, or the first device whose amount differs, and exits non-zero on a
    /// mismatch.
    ///
    /// Example: trellis rewards audit --epoch 3 --archive .devnet/node/rewards
    Audit {
        /// The epoch.
        #[arg(long)]
        epoch: u64,
        /// Directory of `epoch-<N>.json` archives.
        #[arg(long)]
        archive: PathBuf,
        #[command(flatten)]
        api: ApiArg,
    },
}

/// Runs a rewards command.
pub(crate) async fn run(command: RewardsCommand) -> Result<()> {
    let RewardsCommand::Audit { epoch, archive, api } = command;
    let archive = read_archive(&archive, Epoch(epoch))?;
    let client = Client::new(&api.api)?;
    // Inputs the chain itself attests to must agree with the archive before anything else.
    let chain_epoch = client.get(&format!("/v1/epochs/{epoch}")).await?;
    let burned: trellis_primitives::Amount =
        serde_json::from_value(chain_epoch["burned"].clone()).context("node returned no burn total")?;
    if burned != archive.inputs.burned_in_epoch {
        println!(
            "MISMATCH epoch {epoch}: archive says {} burned, the chain says {burned}",
            archive.inputs.burned_in_epoch
        );
        bail!("audit failed");
    }
    let posted = client.get(&format!("/v1/manifests/{epoch}")).await?;
    let root: Hash = posted["manifest"]["root"]
        .as_str()
        .context("node returned no manifest root")?
        .parse()
        .context("malformed root")?;
    match archive.audit(root)? {
        AuditVerdict::Match { root } => {
            println!("MATCH epoch {epoch} root {root}");
            Ok(())
        }
        AuditVerdict::DeviceMismatch {
            device,
            published,
            recomputed,
        } => {
            println!("MISMATCH epoch {epoch}: device {device} was paid {published}, recomputation gives {recomputed}");
            bail!("audit failed")
        }
        AuditVerdict::RootMismatch { on_chain, recomputed } => {
            println!("MISMATCH epoch {epoch}: on-chain root {on_chain}, recomputed {recomputed}");
            bail!("audit failed")
        }
    }
}
