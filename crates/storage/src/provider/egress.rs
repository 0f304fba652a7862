//! The provider's egress book: the newest order each client signed per download serial, and the
//! bytes served under it, kept on disk until the ledger has paid them.
//!
//! Durability: every accepted window is appended to `egress.log` and fsynced **before** its bytes
//! are sent, so a crash never loses a served window's order (it can only count a window whose
//! bytes did not all leave: within what the client signed). A record cut short by a crash is
//! dropped on open. Claimed serials are removed by rewriting the file (temporary file, fsync,
//! rename), so the log holds only what is still owed.

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
    touched: Instant,
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
}

/// The book: open serials in memory, mirrored by the append-only log.
#[derive(Debug)]
pub struct EgressBook {
    path: PathBuf,
    inner: Mutex<(BTreeMap<Serial, Open>, File)>,
}

fn serial_of(order: &SignedEgressOrder) -> Serial {
    (order.order.client, order.order.serial)
}

fn record(claim: &EgressClaim) -> Vec<u8> {
    let body = claim.to_bytes();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads every whole record of a log; stops at the first cut-short or undecodable one and says
/// how many bytes were good.
fn replay(bytes: &[u8]) -> (Vec<EgressClaim>, usize) {
    let mut claims = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= 4 {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if len > MAX_RECORD_BYTES || bytes.len() - at - 4 < len {
            break;
        }
        match EgressClaim::from_bytes(&bytes[at + 4..at + 4 + len]) {
            Ok(claim) => claims.push(claim),
            Err(_) => break,
        }
        at += 4 + len;
    }
    (claims, at)
}

impl EgressBook {
    /// Opens (or creates) the book in `dir`, replaying its log.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join("egress.log");
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (claims, good) = replay(&bytes);
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() - good,
                "the egress log ends in a cut-short record (a crash mid-append); dropping it"
            );
        }
        let mut open = BTreeMap::new();
        for claim in claims {
            let entry = open.entry(serial_of(&claim.order)).or_insert(Open {
                order: claim.order,
                served: 0,
                touched: Instant::now(),
            });
            if claim.bytes >= entry.served {
                entry.served = claim.bytes;
                entry.order = claim.order;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.set_len(good as u64)?;
        Ok(EgressBook {
            path,
            inner: Mutex::new((open, file)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (BTreeMap<Serial, Open>, File)> {
        // A panic while holding the lock cannot leave the map half-updated (every update is one
        // insert), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `len` more bytes served under `order` (the newest the client signed for its
    /// serial), durably, before they are sent. Blocks on an fsync: call off the async runtime.
    pub fn reserve(&self, order: SignedEgressOrder, len: u64) -> Result<(), ReserveError> {
        let mut guard = self.lock();
        let (open, file) = &mut *guard;
        let key = serial_of(&order);
        if !open.contains_key(&key) && open.len() >= MAX_OPEN_ORDERS {
            return Err(ReserveError::Refused(OrderRefusal::Full));
        }
        let served = open.get(&key).map_or(0, |o| o.served);
        let needed = served.saturating_add(len);
        if needed > order.order.bytes {
            return Err(ReserveError::Refused(OrderRefusal::Exhausted {
                allowed: order.order.bytes,
                served,
                needed,
            }));
        }
        let claim = EgressClaim { order, bytes: needed };
        file.write_all(&record(&claim))?;
        file.sync_data()?;
        open.insert(
            key,
            Open {
                order,
                served: needed,
                touched: Instant::now(),
            },
        );
        Ok(())
    }

    /// Claims to submit now: serials idle for `idle` (the download is over), or whose order
    /// expires in `current` or the next epoch (claim before it lapses), oldest serial first.
    pub fn due(&self, idle: Duration, current: Epoch) -> Vec<EgressClaim> {
        let now = Instant::now();
        self.lock()
            .0
            .values()
            .filter(|o| now.duration_since(o.touched) >= idle || o.order.order.expires.0 <= current.0 + 1)
            .map(|o| EgressClaim {
                order: o.order,
                bytes: o.served,
            })
            .collect()
    }

    /// Forgets `claims` (paid, or refused for good by the ledger) and rewrites the log without
    /// them.
    pub fn forget(&self, claims: &[EgressClaim]) -> io::Result<()> {
        let mut guard = self.lock();
        let (open, file) = &mut *guard;
        for c in claims {
            let key = serial_of(&c.order);
            // A window served after the claim was built raised `served`: keep that serial.
            if open.get(&key).is_some_and(|o| o.served <= c.bytes) {
                open.remove(&key);
            }
        }
        let tmp = self.path.with_extension("log.tmp");
        let mut out = File::create(&tmp)?;
        for o in open.values() {
            out.write_all(&record(&EgressClaim {
                order: o.order,
                bytes: o.served,
            }))?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        *file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }

    /// Serials awaiting payment, and the bytes served under them.
    pub fn pending(&self) -> (usize, u64) {
        let guard = self.lock();
        (guard.0.len(), guard.0.values().map(|o| o.served).sum())
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
        let due = again.due(Duration::ZERO, Epoch(0));
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
        assert!(book.due(Duration::from_secs(3600), Epoch(0)).is_empty());
        assert_eq!(
            book.due(Duration::from_secs(3600), Epoch(4)).len(),
            1,
            "expires in epoch 5"
        );
    }
}
