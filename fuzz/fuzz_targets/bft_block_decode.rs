//! Blocks arrive from consensus peers (broadcast and backfill). Decoding must never panic, must
//! respect the size bound, and a decoded block must re-encode to the bytes it came from.
#![no_main]

use bytes::Buf as _;
use commonware_codec::{Encode, Read};
use libfuzzer_sys::fuzz_target;
use trellis_bft::BftBlock;

fuzz_target!(|data: &[u8]| {
    let mut buf = bytes::Bytes::copy_from_slice(data);
    if let Ok(block) = BftBlock::read_cfg(&mut buf, &()) {
        let consumed = data.len() - buf.remaining();
        assert_eq!(block.encode().as_ref(), &data[..consumed]);
    }
});
