//! `trellis store put`: code the file on this machine while every piece streams to its
//! provider, then open the deal and have the providers keep their pieces.
//!
//! A deal names every piece's root, which is known only once the whole file is coded, so each
//! provider first *stages* its piece under the client's signed grant (bound to the file's nonce,
//! the piece and the provider), computing its root as the bytes arrive; once the deal is on chain
//! the client asks each to *commit*, and a provider keeps the piece only if the deal places it
//! there with the root it computed. The file is read and coded once, all pieces travel at once
//! and nothing is written on this machine. Pieces whose providers fail are moved to spares
//! (`MovePiece`) and coded again, all in one pass ([`spares`]).

use self::stream::{join_uploads, start_streamed_upload, Dest, PieceSink, Source, Transfers, Uploads};
use super::{bytes_bar, catalog::Catalog, owner_secret, Common};
use crate::{client::Client, wallet::unlock};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};
use trellis_ledger::{DealTerms, Piece, TxKind, MAX_PIECES};
use trellis_primitives::{AccountAddress, Credits, Hash};
use trellis_storage::protocol::StageGrant;
use trellis_storage::{
    chain::{NodeApi, ProviderInfo},
    client::{coding_for, coding_of, commit_piece, place, TransferError, TRANSFER_IDLE_TIMEOUT},
    CodingParams, Layout,
};

/// Plaintext bytes per segment (see ARCHITECTURE.md, storage coding defaults).
const SEGMENT_BYTES: u32 = 4 << 20;

/// Arguments of `trellis store put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The file to store.
    file: PathBuf,
    #[command(flatten)]
    common: Common,
    /// Epochs to keep (and pay for) the file.
    #[arg(long, default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Offered price in credits per GiB (all pieces together) per epoch. Default: the lowest
    /// price enough providers accept.
    #[arg(long)]
    price: Option<u64>,
    /// Pieces needed to rebuild the file (k). Default: a third of the pieces (Sia's 10 of 30).
    #[arg(long, requires = "pieces")]
    data_pieces: Option<u16>,
    /// Pieces in total (n), one per provider. Default: every usable provider, at most 30.
    #[arg(long)]
    pieces: Option<u16>,
    /// Name to list the file under (default: the file name). Kept on this machine only.
    #[arg(long)]
    name: Option<String>,
    /// Seconds a piece's upload may take no bytes before its provider is given up on (its piece
    /// then goes to a spare, or is re-created by repair). Raise it on slow or flaky links.
    #[arg(long, value_name = "SECS", default_value_t = TRANSFER_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400), env = "TRELLIS_TRANSFER_IDLE_SECS")]
    idle_timeout: u64,
}

fn asked_price(p: &ProviderInfo) -> u64 {
    p.capability("price_per_gib_epoch").unwrap_or(1)
}

/// The coding and price for this upload, from the flags and the providers on offer.
/// How to store a file: the flags of `store put` without the wallet and the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PutOptions {
    pub(crate) epochs: u32,
    pub(crate) price: Option<u64>,
    pub(crate) data_pieces: Option<u16>,
    pub(crate) pieces: Option<u16>,
    pub(crate) quiet: bool,
    /// How long an upload may take no bytes before its provider is given up on.
    pub(crate) idle: std::time::Duration,
}

#[cfg(test)]
impl PutOptions {
    /// Ten epochs at the lowest price, `k` of `n` pieces, quiet.
    pub(crate) fn for_test(k: u16, n: u16) -> Self {
        PutOptions {
            epochs: 10,
            price: None,
            data_pieces: Some(k),
            pieces: Some(n),
            quiet: true,
            idle: TRANSFER_IDLE_TIMEOUT,
        }
    }
}

/// A file of `len` deterministic, incompressible-looking bytes under `dir`: its path and bytes.
#[cfg(test)]
pub(crate) fn test_file(dir: &Path, len: u32) -> (PathBuf, Vec<u8>) {
    let path = dir.join("file.bin");
    let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&path, &data).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    (path, data)
}

fn terms_shape(args: &PutOptions, providers: &[ProviderInfo]) -> Result<(CodingParams, u64)> {
    let reachable: Vec<&ProviderInfo> = providers
        .iter()
        .filter(|p| p.eligible && p.endpoint.is_some() && p.slashed.is_zero())
        .filter(|p| p.reputation_ppm >= trellis_ledger::state::REPUTATION_DQ_PPM)
        .collect();
    if let Some(n) = args.pieces {
        if !(2..=MAX_PIECES).contains(&usize::from(n)) {
            bail!("--pieces must be 2 to {MAX_PIECES} (one piece per provider, at most {MAX_PIECES} per deal)");
        }
        if usize::from(n) > reachable.len() {
            bail!(
                "{n} pieces need {n} providers; {} can take pieces now ({} registered)",
                reachable.len(),
                providers.len()
            );
        }
    }
    let params = match (args.data_pieces, args.pieces) {
        (Some(k), Some(n)) if k >= 1 && k < n => CodingParams {
            data_shards: k,
            parity_shards: n - k,
            segment_bytes: SEGMENT_BYTES,
        },
        (Some(_), Some(_)) => bail!("--data-pieces must be at least 1 and below --pieces"),
        (None, Some(n)) => coding_of(n, SEGMENT_BYTES).context("--pieces must be at least 2")?,
        _ => coding_for(reachable.len(), SEGMENT_BYTES).with_context(|| {
            format!(
                "{} storage providers can take pieces now ({} registered); at least 2 are needed",
                reachable.len(),
                providers.len()
            )
        })?,
    };
    params.validate()?;
    let n = params.total_shards();
    let price = match args.price {
        Some(p) => p,
        None => {
            let mut asks: Vec<u64> = reachable.iter().map(|p| asked_price(p)).collect();
            asks.sort_unstable();
            asks.get(n.saturating_sub(1)).copied().unwrap_or(1).max(1)
        }
    };
    Ok((params, price))
}

pub(crate) async fn run(args: PutArgs) -> Result<()> {
    let key = unlock(&args.common.keystore)?;
    let options = PutOptions {
        epochs: args.epochs,
        price: args.price,
        data_pieces: args.data_pieces,
        pieces: args.pieces,
        quiet: args.common.quiet,
        idle: std::time::Duration::from_secs(args.idle_timeout),
    };
    let id = store_file(&key, &args.common.api.api, &args.file, &options).await?;
    // The deal is open and paid for: its id comes first, whatever happens to the local names.
    println!("{id}");
    let name = args
        .name
        .clone()
        .or_else(|| args.file.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let keystore = &args.common.keystore.keystore;
    let named = Catalog::load(keystore).and_then(|mut catalog| {
        catalog.insert(id.to_string(), name);
        catalog.save(keystore)
    });
    if let Err(e) = named {
        eprintln!("warning: the file is stored, but its name could not be saved on this machine: {e:#}");
    }
    Ok(())
}

/// Encodes `file`, opens its deal and uploads every piece; the file id (deal id).
pub(crate) async fn store_file(
    key: &trellis_primitives::Keypair,
    api: &str,
    file: &Path,
    args: &PutOptions,
) -> Result<Hash> {
    // Following blocks from the start, the deal's inclusion is seen the moment its block is made.
    let client = Client::new(api)?.follow_blocks();
    let node = NodeApi::new(api)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let providers = node.providers().await?;
    let (params, price) = terms_shape(args, &providers)?;
    let layout = Layout::new(size, params)?;
    let nonce: [u8; 16] = rand::random();
    let mut placement = place(
        &providers,
        params.total_shards(),
        layout.piece_len(),
        price,
        &nonce,
        &BTreeSet::new(),
    )?;
    let me = AccountAddress::from(key.public());
    // Check the cost before doing any work.
    let probe = DealTerms {
        nonce,
        size,
        data_shards: params.data_shards,
        parity_shards: params.parity_shards,
        segment_bytes: params.segment_bytes,
        piece_len: layout.piece_len(),
        pieces: placement
            .chosen
            .iter()
            .map(|c| Piece {
                provider: c.info.address,
                root: Hash::ZERO,
            })
            .collect(),
        duration_epochs: args.epochs,
        price_per_gib_epoch: Credits(price),
    };
    let escrow = probe.escrow().context("the deal's price overflows")?;
    if escrow.0 == 0 {
        bail!("the deal would pay its providers nothing at {price} credits per GiB-epoch; offer a price with --price");
    }
    let account = client.get(&format!("/v1/accounts/{me}")).await?;
    let credits: Credits = serde_json::from_value(account["account"]["credits"].clone()).unwrap_or_default();
    if credits < escrow {
        bail!(
            "storing {size} bytes as {} pieces of {} bytes for {} epochs at {price} credits per GiB-epoch costs {escrow} credits; \
             {me} has {credits}: buy credits with `trellis wallet burn`",
            params.total_shards(),
            layout.piece_len(),
            args.epochs
        );
    }

    let started = std::time::Instant::now();
    let source = Source {
        file: file.to_path_buf(),
        layout,
        secret: owner_secret(key),
        nonce,
    };
    let status = node.status().await?;
    let transfers = Transfers {
        http: trellis_storage::client::transfer_http(args.idle),
        idle: args.idle,
    };
    // Every piece goes to its provider as it is coded, staged there until the deal lands.
    let bar = bytes_bar(size, "storing", args.quiet);
    let sent = indicatif::ProgressBar::hidden(); // the bar follows the coder, which the uploads keep pace with
    let mut tasks = Uploads::new();
    let mut sinks = PieceSink::discard(params.total_shards());
    for (index, chosen) in placement.chosen.iter().enumerate() {
        let grant = StageGrant {
            client: me,
            provider: chosen.info.address,
            nonce,
            index: index as u16,
            len: layout.piece_len(),
        }
        .sign(&status.chain_id, key);
        let dest = Dest::Stage(Box::new(grant));
        sinks[index] = start_streamed_upload(&mut tasks, &transfers, &chosen.endpoint, dest, index, &sent);
    }
    let trees = source.encode(sinks, bar.clone()).await?;
    let staged = join_uploads(tasks).await?;
    bar.finish_and_clear();
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "encoded and staged");

    let terms = DealTerms {
        pieces: placement
            .chosen
            .iter()
            .zip(&trees)
            .map(|(c, t)| Piece {
                provider: c.info.address,
                root: t.root(),
            })
            .collect(),
        ..probe
    };
    let id = terms.commitment(&me);
    // Before any credits are escrowed: a file that could not be read back is not worth a deal.
    let took = staged
        .iter()
        .filter(|(i, r)| matches!(r, Ok(Some(root)) if *root == terms.pieces[**i].root))
        .count();
    if took + placement.spares.len() < usize::from(params.data_shards) {
        for (index, result) in &staged {
            if let Err(e) = result {
                eprintln!("piece {index}: {e}");
            }
        }
        bail!(
            "only {took} of {} providers took their piece and {} spares are left, fewer than the {} needed to read \
             the file; no deal was opened and nothing was paid",
            params.total_shards(),
            placement.spares.len(),
            params.data_shards
        );
    }
    let tx = client
        .sign_and_submit(key, TxKind::OpenDeal { terms: terms.clone() }, None)
        .await?;
    crate::wallet::expect_success(&client, &tx).await.with_context(|| {
        format!(
            "opening storage deal {id} (transaction {tx}); should `trellis store ls` list it later, it holds \
             escrow for pieces the providers drop 10 minutes after staging: close it with `trellis store rm {id}`"
        )
    })?;
    tracing::debug!(deal = %id, escrow = %escrow, pieces = terms.pieces.len(), ms = started.elapsed().as_millis() as u64, "deal opened");

    let failed = commit_staged(&transfers.http, &placement, id, &terms, staged).await;
    let mut spares = spares::Spares {
        client: &client,
        node: &node,
        key,
        transfers: &transfers,
        candidates: &mut placement.spares,
        id,
        terms: &terms,
        source: &source,
        quiet: args.quiet,
    };
    let lost = spares.take(failed).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "encoded, staged, deal opened, committed"
    );
    let stored = params.total_shards() - lost.len();
    if stored < usize::from(params.data_shards) {
        bail!(
            "only {stored} of {} pieces were stored, fewer than the {} needed to read the file; close the deal with \
             `trellis store rm {id}` to get the escrow back",
            params.total_shards(),
            params.data_shards
        );
    }
    if !lost.is_empty() {
        eprintln!(
            "warning: pieces {lost:?} could not be placed; the file is readable ({stored} of {} pieces) and the auditors' repair will re-create them",
            params.total_shards()
        );
    }
    if !args.quiet {
        eprintln!(
            "stored {size} bytes as {}-of-{} pieces of {} bytes on {stored} providers; escrow {escrow} for {} epochs",
            params.data_shards,
            params.total_shards(),
            layout.piece_len(),
            args.epochs
        );
    }
    Ok(id)
}

/// Asks every provider that staged its piece with the root the deal names to keep it, all at
/// once; the pieces that are not stored (staging or commit failed, or the provider received
/// other bytes than were coded).
async fn commit_staged(
    http: &reqwest::Client,
    placement: &trellis_storage::client::Placement,
    id: Hash,
    terms: &DealTerms,
    staged: BTreeMap<usize, Result<Option<Hash>, TransferError>>,
) -> Vec<usize> {
    let mut failed = Vec::new();
    let mut commits = tokio::task::JoinSet::new();
    for (index, result) in staged {
        let expected = terms.pieces[index].root;
        match result {
            Ok(Some(root)) if root == expected => {
                let (http, endpoint) = (http.clone(), placement.chosen[index].endpoint.clone());
                commits.spawn(async move { (index, commit_piece(&http, &endpoint, &id, index as u16).await) });
            }
            Ok(other) => {
                let said = other.map_or_else(|| "nothing".to_string(), |r| r.to_string());
                eprintln!("piece {index}: the provider received bytes hashing to {said}, not {expected}");
                failed.push(index);
            }
            Err(e) => {
                eprintln!("piece {index}: {e}");
                failed.push(index);
            }
        }
    }
    while let Some(joined) = commits.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((index, Err(e))) => {
                eprintln!("piece {index}: {e}");
                failed.push(index);
            }
            Err(e) => tracing::error!(error = %e, "a commit task failed"),
        }
    }
    failed.sort_unstable();
    failed
}

mod spares;
mod stream;
#[cfg(test)]
mod tests;
