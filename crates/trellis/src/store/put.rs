//! `trellis store put`: encode on this machine, open the deal, upload every piece in parallel.
//!
//! The deal must name every piece's root before a provider accepts the piece, so the file is
//! coded before anything is sent. By default the pieces are written to a scratch directory as
//! they are coded and uploaded from there (the fastest way on one machine, measured in
//! BENCHMARKS.md); that needs free disk for `n / k` times the file. Without that much room, or
//! with `--no-scratch`, the file is coded twice instead: once for the roots, once more streaming
//! each piece straight to its provider, which needs no disk and costs a second encoding, far less
//! than any uplink.

use super::{bytes_bar, catalog::Catalog, owner_secret, work_dir, Common};
use crate::{client::Client, wallet::unlock};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write as _;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::Arc,
};
use trellis_ledger::{DealTerms, Piece, TxKind};
use trellis_primitives::{AccountAddress, Credits, DeviceAddress, Hash};
use trellis_storage::{
    chain::{NodeApi, ProviderInfo},
    client::{coding_for, place, upload_piece, upload_piece_stream, Candidate, TransferError, TRANSFER_IDLE_TIMEOUT},
    encode_pieces, CodingParams, FileKey, Layout, PieceTree,
};

/// Most pieces uploaded at once: enough to fill a fast uplink, few enough to keep open files and
/// sockets bounded.
const MAX_PARALLEL_UPLOADS: usize = 8;
/// Coded shards queued per piece between the encoder and a streamed upload: a little slack for
/// uneven connections, while memory stays a few segments whatever the file size.
const SHARDS_QUEUED_PER_PIECE: usize = 2;
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
    /// Code the file twice, streaming pieces to providers, instead of writing them to a scratch
    /// directory first (needs n/k times the file's size free). Chosen by itself when the
    /// scratch directory has too little room.
    #[arg(long)]
    no_scratch: bool,
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
    /// Never write the pieces to a scratch directory (see the module docs).
    pub(crate) no_scratch: bool,
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
        no_scratch: args.no_scratch,
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
    let source = Source {
        file: file.to_path_buf(),
        layout,
        secret: owner_secret(key),
        nonce,
    };
    let scratch = if args.no_scratch {
        None
    } else {
        scratch_dir(layout.stored_len())?
    };
    let bar = bytes_bar(size, "encoding", args.quiet);
    let (staged, trees) = match scratch {
        Some(work) => {
            let paths: Vec<PathBuf> = (0..params.total_shards())
                .map(|i| work.path().join(format!("piece-{i}")))
                .collect();
            let sinks = paths
                .iter()
                .map(|p| {
                    std::fs::File::create(p).map(|f| PieceSink::File(std::io::BufWriter::with_capacity(1 << 20, f)))
                })
                .collect::<std::io::Result<Vec<_>>>()
                .context("cannot create piece files")?;
            let trees = source.encode(sinks, bar.clone()).await?;
            (Some((work, paths)), trees)
        }
        None => (
            None,
            source
                .encode(PieceSink::discard(params.total_shards()), bar.clone())
                .await?,
        ),
    };
    bar.finish_and_clear();

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

    let pieces = match &staged {
        Some((_, paths)) => Pieces::Staged(paths),
        None => Pieces::Streamed(&source),
    };
    let lost = upload_all(&client, key, &mut placement, &terms, pieces, args.quiet).await?;
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

/// A scratch directory with room for `bytes` of pieces (and a tenth more), or `None` if the
/// temporary directory's filesystem has less free.
fn scratch_dir(bytes: u64) -> Result<Option<tempfile::TempDir>> {
    let work = work_dir(None)?;
    let free = rustix::fs::statvfs(work.path())
        .map(|v| v.f_bavail.saturating_mul(v.f_frsize))
        .unwrap_or(u64::MAX);
    if free < bytes.saturating_add(bytes / 10) {
        tracing::info!(
            needed = bytes,
            free,
            dir = %work.path().display(),
            "too little scratch space for the pieces: coding the file twice and streaming them instead"
        );
        return Ok(None);
    }
    Ok(Some(work))
}

/// The file being stored and how it is coded: enough to code any of its pieces again.
struct Source {
    file: PathBuf,
    layout: Layout,
    secret: zeroize::Zeroizing<[u8; 32]>,
    nonce: [u8; 16],
}

impl Source {
    /// Encrypts and codes the file, handing piece `i`'s bytes to `sinks[i]` as they are made and
    /// moving `bar` along the plaintext; every piece's tree.
    async fn encode(&self, mut sinks: Vec<PieceSink>, bar: indicatif::ProgressBar) -> Result<Vec<PieceTree>> {
        let (input, layout, nonce) = (self.file.clone(), self.layout, self.nonce);
        let file_key = FileKey::derive(&self.secret, &nonce);
        tokio::task::spawn_blocking(move || -> Result<_> {
            let mut reader = std::io::BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(&input).with_context(|| format!("cannot open {}", input.display()))?,
            );
            let trees = encode_pieces(&mut reader, layout, &file_key, nonce, &mut sinks, |done| {
                bar.set_position(done)
            })
            .with_context(|| format!("cannot encode {}", input.display()))?;
            for sink in &mut sinks {
                sink.flush().context("cannot write a piece file")?;
            }
            Ok(trees)
        })
        .await?
    }
}

/// Where the encoder puts one piece's bytes.
#[derive(Default)]
enum PieceSink {
    /// Nowhere: the piece is only hashed.
    #[default]
    Discard,
    /// A scratch file, uploaded from once the deal is open.
    File(std::io::BufWriter<std::fs::File>),
    /// The piece's upload; `Discard` once that stops (its task reports why), so the others go on.
    Upload(tokio::sync::mpsc::Sender<axum::body::Bytes>),
}

impl PieceSink {
    /// `n` sinks that keep nothing: the pieces are only hashed.
    fn discard(n: usize) -> Vec<PieceSink> {
        std::iter::repeat_with(PieceSink::default).take(n).collect()
    }
}

impl std::io::Write for PieceSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            PieceSink::Discard => {}
            PieceSink::File(file) => return file.write(buf),
            PieceSink::Upload(upload) => {
                if upload.blocking_send(axum::body::Bytes::copy_from_slice(buf)).is_err() {
                    *self = PieceSink::Discard;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            PieceSink::File(file) => file.flush(),
            _ => Ok(()),
        }
    }
}

/// Where the pieces come from for their uploads.
#[derive(Clone, Copy)]
enum Pieces<'a> {
    /// Scratch files, one per piece.
    Staged(&'a [PathBuf]),
    /// Coded again from the file as they are sent.
    Streamed(&'a Source),
}

/// Results of piece uploads, by piece index.
type Uploads = tokio::task::JoinSet<(usize, Result<(), TransferError>)>;

/// Starts the upload of piece `index` to `endpoint`, fed by the returned sink. The encoder feeds
/// every piece in step, so a provider that stops taking bytes would stall them all: an upload
/// that takes nothing for the transfer idle limit is given up on.
fn start_streamed_upload(
    tasks: &mut Uploads,
    http: &reqwest::Client,
    endpoint: &str,
    terms: &DealTerms,
    index: usize,
    bar: &indicatif::ProgressBar,
) -> PieceSink {
    let (to_upload, shards) = tokio::sync::mpsc::channel(SHARDS_QUEUED_PER_PIECE);
    let body = futures::stream::unfold(shards, |mut shards| async move {
        shards
            .recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(bytes), shards))
    });
    let (http, endpoint, id, len, bar) = (
        http.clone(),
        endpoint.to_string(),
        terms.commitment(),
        terms.piece_len,
        bar.clone(),
    );
    tasks.spawn(async move {
        let taken = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = taken.clone();
        let upload = upload_piece_stream(&http, &endpoint, &id, index as u16, len, body, move |n| {
            bar.inc(n);
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        });
        tokio::pin!(upload);
        let mut before = 0;
        loop {
            tokio::select! {
                result = &mut upload => return (index, result),
                () = tokio::time::sleep(TRANSFER_IDLE_TIMEOUT) => {
                    let now = taken.load(std::sync::atomic::Ordering::Relaxed);
                    if now == before {
                        let message = format!("took no bytes for {} s", TRANSFER_IDLE_TIMEOUT.as_secs());
                        return (index, Err(TransferError::Unreachable { url: endpoint.clone(), message }));
                    }
                    before = now;
                }
            }
        }
    });
    PieceSink::Upload(to_upload)
}

/// Uploads the pieces `indexes` of `terms`, piece `i` to `endpoints[i]`, all at once when
/// streamed (the encoder feeds them in step), a few at a time from scratch files.
async fn upload_pieces(
    http: &reqwest::Client,
    terms: &DealTerms,
    endpoints: &BTreeMap<usize, String>,
    pieces: Pieces<'_>,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<(usize, Result<(), TransferError>)>> {
    let id = terms.commitment();
    let mut tasks = Uploads::new();
    match pieces {
        Pieces::Staged(paths) => {
            let limit = Arc::new(tokio::sync::Semaphore::new(MAX_PARALLEL_UPLOADS));
            for (&index, endpoint) in endpoints {
                let (http, limit, bar, path) = (http.clone(), limit.clone(), bar.clone(), paths[index].clone());
                let endpoint = endpoint.clone();
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let result = upload_piece(&http, &endpoint, &id, index as u16, &path, move |n| bar.inc(n)).await;
                    (index, result)
                });
            }
        }
        Pieces::Streamed(source) => {
            let mut sinks = PieceSink::discard(terms.pieces.len());
            for (&index, endpoint) in endpoints {
                sinks[index] = start_streamed_upload(&mut tasks, http, endpoint, terms, index, bar);
            }
            let trees = source.encode(sinks, indicatif::ProgressBar::hidden()).await?;
            if trees.iter().zip(&terms.pieces).any(|(t, p)| t.root() != p.root) {
                bail!(
                    "the file changed while it was being stored, so providers refuse its pieces; close the deal with \
                     `trellis store rm {id}` to get the escrow back, and store the file again"
                );
            }
        }
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.context("an upload task failed")?);
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results)
}

/// Uploads every piece in parallel; a piece whose provider fails moves to a spare. The pieces
/// that found no provider.
async fn upload_all(
    client: &Client,
    key: &trellis_primitives::Keypair,
    placement: &mut trellis_storage::client::Placement,
    terms: &DealTerms,
    pieces: Pieces<'_>,
    quiet: bool,
) -> Result<Vec<usize>> {
    let bar = bytes_bar(terms.stored_bytes().unwrap_or(0), "uploading", quiet);
    let http = trellis_storage::client::transfer_http();
    let endpoints = placement
        .chosen
        .iter()
        .enumerate()
        .map(|(index, c)| (index, c.endpoint.clone()))
        .collect();
    let mut failed = Vec::new();
    for (index, result) in upload_pieces(&http, terms, &endpoints, pieces, &bar).await? {
        if let Err(e) = result {
            bar.suspend(|| eprintln!("piece {index}: {e}"));
            failed.push(index);
        }
    }
    let mut lost = Vec::new();
    for index in failed {
        let moved = move_to_spare(client, key, &http, &mut placement.spares, terms, index, pieces).await;
        if let Err(e) = moved {
            bar.suspend(|| eprintln!("piece {index}: no spare provider took it: {e:#}"));
            lost.push(index);
        }
    }
    bar.finish_and_clear();
    Ok(lost)
}

/// Moves piece `index` to the next spare that takes it: a `MovePiece` transaction, then the
/// upload (a streamed piece is coded again, alone).
async fn move_to_spare(
    client: &Client,
    key: &trellis_primitives::Keypair,
    http: &reqwest::Client,
    spares: &mut Vec<Candidate>,
    terms: &DealTerms,
    index: usize,
    pieces: Pieces<'_>,
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
            deal: terms.commitment(),
            index: index as u16,
            provider: spare.info.address,
        };
        let tx = client.sign_and_submit(key, kind, None).await?;
        crate::wallet::expect_success(client, &tx).await?;
        let endpoints = BTreeMap::from([(index, spare.endpoint.clone())]);
        let bar = indicatif::ProgressBar::hidden();
        match upload_pieces(http, terms, &endpoints, pieces, &bar).await?.pop() {
            Some((_, Ok(()))) => {
                eprintln!("piece {index}: moved to {}", spare.info.address);
                return Ok(spare.info.address);
            }
            Some((_, Err(e))) => last = e.into(),
            None => last = anyhow::anyhow!("the upload to the spare did not run"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests;
