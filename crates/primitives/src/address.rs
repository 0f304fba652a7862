//! bech32m addresses: `tr1…` for accounts, `trd1…` for devices.
//!
//! An address is the signer's ed25519 public key itself (32 bytes) rather than a hash of it: the
//! ledger needs the key to check signatures anyway, and carrying it saves a lookup table.

use crate::{
    codec::{Decode, DecodeError, Encode, Reader},
    keys::PublicKey,
};
use bech32::{primitives::decode::CheckedHrpstring, Bech32m, Hrp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// Why a string is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Not bech32m, or the checksum is wrong.
    #[error("not a bech32m address: {0}")]
    Encoding(String),
    /// A valid bech32m string for a different kind of address.
    #[error("wrong address prefix: expected `{expected}1…`, found `{found}1…`")]
    WrongPrefix {
        /// The prefix this type needs.
        expected: &'static str,
        /// The prefix found.
        found: String,
    },
    /// The payload is not 32 bytes.
    #[error("address payload must be 32 bytes, found {0}")]
    WrongLength(usize),
}

fn encode_bech32m(hrp: &'static str, key: &PublicKey) -> String {
    // The prefixes are constants known to be valid, and 32 bytes is far below bech32m's limit.
    let hrp = Hrp::parse_unchecked(hrp);
    bech32::encode::<Bech32m>(hrp, &key.0).unwrap_or_default()
}

fn decode_bech32m(expected: &'static str, s: &str) -> Result<PublicKey, AddressError> {
    let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(|e| AddressError::Encoding(e.to_string()))?;
    let found = checked.hrp().to_lowercase();
    if found != expected {
        return Err(AddressError::WrongPrefix { expected, found });
    }
    let bytes: Vec<u8> = checked.byte_iter().collect();
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| AddressError::WrongLength(bytes.len()))?;
    Ok(PublicKey(array))
}

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident, $hrp:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub PublicKey);

        impl $name {
            /// The human-readable prefix before the `1`.
            pub const HRP: &'static str = $hrp;

            /// The key behind the address.
            pub fn key(&self) -> &PublicKey {
                &self.0
            }
        }

        impl From<PublicKey> for $name {
            fn from(key: PublicKey) -> Self {
                Self(key)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_bech32m($hrp, &self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self)
            }
        }

        impl FromStr for $name {
            type Err = AddressError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                decode_bech32m($hrp, s.trim()).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                self.0.encode(out);
            }
        }

        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self(PublicKey::decode(reader)?))
            }
        }
    };
}

address_type!(
    /// An account: holds TRL, credits and stake; signs transactions.
    AccountAddress,
    "tr"
);
address_type!(
    /// A device's identity: the key the device signs its reports with.
    DeviceAddress,
    "trd"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn account_address_round_trips_with_tr_prefix() {
        let key = Keypair::from_seed([7; 32]).public();
        let text = AccountAddress(key).to_string();
        assert!(text.starts_with("tr1"), "{text}");
        assert_eq!(text.parse::<AccountAddress>().unwrap(), AccountAddress(key));
    }

    #[test]
    fn device_address_is_not_an_account_address() {
        let key = Keypair::from_seed([7; 32]).public();
        let text = DeviceAddress(key).to_string();
        assert!(text.starts_with("trd1"), "{text}");
        assert!(matches!(
            text.parse::<AccountAddress>(),
            Err(AddressError::WrongPrefix { .. })
        ));
    }

    #[test]
    fn corrupted_checksum_is_rejected() {
        let key = Keypair::from_seed([7; 32]).public();
        let mut text = AccountAddress(key).to_string();
        let last = text.pop().unwrap();
        text.push(if last == 'q' { 'p' } else { 'q' });
        assert!(matches!(text.parse::<AccountAddress>(), Err(AddressError::Encoding(_))));
    }
}
