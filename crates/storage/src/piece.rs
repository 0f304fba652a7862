//! Piece commitments: a blake3 Merkle tree over a piece's 4 KiB chunks, and proofs of single
//! chunks (what a provider answers a storage challenge with).
//!
//! The tree is the ledger's Merkle tree (odd nodes promoted, inner nodes in their own hash
//! domain) over chunk hashes in the storage-shard domain; its chunk size is the ledger's
//! [`PIECE_CHUNK_BYTES`], where the choice is explained.

pub use trellis_ledger::PIECE_CHUNK_BYTES;
use trellis_ledger::{merkle_root, MerkleProof};
use trellis_primitives::{
    codec::{put_bytes, Decode, DecodeError, Encode, Reader},
    Hash, HashDomain,
};

/// Chunks in a piece of `len` bytes (the last may be short).
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(PIECE_CHUNK_BYTES as u64)
}

/// Length of chunk `index` of a piece of `len` bytes; `None` past the end.
pub fn chunk_len(len: u64, index: u64) -> Option<usize> {
    let start = index.checked_mul(PIECE_CHUNK_BYTES as u64)?;
    (start < len).then(|| (len - start).min(PIECE_CHUNK_BYTES as u64) as usize)
}

/// The leaf hash of a chunk.
pub fn chunk_hash(chunk: &[u8]) -> Hash {
    HashDomain::StorageShard.hash(chunk)
}

/// Builds a piece's tree from its bytes as they stream past.
#[derive(Debug, Default)]
pub struct PieceHasher {
    leaves: Vec<Hash>,
    partial: Vec<u8>,
    len: u64,
}

impl PieceHasher {
    /// An empty piece.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if !self.partial.is_empty() {
            let take = (PIECE_CHUNK_BYTES - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < PIECE_CHUNK_BYTES {
                return;
            }
            self.leaves.push(chunk_hash(&self.partial));
            self.partial.clear();
        }
        let mut chunks = bytes.chunks_exact(PIECE_CHUNK_BYTES);
        self.leaves.extend(chunks.by_ref().map(chunk_hash));
        self.partial.extend_from_slice(chunks.remainder());
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The finished tree.
    pub fn finish(mut self) -> PieceTree {
        if !self.partial.is_empty() {
            self.leaves.push(chunk_hash(&self.partial));
        }
        PieceTree {
            leaves: self.leaves,
            len: self.len,
        }
    }
}

/// A piece's chunk hashes: enough to prove any chunk without reading the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceTree {
    /// Hash of every chunk, in order.
    pub leaves: Vec<Hash>,
    /// Piece length in bytes.
    pub len: u64,
}

impl PieceTree {
    /// The tree of bytes held in memory.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = PieceHasher::new();
        h.update(bytes);
        h.finish()
    }

    /// The commitment recorded in the deal.
    pub fn root(&self) -> Hash {
        merkle_root(&self.leaves)
    }

    /// The proof of chunk `index`, whose bytes the caller read from disk.
    pub fn prove(&self, index: u64, chunk: Vec<u8>) -> Option<ChunkProof> {
        let proof = MerkleProof::build(&self.leaves, usize::try_from(index).ok()?)?;
        Some(ChunkProof { index, chunk, proof })
    }

    /// The proofs of several chunks (`(index, bytes)`), hashing the tree once: what a provider
    /// answers a challenge with. `None` if an index is past the end.
    pub fn prove_many(&self, chunks: Vec<(u64, Vec<u8>)>) -> Option<Vec<ChunkProof>> {
        let indexes = chunks
            .iter()
            .map(|(i, _)| usize::try_from(*i).ok())
            .collect::<Option<Vec<usize>>>()?;
        let proofs = MerkleProof::build_many(&self.leaves, &indexes)?;
        Some(
            chunks
                .into_iter()
                .zip(proofs)
                .map(|((index, chunk), proof)| ChunkProof { index, chunk, proof })
                .collect(),
        )
    }

    /// Serialises the leaves (32 bytes each) for a sidecar file.
    pub fn leaves_bytes(&self) -> Vec<u8> {
        self.leaves.iter().flat_map(|h| h.0).collect()
    }

    /// Reads leaves written by [`PieceTree::leaves_bytes`] for a piece of `len` bytes.
    pub fn from_leaves_bytes(bytes: &[u8], len: u64) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) || (bytes.len() / 32) as u64 != chunk_count(len) {
            return None;
        }
        let leaves = bytes
            .chunks_exact(32)
            .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
            .collect();
        Some(PieceTree { leaves, len })
    }
}

/// One chunk of a piece with its path to the piece root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkProof {
    /// Which chunk.
    pub index: u64,
    /// Its bytes.
    pub chunk: Vec<u8>,
    /// Its inclusion proof.
    pub proof: MerkleProof,
}

impl ChunkProof {
    /// Whether this is chunk `index` of the piece of `len` bytes committed by `root`.
    pub fn verify(&self, root: &Hash, len: u64, index: u64) -> bool {
        let leaf_count = chunk_count(len);
        self.index == index
            && chunk_len(len, index) == Some(self.chunk.len())
            && self.proof.index == index
            && self.proof.leaf_count == leaf_count
            && self.proof.verify(chunk_hash(&self.chunk), root)
    }
}

impl Encode for ChunkProof {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index.encode(out);
        put_bytes(out, &self.chunk);
        self.proof.encode(out);
    }
}

impl Decode for ChunkProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChunkProof {
            index: r.u64()?,
            chunk: r.bytes("chunk", PIECE_CHUNK_BYTES)?.to_vec(),
            proof: MerkleProof::decode(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_in_odd_pieces_gives_the_same_tree_as_all_at_once() {
        let bytes: Vec<u8> = (0..3 * PIECE_CHUNK_BYTES + 100).map(|i| (i * 7) as u8).collect();
        let whole = PieceTree::of(&bytes);
        let mut h = PieceHasher::new();
        for part in bytes.chunks(1_000) {
            h.update(part);
        }
        assert_eq!(h.finish(), whole);
        assert_eq!(whole.leaves.len(), 4);
        assert_eq!(chunk_len(whole.len, 3), Some(100));
        assert_eq!(chunk_len(whole.len, 4), None);
    }

    #[test]
    fn a_chunk_proof_verifies_only_for_its_own_index_bytes_and_root() {
        let bytes: Vec<u8> = (0..5 * PIECE_CHUNK_BYTES + 9).map(|i| (i % 251) as u8).collect();
        let tree = PieceTree::of(&bytes);
        let root = tree.root();
        let at = |i: usize| bytes[i * PIECE_CHUNK_BYTES..((i + 1) * PIECE_CHUNK_BYTES).min(bytes.len())].to_vec();
        let proof = tree.prove(5, at(5)).unwrap();
        assert!(proof.verify(&root, tree.len, 5));
        assert!(!proof.verify(&root, tree.len, 4), "answered for another challenge");
        assert!(!proof.verify(&Hash([1; 32]), tree.len, 5));
        let mut flipped = proof.clone();
        flipped.chunk[0] ^= 1;
        assert!(!flipped.verify(&root, tree.len, 5));
        assert_eq!(ChunkProof::from_bytes(&proof.to_bytes()).unwrap(), proof);
        let sidecar = PieceTree::from_leaves_bytes(&tree.leaves_bytes(), tree.len).unwrap();
        assert_eq!(sidecar, tree);
        assert_eq!(
            PieceTree::from_leaves_bytes(&tree.leaves_bytes(), tree.len + 5_000),
            None
        );
    }
}
