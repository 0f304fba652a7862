//! The storage codec: round trips under any k-of-n piece subset, bad and misfiled pieces, wrong
//! keys, inputs of the wrong length, and the layout arithmetic the ledger relies on.
#![allow(clippy::unwrap_used)]

mod egress;
mod limits;
mod provider;
mod staged;

use proptest::prelude::*;
use rand::{seq::SliceRandom, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use trellis_primitives::Hash;
use trellis_storage::{decode, encode, encode_pieces, CodecError, CodingParams, FileKey, Layout, PieceTree};

fn params(k: u16, m: u16, segment: u32) -> CodingParams {
    CodingParams {
        data_shards: k,
        parity_shards: m,
        segment_bytes: segment,
    }
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut d = vec![0u8; len];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut d);
    d
}

fn roots(trees: &[PieceTree]) -> Vec<Hash> {
    trees.iter().map(PieceTree::root).collect()
}

/// `keep` random pieces, with their indexes.
fn survivors(pieces: &[Vec<u8>], keep: usize, seed: u64) -> Vec<(usize, &[u8])> {
    let mut indexed: Vec<(usize, &[u8])> = pieces.iter().map(Vec::as_slice).enumerate().collect();
    indexed.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
    indexed.truncate(keep);
    indexed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any k of the n pieces rebuild exactly the file, and every piece has the layout's length.
    #[test]
    fn any_k_pieces_rebuild_the_file(
        len in 0usize..20_000,
        k in 1u16..12,
        m in 1u16..12,
        segment in 1u32..5_000,
        seed in any::<u64>(),
    ) {
        let p = params(k, m, segment);
        let key = FileKey::derive(&[7; 32], &[1; 16]);
        let file = data(len, seed);
        let (pieces, trees) = encode(&file, &key, [1; 16], p).unwrap();
        let layout = Layout::new(len as u64, p).unwrap();
        prop_assert_eq!(pieces.len(), usize::from(k + m));
        for (piece, tree) in pieces.iter().zip(&trees) {
            prop_assert_eq!(piece.len() as u64, layout.piece_len());
            prop_assert_eq!(tree.len, layout.piece_len());
        }
        let arrived = survivors(&pieces, usize::from(k), seed ^ 1);
        prop_assert_eq!(decode(&arrived, &roots(&trees), len as u64, p, &key, [1; 16]).unwrap(), file);
    }
}

#[test]
fn bad_or_misfiled_pieces_are_skipped_and_too_few_good_ones_are_an_error() {
    let p = params(4, 4, 1_000);
    let key = FileKey::derive(&[7; 32], &[2; 16]);
    let file = data(2_500, 9);
    let (mut pieces, trees) = encode(&file, &key, [2; 16], p).unwrap();
    let roots = roots(&trees);
    // Two providers flip a byte: six pieces arrive, four are good.
    pieces[0][0] ^= 1;
    pieces[5][600] ^= 0x80;
    let arrived: Vec<(usize, &[u8])> = (0..6).map(|i| (i, pieces[i].as_slice())).collect();
    assert_eq!(decode(&arrived, &roots, 2_500, p, &key, [2; 16]).unwrap(), file);
    // One more bad piece and it is short.
    pieces[1][1] ^= 1;
    let arrived: Vec<(usize, &[u8])> = (0..6).map(|i| (i, pieces[i].as_slice())).collect();
    assert_eq!(
        decode(&arrived, &roots, 2_500, p, &key, [2; 16]),
        Err(CodecError::NotEnoughPieces { good: 3, needed: 4 })
    );
    // A good piece offered under another index does not match that index's root.
    let misfiled: Vec<(usize, &[u8])> = (2..8).map(|i| ((i + 1) % 8, pieces[i].as_slice())).collect();
    assert!(matches!(
        decode(&misfiled, &roots, 2_500, p, &key, [2; 16]),
        Err(CodecError::NotEnoughPieces { good: 0, .. })
    ));
}

#[test]
fn the_wrong_key_or_nonce_fails_decryption() {
    let p = params(3, 2, 10_000);
    let key = FileKey::derive(&[7; 32], &[3; 16]);
    let file = data(25_000, 4);
    let (pieces, trees) = encode(&file, &key, [3; 16], p).unwrap();
    let all: Vec<(usize, &[u8])> = pieces.iter().map(Vec::as_slice).enumerate().collect();
    let other = FileKey::derive(&[8; 32], &[3; 16]);
    assert_eq!(
        decode(&all, &roots(&trees), 25_000, p, &other, [3; 16]),
        Err(CodecError::Decrypt(0))
    );
    assert_eq!(
        decode(&all, &roots(&trees), 25_000, p, &key, [4; 16]),
        Err(CodecError::Decrypt(0))
    );
}

#[test]
fn input_of_the_wrong_length_is_refused() {
    let p = params(2, 1, 1_000);
    let key = FileKey::derive(&[7; 32], &[5; 16]);
    let file = data(2_500, 1);
    let mut sinks: Vec<Vec<u8>> = vec![Vec::new(); 3];
    let short = Layout::new(3_000, p).unwrap();
    assert_eq!(
        encode_pieces(&mut &file[..], short, &key, [5; 16], &mut sinks, |_| {}),
        Err(CodecError::Length {
            what: "input",
            expected: 3_000,
            found: 2_000
        })
    );
    let long = Layout::new(2_000, p).unwrap();
    let mut sinks: Vec<Vec<u8>> = vec![Vec::new(); 3];
    assert!(matches!(
        encode_pieces(&mut &file[..], long, &key, [5; 16], &mut sinks, |_| {}),
        Err(CodecError::Length { what: "input", .. })
    ));
    let mut two: Vec<Vec<u8>> = vec![Vec::new(); 2];
    assert!(matches!(
        encode_pieces(
            &mut &file[..],
            Layout::new(2_500, p).unwrap(),
            &key,
            [5; 16],
            &mut two,
            |_| {}
        ),
        Err(CodecError::NotEnoughPieces { good: 2, needed: 3 })
    ));
}

#[test]
fn encoding_is_deterministic_the_key_is_per_file_and_progress_is_reported() {
    let p = CodingParams::default();
    let key = FileKey::derive(&[7; 32], &[4; 16]);
    let file = data(9 << 20, 5);
    let (a, trees_a) = encode(&file, &key, [4; 16], p).unwrap();
    let (b, trees_b) = encode(&file, &key, [4; 16], p).unwrap();
    assert_eq!((&a, roots(&trees_a)), (&b, roots(&trees_b)));
    let layout = Layout::new(file.len() as u64, p).unwrap();
    assert_eq!(layout.segments(), 3);
    assert_eq!(a.len(), 30);
    // Another file nonce: another key and other ciphertext for the same bytes.
    let key2 = FileKey::derive(&[7; 32], &[5; 16]);
    let (c, _) = encode(&file, &key2, [5; 16], p).unwrap();
    assert_ne!(a[0], c[0]);
    // Storage cost: 30 pieces of ~0.3 MiB per MiB: three times the file, plus tags and padding.
    let stored: u64 = a.iter().map(|x| x.len() as u64).sum();
    assert_eq!(stored, layout.stored_len());
    assert!(stored > 3 * file.len() as u64 && stored < 3 * file.len() as u64 + 64 * 1024);
    let mut reported = Vec::new();
    let mut sinks: Vec<Vec<u8>> = vec![Vec::new(); 30];
    encode_pieces(&mut &file[..], layout, &key, [4; 16], &mut sinks, |done| {
        reported.push(done)
    })
    .unwrap();
    assert_eq!(reported, vec![4 << 20, 8 << 20, 9 << 20]);
    assert_eq!(sinks, a);
}
