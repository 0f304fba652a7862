//! Trellis compute network (the Render row).
//!
//! - [`exec`]: the deterministic executor (wasmtime, fuel-metered, memory-capped, import-free
//!   modules) and the job ABI.
//! - [`cache`]: compiled modules by content address, so a provider compiles each once.
//! - [`canon`]: the rewrite that makes every observable NaN the canonical one.
//! - [`commitment`]: content addresses and the commitment a provider posts for an execution.
//! - [`kernels`]: the reference job module (path tracer, network inference) and the standard
//!   benchmark job behind capability scores.
//! - [`limits`]: the bounds on modules, inputs, outputs, memory and fuel.
//! - [`blobs`]: content-addressed modules, inputs and run records on a provider's disk.
//! - [`provider`]: the provider's HTTP server (uploads checked against the chain, downloads).
//! - [`transfer`]: uploads, and downloads checked against content addresses and commitments.
//! - [`chain`]: the jobs, duties and offers a node's API reports.
//! - [`behaviour`]: honest and cheating providers, as reusable fixtures.
//!
//! What it must never do: let anything but the module and its input decide an outcome. A job
//! sees no clock, randomness, host function or I/O; its fuel is counted per operator by the
//! pinned runtime and its NaNs are canonical where observable; so every honest execution of a job gives the same commitment, which is what
//! replay verification relies on.

pub mod behaviour;
pub mod blobs;
pub mod cache;
pub mod canon;
pub mod chain;
pub mod commitment;
pub mod exec;
mod hex_bytes;
pub mod kernels;
pub mod limits;
pub mod provider;
pub mod transfer;

pub use behaviour::Behaviour;
pub use cache::ModuleCache;
pub use commitment::{blob_hash, commitment};
pub use exec::{Execution, Executor, JobModule, Limits, ModuleError, Outcome, Trap};
