//! Integration tests of the compute crate (one binary, per the workspace convention).
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod determinism;
mod modules;
mod provider;
