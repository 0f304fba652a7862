//! Integration tests of the ledger state machine: invariants as property tests over a random
//! workload of every transaction kind, determinism across replicas, and every rule with the
//! numbers written out.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod compute;
mod compute_props;
mod determinism;
mod devices;
mod egress;
mod fixtures;
mod genesis;
mod props;
mod rewards;
mod scenarios;
mod storage;
mod workload;
