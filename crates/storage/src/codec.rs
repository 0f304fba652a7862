//! The client-side data path of a stored file: encrypt, segment, erasure-code, commit; and back.
//!
//! A file is cut into segments of [`CodingParams::segment_bytes`]. Each segment is sealed with
//! XChaCha20-Poly1305 under the file key (the nonce names the file and the segment, so segments
//! cannot be swapped or replayed), padded, split into `data_shards` equal shards and extended with
//! `parity_shards` Reed-Solomon parity shards: any `data_shards` of the `n` shards rebuild it.
//! Every shard is hashed; a segment's root is the Merkle root over its shard hashes, and the
//! file's content commitment hashes its segment roots. Providers only ever hold ciphertext
//! shards, and a downloader checks every shard against the manifest before using it, so a
//! provider returning bad bytes is detected and its shard treated as missing.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use serde::{Deserialize, Serialize};
use trellis_ledger::merkle_root;
use trellis_primitives::{Hash, HashDomain};
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

/// What one segment became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Sealed (ciphertext + tag) length before padding.
    pub sealed_len: u32,
    /// Bytes per shard.
    pub shard_len: u32,
    /// Hash of every shard, in shard order.
    pub shard_hashes: Vec<Hash>,
    /// Merkle root over `shard_hashes`.
    pub root: Hash,
}

/// Everything needed to rebuild a file from its shards, except the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileManifest {
    /// Random per file: separates keys and nonces of different files.
    pub nonce: [u8; 16],
    /// Plaintext length.
    pub size: u64,
    /// How it was coded.
    pub params: CodingParams,
    /// Per segment.
    pub segments: Vec<SegmentInfo>,
}

impl FileManifest {
    /// The content commitment recorded in a storage deal: a hash over the coding parameters,
    /// size and every segment root.
    pub fn commitment(&self) -> Hash {
        let mut h = HashDomain::StorageContent.hasher();
        h.update(&self.nonce);
        h.update(&self.size.to_le_bytes());
        h.update(&self.params.data_shards.to_le_bytes());
        h.update(&self.params.parity_shards.to_le_bytes());
        h.update(&self.params.segment_bytes.to_le_bytes());
        for segment in &self.segments {
            h.update(&segment.sealed_len.to_le_bytes());
            h.update(&segment.shard_len.to_le_bytes());
            h.update(segment.root.as_bytes());
        }
        Hash(*h.finalize().as_bytes())
    }

    /// Whether the per-shard hashes agree with the segment roots (a manifest from elsewhere).
    pub fn is_consistent(&self) -> bool {
        self.params.validate().is_ok()
            && self.segments.len() == segment_count(self.size, self.params.segment_bytes)
            && self
                .segments
                .iter()
                .all(|s| s.shard_hashes.len() == self.params.total_shards() && merkle_root(&s.shard_hashes) == s.root)
    }
}

/// Why coding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Unsupported parameters.
    #[error("invalid coding parameters: {0}")]
    Params(&'static str),
    /// The manifest's shard hashes and roots disagree.
    #[error("the manifest is inconsistent")]
    BadManifest,
    /// Fewer than `data_shards` good shards of a segment.
    #[error("segment {segment}: {good} good shards, {needed} needed")]
    NotEnoughShards {
        /// Segment index.
        segment: usize,
        /// Shards that matched their hashes.
        good: usize,
        /// Shards needed.
        needed: usize,
    },
    /// Decryption failed: wrong key, or data not from this manifest.
    #[error("segment {0} does not decrypt: wrong key or corrupted data")]
    Decrypt(usize),
    /// The erasure coder refused.
    #[error("erasure coding failed: {0}")]
    Coding(String),
}

/// The hash of a shard.
pub fn shard_hash(shard: &[u8]) -> Hash {
    HashDomain::StorageShard.hash(shard)
}

fn segment_count(size: u64, segment_bytes: u32) -> usize {
    size.div_ceil(u64::from(segment_bytes)).max(1) as usize
}

fn nonce(file: &[u8; 16], segment: usize) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(file);
    n[16..].copy_from_slice(&(segment as u64).to_le_bytes());
    XNonce::from(n)
}

/// The `n` shards of each segment, in segment order.
pub type Shards = Vec<Vec<Vec<u8>>>;

/// Encrypts and erasure-codes `data`: the manifest, and per segment its `n` shards.
pub fn encode(
    data: &[u8],
    key: &FileKey,
    file_nonce: [u8; 16],
    params: CodingParams,
) -> Result<(FileManifest, Shards), CodecError> {
    params.validate()?;
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    let k = usize::from(params.data_shards);
    let mut segments = Vec::new();
    let mut shards = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(params.segment_bytes as usize).collect()
    };
    // One encoder for the whole file: setting one up costs far more than coding a segment.
    let mut encoder: Option<reed_solomon_simd::ReedSolomonEncoder> = None;
    for (index, chunk) in chunks.into_iter().enumerate() {
        let sealed = cipher
            .encrypt(
                &nonce(&file_nonce, index),
                Payload {
                    msg: chunk,
                    aad: &file_nonce,
                },
            )
            .map_err(|_| CodecError::Coding("encryption failed".into()))?;
        // Shards are equal and of even length (the coder works on 16-bit symbols).
        let shard_len = sealed.len().div_ceil(k).next_multiple_of(2).max(2);
        let mut padded = sealed.clone();
        padded.resize(shard_len * k, 0);
        let coding = |e: reed_solomon_simd::Error| CodecError::Coding(e.to_string());
        let m = usize::from(params.parity_shards);
        let rs = match encoder.as_mut() {
            Some(rs) => {
                rs.reset(k, m, shard_len).map_err(coding)?;
                rs
            }
            None => encoder.insert(reed_solomon_simd::ReedSolomonEncoder::new(k, m, shard_len).map_err(coding)?),
        };
        for original in padded.chunks(shard_len) {
            rs.add_original_shard(original).map_err(coding)?;
        }
        let parity: Vec<Vec<u8>> = rs
            .encode()
            .map_err(coding)?
            .recovery_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let all: Vec<Vec<u8>> = padded.chunks(shard_len).map(<[u8]>::to_vec).chain(parity).collect();
        let shard_hashes: Vec<Hash> = all.iter().map(|s| shard_hash(s)).collect();
        segments.push(SegmentInfo {
            sealed_len: sealed.len() as u32,
            shard_len: shard_len as u32,
            root: merkle_root(&shard_hashes),
            shard_hashes,
        });
        shards.push(all);
    }
    let manifest = FileManifest {
        nonce: file_nonce,
        size: data.len() as u64,
        params,
        segments,
    };
    Ok((manifest, shards))
}

/// Rebuilds one segment from whatever shards arrived (`(index, bytes)`; wrong ones are ignored)
/// and decrypts it.
pub fn decode_segment(
    manifest: &FileManifest,
    key: &FileKey,
    segment: usize,
    shards: &[(usize, Vec<u8>)],
) -> Result<Vec<u8>, CodecError> {
    let info = manifest.segments.get(segment).ok_or(CodecError::BadManifest)?;
    let params = manifest.params;
    let (k, n) = (usize::from(params.data_shards), params.total_shards());
    let mut good: Vec<Option<&[u8]>> = vec![None; n];
    for (index, bytes) in shards {
        let fits = *index < n && bytes.len() == info.shard_len as usize;
        if fits && good[*index].is_none() && shard_hash(bytes) == info.shard_hashes[*index] {
            good[*index] = Some(bytes);
        }
    }
    let count = good.iter().filter(|s| s.is_some()).count();
    if count < k {
        return Err(CodecError::NotEnoughShards {
            segment,
            good: count,
            needed: k,
        });
    }
    let mut originals: Vec<Option<Vec<u8>>> = good[..k].iter().map(|s| s.map(<[u8]>::to_vec)).collect();
    if originals.iter().any(Option::is_none) {
        let present = good[..k].iter().enumerate().filter_map(|(i, s)| s.map(|b| (i, b)));
        let recovery = good[k..].iter().enumerate().filter_map(|(i, s)| s.map(|b| (i, b)));
        let restored = reed_solomon_simd::decode(k, usize::from(params.parity_shards), present, recovery)
            .map_err(|e| CodecError::Coding(e.to_string()))?;
        for (i, shard) in restored {
            if let Some(slot) = originals.get_mut(i) {
                *slot = Some(shard);
            }
        }
    }
    let mut sealed = Vec::with_capacity(info.shard_len as usize * k);
    for shard in originals {
        sealed.extend_from_slice(&shard.ok_or(CodecError::NotEnoughShards {
            segment,
            good: count,
            needed: k,
        })?);
    }
    sealed.truncate(info.sealed_len as usize);
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    cipher
        .decrypt(
            &nonce(&manifest.nonce, segment),
            Payload {
                msg: &sealed,
                aad: &manifest.nonce,
            },
        )
        .map_err(|_| CodecError::Decrypt(segment))
}

/// Rebuilds the whole file; `shards[s]` holds what arrived for segment `s`.
pub fn decode(manifest: &FileManifest, key: &FileKey, shards: &[Vec<(usize, Vec<u8>)>]) -> Result<Vec<u8>, CodecError> {
    if !manifest.is_consistent() || shards.len() != manifest.segments.len() {
        return Err(CodecError::BadManifest);
    }
    let mut out = Vec::with_capacity(manifest.size as usize);
    for (segment, arrived) in shards.iter().enumerate() {
        out.extend(decode_segment(manifest, key, segment, arrived)?);
    }
    if out.len() as u64 != manifest.size {
        return Err(CodecError::BadManifest);
    }
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
