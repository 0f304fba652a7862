//! Integration tests of the `trellis` binary: real processes on loopback.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod cli;
mod compute;
mod crash;
mod e2e;
mod explorer;
mod harness;
mod ingest;
mod sensors;
mod storage;
mod testnet;
mod tidy;
