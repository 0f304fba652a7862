//! What a provider commits to on chain: `hash(runtime, module, entry, input, outcome, fuel)`.
//!
//! Replay verification recomputes the same value from the same module and input; any
//! difference in output bytes, in how the run ended, or in the fuel claimed changes it.

use crate::{
    exec::{Execution, Outcome},
    limits::RUNTIME_ID,
};
use trellis_primitives::{Hash, HashDomain};

/// The content address of a module, input or output.
pub fn blob_hash(bytes: &[u8]) -> Hash {
    HashDomain::ComputeBlob.hash(bytes)
}

/// The hash of an outcome: its kind and its bytes.
pub fn outcome_hash(outcome: &Outcome) -> Hash {
    let (tag, body): (&[u8], &[u8]) = match outcome {
        Outcome::Output { bytes } => (b"output", bytes),
        Outcome::Refused { message } => (b"refused", message.as_bytes()),
        Outcome::Trapped { trap } => (b"trapped", trap.as_str().as_bytes()),
    };
    HashDomain::ComputeBlob.hash_parts(&[tag, &[0], body])
}

/// The commitment to one execution of `entry` of `module` on `input`.
pub fn commitment(module: &Hash, entry: &str, input: &Hash, execution: &Execution) -> Hash {
    commitment_parts(
        module,
        entry,
        input,
        &outcome_hash(&execution.outcome),
        execution.fuel_used,
    )
}

/// The commitment from its parts (what a verifier that only has hashes checks).
pub fn commitment_parts(module: &Hash, entry: &str, input: &Hash, outcome: &Hash, fuel_used: u64) -> Hash {
    let entry_len = u32::try_from(entry.len()).unwrap_or(u32::MAX).to_le_bytes();
    let runtime_len = u32::try_from(RUNTIME_ID.len()).unwrap_or(u32::MAX).to_le_bytes();
    HashDomain::ComputeCommitment.hash_parts(&[
        &runtime_len,
        RUNTIME_ID.as_bytes(),
        module.as_bytes(),
        &entry_len,
        entry.as_bytes(),
        input.as_bytes(),
        outcome.as_bytes(),
        &fuel_used.to_le_bytes(),
    ])
}
