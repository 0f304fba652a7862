//! Reading a piece while it downloads, so a file is decoded as its pieces arrive instead of after.
//!
//! The download hands every frame it receives, in order, to a [`FeedSender`] as well as to its
//! file ([`super::download_piece`]'s `tee`); a [`FollowReader`] reads the piece from there, so
//! the decoder neither waits for the whole piece nor reads it back from disk. At most a byte
//! budget waits between them (a couple of shards), so a decoder that falls behind slows the
//! download instead of buffering it, and memory stays bounded whatever the file or `k`. The bytes are
//! unverified until the download ends well ([`PieceFeed::matched`]): whoever decodes from them
//! keeps the result only if every piece it read turned out to match its root. A download that
//! fails or is abandoned closes the channel, and the reader fails.

use axum::body::Bytes;
use std::{
    collections::VecDeque,
    io::{self, Read},
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Condvar, Mutex, PoisonError,
    },
};

const RUNNING: u8 = 0;
const MATCHED: u8 = 1;
const FAILED: u8 = 2;

/// Frames waiting between a download and its reader, and whether either side has gone.
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    bytes: usize,
    sender_gone: bool,
    reader_gone: bool,
}

/// The queue and its wake-ups, shared by both sides.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How one followed download ended, and what waits between it and its reader.
#[derive(Debug)]
pub struct PieceFeed {
    state: AtomicU8,
    shared: Arc<Shared>,
}

impl PieceFeed {
    /// A feed for a download of a piece of `len` bytes not yet started, holding at most
    /// `budget` bytes between download and reader (a frame larger than that still passes, alone):
    /// the feed, the sender to give the download, and the reader.
    pub fn channel(len: u64, budget: usize) -> (Arc<Self>, FeedSender, FollowReader) {
        let shared = Arc::new(Shared::default());
        let sender = FeedSender {
            shared: shared.clone(),
            budget,
        };
        let reader = FollowReader {
            shared: shared.clone(),
            current: Bytes::new(),
            len,
            pos: 0,
        };
        let feed = PieceFeed {
            state: AtomicU8::new(RUNNING),
            shared,
        };
        (Arc::new(feed), sender, reader)
    }

    /// The download finished and the piece matched its root.
    pub fn matched(&self) {
        // Only a running feed can end well: a failure (or abandonment) is final.
        let _ended = self
            .state
            .compare_exchange(RUNNING, MATCHED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The download failed or was abandoned: final, and the reader gets what was queued, then an
    /// error, even while the download itself is still stuck somewhere.
    pub fn failed(&self) {
        self.state.store(FAILED, Ordering::Release);
        self.shared.lock().sender_gone = true;
        self.shared.changed.notify_all();
    }

    /// Whether the download ended with the piece matching its root.
    pub fn is_matched(&self) -> bool {
        self.state.load(Ordering::Acquire) == MATCHED
    }

    /// Bytes received and not yet read. A download that has stopped receiving while this is
    /// above zero is waiting for its reader, not for its provider.
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().bytes
    }
}

/// The download's side: hands frames to the reader, waiting while the budget is spent. Dropped,
/// it tells the reader the download has ended.
#[derive(Debug)]
pub struct FeedSender {
    shared: Arc<Shared>,
    budget: usize,
}

impl FeedSender {
    /// Queues `frame` for the reader; `false` once the reader is gone (stop sending).
    pub fn send(&self, frame: Bytes) -> bool {
        let mut queue = self.shared.lock();
        while !queue.reader_gone && queue.bytes > 0 && queue.bytes + frame.len() > self.budget {
            queue = self.shared.changed.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
        if queue.reader_gone {
            return false;
        }
        queue.bytes += frame.len();
        queue.frames.push_back(frame);
        self.shared.changed.notify_all();
        true
    }
}

impl Drop for FeedSender {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.changed.notify_all();
    }
}

/// Reads a piece of `len` bytes as its download receives it.
pub struct FollowReader {
    shared: Arc<Shared>,
    current: Bytes,
    len: u64,
    pos: u64,
}

impl FollowReader {
    /// The next frame; `None` once the download has ended and nothing is left.
    fn next_frame(&mut self) -> Option<Bytes> {
        let mut queue = self.shared.lock();
        loop {
            if let Some(frame) = queue.frames.pop_front() {
                queue.bytes -= frame.len();
                self.shared.changed.notify_all();
                return Some(frame);
            }
            if queue.sender_gone {
                return None;
            }
            queue = self.shared.changed.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for FollowReader {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.reader_gone = true;
        queue.frames.clear();
        queue.bytes = 0;
        self.shared.changed.notify_all();
    }
}

impl Read for FollowReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            self.current = self.next_frame().ok_or_else(|| {
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
    fn a_reader_takes_the_frames_in_order_within_the_budget_and_fails_when_the_download_stops_short() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 11 % 251) as u8).collect();
        let (feed, tee, mut reader) = PieceFeed::channel(bytes.len() as u64, 20_000);
        let writer = {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                for frame in bytes.chunks(7_001) {
                    assert!(tee.send(Bytes::copy_from_slice(frame)));
                    let waiting = tee.shared.lock().bytes;
                    assert!(waiting <= 20_000, "{waiting} bytes queued past the budget");
                }
            })
        };
        let mut back = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while feed.queued_bytes() == 0 {
            assert!(std::time::Instant::now() < deadline, "nothing was queued");
            std::thread::yield_now();
        }
        assert!(feed.queued_bytes() <= 20_000);
        reader.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == bytes, "read as it arrived, the piece came back different");
        feed.matched();
        assert!(feed.is_matched());

        // A download that stops half way: the reader gets what came, then an error.
        let (feed, tee, mut reader) = PieceFeed::channel(bytes.len() as u64, 20_000);
        assert!(tee.send(Bytes::copy_from_slice(&bytes[..1_000])));
        drop(tee);
        let mut first = vec![0; 1_000];
        reader.read_exact(&mut first).unwrap();
        assert!(first == bytes[..1_000]);
        let err = reader.read(&mut first).unwrap_err();
        assert!(err.to_string().contains("after 1000 of 300000"), "{err}");
        feed.failed();
        feed.matched();
        assert!(!feed.is_matched(), "a failure is final");

        // A download given up on while stuck (its sender still held): the reader stops waiting.
        let (feed, tee, mut reader) = PieceFeed::channel(bytes.len() as u64, 20_000);
        assert!(tee.send(Bytes::from_static(&[3; 10])));
        let waiting = std::thread::spawn(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all)
        });
        feed.failed();
        let err = waiting.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("after 10 of 300000"), "{err}");
        drop(tee);

        // A reader that goes away releases a download waiting on a spent budget.
        let (_feed, tee, reader) = PieceFeed::channel(bytes.len() as u64, 1_000);
        assert!(tee.send(Bytes::from_static(&[1; 1_000])));
        let sender = std::thread::spawn(move || tee.send(Bytes::from_static(&[2; 1_000])));
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(reader);
        assert!(!sender.join().unwrap(), "the reader is gone: stop sending");
    }
}
