//! Coding the file and streaming every piece to its provider as it is coded: the sinks the
//! encoder writes into, and the upload tasks that drain them.

use anyhow::{Context, Result};
use std::{collections::BTreeMap, path::PathBuf, sync::Arc};
use trellis_primitives::Hash;
use trellis_storage::{
    client::{stage_piece_stream, upload_piece_stream, TransferError},
    encode_pieces,
    protocol::{SignedStageGrant, SignedUploadGrant},
    FileKey, Layout, PieceTree,
};

/// Coded shards queued per piece between the encoder and a streamed upload: a little slack for
/// uneven connections, while memory stays a few segments whatever the file size.
const SHARDS_QUEUED_PER_PIECE: usize = 2;

/// The file being stored and how it is coded: enough to code any of its pieces again.
pub(super) struct Source {
    pub(super) file: PathBuf,
    pub(super) layout: Layout,
    pub(super) secret: zeroize::Zeroizing<[u8; 32]>,
    pub(super) nonce: [u8; 16],
}

impl Source {
    /// Encrypts and codes the file, handing piece `i`'s bytes to `sinks[i]` as they are made and
    /// moving `bar` along the plaintext; every piece's tree.
    pub(super) async fn encode(
        &self,
        mut sinks: Vec<PieceSink>,
        bar: indicatif::ProgressBar,
    ) -> Result<Vec<PieceTree>> {
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
            Ok(trees)
        })
        .await?
    }
}

/// Where the encoder puts one piece's bytes.
#[derive(Default)]
pub(super) enum PieceSink {
    /// Nowhere: the piece is only hashed.
    #[default]
    Discard,
    /// The piece's upload; `Discard` once that stops (its task reports why) or has taken nothing
    /// for `idle`, so the others go on.
    Upload {
        to: tokio::sync::mpsc::Sender<axum::body::Bytes>,
        idle: std::time::Duration,
    },
}

impl PieceSink {
    /// `n` sinks that keep nothing: the pieces are only hashed.
    pub(super) fn discard(n: usize) -> Vec<PieceSink> {
        std::iter::repeat_with(PieceSink::default).take(n).collect()
    }
}

impl trellis_storage::codec::PieceOut for PieceSink {
    fn put(&mut self, bytes: axum::body::Bytes) -> std::io::Result<()> {
        if let PieceSink::Upload { to: upload, idle } = self {
            use tokio::sync::mpsc::error::TrySendError;
            // Pieces are fed in step, so one provider that stops taking bytes would hold up
            // every other: after the idle limit its piece is dropped (its upload ends short and
            // fails, the piece moves to a spare) and the rest go on.
            let taken = match upload.try_send(bytes) {
                Ok(()) => true,
                Err(TrySendError::Closed(_)) => false,
                Err(TrySendError::Full(bytes)) => tokio::runtime::Handle::current()
                    .block_on(upload.send_timeout(bytes, *idle))
                    .is_ok(),
            };
            if !taken {
                *self = PieceSink::Discard;
            }
        }
        Ok(())
    }
}

/// Results of piece uploads, by piece index: the root the provider computed, for a staged one.
pub(super) type Uploads = tokio::task::JoinSet<(usize, Result<Option<Hash>, TransferError>)>;

/// The HTTP client piece transfers use, and the idle limit it enforces.
pub(super) struct Transfers {
    pub(super) http: reqwest::Client,
    pub(super) idle: std::time::Duration,
}

/// Where a streamed piece goes.
pub(super) enum Dest {
    /// Staged under the client's grant, before the deal exists.
    Stage(Box<SignedStageGrant>),
    /// Stored straight away under an open deal, by the grant's leave; its pieces are
    /// `piece_len` bytes.
    Deal {
        grant: Box<SignedUploadGrant>,
        piece_len: u64,
    },
}

/// Starts the upload of piece `index` to `endpoint`, fed by the returned sink. An upload that
/// takes nothing for twice the transfer idle limit is given up on: the encoder drops a sink
/// that blocks it for the idle limit, so an upload idle only because a stalled one held the
/// encoder up always takes bytes again well within that.
pub(super) fn start_streamed_upload(
    tasks: &mut Uploads,
    transfers: &Transfers,
    endpoint: &str,
    dest: Dest,
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
    let (http, endpoint, bar) = (transfers.http.clone(), endpoint.to_string(), bar.clone());
    let idle = transfers.idle;
    tasks.spawn(async move {
        let taken = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = taken.clone();
        let progress = move |n| {
            bar.inc(n);
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let upload = async {
            match &dest {
                Dest::Stage(grant) => stage_piece_stream(&http, &endpoint, grant, body, progress)
                    .await
                    .map(Some),
                Dest::Deal { grant, piece_len } => {
                    upload_piece_stream(&http, &endpoint, grant, *piece_len, body, progress)
                        .await
                        .map(|()| None)
                }
            }
        };
        tokio::pin!(upload);
        let mut before = 0;
        loop {
            tokio::select! {
                result = &mut upload => return (index, result),
                () = tokio::time::sleep(2 * idle) => {
                    let now = taken.load(std::sync::atomic::Ordering::Relaxed);
                    if now == before {
                        let message = format!("took no bytes for {} s", 2 * idle.as_secs());
                        return (index, Err(TransferError::Unreachable { url: endpoint.clone(), message }));
                    }
                    before = now;
                }
            }
        }
    });
    PieceSink::Upload {
        to: to_upload,
        idle: transfers.idle,
    }
}

/// Waits for every upload; the results by piece index.
pub(super) async fn join_uploads(mut tasks: Uploads) -> Result<BTreeMap<usize, Result<Option<Hash>, TransferError>>> {
    let mut results = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.context("an upload task failed")?;
        results.insert(index, result);
    }
    Ok(results)
}
