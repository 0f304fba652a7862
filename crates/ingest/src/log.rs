//! The report log: accepted reports as length-delimited protobuf frames.
//!
//! Frames go first to a local write-ahead segment that is fsynced before any report in it is
//! acknowledged (one fsync per verified batch: group commit). A segment older than the roll
//! period is gzip-compressed and put into the object store (a local directory by default, any
//! S3-compatible bucket at scale) as `reports/<start_ms>-<seq>.pb.gz`, then deleted locally. On
//! start, leftover segments from a crash are uploaded first, so nothing acknowledged is lost.

use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use futures::TryStreamExt;
use object_store::{path::Path as StorePath, ObjectStore, ObjectStoreExt, PutPayload};
use prost::Message;
use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};
use thiserror::Error;
use trellis_proto::LoggedReport;

/// Largest decompressed segment read back (a bound for readers of untrusted archives).
pub const MAX_SEGMENT_BYTES: u64 = 512 * 1024 * 1024;

/// Report log failures.
#[derive(Debug, Error)]
pub enum LogError {
    /// Local disk.
    #[error("report log I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Object store.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A stored frame does not decode.
    #[error("corrupt report log segment {0}: {1}")]
    Corrupt(String, String),
}

/// An open report log.
pub struct ReportLog {
    wal_dir: PathBuf,
    store: Arc<dyn ObjectStore>,
    roll_ms: u64,
    current: Option<Segment>,
    seq: u64,
}

struct Segment {
    file: std::fs::File,
    path: PathBuf,
    start_ms: u64,
}

/// A segment's object is named after its write-ahead file (`<start_ms>-<seq>`), so uploading the
/// same segment twice (a crash between the upload and the local delete) overwrites, never
/// duplicates.
fn object_path(wal: &Path) -> StorePath {
    let stem = wal.file_stem().and_then(|s| s.to_str()).unwrap_or("segment");
    StorePath::from(format!("reports/{stem}.pb.gz"))
}

impl ReportLog {
    /// Opens the log, first uploading any segment a crash left behind.
    pub async fn open(wal_dir: &Path, store: Arc<dyn ObjectStore>, roll_ms: u64) -> Result<Self, LogError> {
        std::fs::create_dir_all(wal_dir)?;
        let mut log = ReportLog {
            wal_dir: wal_dir.to_path_buf(),
            store,
            roll_ms: roll_ms.max(1),
            current: None,
            seq: 0,
        };
        let mut leftovers: Vec<PathBuf> = std::fs::read_dir(wal_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wal"))
            .collect();
        leftovers.sort();
        for path in leftovers {
            log.upload(&path).await?;
            tracing::info!(segment = %path.display(), "recovered report log segment after restart");
        }
        Ok(log)
    }

    /// Appends frames and makes them durable before returning.
    pub async fn append(&mut self, frames: &[LoggedReport], now_ms: u64) -> Result<(), LogError> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| now_ms.saturating_sub(s.start_ms) >= self.roll_ms)
        {
            self.roll().await?;
        }
        if self.current.is_none() {
            self.seq += 1;
            let path = self.wal_dir.join(format!("{now_ms:013}-{:06}.wal", self.seq));
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            // The new file's directory entry must survive a crash too.
            std::fs::File::open(&self.wal_dir)?.sync_all()?;
            self.current = Some(Segment {
                file,
                path,
                start_ms: now_ms,
            });
        }
        let mut buf = Vec::with_capacity(frames.len() * 256);
        for frame in frames {
            frame
                .encode_length_delimited(&mut buf)
                .map_err(|e| LogError::Corrupt("encode".into(), e.to_string()))?;
        }
        if let Some(segment) = &mut self.current {
            segment.file.write_all(&buf)?;
            segment.file.sync_data()?;
        }
        Ok(())
    }

    /// Closes the current segment and moves it to the object store.
    pub async fn roll(&mut self) -> Result<(), LogError> {
        if let Some(segment) = self.current.take() {
            drop(segment.file);
            self.upload(&segment.path).await?;
        }
        Ok(())
    }

    async fn upload(&mut self, path: &Path) -> Result<(), LogError> {
        let raw = std::fs::read(path)?;
        if !raw.is_empty() {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&raw)?;
            let compressed = gz.finish()?;
            self.store.put(&object_path(path), PutPayload::from(compressed)).await?;
        }
        std::fs::remove_file(path)?;
        Ok(())
    }
}

/// Reads every archived frame, in segment order.
pub async fn read_all(store: &dyn ObjectStore) -> Result<Vec<LoggedReport>, LogError> {
    let mut metas: Vec<_> = store.list(Some(&StorePath::from("reports"))).try_collect().await?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store.get(&meta.location).await?.bytes().await?;
        let mut raw = Vec::new();
        GzDecoder::new(bytes.as_ref())
            .take(MAX_SEGMENT_BYTES)
            .read_to_end(&mut raw)?;
        let mut cursor = raw.as_slice();
        while !cursor.is_empty() {
            let frame = LoggedReport::decode_length_delimited(&mut cursor)
                .map_err(|e| LogError::Corrupt(meta.location.to_string(), e.to_string()))?;
            out.push(frame);
        }
    }
    Ok(out)
}
