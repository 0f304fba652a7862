//! Trellis primitive types shared by every other crate.
//!
//! This crate owns keys and signatures (ed25519, with batch verification), bech32m addresses,
//! blake3 hashes, the integer money types [`Amount`] and [`Credits`], [`Epoch`], H3
//! [`Location`]s and the canonical binary [`codec`] used for everything that is signed or hashed.
//!
//! **Architecture invariant:** nothing here does I/O, reads a clock or draws randomness except
//! where a caller passes the random source in ([`Keypair::generate`]). Nothing here depends on
//! another Trellis crate.

pub mod address;
pub mod amount;
pub mod codec;
pub mod epoch;
pub mod hash;
pub mod keys;
pub mod location;

pub use address::{AccountAddress, AddressError, DeviceAddress};
pub use amount::{Amount, AmountError, Credits, UNITS_PER_TRL};
pub use codec::{Decode, DecodeError, Encode, Reader};
pub use epoch::Epoch;
pub use hash::{Hash, HashDomain};
pub use keys::{
    verify_batch, verify_batch_cached, KeyCache, Keypair, PublicKey, Signature, SignatureError, SignedMessage,
};
pub use location::{Location, LocationError};
