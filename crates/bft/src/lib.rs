//! Trellis on Byzantine-fault-tolerant consensus.
//!
//! The ledger state machine runs unchanged under the single-node sequencer and here. Commonware
//! simplex orders block digests among a fixed validator set; marshal disseminates full blocks,
//! backfills missing ones from peers and hands finalized blocks over in height order;
//! [`LedgerApp`] proposes and verifies blocks by executing them through `trellis-ledger`, and
//! [`Finalizer`] commits finalized blocks through [`trellis_chain::Node::commit_decided`], the
//! same path that replay from disk takes.

pub mod app;
pub mod block;
pub mod gossip;
pub mod net;
pub mod validator;

pub use app::{AppConfig, Finalizer, LedgerApp};
pub use block::{BftBlock, MAX_BFT_BLOCK_BYTES};
