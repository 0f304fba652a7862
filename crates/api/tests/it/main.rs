//! The HTTP API against a real node: redb in a temp dir, the sequencer making a block every
//! 20 ms, and the server on an OS-chosen loopback port. Every test starts its own.
#![allow(clippy::unwrap_used)]

mod data;
mod events;
mod explore;
mod flows;
mod mempool;
mod openapi;
mod queries;
mod server;
mod submit;
