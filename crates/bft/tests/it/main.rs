//! Integration tests of the BFT validator: the ledger application on its own, and whole
//! validator networks in Commonware's deterministic simulation (fixed seeds) with real ledgers
//! and block stores on disk.
#![allow(clippy::unwrap_used)]

mod app;
mod scenarios;
mod sim;
