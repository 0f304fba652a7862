//! Trellis block production: a bounded fee-ordered [`Mempool`] and the embedded single-node
//! sequencer [`Node`], which builds a block every interval, persists it with fsync through
//! `trellis-store`, and only then reports it committed.
//!
//! **Architecture invariant:** this crate never changes state except through
//! `Ledger::propose`/`Ledger::apply_block`; the BFT adapter (`trellis-bft`) feeds decided blocks
//! to the same ledger through [`Node::commit_decided`].

pub mod mempool;
pub mod metrics;
pub mod node;

pub use mempool::{Mempool, MempoolError};
pub use metrics::ChainMetrics;
pub use node::{BlockEvent, Decided, Node, NodeError, SequencerConfig, SubmitError, TxStatus};
