//! Integration tests of the ledger state machine: invariants as property tests, determinism,
//! and every transaction kind's rules with the numbers written out.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod determinism;
mod fixtures;
mod props;
mod scenarios;
