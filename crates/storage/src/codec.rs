//! The client-side data path of a stored file: encrypt, segment, erasure-code into pieces; and back.
//!
//! A file is cut into segments of [`CodingParams::segment_bytes`]. Each segment is sealed with
//! XChaCha20-Poly1305 under the file key (the nonce names the file and the segment, so segments
//! cannot be swapped or replayed), padded, split into `data_shards` equal shards and extended with
//! `parity_shards` Reed-Solomon parity shards: any `data_shards` of the `n` shards rebuild it.
//! Piece `i` is shard `i` of every segment, concatenated, and goes to one provider; it is
//! committed by its [`PieceTree`] root, which the storage deal records. Providers only ever hold
//! ciphertext, and a downloader checks a whole piece against its root before using it, so a
//! provider returning bad bytes is detected and its piece treated as missing. Everything runs
//! one segment at a time, so memory stays bounded whatever the file size.

use crate::piece::{PieceHasher, PieceTree};
use bytes::{Bytes, BytesMut};
use chacha20poly1305::{
    aead::{Aead, AeadInPlace, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use trellis_primitives::Hash;
use zeroize::Zeroizing;

/// Most shards per segment (data + parity).
pub const MAX_SHARDS: usize = 255;

/// Erasure-coding and segmenting parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodingParams {
    /// Shards needed to rebuild a segment (k).
    pub data_shards: u16,
    /// Extra shards (n - k): how many may be lost.
    pub parity_shards: u16,
    /// Plaintext bytes per segment.
    pub segment_bytes: u32,
}

impl Default for CodingParams {
    /// Sia's 10-of-30: any 10 of 30 providers suffice (3x expansion, survives 20 losses),
    /// with 4 MiB segments so a download needs ~420 KiB per shard request.
    fn default() -> Self {
        CodingParams {
            data_shards: 10,
            parity_shards: 20,
            segment_bytes: 4 << 20,
        }
    }
}

impl CodingParams {
    /// Total shards per segment (n).
    pub fn total_shards(&self) -> usize {
        usize::from(self.data_shards) + usize::from(self.parity_shards)
    }

    /// Checks the bounds the coder supports.
    pub fn validate(&self) -> Result<(), CodecError> {
        if self.data_shards == 0 || self.parity_shards == 0 {
            return Err(CodecError::Params("data_shards and parity_shards must be at least 1"));
        }
        if self.total_shards() > MAX_SHARDS {
            return Err(CodecError::Params("at most 255 shards per segment"));
        }
        if self.segment_bytes == 0 || self.segment_bytes > 64 << 20 {
            return Err(CodecError::Params("segment_bytes must be in 1..=64 MiB"));
        }
        Ok(())
    }
}

/// A file's symmetric key. Derive it from the owner's secret and the file nonce
/// ([`FileKey::derive`]) so the owner can always recompute it.
pub struct FileKey(Zeroizing<[u8; 32]>);

impl FileKey {
    /// The key of the file with `nonce` for the owner holding `secret` (e.g. the wallet seed).
    pub fn derive(secret: &[u8; 32], nonce: &[u8; 16]) -> Self {
        let mut material = Zeroizing::new([0u8; 48]);
        material[..32].copy_from_slice(secret);
        material[32..].copy_from_slice(nonce);
        FileKey(Zeroizing::new(blake3::derive_key(
            "trellis 2026 storage file key",
            material.as_ref(),
        )))
    }
}

/// Why coding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Unsupported parameters.
    #[error("invalid coding parameters: {0}")]
    Params(&'static str),
    /// Fewer than `data_shards` pieces were given.
    #[error("{good} pieces, {needed} needed")]
    NotEnoughPieces {
        /// Pieces given.
        good: usize,
        /// Pieces needed.
        needed: usize,
    },
    /// A piece index outside `0..n`, or given twice.
    #[error("piece {0} is out of range or given twice")]
    BadPiece(usize),
    /// The input was shorter or longer than the layout says.
    #[error("{what}: expected {expected} bytes, found {found}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: u64,
        /// Found length.
        found: u64,
    },
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// Decryption failed: wrong key, or data not from this manifest.
    #[error("segment {0} does not decrypt: wrong key or corrupted data")]
    Decrypt(usize),
    /// The erasure coder refused.
    #[error("erasure coding failed: {0}")]
    Coding(String),
}

/// Bytes the AEAD adds to every sealed segment.
const TAG_BYTES: u64 = 16;

/// Where every byte of a file goes: segment sizes, shard sizes and piece length, all derived from
/// the plaintext size and the coding parameters (nothing else needs to be stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Plaintext size.
    pub size: u64,
    /// The coding.
    pub params: CodingParams,
}

impl Layout {
    /// The layout of a file of `size` bytes coded with `params`.
    pub fn new(size: u64, params: CodingParams) -> Result<Self, CodecError> {
        params.validate()?;
        Ok(Layout { size, params })
    }

    /// Number of segments (an empty file has one, empty, segment).
    pub fn segments(&self) -> u64 {
        self.size.div_ceil(u64::from(self.params.segment_bytes)).max(1)
    }

    /// Plaintext bytes in segment `s`.
    pub fn plain_len(&self, s: u64) -> usize {
        let seg = u64::from(self.params.segment_bytes);
        (self.size.saturating_sub(s * seg)).min(seg) as usize
    }

    /// Bytes of each shard of segment `s`: the sealed segment split in `k`, rounded up to even
    /// (the coder works on 16-bit symbols).
    pub fn shard_len(&self, s: u64) -> usize {
        let sealed = self.plain_len(s) as u64 + TAG_BYTES;
        sealed.div_ceil(u64::from(self.params.data_shards)).next_multiple_of(2) as usize
    }

    /// Bytes in every piece: one shard of every segment.
    pub fn piece_len(&self) -> u64 {
        let last = self.segments() - 1;
        last * self.shard_len(0) as u64 + self.shard_len(last) as u64
    }

    /// Bytes stored across all `n` pieces.
    pub fn stored_len(&self) -> u64 {
        self.piece_len() * self.params.total_shards() as u64
    }
}

fn nonce(file: &[u8; 16], segment: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(file);
    n[16..].copy_from_slice(&segment.to_le_bytes());
    XNonce::from(n)
}

fn coding(e: reed_solomon_simd::Error) -> CodecError {
    CodecError::Coding(e.to_string())
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> CodecError {
    move |e| CodecError::Io(format!("{what}: {e}"))
}

/// Seals and erasure-codes segments, and rebuilds and opens them. Keeps its coder between
/// segments: setting one up costs far more than coding a segment.
pub struct Coder {
    cipher: XChaCha20Poly1305,
    nonce: [u8; 16],
    layout: Layout,
    encoder: Option<reed_solomon_simd::ReedSolomonEncoder>,
    decoder: Option<reed_solomon_simd::ReedSolomonDecoder>,
}

impl Coder {
    /// A coder for the file with `nonce` and `layout` under `key`.
    pub fn new(key: &FileKey, nonce: [u8; 16], layout: Layout) -> Self {
        Coder {
            cipher: XChaCha20Poly1305::new(key.0.as_ref().into()),
            nonce,
            layout,
            encoder: None,
            decoder: None,
        }
    }

    /// Seals and codes segment `s` (whose plaintext is `plain`): its `n` shards, `shard_len(s)`
    /// bytes each, one after another in one shared buffer, so whoever sends a shard on takes a
    /// slice of it instead of a copy. The plaintext is copied once, into that buffer, and sealed
    /// in place there.
    pub fn encode_segment(&mut self, s: u64, plain: &[u8]) -> Result<Bytes, CodecError> {
        let expected = self.layout.plain_len(s);
        if plain.len() != expected || s >= self.layout.segments() {
            return Err(CodecError::Length {
                what: "segment",
                expected: expected as u64,
                found: plain.len() as u64,
            });
        }
        let (k, m) = (
            usize::from(self.layout.params.data_shards),
            usize::from(self.layout.params.parity_shards),
        );
        let shard_len = self.layout.shard_len(s);
        let mut out = BytesMut::with_capacity(shard_len * (k + m));
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce(&self.nonce, s), &self.nonce, &mut out)
            .map_err(|_| CodecError::Coding("encryption failed".into()))?;
        out.extend_from_slice(&tag);
        out.resize(shard_len * k, 0);
        let rs = match self.encoder.as_mut() {
            Some(rs) => {
                rs.reset(k, m, shard_len).map_err(coding)?;
                rs
            }
            None => self
                .encoder
                .insert(reed_solomon_simd::ReedSolomonEncoder::new(k, m, shard_len).map_err(coding)?),
        };
        for original in out.chunks(shard_len) {
            rs.add_original_shard(original).map_err(coding)?;
        }
        for recovery in rs.encode().map_err(coding)?.recovery_iter() {
            out.extend_from_slice(recovery);
        }
        Ok(out.freeze())
    }

    /// Rebuilds segment `s` from at least `k` of its shards (`shards[i]` is shard `i`, if
    /// present) and opens it. Shards must already be verified; a wrong one fails decryption.
    pub fn decode_segment(&mut self, s: u64, shards: &[Option<&[u8]>]) -> Result<Vec<u8>, CodecError> {
        let params = self.layout.params;
        let (k, m) = (usize::from(params.data_shards), usize::from(params.parity_shards));
        let shard_len = self.layout.shard_len(s);
        let present = shards.iter().filter(|x| x.is_some()).count();
        if shards.len() != k + m || present < k {
            return Err(CodecError::NotEnoughPieces {
                good: present,
                needed: k,
            });
        }
        if let Some(i) = shards.iter().position(|x| x.is_some_and(|b| b.len() != shard_len)) {
            return Err(CodecError::BadPiece(i));
        }
        let mut sealed = Vec::with_capacity(shard_len * k);
        if shards[..k].iter().all(Option::is_some) {
            for shard in shards[..k].iter().flatten() {
                sealed.extend_from_slice(shard);
            }
        } else {
            let rs = match self.decoder.as_mut() {
                Some(rs) => {
                    rs.reset(k, m, shard_len).map_err(coding)?;
                    rs
                }
                None => self
                    .decoder
                    .insert(reed_solomon_simd::ReedSolomonDecoder::new(k, m, shard_len).map_err(coding)?),
            };
            for (i, shard) in shards.iter().enumerate() {
                match shard {
                    Some(b) if i < k => rs.add_original_shard(i, b).map_err(coding)?,
                    Some(b) => rs.add_recovery_shard(i - k, b).map_err(coding)?,
                    None => {}
                }
            }
            let result = rs.decode().map_err(coding)?;
            for (i, shard) in shards[..k].iter().enumerate() {
                let restored = match shard {
                    Some(b) => *b,
                    None => result
                        .restored_original(i)
                        .ok_or_else(|| CodecError::Coding(format!("shard {i} was not restored")))?,
                };
                sealed.extend_from_slice(restored);
            }
        }
        sealed.truncate(self.layout.plain_len(s) + TAG_BYTES as usize);
        self.cipher
            .decrypt(
                &nonce(&self.nonce, s),
                Payload {
                    msg: &sealed,
                    aad: &self.nonce,
                },
            )
            .map_err(|_| CodecError::Decrypt(s as usize))
    }
}

/// Where [`encode_pieces`] puts one piece's bytes as they are made. Shards come as shared
/// buffers, so a sink that sends them on (an upload) keeps them without a copy.
pub trait PieceOut {
    /// Takes the next bytes of the piece.
    fn put(&mut self, bytes: Bytes) -> std::io::Result<()>;
}

impl PieceOut for Vec<u8> {
    fn put(&mut self, bytes: Bytes) -> std::io::Result<()> {
        self.extend_from_slice(&bytes);
        Ok(())
    }
}

/// Encrypts and codes the file read from `input` (exactly `layout.size` bytes) into `n` pieces,
/// one per sink, calling `progress(plaintext bytes done)` after each segment. Returns every
/// piece's tree, whose roots go into the deal. Segments are sealed and coded on all cores
/// ([`crate::parallel`]); reading, hashing and handing shards out stay on the calling thread, in
/// order.
pub fn encode_pieces<R: Read, W: PieceOut>(
    input: &mut R,
    layout: Layout,
    key: &FileKey,
    nonce: [u8; 16],
    pieces: &mut [W],
    mut progress: impl FnMut(u64),
) -> Result<Vec<PieceTree>, CodecError> {
    let n = layout.params.total_shards();
    if pieces.len() != n {
        return Err(CodecError::NotEnoughPieces {
            good: pieces.len(),
            needed: n,
        });
    }
    let mut trees: Vec<PieceHasher> = (0..n).map(|_| PieceHasher::new()).collect();
    let (mut read, mut done) = (0u64, 0u64);
    crate::parallel::segments(
        layout.segments(),
        |s, buf: &mut Vec<u8>| {
            buf.resize(layout.plain_len(s), 0);
            input.read_exact(buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => CodecError::Length {
                    what: "input",
                    expected: layout.size,
                    found: read,
                },
                _ => CodecError::Io(format!("reading the input: {e}")),
            })?;
            read += buf.len() as u64;
            Ok(())
        },
        || Coder::new(key, nonce, layout),
        |coder, s, plain| coder.encode_segment(s, plain),
        |s, plain, shards| {
            let len = layout.shard_len(s);
            for (i, tree) in trees.iter_mut().enumerate() {
                let shard = shards.slice(i * len..(i + 1) * len);
                tree.update(&shard);
                pieces[i].put(shard).map_err(io("writing a piece"))?;
            }
            done += plain.len() as u64;
            progress(done);
            Ok(())
        },
    )?;
    let mut extra = [0u8; 1];
    if input.read(&mut extra).map_err(io("reading the input"))? != 0 {
        return Err(CodecError::Length {
            what: "input",
            expected: layout.size,
            found: layout.size + 1,
        });
    }
    Ok(trees.into_iter().map(PieceHasher::finish).collect())
}

/// Files `(index, reader)` pairs by index (refusing an index out of range, given twice, or equal
/// to `exclude`) and picks the `k` to read: data pieces first, since with all `k` of them no
/// reconstruction is needed.
pub(crate) fn index_pieces<R>(
    pieces: Vec<(usize, R)>,
    layout: Layout,
    exclude: Option<usize>,
) -> Result<(Vec<Option<R>>, Vec<usize>), CodecError> {
    let (k, n) = (usize::from(layout.params.data_shards), layout.params.total_shards());
    let mut readers: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for (i, r) in pieces {
        match readers.get_mut(i) {
            Some(slot @ None) if Some(i) != exclude => *slot = Some(r),
            _ => return Err(CodecError::BadPiece(i)),
        }
    }
    let chosen: Vec<usize> = (0..n).filter(|i| readers[*i].is_some()).take(k).collect();
    if chosen.len() < k {
        return Err(CodecError::NotEnoughPieces {
            good: chosen.len(),
            needed: k,
        });
    }
    Ok((readers, chosen))
}

/// Rebuilds the file from `k` or more verified pieces (`(index, reader)`, each reader at the
/// piece's start) into `out`, calling `progress(plaintext bytes done)` after each segment.
/// Segments are rebuilt and opened on all cores; reads and writes stay on the calling thread.
pub fn decode_pieces<R: Read, W: Write>(
    pieces: Vec<(usize, R)>,
    layout: Layout,
    key: &FileKey,
    nonce: [u8; 16],
    out: &mut W,
    mut progress: impl FnMut(u64),
) -> Result<(), CodecError> {
    let n = layout.params.total_shards();
    let (mut readers, chosen) = index_pieces(pieces, layout, None)?;
    // One shard buffer per chosen piece, read on the calling thread, rebuilt on a worker.
    let mut done = 0u64;
    crate::parallel::segments(
        layout.segments(),
        |s, bufs: &mut Vec<Vec<u8>>| {
            bufs.resize(chosen.len(), Vec::new());
            for (buf, &i) in bufs.iter_mut().zip(&chosen) {
                buf.resize(layout.shard_len(s), 0);
                if let Some(r) = readers[i].as_mut() {
                    r.read_exact(buf).map_err(io("reading a piece"))?;
                }
            }
            Ok(())
        },
        || Coder::new(key, nonce, layout),
        |coder, s, bufs| {
            let shards: Vec<Option<&[u8]>> = (0..n)
                .map(|i| chosen.iter().position(|&c| c == i).map(|j| bufs[j].as_slice()))
                .collect();
            coder.decode_segment(s, &shards)
        },
        |_, _, plain| {
            out.write_all(&plain).map_err(io("writing the output"))?;
            done += plain.len() as u64;
            progress(done);
            Ok(())
        },
    )
}

/// Codes `data` in memory: the `n` pieces and their trees (tests, benchmarks, small files).
pub fn encode(
    data: &[u8],
    key: &FileKey,
    nonce: [u8; 16],
    params: CodingParams,
) -> Result<(Vec<Vec<u8>>, Vec<PieceTree>), CodecError> {
    let layout = Layout::new(data.len() as u64, params)?;
    let mut pieces: Vec<Vec<u8>> = (0..params.total_shards())
        .map(|_| Vec::with_capacity(layout.piece_len() as usize))
        .collect();
    let trees = encode_pieces(&mut &data[..], layout, key, nonce, &mut pieces, |_| {})?;
    Ok((pieces, trees))
}

/// Rebuilds in memory from `(index, piece)` pairs, checking each piece against its root first;
/// pieces that do not match are skipped, like a downloader skips a bad provider.
pub fn decode(
    pieces: &[(usize, &[u8])],
    roots: &[Hash],
    size: u64,
    params: CodingParams,
    key: &FileKey,
    nonce: [u8; 16],
) -> Result<Vec<u8>, CodecError> {
    let layout = Layout::new(size, params)?;
    let good: Vec<(usize, &[u8])> = pieces
        .iter()
        .filter(|(i, p)| roots.get(*i) == Some(&PieceTree::of(p).root()) && p.len() as u64 == layout.piece_len())
        .copied()
        .collect();
    let mut out = Vec::with_capacity(size as usize);
    decode_pieces(good, layout, key, nonce, &mut out, |_| {})?;
    Ok(out)
}

/// Ciphertext expansion of these parameters: stored bytes per plaintext byte (n/k, ignoring the
/// per-segment tag and padding).
pub fn expansion(params: &CodingParams) -> (usize, usize) {
    (params.total_shards(), usize::from(params.data_shards))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_params_are_valid_and_bounds_are_enforced() {
        CodingParams::default().validate().unwrap();
        let bad = CodingParams {
            data_shards: 200,
            parity_shards: 100,
            segment_bytes: 1,
        };
        assert!(bad.validate().is_err());
        let empty = CodingParams {
            parity_shards: 0,
            ..CodingParams::default()
        };
        assert!(empty.validate().is_err());
    }
}
