//! `trellis store get`: fetch the `k` data pieces (decoding them as they arrive), or `k` pieces
//! and a margin when a data piece is unavailable; start one more for every download that fails
//! or stalls; keep the first `k` that match their commitments (briefly waiting for a data piece
//! about to finish, which spares a rebuild), cancel the slow tail, decrypt to disk. Every window
//! is paid by a signed egress order, and a provider serving bad bytes is reported.

use super::{bytes_bar, owner_secret, work_dir, Common};
use crate::wallet::unlock;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::{collections::BTreeMap, path::PathBuf, sync::Arc};
use trellis_ledger::TxKind;
use trellis_primitives::{AccountAddress, Credits, Epoch, Hash};
use trellis_storage::{
    chain::NodeApi,
    client::{download_piece, FollowReader, OrderSigner, PieceFeed, PieceRef, TransferError},
    decode_pieces,
    direct::{BackgroundWriter, DirectReader},
    CodingParams, FileKey, Layout, EGRESS_PRICE,
};

/// Most pieces downloaded at once (a deal has at most 128; 30 by default).
const MAX_PARALLEL_DOWNLOADS: usize = 32;
/// A download that has received nothing for this long (while not waiting for the decoder) is
/// raced by one more provider.
const HEDGE_STALL: std::time::Duration = std::time::Duration::from_secs(3);
/// How often downloads are checked for a stall.
const HEDGE_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// The file is written by a thread of its own in writes of this size, at most this many queued:
/// the decoder goes on while the disk takes the last segment.
const OUT_WRITE_BYTES: usize = 4 << 20;
const OUT_WRITES_QUEUED: usize = 4;

/// Bytes a followed data piece's download may run ahead of the decoder: two of its shards (the
/// decoder takes one shard of each piece in turn), at least 1 MiB, at most 8 MiB, so memory stays
/// within `k` times that whatever the file.
fn follow_budget(layout: &Layout) -> usize {
    (2 * layout.shard_len(0)).clamp(1 << 20, 8 << 20)
}

/// A piece that may be downloaded: index, provider, root, endpoint, egress price.
type Candidate = (usize, trellis_primitives::DeviceAddress, Hash, String, Credits);

/// Pieces fetched beyond the `k` needed from the start when they are not the `k` data pieces
/// (so the file is rebuilt from the first `k` to arrive): a quarter more, at least one (Storj
/// starts 39 downloads for its 29 needed). Every window is paid, so fetching all `n` would cost
/// the client `n / k` times the file's egress. With all data pieces available none is fetched
/// from the start: they are decoded as they arrive, at the pace of the slowest, which a spare
/// piece could only help when one of them stalls or fails, and each of those starts one.
fn long_tail_margin(k: usize, streaming: bool) -> usize {
    if streaming {
        0
    } else {
        k.div_ceil(4).max(1)
    }
}

/// Once `k` pieces are in, a data piece still downloading is waited for up to this fraction of
/// the time the download has taken so far (1/8): with all `k` data pieces the file is simply
/// decrypted, while a parity piece among them costs a Reed-Solomon rebuild of every segment,
/// more CPU than the whole decryption. Pieces fetched side by side finish within moments of each
/// other, so the wait is short; a genuinely slow provider is still cut off.
const DATA_PIECE_GRACE_DIVISOR: u32 = 8;
/// While the file is decoded as the data pieces arrive, they come at the decoder's pace (a piece
/// it does not follow may finish first): a data piece is waited for as long as the decoder has
/// moved within this long.
const DECODER_STALL: std::time::Duration = std::time::Duration::from_millis(500);

/// Where a download stands with `good` pieces in and `in_flight` still coming.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Fewer than `k` pieces.
    NeedMore,
    /// `k` or more, but a data piece (index below `k`) is still coming: worth a short wait.
    DataPieceComing,
    /// Enough: cancel the rest.
    Done,
}

fn progress(good: usize, k: usize, in_flight: &std::collections::BTreeSet<usize>) -> Progress {
    if good < k {
        Progress::NeedMore
    } else if in_flight.range(..k).next().is_some() {
        Progress::DataPieceComing
    } else {
        Progress::Done
    }
}

/// Arguments of `trellis store get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// File id (deal id, 64 hex digits), as `store put` printed it.
    id: Hash,
    /// Where to write the file (must not exist, unless --force).
    out: PathBuf,
    #[command(flatten)]
    common: Common,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Seconds a piece's download may receive nothing before it fails (a spare piece is raced
    /// against it after 3 s already). Raise it on slow or flaky links.
    #[arg(long, value_name = "SECS", default_value_t = trellis_storage::client::TRANSFER_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400), env = "TRELLIS_TRANSFER_IDLE_SECS")]
    idle_timeout: u64,
}

pub(crate) async fn run(args: GetArgs) -> Result<()> {
    if args.out.is_dir() {
        bail!(
            "{} is a directory; name the file to write, e.g. {}",
            args.out.display(),
            args.out.join("file.bin").display()
        );
    }
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it", args.out.display());
    }
    let key = Arc::new(unlock(&args.common.keystore)?);
    let idle = std::time::Duration::from_secs(args.idle_timeout);
    let fetched = fetch_file(&key, &args.common.api.api, args.id, &args.out, args.common.quiet, idle).await?;
    tracing::debug!(streamed = fetched.streamed, "fetched");
    eprintln!("written to {}", args.out.display());
    Ok(())
}

/// How a fetch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// Decoded from the data pieces as they arrived (else from the pieces fetched, afterwards).
    pub(crate) streamed: bool,
}

/// Downloads, verifies and decrypts file `id` of the wallet `key` into `out` (replacing it).
pub(crate) async fn fetch_file(
    key: &Arc<trellis_primitives::Keypair>,
    api: &str,
    id: Hash,
    out: &std::path::Path,
    quiet: bool,
    idle: std::time::Duration,
) -> Result<Fetched> {
    let node = NodeApi::new(api)?;
    let deal = node
        .deal(&id)
        .await?
        .with_context(|| format!("no open storage deal {} on {}", id, node.url()))?;
    if deal.client != AccountAddress::from(key.public()) {
        bail!(
            "deal {} belongs to {}, not to this wallet: its file key cannot be derived here",
            id,
            deal.client
        );
    }
    let terms = deal.terms;
    let params = CodingParams {
        data_shards: terms.data_shards,
        parity_shards: terms.parity_shards,
        segment_bytes: terms.segment_bytes,
    };
    let layout = Layout::new(terms.size, params)?;
    let k = usize::from(terms.data_shards);
    // Each provider's endpoint and egress price (what every downloaded window is paid at).
    let endpoints: BTreeMap<_, _> = node
        .providers()
        .await?
        .into_iter()
        .filter_map(|p| {
            let price = Credits(p.capability(EGRESS_PRICE).unwrap_or(0));
            Some((p.address, (p.endpoint?, price)))
        })
        .collect();
    let status = node.status().await?;
    let orders = OrderSigner::new(key.clone(), &status.chain_id, Epoch(status.epoch));

    let work = work_dir(Some(out))?;
    let http = trellis_storage::client::transfer_http(idle);
    let bar = bytes_bar(layout.piece_len() * k as u64, "downloading", quiet);
    // Each candidate piece: where it is served and what it must be.
    let mut candidates = std::collections::VecDeque::new();
    for (index, piece) in terms.pieces.iter().enumerate() {
        let Some((endpoint, price)) = endpoints.get(&piece.provider).cloned() else {
            bar.suspend(|| eprintln!("piece {index}: provider {} publishes no endpoint", piece.provider));
            continue;
        };
        candidates.push_back((index, piece.provider, piece.root, endpoint, price));
    }
    let len = layout.piece_len();
    let secret = owner_secret(key);
    let partial = work.path().join("out");
    // With every data piece among the first downloads (the usual case), the file is decoded
    // from them as they arrive; it is kept only if all of them match their roots.
    let streaming = candidates.iter().take(k).map(|c| c.0).eq(0..k);
    let (mut feeds, mut tees, mut readers) = (Feeds(Vec::new()), BTreeMap::new(), Vec::new());
    if streaming {
        for index in 0..k {
            let (feed, tee, reader) = PieceFeed::channel(len, follow_budget(&layout));
            feeds.0.push(feed);
            tees.insert(index, tee);
            readers.push((index, reader));
        }
    }
    let tees = std::sync::Mutex::new(tees);
    // Plaintext bytes the streaming decoder has written so far.
    let decoded = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let decoder = if streaming {
        let file_key = FileKey::derive(&secret, &terms.nonce);
        Some(start_streaming_decode(
            readers,
            layout,
            file_key,
            terms.nonce,
            &partial,
            decoded.clone(),
        ))
    } else {
        None
    };
    let mut in_flight = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    let now_ms = move || started.elapsed().as_millis() as u64;
    // When each piece's download last received bytes (ms since `started`), by piece index.
    let last_bytes: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..terms.pieces.len()).map(|_| Default::default()).collect());
    let spawn = |tasks: &mut tokio::task::JoinSet<_>,
                 in_flight: &mut std::collections::BTreeSet<usize>,
                 (index, provider, root, endpoint, price): Candidate| {
        in_flight.insert(index);
        last_bytes[index].store(now_ms(), std::sync::atomic::Ordering::Relaxed);
        let last = last_bytes.clone();
        let tee = tees
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&index);
        let (http, bar) = (http.clone(), bar.clone());
        let piece_ref = PieceRef {
            deal: id,
            index: index as u16,
            root,
            len,
        };
        let dest = work.path().join(format!("piece-{index}"));
        let piece_orders = orders.for_piece(id, provider, price);
        tasks.spawn(async move {
            // The bar moves as bytes arrive: data pieces decoded as they come finish together,
            // at the very end.
            let received = |n| {
                last[index].store(now_ms(), std::sync::atomic::Ordering::Relaxed);
                bar.inc(n);
            };
            let result = download_piece(&http, &endpoint, &piece_ref, &piece_orders, &dest, tee, received).await;
            (index, provider, dest, result)
        });
    };
    // Every window is paid for, so only k pieces (and a margin, unless streaming) are fetched at
    // once; a failure, or a download that stalls, starts the next candidate (the slow tail is
    // hedged, then cancelled once k pieces are in).
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..(k + long_tail_margin(k, streaming)).min(MAX_PARALLEL_DOWNLOADS) {
        if let Some(c) = candidates.pop_front() {
            spawn(&mut tasks, &mut in_flight, c);
        }
    }
    let mut good: Vec<(usize, PathBuf)> = Vec::with_capacity(k + 1);
    let mut bad_data = Vec::new();
    // Stalled downloads already raced by another provider.
    let mut hedged = std::collections::BTreeSet::new();
    // Set once `k` pieces are in but a data piece is still coming: how long it may take.
    let mut grace: Option<tokio::time::Instant> = None;
    let mut decoded_seen = 0;
    while !tasks.is_empty() {
        let deadline = grace.unwrap_or_else(|| tokio::time::Instant::now() + HEDGE_CHECK);
        let joined = match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) if grace.is_some() => {
                // Data pieces followed by the decoder come at its pace: while it moves, wait on.
                let now = decoded.load(std::sync::atomic::Ordering::Relaxed);
                if now > decoded_seen {
                    decoded_seen = now;
                    grace = Some(tokio::time::Instant::now() + DECODER_STALL);
                    continue;
                }
                break; // the data piece is late: rebuild from parity
            }
            Err(_) => {
                // A download that received nothing for a while, and is not merely waiting for
                // the decoder to take what it has: race one more provider against it.
                let stalled = in_flight.iter().copied().find(|index| {
                    let last = last_bytes[*index].load(std::sync::atomic::Ordering::Relaxed);
                    let quiet = now_ms().saturating_sub(last) >= HEDGE_STALL.as_millis() as u64;
                    let waits_for_decoder = feeds.0.get(*index).is_some_and(|f| f.queued_bytes() > 0);
                    quiet && !waits_for_decoder && !hedged.contains(index)
                });
                if let Some(index) = stalled {
                    hedged.insert(index);
                    if let Some(feed) = feeds.0.get(index) {
                        // The decoder cannot go on without it: stop following the data pieces,
                        // so the others download in full and a spare can stand in.
                        feed.failed();
                    }
                    if let Some(c) = candidates.pop_front() {
                        bar.suspend(|| {
                            eprintln!(
                                "piece {index}: nothing received for {} s; fetching piece {} beside it",
                                HEDGE_STALL.as_secs(),
                                c.0
                            )
                        });
                        spawn(&mut tasks, &mut in_flight, c);
                    }
                }
                continue;
            }
        };
        let (index, provider, path, result) = joined.context("a download task failed")?;
        in_flight.remove(&index);
        if let Some(feed) = feeds.0.get(index) {
            match &result {
                Ok(()) => feed.matched(),
                Err(_) => feed.failed(),
            }
        }
        match result {
            Ok(()) => {
                good.push((index, path));
                match progress(good.len(), k, &in_flight) {
                    Progress::NeedMore => {}
                    Progress::DataPieceComing => {
                        grace.get_or_insert_with(|| {
                            let wait = if decoder.is_some() {
                                DECODER_STALL
                            } else {
                                started.elapsed() / DATA_PIECE_GRACE_DIVISOR
                            };
                            tokio::time::Instant::now() + wait
                        });
                    }
                    Progress::Done => break,
                }
            }
            Err(e) => {
                if let TransferError::BadData { .. } = e {
                    bad_data.push((index, provider));
                }
                bar.suspend(|| eprintln!("piece {index}: {e}"));
                if good.len() < k {
                    if let Some(c) = candidates.pop_front() {
                        spawn(&mut tasks, &mut in_flight, c);
                    }
                }
            }
        }
    }
    // Enough: the slow tail is cancelled (aborting stops paying for it too), and a data piece
    // that did not come stops the decoding that was following it.
    tasks.abort_all();
    feeds.fail_unmatched();
    tracing::debug!(ms = started.elapsed().as_millis() as u64, pieces = ?good.iter().map(|g| g.0).collect::<Vec<_>>(), "pieces downloaded");
    bar.finish_and_clear();
    let chain = crate::client::Client::new(api)?;
    for (index, provider) in &bad_data {
        // The download is unsigned, so this proves nothing by itself; on chain it buys the piece
        // an audit on every chunk a challenge allows, which a provider serving bad bytes fails.
        eprintln!("warning: provider {provider} served corrupt data for piece {index}; reporting it");
        let report = TxKind::ReportPiece {
            deal: id,
            index: *index as u16,
        };
        // One at a time, each waited for: the next report takes the next nonce.
        let submitted = match chain.sign_and_submit(key, report, None).await {
            Ok(tx) => chain.wait(&tx, std::time::Duration::from_secs(30)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = submitted {
            eprintln!("warning: the report on piece {index} was not sent: {e:#}");
        }
    }
    if good.len() < k {
        bail!(
            "only {} of the {k} pieces needed could be fetched intact from {} providers",
            good.len(),
            terms.pieces.len()
        );
    }

    let streamed = match decoder {
        Some(decoder) => match decoder.await {
            Ok(Ok(())) if feeds.all_matched() => true,
            Ok(Ok(())) | Ok(Err(_)) => false,
            Err(e) => bail!("the decoding task failed: {e}"),
        },
        None => false,
    };
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        streamed,
        "decoded as the pieces arrived"
    );
    if streamed {
        std::fs::rename(&partial, out).with_context(|| format!("cannot move the file to {}", out.display()))?;
        tracing::debug!(bytes = terms.size, out = %out.display(), "file fetched");
        return Ok(Fetched { streamed: true });
    }
    let bar = bytes_bar(terms.size, "decrypting", quiet);
    let file_key = FileKey::derive(&secret, &terms.nonce);
    let (bar2, partial2, nonce) = (bar.clone(), partial.clone(), terms.nonce);
    tokio::task::spawn_blocking(move || -> Result<()> {
        // Pieces and file are bulk data read or written once: around the page cache.
        let readers = good
            .into_iter()
            .map(|(i, p)| std::fs::File::open(&p).map(|f| (i, DirectReader::new(f, 1 << 20))))
            .collect::<std::io::Result<Vec<_>>>()
            .context("cannot reopen a downloaded piece")?;
        decode_into(readers, layout, &file_key, nonce, &partial2, |done| {
            bar2.set_position(done)
        })
    })
    .await??;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "downloaded and decoded");
    bar.finish_and_clear();
    std::fs::rename(&partial, out).with_context(|| format!("cannot move the file to {}", out.display()))?;
    tracing::debug!(bytes = terms.size, out = %out.display(), "file fetched");
    Ok(Fetched { streamed: false })
}

/// The feeds of the data pieces a streaming decode follows (none when it does not). Dropped
/// early (an error on the way), it fails them all, so the decoding thread stops.
struct Feeds(Vec<Arc<PieceFeed>>);

impl Feeds {
    fn fail_unmatched(&self) {
        for feed in self.0.iter().filter(|f| !f.is_matched()) {
            feed.failed();
        }
    }

    fn all_matched(&self) -> bool {
        self.0.iter().all(|f| f.is_matched())
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.fail_unmatched();
    }
}

/// Starts decoding the data pieces into `partial` from `readers`, which follow their downloads.
fn start_streaming_decode(
    readers: Vec<(usize, FollowReader)>,
    layout: Layout,
    file_key: FileKey,
    nonce: [u8; 16],
    partial: &std::path::Path,
    decoded: Arc<std::sync::atomic::AtomicU64>,
) -> tokio::task::JoinHandle<Result<()>> {
    let partial = partial.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let result = decode_into(readers, layout, &file_key, nonce, &partial, |done| {
            decoded.store(done, std::sync::atomic::Ordering::Relaxed)
        });
        if let Err(e) = &result {
            tracing::debug!(error = %e, "decoding as the pieces arrive stopped; decoding from the pieces fetched");
        }
        result
    })
}

/// Decodes `pieces` into a new file at `path`, written by a thread of its own and fsynced,
/// calling `progress(plaintext bytes done)` as it goes.
fn decode_into<R: std::io::Read>(
    pieces: Vec<(usize, R)>,
    layout: Layout,
    file_key: &FileKey,
    nonce: [u8; 16],
    path: &std::path::Path,
    progress: impl FnMut(u64),
) -> Result<()> {
    let cannot_write = || format!("cannot write {}", path.display());
    let file = std::fs::File::create(path).with_context(cannot_write)?;
    let mut out = BackgroundWriter::new(file, OUT_WRITE_BYTES, OUT_WRITES_QUEUED)?;
    decode_pieces(pieces, layout, file_key, nonce, &mut out, progress)?;
    out.finish()
        .with_context(cannot_write)?
        .sync_all()
        .with_context(cannot_write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_storage_net::{loopback, loopback_key};
    use crate::store::{store_file, PutOptions};
    use trellis_storage::client::TRANSFER_IDLE_TIMEOUT;

    /// A file stored 2-of-4 comes back decoded as its data pieces arrive; with a byte of a data
    /// piece flipped on its provider's disk (which then refuses to serve the bad chunk), the
    /// decoding that followed it is dropped and the file is decoded from the pieces fetched
    /// instead: whole either way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fetch_decodes_as_data_pieces_arrive_and_falls_back_when_one_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let net = loopback(tmp.path(), 4, |_| 1 << 30).await.unwrap();
        let (file, data) = crate::store::put::test_file(tmp.path(), 9_000_000);
        let options = PutOptions::for_test(2, 4);
        let client = Arc::new(loopback_key(None));
        let id = store_file(&client, &net.api, &file, &options).await.unwrap();
        let out = tmp.path().join("back.bin");
        let fetched = fetch_file(&client, &net.api, id, &out, true, TRANSFER_IDLE_TIMEOUT)
            .await
            .unwrap();
        assert!(fetched.streamed, "all providers healthy: decoded as the pieces arrived");
        assert!(std::fs::read(&out).unwrap() == data, "the file came back different");

        let deal = NodeApi::new(&net.api).unwrap().deal(&id).await.unwrap().unwrap();
        let holder = (0..4)
            .find(|&i| {
                trellis_primitives::DeviceAddress::from(loopback_key(Some(i)).public()) == deal.terms.pieces[1].provider
            })
            .unwrap();
        let stored = tmp.path().join(format!("provider-{holder}/pieces/{id}/1.piece"));
        let mut bytes = std::fs::read(&stored).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&stored, &bytes).unwrap();
        let fetched = fetch_file(&client, &net.api, id, &out, true, TRANSFER_IDLE_TIMEOUT)
            .await
            .unwrap();
        assert!(
            !fetched.streamed,
            "data piece 1 broke off: decoded from the pieces fetched"
        );
        assert!(std::fs::read(&out).unwrap() == data, "the file came back different");
    }

    #[test]
    fn a_data_piece_still_coming_is_waited_for_once_k_are_in_and_parity_is_not() {
        let flying = |v: &[usize]| v.iter().copied().collect::<std::collections::BTreeSet<_>>();
        assert_eq!(progress(2, 3, &flying(&[0, 5])), Progress::NeedMore);
        assert_eq!(progress(3, 3, &flying(&[2])), Progress::DataPieceComing);
        assert_eq!(progress(3, 3, &flying(&[3, 4])), Progress::Done, "only parity left");
        assert_eq!(progress(4, 3, &flying(&[])), Progress::Done);
    }
}
