//! Large sequential file I/O around the page cache (`O_DIRECT`), falling back to ordinary I/O
//! where the filesystem refuses it.
//!
//! Pieces are cold bulk data: a provider writes each once and fsyncs it before keeping it, reads
//! it back rarely, and a client's downloaded pieces and file are written once, read once at most.
//! Through the page cache every such byte is copied into a cache page first, evicting pages
//! worth keeping; and on some machines filling cache pages is the slowest step of all (on the
//! benchmark VM buffered writes with fsync ran at 360 MB/s, direct ones at 2.3 GB/s, because
//! the host hands back memory the guest had returned to it page by page; BENCHMARKS.md). Direct
//! I/O moves whole pages between a reused, page-aligned buffer and the disk. Its rules (buffer,
//! offset and length multiples of the block size) are kept by always moving whole buffers at
//! buffer-multiple offsets; the unaligned tail of a file is written through the cache, and any
//! refusal (`EINVAL`: tmpfs, some network filesystems) switches that file to ordinary I/O.

use std::{
    fs::File,
    io::{self, Read, Write},
};

/// Alignment of direct I/O buffers and offsets: a page, which every Linux filesystem's block
/// size divides.
pub const DIRECT_ALIGN: usize = 4096;

/// One page of a direct I/O buffer.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Page([u8; DIRECT_ALIGN]);

/// A byte buffer whose start is page-aligned and whose capacity is whole pages.
pub struct AlignedBuf {
    pages: Vec<Page>,
    len: usize,
}

impl AlignedBuf {
    /// A buffer of `capacity` bytes, rounded up to whole pages (at least one).
    pub fn new(capacity: usize) -> Self {
        AlignedBuf {
            pages: vec![Page([0; DIRECT_ALIGN]); capacity.div_ceil(DIRECT_ALIGN).max(1)],
            len: 0,
        }
    }

    /// Bytes it holds at most.
    pub fn capacity(&self) -> usize {
        self.pages.len() * DIRECT_ALIGN
    }

    /// Whether it holds `capacity` bytes.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Copies as much of `bytes` as fits; how much.
    pub fn fill_from(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.capacity() - self.len);
        let at = self.len;
        self.all_mut()[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// The bytes it holds.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `Page` is `repr(C)` around a `[u8; 4096]` with alignment 4096, so it has no
        // padding and a `Vec<Page>` is `pages.len() * 4096` contiguous, initialised bytes; `len`
        // never exceeds that, and the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(self.pages.as_ptr().cast::<u8>(), self.len) }
    }

    /// The whole capacity, to read into (then [`AlignedBuf::set_len`]).
    fn all_mut(&mut self) -> &mut [u8] {
        let len = self.capacity();
        // SAFETY: as in `as_slice`, over the whole capacity, borrowed mutably from `self`.
        unsafe { std::slice::from_raw_parts_mut(self.pages.as_mut_ptr().cast::<u8>(), len) }
    }

    fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }
}

/// Turns direct I/O on or off for `file`; whether that took.
#[cfg(target_os = "linux")]
pub fn set_direct(file: &File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(file) else { return false };
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    fcntl_setfl(file, flags).is_ok()
}

/// Direct I/O is only used on Linux.
#[cfg(not(target_os = "linux"))]
pub fn set_direct(_file: &File, _on: bool) -> bool {
    false
}

fn refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// Writes a file from its start in whole aligned buffers, directly where the filesystem allows.
/// [`DirectWriter::finish`] writes the tail and hands the file back (not fsynced).
pub struct DirectWriter {
    file: File,
    buf: AlignedBuf,
    direct: bool,
}

impl DirectWriter {
    /// Writes `file` (empty, positioned at its start) through a buffer of `buffer_bytes`.
    pub fn new(file: File, buffer_bytes: usize) -> Self {
        let direct = set_direct(&file, true);
        DirectWriter {
            file,
            buf: AlignedBuf::new(buffer_bytes),
            direct,
        }
    }

    /// Whether writes still bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The file, for calls that touch no data (writeback hints).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes the buffer out, directly if still allowed.
    fn write_out(&mut self) -> io::Result<()> {
        if self.direct && self.buf.as_slice().len().is_multiple_of(DIRECT_ALIGN) {
            match self.file.write_all(self.buf.as_slice()) {
                Ok(()) => {
                    self.buf.clear();
                    return Ok(());
                }
                // Refused before anything was written: this file goes through the cache.
                Err(e) if refused(&e) => {
                    tracing::debug!("the filesystem refused a direct write; writing through the page cache");
                }
                Err(e) => return Err(e),
            }
        }
        if self.direct {
            set_direct(&self.file, false);
            self.direct = false;
        }
        self.file.write_all(self.buf.as_slice())?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left (through the cache if it is not whole pages) and returns the file.
    pub fn finish(mut self) -> io::Result<File> {
        self.write_out()?;
        Ok(self.file)
    }
}

impl Write for DirectWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let taken = self.buf.fill_from(bytes);
        if self.buf.is_full() {
            self.write_out()?;
        }
        Ok(taken)
    }

    /// Writes everything buffered; if that is not whole pages, the rest of the file is written
    /// through the cache.
    fn flush(&mut self) -> io::Result<()> {
        self.write_out()
    }
}

/// A [`DirectWriter`] on its own thread: a write returns once its bytes are queued, so the
/// caller computes the next bytes while the disk takes the last (a direct write waits for the
/// device). At most `queued` buffers of `chunk` bytes wait; emptied buffers come back for reuse.
pub struct BackgroundWriter {
    queue: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    chunk: usize,
    thread: Option<std::thread::JoinHandle<io::Result<File>>>,
}

impl BackgroundWriter {
    /// Writes `file` (empty, at its start) from a thread of its own.
    pub fn new(file: File, chunk: usize, queued: usize) -> io::Result<Self> {
        let (queue, buffers) = std::sync::mpsc::sync_channel::<Vec<u8>>(queued);
        let (recycle, recycled) = std::sync::mpsc::channel();
        let thread =
            std::thread::Builder::new()
                .name("trellis-file-writer".into())
                .spawn(move || -> io::Result<File> {
                    let mut out = DirectWriter::new(file, chunk);
                    for mut buffer in buffers {
                        out.write_all(&buffer)?;
                        buffer.clear();
                        // The writer may already be gone (finishing): then the buffer is just freed.
                        let _unused = recycle.send(buffer);
                    }
                    out.finish()
                })?;
        Ok(BackgroundWriter {
            queue: Some(queue),
            recycled,
            pending: Vec::with_capacity(chunk),
            chunk,
            thread: Some(thread),
        })
    }

    /// Queues what is pending; on error the thread has stopped, and this is why.
    fn send(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.chunk));
        let full = std::mem::replace(&mut self.pending, next);
        let sent = self.queue.as_ref().is_some_and(|q| q.send(full).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the file writer stopped early")))
        }
    }

    fn join(&mut self) -> io::Result<File> {
        self.queue = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the file writer panicked"))?,
            None => Err(io::Error::other("the file writer already stopped")),
        }
    }

    /// Writes what is left, waits for the thread and returns the file (not fsynced).
    pub fn finish(mut self) -> io::Result<File> {
        self.send()?;
        self.join()
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(self.chunk - self.pending.len());
        self.pending.extend_from_slice(&bytes[..n]);
        if self.pending.len() == self.chunk {
            self.send()?;
        }
        Ok(n)
    }

    /// Hands what is pending to the thread (only [`BackgroundWriter::finish`] waits for it).
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Reads a file sequentially from an aligned offset in whole aligned buffers, directly where
/// the filesystem allows.
pub struct DirectReader {
    file: File,
    buf: AlignedBuf,
    at: usize,
    direct: bool,
}

impl DirectReader {
    /// Reads `file`, positioned at an offset that is a multiple of [`DIRECT_ALIGN`] (otherwise
    /// it reads through the cache), through a buffer of `buffer_bytes`.
    pub fn new(file: File, buffer_bytes: usize) -> Self {
        let direct = set_direct(&file, true);
        DirectReader {
            file,
            buf: AlignedBuf::new(buffer_bytes),
            at: 0,
            direct,
        }
    }

    /// Refills the buffer; false at the end of the file.
    fn refill(&mut self) -> io::Result<bool> {
        let n = loop {
            match self.file.read(self.buf.all_mut()) {
                Ok(n) => break n,
                Err(e) if self.direct && refused(&e) => {
                    tracing::debug!("the filesystem refused a direct read; reading through the page cache");
                    set_direct(&self.file, false);
                    self.direct = false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.buf.set_len(n);
        self.at = 0;
        Ok(n > 0)
    }
}

impl Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.as_slice().len() && !self.refill()? {
            return Ok(0);
        }
        let held = &self.buf.as_slice()[self.at..];
        let n = held.len().min(out.len());
        out[..n].copy_from_slice(&held[..n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom};

    #[test]
    fn the_aligned_buffer_starts_on_a_page_and_fills_to_its_capacity() {
        let mut buf = AlignedBuf::new(10_000);
        assert_eq!(buf.capacity(), 3 * DIRECT_ALIGN);
        assert_eq!(buf.as_slice().as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(buf.fill_from(&[1; 5_000]), 5_000);
        assert_eq!(buf.fill_from(&[2; 10_000]), 3 * DIRECT_ALIGN - 5_000);
        assert!(buf.is_full());
        assert_eq!(buf.as_slice()[4_999..5_001], [1, 2]);
        buf.clear();
        assert!(buf.as_slice().is_empty());
    }

    /// Files of awkward lengths written and read in awkward pieces come back exactly, from the
    /// start and from an aligned offset, on this machine's temporary filesystem (direct or not).
    #[test]
    fn what_is_written_is_read_back_exactly_whatever_the_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, 3 * 65_536 + 17] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            let mut w = DirectWriter::new(File::create(&path).unwrap(), 65_536);
            for piece in bytes.chunks(1_000) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap().sync_all().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "written {len}");

            let mut back = Vec::new();
            DirectReader::new(File::open(&path).unwrap(), 8_192)
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, bytes, "read {len}");
            if len > 8_192 {
                let mut file = File::open(&path).unwrap();
                file.seek(SeekFrom::Start(8_192)).unwrap();
                let mut rest = Vec::new();
                DirectReader::new(file, 4_096).read_to_end(&mut rest).unwrap();
                assert_eq!(rest, bytes[8_192..], "read {len} from 8192");
            }
        }
    }

    #[test]
    fn a_background_writer_writes_everything_in_order_and_reports_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..1_000_003).map(|i| (i % 241) as u8).collect();
        let mut w = BackgroundWriter::new(File::create(&path).unwrap(), 65_536, 2).unwrap();
        for piece in bytes.chunks(7_777) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap();
        assert!(std::fs::read(&path).unwrap() == bytes);

        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let mut w = BackgroundWriter::new(full, 4_096, 1).unwrap();
        let mut failed = None;
        for _ in 0..64 {
            if let Err(e) = w.write_all(&[1; 4_096]) {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => w.finish().unwrap_err(),
        };
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    }

    #[test]
    fn a_flush_mid_page_writes_everything_and_the_rest_goes_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = DirectWriter::new(File::create(&path).unwrap(), 8_192);
        w.write_all(&[1; 5_000]).unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![1; 5_000]);
        assert!(!w.is_direct(), "an unaligned offset cannot be written directly");
        w.write_all(&[2; 10_000]).unwrap();
        w.finish().unwrap();
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 15_000);
        assert!(back[..5_000].iter().all(|&b| b == 1) && back[5_000..].iter().all(|&b| b == 2));
    }

    #[test]
    fn a_file_on_a_filesystem_without_direct_io_is_still_written_and_read() {
        // /dev/shm is tmpfs where it exists, which refused O_DIRECT before Linux 6.6.
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let path = dir.path().join("f");
        let bytes = vec![9u8; 3 * DIRECT_ALIGN + 5];
        let mut w = DirectWriter::new(File::create(&path).unwrap(), DIRECT_ALIGN);
        w.write_all(&bytes).unwrap();
        w.finish().unwrap();
        let mut back = Vec::new();
        DirectReader::new(File::open(&path).unwrap(), DIRECT_ALIGN)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, bytes);
    }
}
