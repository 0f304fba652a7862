//! A storage provider's answer to an audit challenge is untrusted bytes from the network; so is a
//! challenge as the provider receives it. Decoding must never panic, must respect the size
//! bounds, and whatever decodes must re-encode to the same bytes (the codec is canonical).
//! Checking a decoded answer's chunk proofs (what the auditor does next, against the deal's
//! root and piece length) must not panic either, whatever the proofs and the length, nor
//! checking a decoded challenge's signature (what the provider does first, whatever the key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_primitives::{Encode, Hash};
use trellis_storage::protocol::{decode_answer, decode_challenge, MAX_ANSWER_BYTES, MAX_CHALLENGE_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = decode_answer(data) {
        assert!(data.len() <= MAX_ANSWER_BYTES);
        assert_eq!(answer.to_bytes(), data);
        let len = data.iter().fold(0u64, |acc, &b| acc.rotate_left(8) ^ u64::from(b))
            % (trellis_ledger::MAX_PIECE_BYTES + 1);
        for proof in &answer.proofs {
            // Random bytes do not hash to a chosen root: any verdict but a panic will do.
            let _verdict = proof.verify(&Hash([7; 32]), len, proof.index);
        }
    }
    if let Ok(challenge) = decode_challenge(data) {
        assert!(data.len() <= MAX_CHALLENGE_BYTES);
        assert_eq!(challenge.to_bytes(), data);
        // Arbitrary key bytes may not even be a curve point: a refusal, never a panic.
        let _refused = challenge.check("fuzz", &[challenge.signer], &challenge.provider, challenge.epoch);
    }
});
