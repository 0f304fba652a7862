//! Rebuilding a lost piece from any `k` others, without the file key.
//!
//! Erasure coding runs over ciphertext, so a repairer (an auditor, or anyone holding the deal)
//! recovers the original shards of every segment from `k` pieces and re-encodes the missing one;
//! it never sees plaintext.

use crate::codec::{CodecError, Layout};
use std::io::{Read, Write};

fn coding(e: reed_solomon_simd::Error) -> CodecError {
    CodecError::Coding(e.to_string())
}

/// Writes piece `missing` of a file with `layout` to `out`, rebuilt from at least `k` verified
/// pieces (`(index, reader)`, each at the piece's start).
pub fn rebuild_piece<R: Read, W: Write>(
    pieces: Vec<(usize, R)>,
    layout: Layout,
    missing: usize,
    out: &mut W,
) -> Result<(), CodecError> {
    let (k, m) = (
        usize::from(layout.params.data_shards),
        usize::from(layout.params.parity_shards),
    );
    let n = k + m;
    if missing >= n {
        return Err(CodecError::BadPiece(missing));
    }
    let (mut readers, chosen) = crate::codec::index_pieces(pieces, layout, Some(missing))?;
    let io = |e: std::io::Error| CodecError::Io(format!("rebuilding a piece: {e}"));
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); n];
    for s in 0..layout.segments() {
        let shard_len = layout.shard_len(s);
        for &i in &chosen {
            bufs[i].resize(shard_len, 0);
            if let Some(r) = readers[i].as_mut() {
                r.read_exact(&mut bufs[i]).map_err(io)?;
            }
        }
        // The k original shards: given, or restored by the decoder.
        let mut originals: Vec<Vec<u8>> = Vec::with_capacity(k);
        if chosen.iter().all(|&i| i < k) {
            originals.extend(chosen.iter().map(|&i| bufs[i].clone()));
        } else {
            let mut rs = reed_solomon_simd::ReedSolomonDecoder::new(k, m, shard_len).map_err(coding)?;
            for &i in &chosen {
                if i < k {
                    rs.add_original_shard(i, &bufs[i]).map_err(coding)?;
                } else {
                    rs.add_recovery_shard(i - k, &bufs[i]).map_err(coding)?;
                }
            }
            let result = rs.decode().map_err(coding)?;
            for (i, given) in bufs.iter().enumerate().take(k) {
                let shard = if chosen.contains(&i) {
                    given.clone()
                } else {
                    result
                        .restored_original(i)
                        .ok_or_else(|| CodecError::Coding(format!("shard {i} was not restored")))?
                        .to_vec()
                };
                originals.push(shard);
            }
        }
        if missing < k {
            out.write_all(&originals[missing]).map_err(io)?;
        } else {
            let mut rs = reed_solomon_simd::ReedSolomonEncoder::new(k, m, shard_len).map_err(coding)?;
            for shard in &originals {
                rs.add_original_shard(shard).map_err(coding)?;
            }
            let encoded = rs.encode().map_err(coding)?;
            let recovery = encoded
                .recovery(missing - k)
                .ok_or_else(|| CodecError::Coding(format!("recovery shard {} missing", missing - k)))?;
            out.write_all(recovery).map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec::CodingParams, encode, FileKey, PieceTree};

    #[test]
    fn every_piece_is_rebuilt_byte_for_byte_from_any_k_others() {
        let params = CodingParams {
            data_shards: 3,
            parity_shards: 4,
            segment_bytes: 10_000,
        };
        let data: Vec<u8> = (0..25_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let (pieces, trees) = encode(&data, &FileKey::derive(&[1; 32], &[2; 16]), [2; 16], params).unwrap();
        let layout = Layout::new(data.len() as u64, params).unwrap();
        for (missing, tree) in trees.iter().enumerate() {
            // The k pieces right after the missing one, wrapping: mixes data and parity.
            let from: Vec<(usize, &[u8])> = (1..=3)
                .map(|d| (missing + d) % 7)
                .map(|i| (i, pieces[i].as_slice()))
                .collect();
            let mut out = Vec::new();
            rebuild_piece(from, layout, missing, &mut out).unwrap();
            assert_eq!(PieceTree::of(&out).root(), tree.root(), "piece {missing}");
        }
        let too_few: Vec<(usize, &[u8])> = vec![(1, &pieces[1]), (2, &pieces[2])];
        assert!(matches!(
            rebuild_piece(too_few, layout, 0, &mut Vec::new()),
            Err(CodecError::NotEnoughPieces { good: 2, needed: 3 })
        ));
    }
}
