//! Transactions arrive from the network as untrusted bytes. Decoding must never panic or allocate
//! beyond the input, and whatever decodes must re-encode to exactly the same bytes (the encoding
//! is canonical, so a transaction id can never be malleated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_ledger::Transaction;
use trellis_primitives::Encode;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = Transaction::decode_untrusted(data) {
        assert_eq!(tx.to_bytes(), data, "decoding is not canonical");
        let _id = tx.id();
    }
});
