//! Reading a piece while it downloads, so a file is decoded as its pieces arrive instead of after.
//!
//! The download hands every frame it receives, in order, to a bounded channel as well as to its
//! file ([`super::download_piece`]'s `tee`); a [`FollowReader`] reads the piece from that
//! channel, so the decoder neither waits for the whole piece nor reads it back from disk, and a
//! decoder that falls behind slows the download instead of buffering it. The bytes are
//! unverified until the download ends well ([`PieceFeed::matched`]): whoever decodes from them
//! keeps the result only if every piece it read turned out to match its root. A download that
//! fails or is abandoned closes the channel, and the reader fails.

use axum::body::Bytes;
use std::{
    io::{self, Read},
    sync::{
        atomic::{AtomicU8, Ordering},
        mpsc::{sync_channel, Receiver, SyncSender},
        Arc,
    },
};

/// Frames a download may run ahead of its reader (each a network read or so).
const FRAMES_AHEAD: usize = 256;

const RUNNING: u8 = 0;
const MATCHED: u8 = 1;
const FAILED: u8 = 2;

/// How one followed download ended.
#[derive(Debug, Default)]
pub struct PieceFeed {
    state: AtomicU8,
}

impl PieceFeed {
    /// A feed for a download of a piece of `len` bytes not yet started: the feed, the sender to
    /// give the download, and the reader.
    pub fn channel(len: u64) -> (Arc<Self>, SyncSender<Bytes>, FollowReader) {
        let (tee, frames) = sync_channel(FRAMES_AHEAD);
        let reader = FollowReader {
            frames,
            current: Bytes::new(),
            len,
            pos: 0,
        };
        (Arc::new(PieceFeed::default()), tee, reader)
    }

    /// The download finished and the piece matched its root.
    pub fn matched(&self) {
        // Only a running feed can end well: a failure (or abandonment) is final.
        let _ended = self
            .state
            .compare_exchange(RUNNING, MATCHED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The download failed or was abandoned.
    pub fn failed(&self) {
        self.state.store(FAILED, Ordering::Release);
    }

    /// Whether the download ended with the piece matching its root.
    pub fn is_matched(&self) -> bool {
        self.state.load(Ordering::Acquire) == MATCHED
    }
}

/// Reads a piece of `len` bytes as its download receives it.
pub struct FollowReader {
    frames: Receiver<Bytes>,
    current: Bytes,
    len: u64,
    pos: u64,
}

impl Read for FollowReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            self.current = self.frames.recv().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the piece's download ended after {} of {} bytes", self.pos, self.len),
                )
            })?;
        }
        let n = self
            .current
            .len()
            .min(out.len())
            .min(usize::try_from(self.len - self.pos).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_takes_the_frames_in_order_and_fails_when_the_download_stops_short() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 11 % 251) as u8).collect();
        let (feed, tee, mut reader) = PieceFeed::channel(bytes.len() as u64);
        let writer = {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                for frame in bytes.chunks(7_001) {
                    tee.send(Bytes::copy_from_slice(frame)).unwrap();
                }
            })
        };
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == bytes, "read as it arrived, the piece came back different");
        feed.matched();
        assert!(feed.is_matched());

        // A download that stops half way: the reader gets what came, then an error.
        let (feed, tee, mut reader) = PieceFeed::channel(bytes.len() as u64);
        tee.send(Bytes::copy_from_slice(&bytes[..1_000])).unwrap();
        drop(tee);
        let mut first = vec![0; 1_000];
        reader.read_exact(&mut first).unwrap();
        assert!(first == bytes[..1_000]);
        let err = reader.read(&mut first).unwrap_err();
        assert!(err.to_string().contains("after 1000 of 300000"), "{err}");
        feed.failed();
        feed.matched();
        assert!(!feed.is_matched(), "a failure is final");
    }
}
