//! Upload grants arrive in HTTP headers from any client: a staged upload's before any deal
//! exists, a direct upload's for an open deal. Decoding either header must never panic, must
//! respect its size bound, and whatever decodes must re-encode to the same bytes (one grant,
//! one signing message); verifying garbage is a clean no.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_primitives::{Decode, Encode};
use trellis_storage::protocol::{
    decode_stage_header, decode_upload_header, SignedStageGrant, SignedUploadGrant, MAX_STAGE_HEADER_BYTES,
    MAX_UPLOAD_HEADER_BYTES,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(grant) = decode_stage_header(data) {
        assert!(data.len() <= MAX_STAGE_HEADER_BYTES);
        assert_eq!(grant.header().as_bytes(), data.to_ascii_lowercase().as_slice());
        let _verdict = grant.verify("fuzz-chain");
    }
    if let Ok(grant) = SignedStageGrant::from_bytes(data) {
        assert_eq!(grant.to_bytes(), data);
    }
    if let Ok(grant) = decode_upload_header(data) {
        assert!(data.len() <= MAX_UPLOAD_HEADER_BYTES);
        assert_eq!(grant.header().as_bytes(), data.to_ascii_lowercase().as_slice());
        let _verdict = grant.verify("fuzz-chain");
    }
    if let Ok(grant) = SignedUploadGrant::from_bytes(data) {
        assert_eq!(grant.to_bytes(), data);
    }
});
