//! `trellis store`: keep files on the storage network and get them back.
//!
//! `put` encrypts and erasure-codes a file on this machine (the network only ever sees
//! ciphertext) while streaming one piece to each chosen provider in parallel, then opens a storage
//! deal that escrows the price in credits and has the providers keep their pieces. `get` fetches
//! the `k` pieces it needs (and spares for failed or stalled ones), checks them against their
//! commitments, and decrypts to disk. `ls` and `rm`
//! list and close the wallet's deals. Each file's key is derived from the wallet key and the
//! file's nonce, so the wallet alone is enough to read every file it stored.

mod catalog;
mod get;
mod put;

pub(crate) use get::fetch_file;
pub(crate) use put::{store_file, PutOptions};

use crate::{
    client::Client,
    wallet::{unlock, ApiArg, KeystoreArg},
};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use trellis_ledger::TxKind;
use trellis_primitives::{Hash, Keypair};
use zeroize::Zeroizing;

/// Store commands.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Encrypt, erasure-code and upload a file; prints the file id (the deal id).
    ///
    /// Example: trellis store put photos.tar --keystore me.json --epochs 720
    Put(put::PutArgs),
    /// Download a file by id: any k pieces suffice, every byte is checked, then decrypted.
    ///
    /// Example: trellis store get 3f2a…e1 photos.tar --keystore me.json
    Get(get::GetArgs),
    /// List the wallet's stored files (open deals) with names, sizes, escrow and expiry.
    ///
    /// Example: trellis store ls --keystore me.json
    Ls(Common),
    /// Close a file's deal: providers drop the pieces, the escrow returns to the wallet (less the
    /// running epoch so far, owed to the providers).
    ///
    /// Example: trellis store rm 3f2a…e1 --keystore me.json
    Rm {
        /// File id (deal id, 64 hex digits).
        id: Hash,
        #[command(flatten)]
        common: Common,
        /// While the last completed epoch awaits its audit settlement the chain refuses to
        /// close (its pay belongs to the providers); retry for up to this many seconds.
        #[arg(long, default_value_t = 180)]
        wait_secs: u64,
    },
}

/// Options every store command takes.
#[derive(Debug, Args)]
pub(crate) struct Common {
    #[command(flatten)]
    pub(crate) keystore: KeystoreArg,
    #[command(flatten)]
    pub(crate) api: ApiArg,
    /// Hide progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// The secret every file key of this wallet is derived from: a hash of the wallet seed in its own
/// domain, so the signing key itself never keys a cipher.
pub(crate) fn owner_secret(key: &Keypair) -> Zeroizing<[u8; 32]> {
    let seed = Zeroizing::new(key.seed());
    Zeroizing::new(blake3::derive_key("trellis 2026 storage owner secret", seed.as_ref()))
}

/// A progress bar in bytes, hidden when asked or when stderr is not a terminal.
pub(crate) fn bytes_bar(len: u64, what: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style =
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Runs a store command. Ctrl-C or SIGTERM stops it: its temporary files (a `get`'s downloaded
/// pieces and partial output, next to OUT) are removed, and the process exits at once with
/// status 130 rather than waiting for a coding thread to finish the file.
pub(crate) async fn run(command: StoreCommand) -> Result<()> {
    let command = async move {
        match command {
            StoreCommand::Put(args) => put::run(args).await,
            StoreCommand::Get(args) => get::run(args).await,
            StoreCommand::Ls(common) => ls(common).await,
            StoreCommand::Rm { id, common, wait_secs } => rm(id, common, wait_secs).await,
        }
    };
    tokio::select! {
        result = command => return result,
        () = crate::run::shutdown_signal() => {}
    }
    // The command's future is dropped by now, and with it its temporary directory.
    eprintln!(
        "interrupted; temporary files are removed. A `put` stopped after its deal opened leaves the deal listed by \
         `trellis store ls`: close it with `trellis store rm <id>` to get the escrow back"
    );
    std::process::exit(130)
}

async fn ls(common: Common) -> Result<()> {
    let ks = crate::keystore::Keystore::read(&common.keystore.keystore)?;
    let client = Client::new(&common.api.api)?;
    let deals = client.get(&format!("/v1/accounts/{}/deals", ks.address)).await?;
    let names = catalog::Catalog::load(&common.keystore.keystore).unwrap_or_else(|e| {
        eprintln!("warning: the names of stored files cannot be read ({e:#}); listing without them");
        catalog::Catalog::default()
    });
    let list = deals["deals"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no stored files for {}", ks.address);
        return Ok(());
    }
    println!(
        "{:<64}  {:>12}  {:>6}  {:>10}  {:>9}  name",
        "id", "bytes", "k/n", "escrow", "end epoch"
    );
    for d in list {
        let id = d["id"].as_str().unwrap_or("?");
        let terms = &d["deal"]["terms"];
        let k = terms["data_shards"].as_u64().unwrap_or(0);
        let n = k + terms["parity_shards"].as_u64().unwrap_or(0);
        println!(
            "{id:<64}  {:>12}  {:>6}  {:>10}  {:>9}  {}{}",
            terms["size"].as_u64().unwrap_or(0),
            format!("{k}/{n}"),
            d["deal"]["escrow"].as_str().unwrap_or("?"),
            d["end_epoch"]
                .as_u64()
                .map_or_else(|| "?".to_string(), |e| e.to_string()),
            names.name(id).unwrap_or("-"),
            if d["expired"].as_bool() == Some(true) {
                "  (expired)"
            } else {
                ""
            },
        );
    }
    Ok(())
}

async fn rm(id: Hash, common: Common, wait_secs: u64) -> Result<()> {
    let key = unlock(&common.keystore)?;
    let client = Client::new(&common.api.api)?;
    // Checked before any fee is paid: the deal exists and is this wallet's.
    let me = trellis_primitives::AccountAddress::from(key.public());
    let owner = deal_client(&client, &id).await?;
    if owner != me.to_string() {
        bail!("deal {id} belongs to {owner}, not to this wallet ({me}); only its client can close it");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    let mut told = false;
    loop {
        // Wait (without paying fees) while the chain would refuse: the next epoch to settle is
        // complete, within the deal, and inside the grace.
        while settlement_pending(&client, &id).await? {
            if std::time::Instant::now() >= deadline {
                bail!(
                    "the deal's last completed epoch is still not settled after {wait_secs} s (nothing was submitted); \
                     auditors settle within {} epochs: run `trellis store rm {id}` again later, or pass a larger --wait-secs",
                    trellis_ledger::execute::CLOSE_GRACE_EPOCHS
                );
            }
            if !std::mem::replace(&mut told, true) {
                eprintln!("waiting for the auditors to settle the last completed epoch before closing…");
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let tx = client
            .sign_and_submit(&key, TxKind::CloseDeal { deal: id }, None)
            .await?;
        match crate::wallet::expect_success(&client, &tx).await {
            Ok(_) => break,
            // The node's stable failure code: an epoch became complete meanwhile; it settles soon.
            Err(e) if format!("{e:#}").contains("settlement_pending") && std::time::Instant::now() < deadline => {}
            Err(e) => return Err(e).context("closing the deal"),
        }
    }
    println!(
        "closed {id}; the escrow is back in the wallet, less the running epoch's part so far (owed to the providers \
         whose pieces did not fail their latest audit), and providers will drop the pieces"
    );
    let keystore = &common.keystore.keystore;
    let forgotten = catalog::Catalog::load(keystore).and_then(|mut names| {
        names.remove(&id.to_string());
        names.save(keystore)
    });
    if let Err(e) = forgotten {
        eprintln!("warning: the deal is closed, but its local name could not be removed: {e:#}");
    }
    Ok(())
}

/// The client of open deal `id`, or why there is none.
async fn deal_client(client: &Client, id: &Hash) -> Result<String> {
    let view = client.get(&format!("/v1/deals/{id}")).await?;
    view["deal"]["client"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the node's answer for deal {id} names no client"))
}

/// Whether closing deal `id` now would be refused with `settlement_pending` (mirrors the
/// ledger's rule; the ledger decides).
async fn settlement_pending(client: &Client, id: &Hash) -> Result<bool> {
    let view = client.get(&format!("/v1/deals/{id}")).await?;
    let deal = &view["deal"];
    let num = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let settled = num(&deal["settled_epochs"]);
    let due = num(&deal["start_epoch"]) + settled;
    let epoch = num(&view["epoch"]);
    let within = settled < num(&deal["terms"]["duration_epochs"]);
    Ok(within && due < epoch && epoch <= due + trellis_ledger::execute::CLOSE_GRACE_EPOCHS)
}

/// Where store commands keep temporary pieces: next to the output or in the system temp dir.
pub(crate) fn work_dir(near: Option<&std::path::Path>) -> Result<tempfile::TempDir> {
    let parent: PathBuf = near
        .and_then(|p| p.parent())
        // A bare file name lives in the current directory: work there too, so the final
        // rename stays on one filesystem.
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix(".trellis-store-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))
}
