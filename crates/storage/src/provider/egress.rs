//! The provider's egress book: the newest order each client signed per download serial, and the
//! bytes served under it, kept on disk until the ledger has paid them.
//!
//! Durability: every accepted window is appended to `egress.log` and fsynced **before** its bytes
//! are sent, so a crash never loses a served window's order (it can only count a window whose
//! bytes did not all leave: within what the client signed). A record cut short by a crash is
//! dropped on open. Claimed serials are removed by rewriting the file (temporary file, fsync,
//! rename), so the log holds only what is still owed.
//!
//! The ledger pays a serial once. So a serial is closed to new windows from the moment its claim
//! is built, and remembered as spent (in `egress-spent.log`) until its order expires: a client
//! resending an order whose serial was paid gets nothing more under it, and starts a new serial.
//! A serial is claimed only once no window is being sent under it and none was asked for a while.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};
use trellis_ledger::{EgressClaim, SignedEgressOrder};
use trellis_primitives::{AccountAddress, Decode, Encode, Epoch};

/// Most unpaid serials a provider keeps. A client that opens more downloads than this before the
/// provider's claims land is refused until they do: it bounds memory and the log.
pub const MAX_OPEN_ORDERS: usize = 65_536;
/// Longest record in the log (an encoded claim is ~240 bytes).
const MAX_RECORD_BYTES: usize = 1_024;

/// One download's paid-so-far, as the ledger will see it.
type Serial = (AccountAddress, [u8; 16]);

#[derive(Debug, Clone)]
struct Open {
    order: SignedEgressOrder,
    served: u64,
    /// When the last window was asked for or finished sending.
    touched: Instant,
    /// Windows being sent right now.
    sending: u32,
}

impl Open {
    fn new(order: SignedEgressOrder, served: u64) -> Self {
        Open {
            order,
            served,
            touched: Instant::now(),
            sending: 0,
        }
    }
}

/// The book's state: open serials with the log mirroring them, and the serials already claimed
/// with theirs.
#[derive(Debug)]
struct Books {
    open: BTreeMap<Serial, Open>,
    log: File,
    /// Claimed (or given up) serials, until their order expires.
    spent: BTreeMap<Serial, Epoch>,
    spent_log: File,
}

/// Why a window cannot be served under an order.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OrderRefusal {
    /// The order does not cover the window on top of what was served under its serial.
    #[error(
        "the order allows {allowed} bytes under this serial, {served} are served; this window needs {needed} in all"
    )]
    Exhausted {
        /// The order's cumulative allowance.
        allowed: u64,
        /// Already served.
        served: u64,
        /// Served plus the window.
        needed: u64,
    },
    /// Too many unpaid downloads are open.
    #[error("{MAX_OPEN_ORDERS} downloads await payment; retry once claims land")]
    Full,
    /// The serial's bytes are claimed (or being claimed): the ledger pays a serial once.
    #[error("this download's serial is already claimed for payment; continue under a new serial")]
    Claimed,
}

/// The book: open serials in memory, mirrored by the append-only log.
#[derive(Debug)]
pub struct EgressBook {
    path: PathBuf,
    spent_path: PathBuf,
    inner: Mutex<Books>,
}

fn serial_of(order: &SignedEgressOrder) -> Serial {
    (order.order.client, order.order.serial)
}

fn record<T: Encode>(item: &T) -> Vec<u8> {
    let body = item.to_bytes();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads every whole record of a log; stops at the first cut-short or undecodable one and says
/// how many bytes were good.
fn replay<T: Decode>(bytes: &[u8]) -> (Vec<T>, usize) {
    let mut items = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= 4 {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if len > MAX_RECORD_BYTES || bytes.len() - at - 4 < len {
            break;
        }
        match T::from_bytes(&bytes[at + 4..at + 4 + len]) {
            Ok(item) => items.push(item),
            Err(_) => break,
        }
        at += 4 + len;
    }
    (items, at)
}

/// A spent serial and the epoch its order expires, as the spent log records it: the client's
/// address, the 16-byte serial, the epoch.
type Spent = (Serial, Epoch);

impl Books {
    /// Marks the claims' serials spent, durably (the ones not already spent).
    fn spend<'c>(&mut self, claims: impl Iterator<Item = &'c EgressClaim>) -> io::Result<()> {
        let mut records = Vec::new();
        for c in claims {
            let key = serial_of(&c.order);
            let expires = c.order.order.expires;
            if self.spent.insert(key, expires).is_none() {
                records.extend(record::<Spent>(&(key, expires)));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        append(&mut self.spent_log, &records)
    }
}

/// Reads a log whole (empty when missing), replays it, and opens it for appending with any
/// cut-short tail dropped.
fn open_log<T: Decode>(path: &Path) -> io::Result<(Vec<T>, File)> {
    let mut bytes = Vec::new();
    let existed = match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let (items, good) = replay(&bytes);
    if good < bytes.len() {
        tracing::warn!(
            path = %path.display(),
            dropped_bytes = bytes.len() - good,
            "a provider log ends in a cut-short record (a crash mid-append); dropping it"
        );
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    file.set_len(good as u64)?;
    if !existed {
        // A new log's directory entry is durable before anything is recorded in it.
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok((items, file))
}

/// Appends `bytes` to `file` durably; on failure cuts the file back to where it was, so a torn
/// record never hides the records appended after it from the next replay.
fn append(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    if let Err(e) = written {
        if let Err(undo) = file.set_len(before) {
            tracing::error!(error = %undo, "cannot cut a failed append off a provider log");
        }
        return Err(e);
    }
    Ok(())
}

/// Rewrites the log at `path` to hold exactly `records` (temporary file, fsync, rename) and
/// reopens it for appending.
fn rewrite(path: &Path, records: impl Iterator<Item = Vec<u8>>) -> io::Result<File> {
    let tmp = path.with_extension("log.tmp");
    let mut out = File::create(&tmp)?;
    for r in records {
        out.write_all(&r)?;
    }
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    OpenOptions::new().append(true).open(path)
}

impl EgressBook {
    /// Opens (or creates) the book in `dir`, replaying its logs.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join("egress.log");
        let spent_path = dir.join("egress-spent.log");
        let (claims, log) = open_log::<EgressClaim>(&path)?;
        let (spent_records, spent_log) = open_log::<Spent>(&spent_path)?;
        let mut open: BTreeMap<Serial, Open> = BTreeMap::new();
        for claim in claims {
            let entry = open
                .entry(serial_of(&claim.order))
                .or_insert_with(|| Open::new(claim.order, 0));
            if claim.bytes >= entry.served {
                entry.served = claim.bytes;
                entry.order = claim.order;
            }
        }
        let spent = spent_records.into_iter().collect();
        Ok(EgressBook {
            path,
            spent_path,
            inner: Mutex::new(Books {
                open,
                log,
                spent,
                spent_log,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Books> {
        // A panic while holding the lock cannot leave the map half-updated (every update is one
        // insert), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `len` more bytes served under `order` (the newest the client signed for its
    /// serial), durably, before they are sent; call [`EgressBook::sent`] once they are. Blocks
    /// on an fsync: call off the async runtime.
    pub fn reserve(&self, order: SignedEgressOrder, len: u64) -> Result<(), ReserveError> {
        let mut guard = self.lock();
        let books = &mut *guard;
        let key = serial_of(&order);
        if books.spent.contains_key(&key) {
            return Err(ReserveError::Refused(OrderRefusal::Claimed));
        }
        if !books.open.contains_key(&key) && books.open.len() >= MAX_OPEN_ORDERS {
            return Err(ReserveError::Refused(OrderRefusal::Full));
        }
        let served = books.open.get(&key).map_or(0, |o| o.served);
        let needed = served.saturating_add(len);
        if needed > order.order.bytes {
            return Err(ReserveError::Refused(OrderRefusal::Exhausted {
                allowed: order.order.bytes,
                served,
                needed,
            }));
        }
        let claim = EgressClaim { order, bytes: needed };
        append(&mut books.log, &record(&claim))?;
        let entry = books.open.entry(key).or_insert_with(|| Open::new(order, 0));
        entry.order = order;
        entry.served = needed;
        entry.sending += 1;
        entry.touched = Instant::now();
        Ok(())
    }

    /// A window reserved under `order` is sent (or given up): the serial's idle time counts
    /// from now.
    pub fn sent(&self, order: &SignedEgressOrder) {
        if let Some(o) = self.lock().open.get_mut(&serial_of(order)) {
            o.sending = o.sending.saturating_sub(1);
            o.touched = Instant::now();
        }
    }

    /// Claims to submit now: serials with no window being sent and none asked for `idle` (the
    /// download is over), or whose order expires in `current` or the next epoch (claim before
    /// it lapses), oldest serial first. Each is closed to new windows from here on, durably.
    /// Forgets spent serials whose orders have expired (the ledger refuses those anyway).
    pub fn due(&self, idle: Duration, current: Epoch) -> io::Result<Vec<EgressClaim>> {
        let now = Instant::now();
        let mut guard = self.lock();
        let books = &mut *guard;
        let before = books.spent.len();
        books.spent.retain(|_, expires| expires.0 >= current.0);
        if books.spent.len() < before {
            let records = books
                .spent
                .iter()
                .map(|(key, expires)| record::<Spent>(&(*key, *expires)));
            books.spent_log = rewrite(&self.spent_path, records)?;
        }
        let claims: Vec<EgressClaim> = books
            .open
            .values()
            .filter(|o| {
                let expiring = o.order.order.expires.0 <= current.0 + 1;
                expiring || (o.sending == 0 && now.duration_since(o.touched) >= idle)
            })
            .map(|o| EgressClaim {
                order: o.order,
                bytes: o.served,
            })
            .collect();
        // Spent on disk before the claim leaves: a restart while it is in flight must not reopen
        // the serial to windows the ledger would never pay. (An order already expired is refused
        // by the ledger and by the download's authorization anyway.)
        books.spend(claims.iter().filter(|c| c.order.order.expires.0 >= current.0))?;
        Ok(claims)
    }

    /// Forgets `claims` (paid, or refused for good by the ledger): their serials are spent, and
    /// the log is rewritten without them.
    pub fn forget(&self, claims: &[EgressClaim]) -> io::Result<()> {
        let mut guard = self.lock();
        let books = &mut *guard;
        // Spent first: a crash before the rewrite leaves a serial both owed and spent, and the
        // next claim of it is refused by the ledger and forgotten; never owed and reopened.
        books.spend(claims.iter())?;
        for c in claims {
            let key = serial_of(&c.order);
            // A window served after the claim was built raised `served`: keep that serial.
            if books.open.get(&key).is_some_and(|o| o.served <= c.bytes) {
                books.open.remove(&key);
            }
        }
        let records = books.open.values().map(|o| {
            record(&EgressClaim {
                order: o.order,
                bytes: o.served,
            })
        });
        books.log = rewrite(&self.path, records)?;
        Ok(())
    }

    /// Serials awaiting payment, and the bytes served under them.
    pub fn pending(&self) -> (usize, u64) {
        let guard = self.lock();
        (guard.open.len(), guard.open.values().map(|o| o.served).sum())
    }
}

/// Why [`EgressBook::reserve`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The order does not allow the window.
    #[error(transparent)]
    Refused(#[from] OrderRefusal),
    /// The log could not be written: nothing may be served unrecorded.
    #[error("cannot record the order: {0}")]
    Disk(#[from] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_ledger::EgressOrder;
    use trellis_primitives::{Credits, Hash, Keypair};

    fn order(serial: u8, bytes: u64) -> SignedEgressOrder {
        let client = Keypair::from_seed([1; 32]);
        EgressOrder {
            deal: Hash([2; 32]),
            client: client.public().into(),
            provider: Keypair::from_seed([3; 32]).public().into(),
            serial: [serial; 16],
            bytes,
            price_per_gib: Credits(10),
            expires: Epoch(5),
        }
        .sign("test", &client)
    }

    #[test]
    fn windows_are_served_only_within_the_newest_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let book = EgressBook::open(dir.path()).unwrap();
        book.reserve(order(1, 100), 60).unwrap();
        assert!(matches!(
            book.reserve(order(1, 100), 60),
            Err(ReserveError::Refused(OrderRefusal::Exhausted {
                allowed: 100,
                served: 60,
                needed: 120
            }))
        ));
        book.reserve(order(1, 200), 60).unwrap();
        book.reserve(order(2, 50), 50).unwrap();
        assert_eq!(book.pending(), (2, 170));
        drop(book);
        let again = EgressBook::open(dir.path()).unwrap();
        assert_eq!(again.pending(), (2, 170));
        let due = again.due(Duration::ZERO, Epoch(0)).unwrap();
        assert_eq!(due.iter().map(|c| c.bytes).collect::<Vec<_>>(), vec![120, 50]);
        assert_eq!(due[0].order.order.bytes, 200, "the newest order is kept");
        again.forget(&due[..1]).unwrap();
        drop(again);
        let after = EgressBook::open(dir.path()).unwrap();
        assert_eq!(after.pending(), (1, 50));
    }

    #[test]
    fn a_record_cut_short_by_a_crash_is_dropped_and_the_log_stays_appendable() {
        let dir = tempfile::tempdir().unwrap();
        let book = EgressBook::open(dir.path()).unwrap();
        book.reserve(order(1, 100), 10).unwrap();
        drop(book);
        let path = dir.path().join("egress.log");
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(
            &record(&EgressClaim {
                order: order(2, 100),
                bytes: 10,
            })[..30],
        );
        std::fs::write(&path, &bytes).unwrap();
        let book = EgressBook::open(dir.path()).unwrap();
        assert_eq!(book.pending(), (1, 10));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole as u64);
        book.reserve(order(3, 100), 5).unwrap();
        drop(book);
        assert_eq!(EgressBook::open(dir.path()).unwrap().pending(), (2, 15));
    }

    #[test]
    fn only_idle_or_expiring_orders_are_due() {
        let dir = tempfile::tempdir().unwrap();
        let book = EgressBook::open(dir.path()).unwrap();
        book.reserve(order(1, 100), 10).unwrap();
        assert!(book.due(Duration::from_secs(3600), Epoch(0)).unwrap().is_empty());
        assert_eq!(
            book.due(Duration::from_secs(3600), Epoch(4)).unwrap().len(),
            1,
            "expires in epoch 5"
        );
    }

    fn claimed(r: Result<(), ReserveError>) -> bool {
        matches!(r, Err(ReserveError::Refused(OrderRefusal::Claimed)))
    }

    #[test]
    fn a_serial_is_claimed_only_between_windows_and_serves_nothing_more_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let book = EgressBook::open(dir.path()).unwrap();
        book.reserve(order(1, 100), 10).unwrap();
        // A window is on its way: not claimable, however idle the serial looks.
        assert!(book.due(Duration::ZERO, Epoch(0)).unwrap().is_empty());
        book.sent(&order(1, 100));
        let due = book.due(Duration::ZERO, Epoch(0)).unwrap();
        assert_eq!(due.len(), 1);
        // From the moment its claim is built, the serial takes no window: the ledger pays it once.
        assert!(claimed(book.reserve(order(1, 200), 10)));
        book.forget(&due).unwrap();
        assert_eq!(book.pending(), (0, 0));
        // Paid, the same signed order cannot buy its bytes again, nor after a restart.
        assert!(claimed(book.reserve(order(1, 100), 10)));
        drop(book);
        let book = EgressBook::open(dir.path()).unwrap();
        assert!(claimed(book.reserve(order(1, 100), 10)));
        // Another serial is served as usual.
        book.reserve(order(2, 100), 10).unwrap();
        // Once the order has expired (epoch 5) the serial is forgotten, on disk too.
        book.due(Duration::from_secs(3600), Epoch(6)).unwrap();
        drop(book);
        let book = EgressBook::open(dir.path()).unwrap();
        assert!(book.lock().spent.is_empty());
        assert_eq!(book.pending(), (1, 10));
    }
}
