//! Trellis storage network (the Filecoin row).
//!
//! This first part is the client's data path ([`codec`]): client-side encryption, erasure coding
//! into shards for distinct providers, and the content commitment a storage deal records.
//! Providers, placement, deals on the ledger, proofs of storage and repair build on it.

pub mod codec;

pub use codec::{decode, encode, CodecError, CodingParams, FileKey, FileManifest};
