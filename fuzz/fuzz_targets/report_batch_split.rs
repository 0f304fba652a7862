//! Batch bodies arrive at ingest from anyone. Splitting must never panic, never exceed the
//! limits, and whatever splits must frame back to exactly the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_ingest::admit::{join_batch, split_batch, MAX_BATCH_REPORTS};
use trellis_proto::MAX_ENVELOPE_BYTES;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = split_batch(data) {
        assert!(!items.is_empty() && items.len() <= MAX_BATCH_REPORTS);
        assert!(items.iter().all(|i| i.len() <= MAX_ENVELOPE_BYTES));
        assert_eq!(join_batch(&items), data);
    }
});
