//! The whole-network simulator: deterministic, and its report within the bounds the issue sets
//! where the verifiers meet them.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod network;
