//! Piece commitments: a piece's BLAKE3 hash, and proofs of single 4 KiB chunks against it (what
//! a provider answers a storage challenge with).
//!
//! A piece is committed by its BLAKE3 hash in the storage-piece domain (derive-key mode), which
//! is the root of BLAKE3's own binary tree over the piece's 1 KiB BLAKE3 chunks. Every aligned
//! 4 KiB challenge chunk and every aligned 64 KiB group is a subtree of that tree
//! (`blake3::hazmat` hashes such subtrees on their own and merges them), so:
//!
//! - whoever holds the whole piece (the client coding it, a downloader checking it) computes the
//!   root at BLAKE3's full speed: many chunks per SIMD call. (Until 2026-12-05 a piece was a
//!   Merkle tree of 4 KiB leaves, each its own BLAKE3 input, which left most SIMD lanes idle and
//!   hashed at about a third of the speed.)
//! - a provider keeps the chaining value of every 64 KiB group ([`GROUP_BYTES`]) beside the
//!   piece, checks each group it reads against it, and proves a challenged chunk from the
//!   chunk's group (read from disk) and the stored group values.
//! - an auditor checks a chunk with the chunk and one 32-byte sibling per tree level.

use std::sync::OnceLock;

use blake3::hazmat::{self, ChainingValue, HasherExt, Mode};
pub use trellis_ledger::PIECE_CHUNK_BYTES;
use trellis_primitives::{
    codec::{put_bytes, put_list, Decode, DecodeError, Encode, Reader},
    Hash, HashDomain,
};

/// Granularity of what a provider keeps beside a piece and checks on read: one 32-byte chaining
/// value per 64 KiB (0.05 % of the piece). A 64 KiB subtree fills BLAKE3's widest SIMD batch
/// (16 chunks) four times over, and the one chunk a BLAKE3 hasher holds back until it knows
/// where its input ends is 1/64 of the work; proofs still go down to 4 KiB chunks.
pub const GROUP_BYTES: usize = 64 << 10;
/// Most siblings a chunk proof carries: a 1 TiB piece's tree is 28 levels deep.
pub const MAX_PROOF_DEPTH: usize = 48;

const CHUNK: u64 = PIECE_CHUNK_BYTES as u64;
const GROUP: u64 = GROUP_BYTES as u64;

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| HashDomain::StoragePiece.context_key())
}

fn mode() -> Mode<'static> {
    Mode::DeriveKeyMaterial(key())
}

/// A hasher for the subtree that starts `offset` bytes into the piece. `offset` is a multiple of
/// 4 KiB, and the subtree is no longer than the largest that starts there (a group from a group
/// boundary, a chunk from a chunk boundary): what `blake3::hazmat` requires.
fn hasher_at(offset: u64) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new_from_context_key(key());
    hasher.set_input_offset(offset);
    hasher
}

/// The chaining value of the non-empty subtree `bytes` at `offset` (see [`hasher_at`]).
fn subtree_cv(offset: u64, bytes: &[u8]) -> ChainingValue {
    hasher_at(offset).update(bytes).finalize_non_root()
}

/// Chunks in a piece of `len` bytes (the last may be short).
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK)
}

/// Length of chunk `index` of a piece of `len` bytes; `None` past the end.
pub fn chunk_len(len: u64, index: u64) -> Option<usize> {
    let start = index.checked_mul(CHUNK)?;
    (start < len).then(|| (len - start).min(CHUNK) as usize)
}

/// Groups in a piece of `len` bytes (the last may be short).
pub fn group_count(len: u64) -> u64 {
    len.div_ceil(GROUP)
}

/// The group that holds chunk `index`.
pub fn group_of(chunk: u64) -> u64 {
    chunk / (GROUP / CHUNK)
}

/// The byte range `[start, end)` of group `index` of a piece of `len` bytes; `None` past the end.
pub fn group_range(len: u64, index: u64) -> Option<(u64, u64)> {
    let start = index.checked_mul(GROUP)?;
    (start < len).then(|| (start, (start + GROUP).min(len)))
}

/// Builds a piece's commitment from its bytes as they stream past, in any frame sizes.
#[derive(Debug)]
pub struct PieceHasher {
    groups: Vec<Hash>,
    /// The group being fed; a full group is finished only once more bytes arrive, since a piece
    /// of one group hashes its root from it.
    current: blake3::Hasher,
    in_group: usize,
    len: u64,
}

impl Default for PieceHasher {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            current: hasher_at(0),
            in_group: 0,
            len: 0,
        }
    }
}

impl PieceHasher {
    /// An empty piece.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.in_group == GROUP_BYTES {
                self.groups.push(Hash(self.current.finalize_non_root()));
                self.current = hasher_at(self.len);
                self.in_group = 0;
            }
            let take = (GROUP_BYTES - self.in_group).min(bytes.len());
            self.current.update(&bytes[..take]);
            self.in_group += take;
            self.len += take as u64;
            bytes = &bytes[take..];
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The finished commitment.
    pub fn finish(mut self) -> PieceTree {
        if self.len == 0 {
            let root = Hash(*self.current.finalize().as_bytes());
            return PieceTree {
                len: 0,
                root,
                groups: Vec::new(),
            };
        }
        let last = Hash(self.current.finalize_non_root());
        // One group: its hasher started at offset 0 and saw the whole piece.
        let single = self
            .groups
            .is_empty()
            .then(|| Hash(*self.current.finalize().as_bytes()));
        self.groups.push(last);
        let root = single.unwrap_or_else(|| root_of_groups(&self.groups, self.len));
        PieceTree {
            len: self.len,
            root,
            groups: self.groups,
        }
    }
}

/// The chaining value of the subtree `[start, start + size)` made of whole groups: `start` is
/// a group boundary, and the subtree is a group or a union of them (always so in BLAKE3's tree:
/// every left subtree is a power of two of at least a group once its parent spans more).
fn groups_cv(groups: &[Hash], start: u64, size: u64) -> ChainingValue {
    if size <= GROUP {
        return groups[(start / GROUP) as usize].0;
    }
    let left = hazmat::left_subtree_len(size);
    hazmat::merge_subtrees_non_root(
        &groups_cv(groups, start, left),
        &groups_cv(groups, start + left, size - left),
        mode(),
    )
}

/// The root of a piece of `len` bytes, more than one group, from its groups.
fn root_of_groups(groups: &[Hash], len: u64) -> Hash {
    let left = hazmat::left_subtree_len(len);
    let root = hazmat::merge_subtrees_root(
        &groups_cv(groups, 0, left),
        &groups_cv(groups, left, len - left),
        mode(),
    );
    Hash(*root.as_bytes())
}

/// One level of the path from the root down to a chunk.
struct Step {
    /// The sibling subtree's byte range.
    sibling_start: u64,
    sibling_len: u64,
    /// Whether the path goes left here (the sibling is on the right).
    left: bool,
}

/// The path from the root of a piece of `len` bytes down to chunk `index`, top first; empty when
/// the chunk is the whole piece. The chunk must be in the piece.
fn path(len: u64, index: u64) -> Vec<Step> {
    let target = index * CHUNK;
    let (mut start, mut size) = (0, len);
    let mut steps = Vec::new();
    // Every left subtree of a node over 4 KiB is a power of two of at least 4 KiB, so the walk
    // stays on chunk boundaries and ends at the chunk itself.
    while size > CHUNK {
        let left = hazmat::left_subtree_len(size);
        if target < start + left {
            steps.push(Step {
                sibling_start: start + left,
                sibling_len: size - left,
                left: true,
            });
            size = left;
        } else {
            steps.push(Step {
                sibling_start: start,
                sibling_len: left,
                left: false,
            });
            start += left;
            size -= left;
        }
    }
    steps
}

/// A piece's commitment and the chaining value of every 64 KiB group: enough to check any group
/// read from disk, and with one group's bytes to prove any of its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceTree {
    /// Piece length in bytes.
    pub len: u64,
    root: Hash,
    /// One per group, in order (`group_count(len)` of them).
    groups: Vec<Hash>,
}

impl PieceTree {
    /// The commitment of bytes held in memory.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = PieceHasher::new();
        h.update(bytes);
        h.finish()
    }

    /// The commitment recorded in the deal: the piece's BLAKE3 hash in the storage-piece domain.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Whether `bytes` are group `index` of this piece, as first stored.
    pub fn check_group(&self, index: u64, bytes: &[u8]) -> bool {
        let (Some((start, end)), Some(expected)) = (
            group_range(self.len, index),
            usize::try_from(index).ok().and_then(|i| self.groups.get(i)),
        ) else {
            return false;
        };
        bytes.len() as u64 == end - start && subtree_cv(start, bytes) == expected.0
    }

    /// The proof of chunk `index`, from the bytes of the group that holds it (which the caller
    /// read from disk, and should have checked with [`PieceTree::check_group`]). `None` if the
    /// chunk is past the end or `group` is not that group's length.
    pub fn prove(&self, index: u64, group: &[u8]) -> Option<ChunkProof> {
        let (group_start, group_end) = group_range(self.len, group_of(index))?;
        let len = chunk_len(self.len, index)?;
        if group.len() as u64 != group_end - group_start {
            return None;
        }
        let at = |start: u64, size: u64| -> Option<&[u8]> {
            let from = usize::try_from(start.checked_sub(group_start)?).ok()?;
            group.get(from..from + usize::try_from(size).ok()?)
        };
        let siblings = path(self.len, index)
            .iter()
            .map(|step| {
                let (start, size) = (step.sibling_start, step.sibling_len);
                let whole_groups = start.is_multiple_of(GROUP) && (size >= GROUP || start + size == self.len);
                if whole_groups {
                    Some(Hash(groups_cv(&self.groups, start, size)))
                } else {
                    // Inside the chunk's own group: the only place a smaller sibling can be.
                    at(start, size).map(|bytes| Hash(subtree_cv(start, bytes)))
                }
            })
            .collect::<Option<Vec<Hash>>>()?;
        Some(ChunkProof {
            index,
            chunk: at(index * CHUNK, len as u64)?.to_vec(),
            siblings,
        })
    }

    /// Serialises the commitment for the file kept beside the piece: the root, then every
    /// group's chaining value (32 bytes each).
    pub fn sidecar_bytes(&self) -> Vec<u8> {
        std::iter::once(&self.root)
            .chain(&self.groups)
            .flat_map(|h| h.0)
            .collect()
    }

    /// Reads what [`PieceTree::sidecar_bytes`] wrote for a piece of `len` bytes; `None` if it
    /// does not fit the length or (for pieces of more than one group) its groups do not hash to
    /// its root.
    pub fn from_sidecar(bytes: &[u8], len: u64) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) || (bytes.len() / 32) as u64 != 1 + group_count(len) {
            return None;
        }
        let mut hashes = bytes.chunks_exact(32).map(|c| Hash(c.try_into().unwrap_or([0; 32])));
        let root = hashes.next()?;
        let groups: Vec<Hash> = hashes.collect();
        if len > GROUP && root_of_groups(&groups, len) != root {
            return None;
        }
        Some(PieceTree { len, root, groups })
    }
}

/// One chunk of a piece with its path to the piece's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkProof {
    /// Which chunk.
    pub index: u64,
    /// Its bytes.
    pub chunk: Vec<u8>,
    /// The chaining value of the sibling at each level of the path, top first.
    pub siblings: Vec<Hash>,
}

impl ChunkProof {
    /// Whether this is chunk `index` of the piece of `len` bytes committed by `root`.
    pub fn verify(&self, root: &Hash, len: u64, index: u64) -> bool {
        if self.index != index || chunk_len(len, index) != Some(self.chunk.len()) {
            return false;
        }
        let steps = path(len, index);
        if steps.len() != self.siblings.len() {
            return false;
        }
        if steps.is_empty() {
            return HashDomain::StoragePiece.hash(&self.chunk) == *root;
        }
        let mut cv = subtree_cv(index * CHUNK, &self.chunk);
        for (level, (step, sibling)) in steps.iter().zip(&self.siblings).enumerate().rev() {
            let (left, right) = if step.left {
                (&cv, &sibling.0)
            } else {
                (&sibling.0, &cv)
            };
            if level == 0 {
                return Hash(*hazmat::merge_subtrees_root(left, right, mode()).as_bytes()) == *root;
            }
            cv = hazmat::merge_subtrees_non_root(left, right, mode());
        }
        false
    }
}

impl Encode for ChunkProof {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index.encode(out);
        put_bytes(out, &self.chunk);
        put_list(out, &self.siblings);
    }
}

impl Decode for ChunkProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChunkProof {
            index: r.u64()?,
            chunk: r.bytes("chunk", PIECE_CHUNK_BYTES)?.to_vec(),
            siblings: r.list("proof siblings", MAX_PROOF_DEPTH)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn group_bytes(piece: &[u8], chunk: u64) -> &[u8] {
        let (start, end) = group_range(piece.len() as u64, group_of(chunk)).unwrap();
        &piece[start as usize..end as usize]
    }

    /// Lengths around every boundary the tree has: BLAKE3 chunks, challenge chunks, groups.
    const LENGTHS: [usize; 13] = [
        1,
        1_024,
        1_025,
        4_095,
        4_096,
        4_097,
        10_240,
        GROUP_BYTES - 1,
        GROUP_BYTES,
        GROUP_BYTES + 1,
        2 * GROUP_BYTES,
        3 * GROUP_BYTES + 5_000,
        (1 << 20) + 17,
    ];

    #[test]
    fn the_root_is_the_blake3_hash_of_the_piece_however_it_streams_in() {
        for len in LENGTHS.into_iter().chain([0]) {
            let piece = bytes(len);
            let whole = PieceTree::of(&piece);
            assert_eq!(whole.root(), HashDomain::StoragePiece.hash(&piece), "len {len}");
            assert_eq!(whole.groups.len() as u64, group_count(len as u64));
            for frame in [1, 1_000, 4_096, 70_000] {
                let mut h = PieceHasher::new();
                for part in piece.chunks(frame) {
                    h.update(part);
                }
                assert_eq!(h.len(), len as u64);
                assert_eq!(h.finish(), whole, "len {len} in frames of {frame}");
            }
        }
    }

    #[test]
    fn every_chunk_proves_and_a_proof_holds_only_for_its_own_index_bytes_and_root() {
        for len in LENGTHS {
            let piece = bytes(len);
            let tree = PieceTree::of(&piece);
            let (root, n) = (tree.root(), len as u64);
            for c in 0..chunk_count(n) {
                let proof = tree.prove(c, group_bytes(&piece, c)).unwrap();
                assert!(proof.verify(&root, n, c), "len {len} chunk {c}");
                assert_eq!(ChunkProof::from_bytes(&proof.to_bytes()).unwrap(), proof);
                assert!(!proof.verify(&Hash([1; 32]), n, c));
                if c > 0 {
                    assert!(!proof.verify(&root, n, c - 1), "answered for another challenge");
                }
                let mut flipped = proof.clone();
                flipped.chunk[0] ^= 1;
                assert!(!flipped.verify(&root, n, c));
                if let Some(first) = proof.siblings.first() {
                    let mut forged = proof.clone();
                    forged.siblings[0] = Hash(first.0.map(|b| b ^ 1));
                    assert!(!forged.verify(&root, n, c));
                    forged.siblings = proof.siblings[1..].to_vec();
                    assert!(!forged.verify(&root, n, c), "a sibling short");
                }
            }
            assert!(tree.prove(chunk_count(n), &[]).is_none(), "past the end");
            assert!(tree.prove(0, &piece[..group_bytes(&piece, 0).len() - 1]).is_none());
        }
    }

    #[test]
    fn a_group_checks_only_with_its_own_bytes() {
        let piece = bytes(3 * GROUP_BYTES + 5_000);
        let tree = PieceTree::of(&piece);
        for g in 0..4 {
            let (start, end) = group_range(piece.len() as u64, g).unwrap();
            let group = &piece[start as usize..end as usize];
            assert!(tree.check_group(g, group), "group {g}");
            let mut flipped = group.to_vec();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x80;
            assert!(!tree.check_group(g, &flipped));
            assert!(!tree.check_group(g, &group[1..]));
        }
        assert!(!tree.check_group(1, &piece[..GROUP_BYTES]), "another group's bytes");
        assert!(!tree.check_group(4, &[]));
        assert_eq!(group_range(piece.len() as u64, 4), None);
    }

    #[test]
    fn the_sidecar_round_trips_and_refuses_what_does_not_fit() {
        for len in LENGTHS.into_iter().chain([0]) {
            let tree = PieceTree::of(&bytes(len));
            let sidecar = tree.sidecar_bytes();
            assert_eq!(PieceTree::from_sidecar(&sidecar, len as u64), Some(tree.clone()));
            assert_eq!(PieceTree::from_sidecar(&sidecar, len as u64 + GROUP), None);
            assert_eq!(PieceTree::from_sidecar(&sidecar[1..], len as u64), None);
        }
        let tree = PieceTree::of(&bytes(2 * GROUP_BYTES + 1));
        let mut tampered = tree.sidecar_bytes();
        tampered[40] ^= 1; // group 0, not the root
        assert_eq!(PieceTree::from_sidecar(&tampered, tree.len), None);
    }

    #[test]
    fn a_proof_with_too_many_siblings_does_not_decode() {
        let proof = ChunkProof {
            index: 0,
            chunk: vec![1; 10],
            siblings: vec![Hash([2; 32]); MAX_PROOF_DEPTH + 1],
        };
        assert!(ChunkProof::from_bytes(&proof.to_bytes()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn any_piece_any_chunk(len in 1usize..600_000, pick in any::<u64>(), seed in any::<u8>()) {
            let piece: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let tree = PieceTree::of(&piece);
            prop_assert_eq!(tree.root(), HashDomain::StoragePiece.hash(&piece));
            let c = pick % chunk_count(len as u64);
            let proof = tree.prove(c, group_bytes(&piece, c)).unwrap();
            prop_assert!(proof.verify(&tree.root(), len as u64, c));
            prop_assert!(proof.siblings.len() <= MAX_PROOF_DEPTH);
        }
    }
}
