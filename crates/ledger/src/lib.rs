//! The Trellis ledger: a deterministic state machine over a sorted key-value [`Store`].
//!
//! It owns transactions and their canonical encoding, every rule of execution (transfers, device
//! onboarding with maker attestation, locations, burn-and-mint credits, collateral and slashing,
//! reward manifests and claims, multisig governance), blocks, the genesis document and the state
//! root.
//!
//! **Architecture invariant:** the ledger never does I/O, never reads a clock, never draws
//! randomness and never iterates an unordered map. Time enters as a block timestamp argument,
//! persistence is the caller's job (it receives each block's [`StateDiff`]), and two ledgers fed
//! the same blocks hold byte-identical state.
//!
//! **Architecture invariant:** money is integer base units with checked arithmetic; supply is
//! conserved: `issued - burned` equals everything the state holds (see [`execute::held_total`]).

pub mod block;
pub mod error;
pub mod execute;
pub mod genesis;
pub mod ledger;
pub mod merkle;
pub mod params;
mod reputation;
pub mod reward_params;
pub mod state;
pub mod store;
pub mod tx;

pub use block::{Block, BlockHeader};
pub use error::{BlockError, RejectReason, TxFailure};
pub use genesis::{Genesis, GenesisAccount, GenesisError, GenesisMaker};
pub use ledger::{ChainTip, ExecutedBlock, Ledger, Proposal, Receipt, TxOutcome};
pub use merkle::{merkle_root, MerkleProof};
pub use params::Params;
pub use reward_params::{PoolSplit, RewardParams};
pub use state::{Account, Deal, Device, Manifest, Reputation, StateRead, Supply, Unbonding};
pub use store::{Layered, MemStore, Overlay, StateDiff, Store};
pub use tx::{
    Antenna, Capability, Committee, DealTerms, DeviceClass, EgressClaim, EgressOrder, GovAction, OrderExpiry, Piece,
    SignedEgressOrder, Transaction, TxBody, TxKind, GIB, MAX_EGRESS_CLAIMS, MAX_ORDER_EPOCHS, MAX_PIECES,
    MAX_PIECE_BYTES, MAX_SEGMENT_BYTES, PIECE_CHUNK_BYTES,
};
