//! The storage codec: round trips under any k-of-n shard subset, corrupted and missing shards,
//! wrong keys and tampered manifests.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rand::{seq::SliceRandom, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use trellis_storage::{codec::decode_segment, decode, encode, CodecError, CodingParams, FileKey};

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

/// Keeps `keep` random shards of every segment.
fn survivors(shards: &[Vec<Vec<u8>>], keep: usize, seed: u64) -> Vec<Vec<(usize, Vec<u8>)>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    shards
        .iter()
        .map(|segment| {
            let mut indexed: Vec<(usize, Vec<u8>)> = segment.iter().cloned().enumerate().collect();
            indexed.shuffle(&mut rng);
            indexed.truncate(keep);
            indexed
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any k of the n shards of every segment rebuild exactly the file.
    #[test]
    fn any_k_shards_rebuild_the_file(
        len in 0usize..20_000,
        k in 1u16..12,
        m in 1u16..12,
        segment in 1u32..5_000,
        seed in any::<u64>(),
    ) {
        let p = params(k, m, segment);
        let key = FileKey::derive(&[7; 32], &[1; 16]);
        let file = data(len, seed);
        let (manifest, shards) = encode(&file, &key, [1; 16], p).unwrap();
        prop_assert!(manifest.is_consistent());
        prop_assert_eq!(shards.len(), manifest.segments.len());
        let arrived = survivors(&shards, usize::from(k), seed ^ 1);
        prop_assert_eq!(decode(&manifest, &key, &arrived).unwrap(), file);
    }
}

#[test]
fn corrupted_shards_are_ignored_and_too_few_good_ones_are_an_error() {
    let p = params(4, 4, 1_000);
    let key = FileKey::derive(&[7; 32], &[2; 16]);
    let file = data(2_500, 9);
    let (manifest, shards) = encode(&file, &key, [2; 16], p).unwrap();
    assert_eq!(manifest.segments.len(), 3);
    // Segment 0: six shards arrive, two of them flipped by a bad provider: four good remain.
    let mut arrived: Vec<(usize, Vec<u8>)> = shards[0].iter().cloned().enumerate().take(6).collect();
    arrived[0].1[0] ^= 1;
    arrived[5].1[3] ^= 0x80;
    assert_eq!(decode_segment(&manifest, &key, 0, &arrived).unwrap(), file[..1_000]);
    // One more bad shard and it is short.
    arrived[1].1[1] ^= 1;
    assert_eq!(
        decode_segment(&manifest, &key, 0, &arrived),
        Err(CodecError::NotEnoughShards {
            segment: 0,
            good: 3,
            needed: 4
        })
    );
    // A shard offered under the wrong index, duplicates and out-of-range indexes count for nothing.
    let misfiled = vec![
        (1, shards[0][0].clone()),
        (0, shards[0][0].clone()),
        (0, shards[0][0].clone()),
        (99, shards[0][2].clone()),
    ];
    assert!(matches!(
        decode_segment(&manifest, &key, 0, &misfiled),
        Err(CodecError::NotEnoughShards { good: 1, .. })
    ));
}

#[test]
fn the_wrong_key_or_a_tampered_manifest_is_refused() {
    let p = params(3, 2, 10_000);
    let key = FileKey::derive(&[7; 32], &[3; 16]);
    let file = data(25_000, 4);
    let (manifest, shards) = encode(&file, &key, [3; 16], p).unwrap();
    let all: Vec<Vec<(usize, Vec<u8>)>> = survivors(&shards, 5, 0);
    let other = FileKey::derive(&[8; 32], &[3; 16]);
    assert_eq!(decode(&manifest, &other, &all), Err(CodecError::Decrypt(0)));
    // Shard hashes that no longer match the segment root.
    let mut tampered = manifest.clone();
    tampered.segments[1].shard_hashes[0] = trellis_primitives::Hash([0; 32]);
    assert_eq!(decode(&tampered, &key, &all), Err(CodecError::BadManifest));
    // Segments swapped: the roots still match the hashes, but decryption is bound to the index.
    let mut swapped = manifest.clone();
    swapped.segments.swap(0, 1);
    let mut swapped_shards = all.clone();
    swapped_shards.swap(0, 1);
    assert_eq!(decode(&swapped, &key, &swapped_shards), Err(CodecError::Decrypt(0)));
    // The commitment covers every segment root and the size.
    let mut resized = manifest.clone();
    resized.size -= 1;
    assert_ne!(resized.commitment(), manifest.commitment());
    assert_ne!(swapped.commitment(), manifest.commitment());
}

#[test]
fn encoding_is_deterministic_and_the_key_is_per_file() {
    let p = CodingParams::default();
    let key = FileKey::derive(&[7; 32], &[4; 16]);
    let file = data(9 << 20, 5);
    let (a, shards_a) = encode(&file, &key, [4; 16], p).unwrap();
    let (b, shards_b) = encode(&file, &key, [4; 16], p).unwrap();
    assert_eq!(a, b);
    assert_eq!(shards_a, shards_b);
    assert_eq!(a.segments.len(), 3);
    assert_eq!(shards_a[0].len(), 30);
    // Another file nonce: another key and other ciphertext for the same bytes.
    let key2 = FileKey::derive(&[7; 32], &[5; 16]);
    let (c, _) = encode(&file, &key2, [5; 16], p).unwrap();
    assert_ne!(a.commitment(), c.commitment());
    // Storage cost: 30 shards of ~420 KiB per 4 MiB segment.
    let stored: usize = shards_a.iter().flatten().map(Vec::len).sum();
    assert!(
        stored > 3 * file.len() && stored < 3 * file.len() + 64 * 1024,
        "{stored}"
    );
}
