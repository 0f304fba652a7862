//! The Trellis reward engine: one engine for every resource class.
//!
//! Per epoch: the [`EmissionSchedule`] says how much TRL is minted (halvings, optional supply cap,
//! optional burn-responsive net emission); [`PoolSplit`] divides it into pools (coverage, storage,
//! compute, sensor/energy, operations, treasury); each verifier hands in [`DeviceShare`]s for its
//! pool; [`compute_epoch`] pays each pool's earned credits first ([`credits`]) and turns the rest
//! into exact integer payouts per device and per owner and a
//! [`RewardManifest`] whose Merkle root the oracles post to the ledger.
//!
//! **Architecture invariant:** pure functions of their inputs. No floats, no clock, no
//! randomness, no unordered iteration: the same inputs give the same manifest root on every
//! machine, whatever order the shares arrive in. Every amount is rounded down and the remainders
//! go to the treasury, so each pool pays out exactly its emission.

pub mod archive;
pub mod credits;
pub mod engine;
pub mod manifest;
pub mod payout;
pub mod pools;
pub mod schedule;
pub mod shares;

pub use archive::{AuditVerdict, EpochArchive};
pub use credits::{pay_pool, CreditValue};
pub use engine::{compute_epoch, EpochInputs, EpochResult, RewardConfig};
pub use manifest::{OwnerPayout, RewardManifest};
pub use payout::{distribute, DevicePayout};
pub use pools::{Pool, PoolAmounts, PoolSplit};
pub use schedule::{EmissionSchedule, NetEmission};
pub use shares::{DeviceShare, ShareSource};

/// Errors in reward configuration or inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardError {
    /// A configuration value breaks an invariant; the message names the field.
    #[error("invalid reward config: {0}")]
    Config(String),
    /// Shares for a device appear twice.
    #[error("device {0} has more than one share in the {1} pool")]
    DuplicateShare(String, &'static str),
    /// Arithmetic overflow (inputs far beyond any real network).
    #[error("reward arithmetic overflows")]
    Overflow,
}
