//! A storage provider's answer to an audit challenge is untrusted bytes from the network; so is a
//! challenge as the provider receives it. Decoding must never panic, must respect the size
//! bounds, and whatever decodes must re-encode to the same bytes (the codec is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_primitives::Encode;
use trellis_storage::protocol::{decode_answer, decode_challenge, MAX_ANSWER_BYTES, MAX_CHALLENGE_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = decode_answer(data) {
        assert!(data.len() <= MAX_ANSWER_BYTES);
        assert_eq!(answer.to_bytes(), data);
    }
    if let Ok(challenge) = decode_challenge(data) {
        assert!(data.len() <= MAX_CHALLENGE_BYTES);
        assert_eq!(challenge.to_bytes(), data);
    }
});
