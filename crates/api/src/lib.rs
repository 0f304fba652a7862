//! The Trellis node's HTTP JSON API (axum): transactions, accounts, devices, blocks, supply,
//! parameters, a server-sent-event stream of blocks, Prometheus metrics and the OpenAPI document.
//!
//! **Architecture invariant:** the API reads committed state and submits to the mempool; it
//! never mutates the ledger directly. Every input from the network is bounded (body size) and
//! parsed into a typed value before use; bad input gets a 4xx with a machine-readable code.

mod compute;
pub mod data;
mod error;
mod explore;
pub mod openapi;
mod rewards;
mod routes;
mod storage;
mod ui;

pub use error::ApiError;
pub use routes::{router, serve, serve_with, ApiOptions};
