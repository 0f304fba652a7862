//! A download's egress order arrives in an HTTP header from any client, and the ledger decodes
//! claims carrying orders inside transactions. Decoding must never panic, and whatever decodes
//! must re-encode to the same bytes (the codec is canonical: one order, one signature message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_ledger::{EgressClaim, SignedEgressOrder};
use trellis_primitives::{Decode, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(order) = SignedEgressOrder::from_bytes(data) {
        assert_eq!(order.to_bytes(), data);
        // Verifying garbage must be a clean no, never a panic.
        let _verdict = order.verify("fuzz-chain");
        let _cost = order.order.cost(order.order.bytes);
    }
    if let Ok(claim) = EgressClaim::from_bytes(data) {
        assert_eq!(claim.to_bytes(), data);
    }
});
