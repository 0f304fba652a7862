//! What can go wrong with a transaction or a block.

use crate::state::CorruptState;
use thiserror::Error;
use trellis_primitives::{Amount, Credits, DeviceAddress, Hash};

/// Why a transaction cannot be included in a block at all. An included transaction always pays
/// its fee and consumes its nonce; these are the checks that come before that.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// Signed for another chain.
    #[error("transaction is for chain `{found}`, this is `{expected}`")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The transaction's.
        found: String,
    },
    /// The nonce is not the signer's next one.
    #[error("nonce {found} is not the account's next nonce {expected}")]
    BadNonce {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's.
        found: u64,
    },
    /// The fee is below the minimum.
    #[error("fee {offered} is below the minimum {min}")]
    FeeTooLow {
        /// Minimum.
        min: Amount,
        /// Offered.
        offered: Amount,
    },
    /// The signer cannot pay the fee.
    #[error("balance {available} cannot pay the fee {fee}")]
    CannotPayFee {
        /// Fee.
        fee: Amount,
        /// Balance.
        available: Amount,
    },
    /// A signature or co-signature does not verify.
    #[error("a signature does not verify")]
    BadSignature,
    /// Burning the fee would overflow the burned total (impossible while burned ≤ issued).
    #[error("supply accounting overflow")]
    SupplyOverflow,
    /// The state is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptState),
}

impl RejectReason {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::WrongChain { .. } => "wrong_chain",
            RejectReason::BadNonce { .. } => "bad_nonce",
            RejectReason::FeeTooLow { .. } => "fee_too_low",
            RejectReason::CannotPayFee { .. } => "cannot_pay_fee",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::SupplyOverflow => "supply_overflow",
            RejectReason::Corrupt(_) => "corrupt_state",
        }
    }
}

/// Why an included transaction failed. A failed transaction changes nothing but its fee and nonce.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxFailure {
    /// Not enough TRL.
    #[error("insufficient balance: needed {needed}, available {available}")]
    InsufficientBalance {
        /// Needed.
        needed: Amount,
        /// Available.
        available: Amount,
    },
    /// Not enough credits.
    #[error("insufficient credits: needed {needed}, available {available}")]
    InsufficientCredits {
        /// Needed.
        needed: Credits,
        /// Available.
        available: Credits,
    },
    /// An amount of zero where something must move.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// Arithmetic would overflow.
    #[error("amount overflows")]
    Overflow,
    /// The device is not registered.
    #[error("device is not registered")]
    UnknownDevice,
    /// The device is already registered.
    #[error("device is already registered")]
    DeviceExists,
    /// The signer does not own the device.
    #[error("signer does not own the device")]
    NotDeviceOwner,
    /// The maker is unknown or revoked.
    #[error("maker is not registered or has been revoked")]
    MakerNotAuthorised,
    /// A required co-signature is missing.
    #[error("missing co-signature by the {0}")]
    MissingCosignature(&'static str),
    /// Not enough committee members signed.
    #[error("{committee} quorum not met: {have} of {need} required signatures")]
    QuorumNotMet {
        /// Which committee.
        committee: &'static str,
        /// Required.
        need: u32,
        /// Present.
        have: u32,
    },
    /// Malformed input caught by semantic checks.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// No oracle price has been posted.
    #[error("no oracle price has been posted")]
    NoPrice,
    /// The latest price is too old.
    #[error("oracle price from height {posted} is older than {max_age} blocks")]
    StalePrice {
        /// When it was posted.
        posted: u64,
        /// Maximum age.
        max_age: u64,
    },
    /// The burn is too small to buy a single credit.
    #[error("burn buys zero credits at the current price")]
    BurnTooSmall,
    /// Not enough stake on the device.
    #[error("insufficient stake: requested {requested}, staked {staked}")]
    InsufficientStake {
        /// Requested.
        requested: Amount,
        /// Staked.
        staked: Amount,
    },
    /// Too many unbonding entries are open.
    #[error("too many unbonding entries; withdraw matured ones first")]
    UnbondingFull,
    /// Nothing has matured.
    #[error("no unbonding entry has matured")]
    NothingToWithdraw,
    /// This evidence already slashed.
    #[error("evidence {0} has already been used for a slash")]
    EvidenceUsed(Hash),
    /// Nothing is bonded to slash.
    #[error("device has no collateral to slash")]
    NothingToSlash,
    /// A manifest for the epoch already exists.
    #[error("a reward manifest for epoch {0} has already been posted")]
    ManifestExists(u64),
    /// The epoch has not finished.
    #[error("epoch {epoch} is not complete (current epoch {current})")]
    EpochNotComplete {
        /// The manifest's epoch.
        epoch: u64,
        /// The current epoch.
        current: u64,
    },
    /// The manifest exceeds the per-epoch cap.
    #[error("manifest total {total} exceeds the cap {max}")]
    ManifestTooLarge {
        /// Total.
        total: Amount,
        /// Cap.
        max: Amount,
    },
    /// No manifest for that epoch.
    #[error("no reward manifest for epoch {0}")]
    NoManifest(u64),
    /// Already claimed.
    #[error("reward already claimed for this owner and epoch")]
    AlreadyClaimed,
    /// The proof does not match the manifest root.
    #[error("Merkle proof does not match the manifest root {0}")]
    BadProof(Hash),
    /// The claim would take the manifest over its total.
    #[error("claim would exceed the manifest total")]
    ClaimExceedsManifest,
    /// No deal with that id.
    #[error("no storage deal {0}")]
    UnknownDeal(Hash),
    /// A deal with the same id exists, or existed and was closed (ids are used once).
    #[error("storage deal {0} exists or was closed; open the file under a new nonce")]
    DealExists(Hash),
    /// Only the deal's client (or a verifier, for repairs) may do this.
    #[error("signer is not the client of the deal")]
    NotDealClient,
    /// A piece was placed on a device that cannot hold it.
    #[error("device {device} cannot hold pieces: {why}")]
    NotStorageProvider {
        /// The device.
        device: DeviceAddress,
        /// Why not.
        why: String,
    },
    /// This epoch of the deal was settled already, or is outside the deal.
    #[error("epoch {epoch} of the deal cannot be settled: {why}")]
    CannotSettle {
        /// The epoch.
        epoch: u64,
        /// Why not.
        why: &'static str,
    },
    /// A completed epoch of the deal awaits its audit settlement; closing now would refund what
    /// the providers proved they earned, moving a piece would take it from the one that proved it.
    #[error("epoch {epoch} of the deal is complete but not settled yet; close the deal or move its pieces once the auditors settle it (at the latest {grace} epochs later)")]
    SettlementPending {
        /// The epoch awaiting settlement.
        epoch: u64,
        /// Epochs after which the client may close regardless.
        grace: u64,
    },
    /// No compute job with that id.
    #[error("no compute job {0}")]
    UnknownJob(Hash),
    /// The same client posted the same spec before.
    #[error("compute job {0} already exists (change the spec's nonce to post it again)")]
    JobExists(Hash),
    /// The device cannot do compute work.
    #[error("device {device} cannot take compute jobs: {why}")]
    NotComputeProvider {
        /// The device.
        device: DeviceAddress,
        /// Why not.
        why: String,
    },
    /// No provider can take the job as specified.
    #[error("no compute provider can take the job: {0}")]
    NoComputeProvider(String),
    /// The job is not in a state that allows this.
    #[error("the compute job cannot do that now: {0}")]
    JobState(String),
    /// An egress order cannot be paid: unsigned, signed by the wrong key, for another
    /// provider, expired, or claiming more than it allows.
    #[error("egress order {serial}: {why}")]
    BadEgressOrder {
        /// The order's serial, hex.
        serial: String,
        /// Why not.
        why: String,
    },
    /// The client's serial was paid before.
    #[error("egress order {0} was claimed before")]
    EgressOrderUsed(String),
    /// The state is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptState),
}

impl TxFailure {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TxFailure::InsufficientBalance { .. } => "insufficient_balance",
            TxFailure::InsufficientCredits { .. } => "insufficient_credits",
            TxFailure::ZeroAmount => "zero_amount",
            TxFailure::Overflow => "overflow",
            TxFailure::UnknownDevice => "unknown_device",
            TxFailure::DeviceExists => "device_exists",
            TxFailure::NotDeviceOwner => "not_device_owner",
            TxFailure::MakerNotAuthorised => "maker_not_authorised",
            TxFailure::MissingCosignature(_) => "missing_cosignature",
            TxFailure::QuorumNotMet { .. } => "quorum_not_met",
            TxFailure::Invalid(_) => "invalid",
            TxFailure::NoPrice => "no_price",
            TxFailure::StalePrice { .. } => "stale_price",
            TxFailure::BurnTooSmall => "burn_too_small",
            TxFailure::InsufficientStake { .. } => "insufficient_stake",
            TxFailure::UnbondingFull => "unbonding_full",
            TxFailure::NothingToWithdraw => "nothing_to_withdraw",
            TxFailure::EvidenceUsed(_) => "evidence_used",
            TxFailure::NothingToSlash => "nothing_to_slash",
            TxFailure::ManifestExists(_) => "manifest_exists",
            TxFailure::EpochNotComplete { .. } => "epoch_not_complete",
            TxFailure::ManifestTooLarge { .. } => "manifest_too_large",
            TxFailure::NoManifest(_) => "no_manifest",
            TxFailure::AlreadyClaimed => "already_claimed",
            TxFailure::BadProof(_) => "bad_proof",
            TxFailure::ClaimExceedsManifest => "claim_exceeds_manifest",
            TxFailure::UnknownDeal(_) => "unknown_deal",
            TxFailure::DealExists(_) => "deal_exists",
            TxFailure::NotDealClient => "not_deal_client",
            TxFailure::NotStorageProvider { .. } => "not_storage_provider",
            TxFailure::CannotSettle { .. } => "cannot_settle",
            TxFailure::SettlementPending { .. } => "settlement_pending",
            TxFailure::UnknownJob(_) => "unknown_job",
            TxFailure::JobExists(_) => "job_exists",
            TxFailure::NotComputeProvider { .. } => "not_compute_provider",
            TxFailure::NoComputeProvider(_) => "no_compute_provider",
            TxFailure::JobState(_) => "job_state",
            TxFailure::BadEgressOrder { .. } => "bad_egress_order",
            TxFailure::EgressOrderUsed(_) => "egress_order_used",
            TxFailure::Corrupt(_) => "corrupt_state",
        }
    }
}

/// Why a block from outside (disk replay, a peer) was refused. The ledger is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// Not the next height.
    #[error("block height {found} does not follow the tip {tip}")]
    WrongHeight {
        /// Tip height.
        tip: u64,
        /// Block's.
        found: u64,
    },
    /// Does not build on the tip.
    #[error("block parent {found} is not the tip {expected}")]
    WrongParent {
        /// Tip hash.
        expected: Hash,
        /// Block's parent.
        found: Hash,
    },
    /// Timestamp earlier than the parent's.
    #[error("block timestamp {found} ms is before its parent's {parent} ms")]
    TimestampBackwards {
        /// Parent's.
        parent: u64,
        /// Block's.
        found: u64,
    },
    /// Too many transactions.
    #[error("block has {found} transactions, the limit is {max}")]
    TooManyTxs {
        /// Limit.
        max: u32,
        /// Found.
        found: usize,
    },
    /// The block's signature batch does not verify.
    #[error("block signatures do not verify")]
    BadSignatures,
    /// A transaction that could not have been included.
    #[error("transaction {index} is not includable: {reason}")]
    NotIncludable {
        /// Its position.
        index: usize,
        /// Why.
        reason: RejectReason,
    },
    /// Header's tx root or count is wrong.
    #[error("transaction root mismatch")]
    TxRootMismatch,
    /// Header's state root disagrees with execution.
    #[error("state root mismatch: header {header}, computed {computed}")]
    StateRootMismatch {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// The state is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptState),
}
