//! `trellis store put`: encode on this machine, open the deal, upload every piece in parallel.

use super::{bytes_bar, catalog::Catalog, owner_secret, work_dir, Common};
use crate::{client::Client, wallet::unlock};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};
use trellis_ledger::{DealTerms, Piece, TxKind};
use trellis_primitives::{AccountAddress, Credits, DeviceAddress, Hash};
use trellis_storage::{
    chain::{NodeApi, ProviderInfo},
    client::{coding_for, place, upload_piece, Candidate},
    encode_pieces, CodingParams, FileKey, Layout,
};

/// Most pieces uploaded at once: enough to fill a fast uplink, few enough to keep open files and
/// sockets bounded.
const MAX_PARALLEL_UPLOADS: usize = 8;
/// Spare providers tried for one piece before the upload gives up on it.
const MAX_SPARES_PER_PIECE: usize = 3;
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
    #[arg(long, default_value_t = 720)]
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
}

fn terms_shape(args: &PutOptions, providers: &[ProviderInfo]) -> Result<(CodingParams, u64)> {
    let reachable: Vec<&ProviderInfo> = providers
        .iter()
        .filter(|p| p.eligible && p.endpoint.is_some() && p.slashed.is_zero())
        .filter(|p| p.reputation_ppm >= trellis_ledger::state::REPUTATION_DQ_PPM)
        .collect();
    let params = match (args.data_pieces, args.pieces) {
        (Some(k), Some(n)) if k >= 1 && k < n => CodingParams {
            data_shards: k,
            parity_shards: n - k,
            segment_bytes: SEGMENT_BYTES,
        },
        (Some(_), Some(_)) => bail!("--data-pieces must be at least 1 and below --pieces"),
        (None, Some(n)) => coding_for(usize::from(n), SEGMENT_BYTES).context("--pieces must be at least 2")?,
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
    };
    let id = store_file(&key, &args.common.api.api, &args.file, &options).await?;
    let name = args
        .name
        .clone()
        .or_else(|| args.file.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut catalog = Catalog::load(&args.common.keystore.keystore)?;
    catalog.insert(id.to_string(), name);
    catalog.save(&args.common.keystore.keystore)?;
    println!("{id}");
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
    let (_work, paths, trees) = encode_to_files(file, layout, key, nonce, args.quiet).await?;

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
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "encoded");
    let id = terms.commitment();
    let tx = client
        .sign_and_submit(key, TxKind::OpenDeal { terms: terms.clone() }, None)
        .await?;
    crate::wallet::expect_success(&client, &tx)
        .await
        .context("opening the storage deal")?;
    tracing::debug!(deal = %id, escrow = %escrow, pieces = terms.pieces.len(), ms = started.elapsed().as_millis() as u64, "deal opened");

    let lost = upload_all(&client, key, &mut placement, &terms, &paths, args.quiet).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "encoded, deal opened, uploaded"
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

/// Encrypts and codes `file` into one temporary file per piece (in a work directory that is
/// removed when dropped); the paths and every piece's tree.
async fn encode_to_files(
    file: &Path,
    layout: Layout,
    key: &trellis_primitives::Keypair,
    nonce: [u8; 16],
    quiet: bool,
) -> Result<(tempfile::TempDir, Vec<PathBuf>, Vec<trellis_storage::PieceTree>)> {
    let size = layout.size;
    let params = layout.params;
    let work = work_dir(None)?;
    let paths: Vec<PathBuf> = (0..params.total_shards())
        .map(|i| work.path().join(format!("piece-{i}")))
        .collect();
    let secret = owner_secret(key);
    let file_key = FileKey::derive(&secret, &nonce);
    let bar = bytes_bar(size, "encoding", quiet);
    let (input, paths2, bar2) = (file.to_path_buf(), paths.clone(), bar.clone());
    let trees = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut reader = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&input).with_context(|| format!("cannot open {}", input.display()))?,
        );
        let mut writers = paths2
            .iter()
            .map(|p| std::fs::File::create(p).map(|f| std::io::BufWriter::with_capacity(1 << 20, f)))
            .collect::<std::io::Result<Vec<_>>>()
            .context("cannot create piece files")?;
        let trees = encode_pieces(&mut reader, layout, &file_key, nonce, &mut writers, |done| {
            bar2.set_position(done)
        })?;
        for w in writers {
            w.into_inner()
                .map_err(|e| e.into_error())
                .context("cannot write a piece file")?;
        }
        Ok(trees)
    })
    .await??;
    bar.finish_and_clear();

    Ok((work, paths, trees))
}

/// Uploads every piece in parallel; a piece whose provider fails moves to a spare. The pieces
/// that found no provider.
async fn upload_all(
    client: &Client,
    key: &trellis_primitives::Keypair,
    placement: &mut trellis_storage::client::Placement,
    terms: &DealTerms,
    paths: &[PathBuf],
    quiet: bool,
) -> Result<Vec<usize>> {
    let id = terms.commitment();
    let total = terms.stored_bytes().unwrap_or(0);
    let bar = bytes_bar(total, "uploading", quiet);
    let http = trellis_storage::client::transfer_http();
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_PARALLEL_UPLOADS));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, candidate) in placement.chosen.iter().enumerate() {
        let (http, limit, bar, path) = (http.clone(), limit.clone(), bar.clone(), paths[index].clone());
        let endpoint = candidate.endpoint.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let progress = bar.clone();
            let result = upload_piece(&http, &endpoint, &id, index as u16, &path, move |n| progress.inc(n)).await;
            (index, result)
        });
    }
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.context("an upload task failed")?;
        if let Err(e) = result {
            bar.suspend(|| eprintln!("piece {index}: {e}"));
            failed.push(index);
        }
    }
    let mut lost = Vec::new();
    for index in failed {
        let moved = move_to_spare(
            client,
            key,
            &http,
            &mut placement.spares,
            terms,
            id,
            index,
            &paths[index],
        )
        .await;
        if let Err(e) = moved {
            bar.suspend(|| eprintln!("piece {index}: no spare provider took it: {e:#}"));
            lost.push(index);
        }
    }
    bar.finish_and_clear();
    Ok(lost)
}

/// Moves piece `index` to the next spare that takes it: a `MovePiece` transaction, then the upload.
#[allow(clippy::too_many_arguments)]
async fn move_to_spare(
    client: &Client,
    key: &trellis_primitives::Keypair,
    http: &reqwest::Client,
    spares: &mut Vec<Candidate>,
    terms: &DealTerms,
    id: Hash,
    index: usize,
    path: &Path,
) -> Result<DeviceAddress> {
    let mut last = anyhow::anyhow!("no spare providers left");
    for _ in 0..MAX_SPARES_PER_PIECE {
        if spares.is_empty() {
            break;
        }
        let spare = spares.remove(0);
        if terms.pieces.iter().any(|p| p.provider == spare.info.address) {
            continue;
        }
        let kind = TxKind::MovePiece {
            deal: id,
            index: index as u16,
            provider: spare.info.address,
        };
        let tx = client.sign_and_submit(key, kind, None).await?;
        crate::wallet::expect_success(client, &tx).await?;
        match upload_piece(http, &spare.endpoint, &id, index as u16, path, |_| {}).await {
            Ok(()) => {
                eprintln!("piece {index}: moved to {}", spare.info.address);
                return Ok(spare.info.address);
            }
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}
