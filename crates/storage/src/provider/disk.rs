//! A provider's pieces on disk, with capacity accounting that survives restarts.
//!
//! Layout under the data directory:
//! - `pieces/<deal>/<index>.piece`: the piece bytes;
//! - `pieces/<deal>/<index>.tree`: its root and the chaining value of every 64 KiB group (32
//!   bytes each, see [`crate::piece`]), so every read is checked group by group and a challenge
//!   is answered from one group read instead of hashing the whole piece;
//! - `tmp/`: uploads in progress, emptied at start.
//!
//! A piece becomes visible only when complete: the tree file is written and synced first, then
//! the synced temporary file is renamed into place and the directory synced. At start, a piece
//! without its tree file or a tree file without its piece (a crash between the two) are removed.

use crate::piece::{group_of, group_range, ChunkProof, PieceTree};
use std::{
    fs,
    io::{self, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};
use trellis_primitives::Hash;

/// Which piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PieceId {
    /// The deal.
    pub deal: Hash,
    /// The piece index.
    pub index: u16,
}

/// Why space could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the provider is full: {free} bytes free, {needed} needed")]
pub struct Full {
    /// Bytes still free.
    pub free: u64,
    /// Bytes asked for.
    pub needed: u64,
}

/// Bytes a stored piece of `len` bytes occupies with its tree file (saturating: a length near
/// `u64::MAX` never fits, rather than wrapping to a small reservation).
pub fn footprint(len: u64) -> u64 {
    len.saturating_add(crate::piece::group_count(len).saturating_add(1).saturating_mul(32))
}

#[derive(Debug)]
struct Usage {
    used: u64,
}

/// The pieces a provider holds.
#[derive(Debug)]
pub struct PieceStore {
    root: PathBuf,
    capacity: u64,
    usage: Arc<Mutex<Usage>>,
    /// Held while a piece is committed: two uploads of the same piece (a staged one and a
    /// direct one) finishing together must not both count it.
    committing: Arc<Mutex<()>>,
}

/// Why a piece store will not work with a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainMismatch {
    /// The store holds another chain's pieces.
    #[error("this piece store holds pieces of chain `{stored}`, but the node serves chain `{node}`; point --node at a node of `{stored}`, or use another --dir")]
    Other {
        /// The chain the store is bound to.
        stored: String,
        /// The node's chain.
        node: String,
    },
    /// The binding could not be read or written.
    #[error("cannot read or write the store's chain binding {0}")]
    Io(String),
}

/// Space held for an upload in progress; given back when dropped unless committed.
#[derive(Debug)]
pub struct Reservation {
    bytes: u64,
    usage: Arc<Mutex<Usage>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.used = usage.used.saturating_sub(self.bytes);
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Removes a file that may or may not exist, logging any other failure.
fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover file");
        }
    }
}

impl PieceStore {
    /// Opens (creating) the store under `root` with room for `capacity` bytes; clears
    /// interrupted uploads and half-written pieces, and counts what is stored.
    pub fn open(root: &Path, capacity: u64) -> io::Result<Self> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        fs::create_dir_all(root.join("pieces"))?;
        let store = PieceStore {
            root: root.to_path_buf(),
            capacity,
            usage: Arc::new(Mutex::new(Usage { used: 0 })),
            committing: Arc::new(Mutex::new(())),
        };
        let mut used = 0;
        for deal_dir in fs::read_dir(root.join("pieces"))? {
            let deal_dir = deal_dir?.path();
            for entry in fs::read_dir(&deal_dir)? {
                let path = entry?.path();
                let (piece, tree) = (path.with_extension("piece"), path.with_extension("tree"));
                let complete = piece.exists() && tree.exists();
                if !complete {
                    tracing::warn!(path = %path.display(), "removing a half-written piece");
                    fs::remove_file(&path)?;
                } else if path.extension().is_some_and(|e| e == "piece") {
                    used += fs::metadata(&piece)?.len() + fs::metadata(&tree)?.len();
                }
            }
        }
        store.usage.lock().unwrap_or_else(PoisonError::into_inner).used = used;
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Configured capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes stored or reserved.
    pub fn used(&self) -> u64 {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner).used
    }

    /// Holds room for a piece of `len` bytes and its tree file.
    pub fn reserve(&self, len: u64) -> Result<Reservation, Full> {
        let needed = footprint(len);
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        let free = self.capacity.saturating_sub(usage.used);
        if needed > free {
            return Err(Full { free, needed });
        }
        usage.used = usage.used.saturating_add(needed);
        Ok(Reservation {
            bytes: needed,
            usage: self.usage.clone(),
        })
    }

    fn dir(&self, deal: &Hash) -> PathBuf {
        self.root.join("pieces").join(deal.to_string())
    }

    fn piece_path(&self, id: &PieceId) -> PathBuf {
        self.dir(&id.deal).join(format!("{}.piece", id.index))
    }

    fn tree_path(&self, id: &PieceId) -> PathBuf {
        self.dir(&id.deal).join(format!("{}.tree", id.index))
    }

    /// A fresh path for an upload in progress.
    pub fn temp_path(&self, id: &PieceId) -> PathBuf {
        let unique: u64 = rand::random();
        self.root
            .join("tmp")
            .join(format!("{}-{}-{unique:016x}.part", id.deal, id.index))
    }

    /// A fresh path for a staged upload (its deal is not known yet).
    pub fn staging_path(&self) -> PathBuf {
        let unique: u64 = rand::random();
        self.root.join("tmp").join(format!("staged-{unique:016x}.part"))
    }

    /// Binds the store to the chain `chain_id` on first use (`<root>/chain-id`) and afterwards
    /// checks it is still that chain: pieces are dropped when the node says no deal assigns them,
    /// and a node of another chain (a wrong `--node`) says that of every piece.
    pub fn check_chain(&self, chain_id: &str) -> Result<(), ChainMismatch> {
        let path = self.root.join("chain-id");
        let io_error = |e: io::Error| ChainMismatch::Io(format!("{}: {e}", path.display()));
        match fs::read_to_string(&path) {
            Ok(bound) if bound.trim() == chain_id => Ok(()),
            Ok(bound) => Err(ChainMismatch::Other {
                stored: bound.trim().to_string(),
                node: chain_id.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let tmp = path.with_extension("tmp");
                fs::write(&tmp, chain_id).map_err(io_error)?;
                fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io_error)?;
                fs::rename(&tmp, &path).map_err(io_error)?;
                sync_dir(&self.root).map_err(io_error)
            }
            Err(e) => Err(io_error(e)),
        }
    }

    /// Whether the piece is stored.
    pub fn has(&self, id: &PieceId) -> bool {
        self.piece_path(id).exists() && self.tree_path(id).exists()
    }

    /// Makes a fully received, verified upload durable and visible. A piece already stored
    /// (the same piece uploaded twice: both were checked against the deal's root) is kept as it
    /// is, and the upload's space given back.
    pub fn commit(&self, id: &PieceId, temp: &Path, tree: &PieceTree, reservation: Reservation) -> io::Result<()> {
        // The slow part (making both files durable) runs outside the lock.
        fs::File::open(temp)?.sync_all()?;
        let tree_tmp = temp.with_extension("tree");
        let written = fs::write(&tree_tmp, tree.sidecar_bytes()).and_then(|()| fs::File::open(&tree_tmp)?.sync_all());
        if let Err(e) = written {
            remove_quietly(&tree_tmp);
            return Err(e);
        }
        let _one_at_a_time = self.committing.lock().unwrap_or_else(|p| p.into_inner());
        if self.has(id) {
            remove_quietly(&tree_tmp);
            remove_quietly(temp);
            return Ok(());
        }
        let dir = self.dir(&id.deal);
        let placed = (|| {
            if !dir.exists() {
                fs::create_dir_all(&dir)?;
                // The new deal directory's own entry must be durable too, or a crash can lose
                // it with every piece in it.
                sync_dir(&self.root.join("pieces"))?;
            }
            fs::rename(&tree_tmp, self.tree_path(id))?;
            fs::rename(temp, self.piece_path(id))
        })();
        if let Err(e) = placed {
            // Nothing half-placed stays behind: a tree without its piece is not a stored piece.
            remove_quietly(&tree_tmp);
            remove_quietly(&self.tree_path(id));
            return Err(e);
        }
        // The piece is in place: its space stays used (the reservation becomes the stored
        // piece) even if making the directory entry durable fails below.
        std::mem::forget(reservation);
        sync_dir(&dir)
    }

    /// The piece's tree, from its tree file.
    pub fn tree(&self, id: &PieceId) -> io::Result<PieceTree> {
        let len = fs::metadata(self.piece_path(id))?.len();
        let bytes = fs::read(self.tree_path(id))?;
        PieceTree::from_sidecar(&bytes, len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the tree file does not fit the piece"))
    }

    /// Opens the piece for reading.
    pub fn open_piece(&self, id: &PieceId) -> io::Result<fs::File> {
        fs::File::open(self.piece_path(id))
    }

    /// Reads 64 KiB group `index` of the piece of `len` bytes (unchecked: see
    /// [`PieceTree::check_group`]).
    pub fn read_group(&self, id: &PieceId, len: u64, index: u64) -> io::Result<Vec<u8>> {
        let (start, end) = group_range(len, index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "group index past the end of the piece"))?;
        let mut file = self.open_piece(id)?;
        file.seek(SeekFrom::Start(start))?;
        let mut group = vec![0u8; (end - start) as usize];
        file.read_exact(&mut group)?;
        Ok(group)
    }

    /// Reads the 64 KiB group holding chunk `index`, checks it against `tree` and proves the
    /// chunk from it: the proof, and whether the group was as first stored (a corrupt group is
    /// proven all the same, so the answer fails its audit instead of going missing).
    /// `InvalidInput` if the chunk is past the end of the piece.
    pub fn prove_chunk(&self, id: &PieceId, tree: &PieceTree, index: u64) -> io::Result<(ChunkProof, bool)> {
        let g = group_of(index);
        let group = self.read_group(id, tree.len, g)?;
        let intact = tree.check_group(g, &group);
        let proof = tree
            .prove(index, &group)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "chunk index past the end of the piece"))?;
        Ok((proof, intact))
    }

    /// Removes a piece and gives its space back.
    pub fn delete(&self, id: &PieceId) -> io::Result<()> {
        let (piece, tree) = (self.piece_path(id), self.tree_path(id));
        let mut freed = 0;
        for path in [&piece, &tree] {
            if let Ok(meta) = fs::metadata(path) {
                freed += meta.len();
                fs::remove_file(path)?;
            }
        }
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.used = usage.used.saturating_sub(freed);
        drop(usage);
        // Best effort: the deal directory goes when its last piece does.
        if fs::read_dir(self.dir(&id.deal))?.next().is_none() {
            fs::remove_dir(self.dir(&id.deal))?;
        }
        Ok(())
    }

    /// Every stored piece.
    pub fn list(&self) -> io::Result<Vec<PieceId>> {
        let mut ids = Vec::new();
        for deal_dir in fs::read_dir(self.root.join("pieces"))? {
            let deal_dir = deal_dir?;
            let Ok(deal) = deal_dir.file_name().to_string_lossy().parse::<Hash>() else {
                continue;
            };
            for entry in fs::read_dir(deal_dir.path())? {
                let path = entry?.path();
                let is_piece = path.extension().is_some_and(|e| e == "piece");
                let index = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok());
                if let (true, Some(index)) = (is_piece, index) {
                    ids.push(PieceId { deal, index });
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u16) -> PieceId {
        PieceId {
            deal: Hash([3; 32]),
            index,
        }
    }

    fn put(store: &PieceStore, id: &PieceId, bytes: &[u8]) {
        let reservation = store.reserve(bytes.len() as u64).unwrap();
        let temp = store.temp_path(id);
        fs::write(&temp, bytes).unwrap();
        store.commit(id, &temp, &PieceTree::of(bytes), reservation).unwrap();
    }

    #[test]
    fn a_store_is_bound_to_the_first_chain_it_serves() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        store.check_chain("trellis-a").unwrap();
        store.check_chain("trellis-a").unwrap();
        drop(store);
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            store.check_chain("trellis-b"),
            Err(ChainMismatch::Other {
                stored: "trellis-a".into(),
                node: "trellis-b".into()
            })
        );
    }

    #[test]
    fn a_piece_committed_twice_is_stored_and_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        let bytes = vec![7u8; 5_000];
        put(&store, &id(0), &bytes);
        put(&store, &id(0), &bytes);
        assert_eq!(store.used(), footprint(5_000));
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "the duplicate is removed"
        );
        drop(store);
        assert_eq!(PieceStore::open(dir.path(), 1 << 20).unwrap().used(), footprint(5_000));
    }

    #[test]
    fn capacity_is_reserved_released_and_recounted_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), footprint(10_000) + 100).unwrap();
        let held = store.reserve(10_000).unwrap();
        assert_eq!(
            store.reserve(200).unwrap_err(),
            Full {
                free: 100,
                needed: footprint(200)
            }
        );
        drop(held);
        assert_eq!(store.used(), 0);
        let bytes: Vec<u8> = (0..10_000).map(|i| i as u8).collect();
        put(&store, &id(0), &bytes);
        assert_eq!(store.used(), footprint(10_000));
        assert_eq!(store.read_group(&id(0), 10_000, 0).unwrap(), bytes);
        assert_eq!(
            store.read_group(&id(0), 10_000, 1).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let tree = store.tree(&id(0)).unwrap();
        assert_eq!(tree.root(), PieceTree::of(&bytes).root());
        let (proof, intact) = store.prove_chunk(&id(0), &tree, 2).unwrap();
        assert!(intact && proof.verify(&tree.root(), 10_000, 2));
        assert_eq!(
            store.prove_chunk(&id(0), &tree, 3).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // A flipped byte: the chunk is still proven (the audit will fail it), and said corrupt.
        let piece = store.piece_path(&id(0));
        let mut flipped = bytes.clone();
        flipped[9_000] ^= 1;
        fs::write(&piece, &flipped).unwrap();
        let (proof, intact) = store.prove_chunk(&id(0), &tree, 2).unwrap();
        assert!(!intact && !proof.verify(&tree.root(), 10_000, 2));
        fs::write(&piece, &bytes).unwrap();
        // A crash mid-upload leaves a temp file and a piece without its tree: both go at start.
        fs::write(store.temp_path(&id(1)), b"partial").unwrap();
        fs::write(
            dir.path()
                .join("pieces")
                .join(Hash([3; 32]).to_string())
                .join("1.piece"),
            b"x",
        )
        .unwrap();
        drop(store);
        let store = PieceStore::open(dir.path(), footprint(10_000) + 100).unwrap();
        assert_eq!(store.used(), footprint(10_000));
        assert_eq!(store.list().unwrap(), vec![id(0)]);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        store.delete(&id(0)).unwrap();
        assert_eq!((store.used(), store.list().unwrap()), (0, vec![]));
    }
}
