//! Blocks will arrive from peers (block sync). Same properties as transactions: no panic, bounded
//! allocation, canonical round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_ledger::Block;
use trellis_primitives::Encode;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode_untrusted(data) {
        assert_eq!(block.to_bytes(), data, "decoding is not canonical");
        let _hash = block.header.hash();
    }
});
