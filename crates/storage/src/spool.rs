//! A piece written to disk as it streams in over the network, every chunk hashed on the way,
//! off the async threads.
//!
//! The network side hands each received frame over a bounded channel to one blocking thread,
//! which hashes it into the piece's tree and writes it in large writes. Frames are small (a TCP
//! read or so), so doing both inline would put a hash and a blocking-pool round trip per frame on
//! the async runtime, which serves every other transfer too. The channel holds at most
//! [`FRAMES_IN_FLIGHT`] frames (a few MiB), so a slow disk pushes back on the sender instead of
//! buffering without bound.
//!
//! The file is written around the page cache where the filesystem allows ([`crate::direct`]).
//! Where it does not, a spool that will be made durable (a provider's upload) asks the kernel
//! every [`WRITEBACK_EVERY`] bytes to start writing the range out, so the disk works while the
//! rest arrives and the fsync at the end finds little left to do (what databases call
//! bytes-per-sync); otherwise every piece of a parallel upload would hit the disk at its very end.

use crate::{
    direct::DirectWriter,
    piece::{PieceHasher, PieceTree},
};
use axum::body::Bytes;
use std::{fs::File, io, io::Write as _, path::Path};
use tokio::sync::mpsc;

/// Bytes between requests to start writeback, for spools made durable later.
pub const WRITEBACK_EVERY: u64 = 8 << 20;
/// Received bytes gathered before each write.
const WRITE_BYTES: usize = 1 << 20;
/// Frames in flight between the network and the writing thread.
pub const FRAMES_IN_FLIGHT: usize = 64;

/// Whether a spool's file will be made durable (start writeback early) or is scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Fsynced once complete: write back as it goes.
    Durable,
    /// Read back soon and removed: no early writeback.
    Scratch,
}

/// A file being written and hashed by its own thread.
pub struct Spool {
    frames: mpsc::Sender<Bytes>,
    writer: Option<tokio::task::JoinHandle<io::Result<PieceTree>>>,
}

impl Spool {
    /// Creates (truncates) `path` and starts its writing thread. The file exists when this
    /// returns, so whoever removes it on failure never races its creation.
    pub async fn create(path: &Path, durability: Durability) -> io::Result<Self> {
        Self::create_teed(path, durability, None).await
    }

    /// As [`Spool::create`], also handing every frame, in order, to `tee` (a reader that uses
    /// the bytes while the rest arrives); it waits for that reader, and stops feeding it once
    /// the reader is gone.
    pub async fn create_teed(
        path: &Path,
        durability: Durability,
        tee: Option<crate::client::FeedSender>,
    ) -> io::Result<Self> {
        let file = tokio::fs::File::create(path).await?.into_std().await;
        let (frames, received) = mpsc::channel(FRAMES_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || write_hashed(file, received, durability, tee));
        Ok(Spool {
            frames,
            writer: Some(writer),
        })
    }

    /// Hands the next bytes to the writer. On error the writer has stopped, and this is why.
    pub async fn write(&mut self, bytes: Bytes) -> io::Result<()> {
        if self.frames.send(bytes).await.is_err() {
            return Err(self.stopped().await);
        }
        Ok(())
    }

    /// Waits for everything handed over to be written: the piece's tree. The file is written
    /// but not fsynced.
    pub async fn finish(self) -> io::Result<PieceTree> {
        let Spool { frames, mut writer } = self;
        drop(frames); // the writer sees the end of the frames
        join(&mut writer).await
    }

    async fn stopped(&mut self) -> io::Error {
        match join(&mut self.writer).await {
            Err(e) => e,
            Ok(_) => io::Error::other("the piece writer stopped early"),
        }
    }
}

/// The writing thread's result; an error if it was already taken.
async fn join(writer: &mut Option<tokio::task::JoinHandle<io::Result<PieceTree>>>) -> io::Result<PieceTree> {
    match writer.take() {
        Some(writer) => writer.await.map_err(io::Error::other)?,
        None => Err(io::Error::other("the piece writer already stopped")),
    }
}

/// The writing thread: hashes and writes every frame until the sender is gone.
fn write_hashed(
    file: File,
    mut frames: mpsc::Receiver<Bytes>,
    durability: Durability,
    mut tee: Option<crate::client::FeedSender>,
) -> io::Result<PieceTree> {
    let mut hasher = PieceHasher::new();
    let mut out = DirectWriter::new(file, WRITE_BYTES);
    let (mut written, mut written_back) = (0u64, 0u64);
    while let Some(frame) = frames.blocking_recv() {
        hasher.update(&frame);
        if tee.as_ref().is_some_and(|t| !t.send(frame.clone())) {
            tee = None;
        }
        out.write_all(&frame)?;
        written += frame.len() as u64;
        if durability == Durability::Durable && !out.is_direct() && written - written_back >= WRITEBACK_EVERY {
            start_writeback(out.file(), written_back, written - written_back);
            written_back = written;
        }
    }
    out.finish()?;
    Ok(hasher.finish())
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk, without waiting.
/// Advisory: the fsync that follows is what makes the data durable, so a refusal is only logged.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd as _;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range takes a descriptor and integers and touches no memory of ours; the
    // descriptor is borrowed from `file`, so it stays open for the call.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "sync_file_range refused; the final fsync does it all");
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_of_any_size_give_the_file_and_tree_of_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..3 * WRITE_BYTES + 12_345).map(|i| (i * 31 % 251) as u8).collect();
        for durability in [Durability::Durable, Durability::Scratch] {
            let path = dir.path().join(format!("{durability:?}"));
            let mut spool = Spool::create(&path, durability).await.unwrap();
            let mut at = 0;
            for size in [1usize, 4095, 4097, 65_536, 1 << 20].iter().cycle() {
                if at == bytes.len() {
                    break;
                }
                let end = (at + size).min(bytes.len());
                spool.write(Bytes::copy_from_slice(&bytes[at..end])).await.unwrap();
                at = end;
            }
            let tree = spool.finish().await.unwrap();
            assert_eq!(tree, PieceTree::of(&bytes));
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }

    #[tokio::test]
    async fn a_failing_disk_is_reported_by_the_write_that_meets_it() {
        // /dev/full refuses every write with ENOSPC.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let mut spool = Spool::create(Path::new("/dev/full"), Durability::Scratch)
            .await
            .unwrap();
        let frame = Bytes::from(vec![7u8; WRITE_BYTES]);
        let mut error = None;
        for _ in 0..2 * FRAMES_IN_FLIGHT + 2 {
            if let Err(e) = spool.write(frame.clone()).await {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("a full disk must stop the spool");
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
    }
}
