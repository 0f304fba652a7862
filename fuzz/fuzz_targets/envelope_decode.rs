//! Device envelopes arrive at ingest from anyone. Decoding must never panic, and whatever decodes
//! must carry a 32-byte key, a 64-byte signature and a report with a kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_proto::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        assert!(env.report.kind.is_some());
        let _ = env.kind_name();
    }
});
