//! Trellis storage network (the Filecoin row).
//!
//! - [`codec`]: the client's data path: client-side encryption, erasure coding into one piece
//!   per provider, and bounded-memory streaming both ways, segments coded on all cores
//!   ([`parallel`]).
//! - [`piece`]: piece commitments (Merkle trees over 4 KiB chunks) and single-chunk proofs.
//! - [`protocol`]: challenges and the providers' signed answers.
//! - [`spool`]: pieces written and hashed as they stream in, off the async threads.
//! - [`direct`]: bulk file I/O around the page cache, where the filesystem allows.
//! - [`provider`]: a provider's pieces on disk and its HTTP server.
//! - [`audit`]: challenges from block entropy and the auditor's signature, verdicts, detection
//!   probability, slashing evidence.
//! - [`client`]: placement, piece uploads and verified downloads, repair.
//! - [`chain`]: the deals and providers a node's API reports.
//!
//! What it must never do: see plaintext outside the client (providers and repairers handle only
//! ciphertext), trust a provider's bytes without checking them against a root recorded on
//! chain, or let an answer that the provider did not sign for this very challenge count against
//! it. Audit verdicts are plain values, so the reward engine's inputs can be recomputed from the
//! archived verdict files.

pub mod audit;
pub mod chain;
pub mod client;
pub mod codec;
pub mod direct;
pub mod parallel;
pub mod piece;
pub mod protocol;
pub mod provider;
pub mod spool;

/// The capability a storage device declares its egress price in: the least credits per GiB it
/// serves downloads for (absent: it serves at any price, including zero).
pub const EGRESS_PRICE: &str = "price_per_gib_egress";

pub use codec::{decode, decode_pieces, encode, encode_pieces, CodecError, Coder, CodingParams, FileKey, Layout};
pub use piece::{ChunkProof, PieceHasher, PieceTree};
