//! The HTTP API against a real node and server on loopback.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod errors;
mod flows;
mod server;
