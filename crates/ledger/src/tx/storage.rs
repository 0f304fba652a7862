//! What a storage deal records: how a file was coded, where each piece lives, and what it pays.
//!
//! A stored file is encrypted, cut into segments and erasure-coded `k`-of-`n`; piece `i` is the
//! concatenation of shard `i` of every segment, held by one provider. Each piece is committed by
//! its BLAKE3 hash (the root of BLAKE3's own tree, in the storage-piece domain), so a downloader
//! checks a whole piece at BLAKE3's full speed and anyone holding the deal can check a single
//! challenged [`PIECE_CHUNK_BYTES`] chunk with its path up that tree.

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    AccountAddress, Credits, DeviceAddress, Hash, HashDomain,
};

/// Most pieces (`n`) in one deal; keeps a deal transaction under 10 KiB.
pub const MAX_PIECES: usize = 128;
/// What a storage challenge asks for: one 4 KiB chunk of a piece, proven with the chunk plus 32
/// bytes per level of the piece's tree (about 5 KiB for a 1 GiB piece). 4 KiB is one disk page;
/// smaller chunks would not save I/O, larger ones would only grow every proof.
pub const PIECE_CHUNK_BYTES: usize = 4096;
/// Largest segment (what one erasure-coding pass covers; the storage codec's own bound).
pub const MAX_SEGMENT_BYTES: u32 = 64 << 20;
/// Largest piece one provider may be asked to hold for one deal (1 TiB).
pub const MAX_PIECE_BYTES: u64 = 1 << 40;
/// Longest provider endpoint URL.
pub const MAX_URL_BYTES: usize = 200;
/// Bytes in a GiB, the unit storage is priced in.
pub const GIB: u64 = 1 << 30;

/// One piece of a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// The storage provider holding it.
    pub provider: DeviceAddress,
    /// Merkle root over its chunks.
    pub root: Hash,
}

impl Encode for Piece {
    fn encode(&self, out: &mut Vec<u8>) {
        self.provider.encode(out);
        self.root.encode(out);
    }
}

impl Decode for Piece {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Piece {
            provider: DeviceAddress::decode(r)?,
            root: Hash::decode(r)?,
        })
    }
}

/// The terms a client proposes when it opens a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealTerms {
    /// Random per file: separates the keys, nonces and commitments of different files.
    #[serde(with = "super::hex16")]
    pub nonce: [u8; 16],
    /// Plaintext size in bytes.
    pub size: u64,
    /// Pieces needed to rebuild the file (k).
    pub data_shards: u16,
    /// Further pieces that may be lost (n - k).
    pub parity_shards: u16,
    /// Plaintext bytes per segment.
    pub segment_bytes: u32,
    /// Bytes in every piece.
    pub piece_len: u64,
    /// Piece `i` and its provider, for `i` in `0..n`.
    pub pieces: Vec<Piece>,
    /// How many epochs the file is kept and paid for.
    pub duration_epochs: u32,
    /// Credits per GiB stored (all pieces together) per epoch.
    pub price_per_gib_epoch: Credits,
}

impl DealTerms {
    /// The deal id `client` opens these terms under: a hash over the client, the coding, the
    /// size and every piece root. The client is in it so nobody who sees a pending deal can
    /// open one under the same id first; providers are left out, since repair moves pieces
    /// without changing content.
    pub fn commitment(&self, client: &AccountAddress) -> Hash {
        let mut h = HashDomain::StorageContent.hasher();
        h.update(&client.key().0);
        h.update(&self.nonce);
        h.update(&self.size.to_le_bytes());
        h.update(&self.data_shards.to_le_bytes());
        h.update(&self.parity_shards.to_le_bytes());
        h.update(&self.segment_bytes.to_le_bytes());
        h.update(&self.piece_len.to_le_bytes());
        for piece in &self.pieces {
            h.update(piece.root.as_bytes());
        }
        Hash(*h.finalize().as_bytes())
    }

    /// Total shards per segment (n).
    pub fn total_shards(&self) -> usize {
        usize::from(self.data_shards) + usize::from(self.parity_shards)
    }

    /// Bytes stored across all providers.
    pub fn stored_bytes(&self) -> Option<u64> {
        self.piece_len.checked_mul(self.pieces.len() as u64)
    }

    /// Credits one piece earns per proven epoch: the per-epoch price of its bytes, rounded up,
    /// so a piece smaller than the price's resolution still pays its provider something. The
    /// client escrows exactly these amounts, so no remainder is left over.
    pub fn piece_epoch_price(&self) -> Option<Credits> {
        let per_piece = u128::from(self.piece_len)
            .checked_mul(u128::from(self.price_per_gib_epoch.0))?
            .div_ceil(u128::from(GIB));
        u64::try_from(per_piece).ok().map(Credits)
    }

    /// Credits escrowed when the deal opens: every piece's epoch price for every epoch.
    pub fn escrow(&self) -> Option<Credits> {
        let per_epoch = u128::from(self.piece_epoch_price()?.0).checked_mul(self.pieces.len() as u128)?;
        let total = per_epoch.checked_mul(u128::from(self.duration_epochs))?;
        u64::try_from(total).ok().map(Credits)
    }

    /// Checks the terms are internally consistent (the ledger checks providers separately).
    pub fn validate(&self) -> Result<(), String> {
        if self.data_shards == 0 || self.parity_shards == 0 {
            return Err("data_shards and parity_shards must be at least 1".into());
        }
        if self.pieces.len() != self.total_shards() || self.pieces.len() > MAX_PIECES {
            return Err(format!(
                "a deal needs one piece per shard ({}), at most {MAX_PIECES}",
                self.total_shards()
            ));
        }
        if self.segment_bytes == 0 || self.piece_len == 0 || self.duration_epochs == 0 {
            return Err("segment_bytes, piece_len and duration_epochs must be at least 1".into());
        }
        if self.segment_bytes > MAX_SEGMENT_BYTES || self.piece_len > MAX_PIECE_BYTES {
            return Err(format!(
                "segments are at most {MAX_SEGMENT_BYTES} bytes and pieces at most {MAX_PIECE_BYTES}"
            ));
        }
        // k pieces must hold at least the file: a deal cannot claim a file larger than it stores.
        if self.piece_len.saturating_mul(u64::from(self.data_shards)) < self.size {
            return Err(format!(
                "{} pieces of {} bytes cannot hold a {}-byte file",
                self.data_shards, self.piece_len, self.size
            ));
        }
        let mut providers: Vec<_> = self.pieces.iter().map(|p| p.provider).collect();
        providers.sort();
        if providers.windows(2).any(|w| w[0] == w[1]) {
            return Err("every piece must be on a different provider".into());
        }
        Ok(())
    }
}

impl Encode for DealTerms {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce);
        self.size.encode(out);
        self.data_shards.encode(out);
        self.parity_shards.encode(out);
        self.segment_bytes.encode(out);
        self.piece_len.encode(out);
        put_list(out, &self.pieces);
        self.duration_epochs.encode(out);
        self.price_per_gib_epoch.encode(out);
    }
}

impl Decode for DealTerms {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DealTerms {
            nonce: r.array()?,
            size: r.u64()?,
            data_shards: r.u16()?,
            parity_shards: r.u16()?,
            segment_bytes: r.u32()?,
            piece_len: r.u64()?,
            pieces: r.list("deal pieces", MAX_PIECES)?,
            duration_epochs: r.u32()?,
            price_per_gib_epoch: Credits::decode(r)?,
        })
    }
}
