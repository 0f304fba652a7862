//! Integer money: [`Amount`] of TRL in base units and non-transferable [`Credits`].

use crate::codec::{Decode, DecodeError, Encode, Reader};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// Base units per TRL (8 decimal places).
pub const UNITS_PER_TRL: u64 = 100_000_000;
const DECIMALS: usize = 8;

/// An amount of TRL in base units (1 TRL = 10^8 units). All arithmetic is checked.
///
/// In JSON it is a string of base units (`"150000000"`), because amounts can exceed the 2^53
/// integers that JavaScript numbers hold exactly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u64);

/// Why an amount could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    /// The text is not a decimal number of TRL.
    #[error("invalid amount `{0}`: expected a decimal number of TRL such as 12.5")]
    Invalid(String),
    /// More than 8 decimal places.
    #[error("invalid amount `{0}`: TRL has at most 8 decimal places")]
    TooPrecise(String),
    /// Larger than u64 base units.
    #[error("amount overflows")]
    Overflow,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `units` base units.
    pub const fn from_units(units: u64) -> Self {
        Amount(units)
    }

    /// Whole TRL, or `None` on overflow.
    pub const fn from_trl(trl: u64) -> Option<Self> {
        match trl.checked_mul(UNITS_PER_TRL) {
            Some(units) => Some(Amount(units)),
            None => None,
        }
    }

    /// The base units.
    pub const fn units(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if it would go below zero.
    #[must_use]
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / UNITS_PER_TRL;
        let frac = self.0 % UNITS_PER_TRL;
        if frac == 0 {
            write!(f, "{whole} TRL")
        } else {
            let digits = format!("{frac:0DECIMALS$}");
            write!(f, "{whole}.{} TRL", digits.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses a decimal number of TRL (`12`, `12.5`, `0.00000001`), optionally followed by ` TRL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let text = text.strip_suffix("TRL").unwrap_or(text).trim_end();
        let invalid = || AmountError::Invalid(s.to_string());
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(invalid());
        }
        if frac.len() > DECIMALS {
            return Err(AmountError::TooPrecise(s.to_string()));
        }
        let whole: u64 = whole.parse().map_err(|_| AmountError::Overflow)?;
        let frac_units: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<DECIMALS$}").parse().map_err(|_| invalid())?
        };
        whole
            .checked_mul(UNITS_PER_TRL)
            .and_then(|u| u.checked_add(frac_units))
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }
}

/// Non-transferable data credits with a fixed USD value (see the ledger's params), obtained only by
/// burning TRL and spent on network services.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Credits(pub u64);

impl Credits {
    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }

    /// `self - other`, or `None` if it would go below zero.
    #[must_use]
    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).map(Credits)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} credits", self.0)
    }
}

macro_rules! u64_string_serde {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Repr {
                    Text(String),
                    Number(u64),
                }
                match Repr::deserialize(d)? {
                    Repr::Number(n) => Ok($t(n)),
                    Repr::Text(t) => t.parse::<u64>().map($t).map_err(serde::de::Error::custom),
                }
            }
        }

        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                self.0.encode(out);
            }
        }

        impl Decode for $t {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($t(reader.u64()?))
            }
        }
    };
}
u64_string_serde!(Amount);
u64_string_serde!(Credits);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_trl_exactly() {
        assert_eq!("12.5".parse::<Amount>().unwrap().units(), 1_250_000_000);
        assert_eq!("0.00000001 TRL".parse::<Amount>().unwrap().units(), 1);
        assert_eq!("7".parse::<Amount>().unwrap(), Amount::from_trl(7).unwrap());
    }

    #[test]
    fn rejects_bad_amount_text() {
        for bad in ["", "-1", "1.", ".5", "1e3", "abc", "1.2.3"] {
            assert!(matches!(bad.parse::<Amount>(), Err(AmountError::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            "0.000000001".parse::<Amount>(),
            Err(AmountError::TooPrecise(_))
        ));
        assert_eq!("184467440738".parse::<Amount>(), Err(AmountError::Overflow));
    }

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Amount::from_units(1_250_000_000).to_string(), "12.5 TRL");
        assert_eq!(Amount::from_units(300_000_000).to_string(), "3 TRL");
        assert_eq!(Amount::from_units(1).to_string(), "0.00000001 TRL");
    }

    #[test]
    fn checked_math_refuses_overflow_and_underflow() {
        assert_eq!(Amount::from_units(u64::MAX).checked_add(Amount::from_units(1)), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_units(1)), None);
    }

    #[test]
    fn json_is_a_string_of_units() {
        let json = serde_json::to_string(&Amount::from_units(u64::MAX)).unwrap();
        assert_eq!(json, format!("\"{}\"", u64::MAX));
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap().units(), u64::MAX);
    }

    proptest::proptest! {
        #[test]
        fn display_parse_round_trip(units in proptest::prelude::any::<u64>()) {
            let amount = Amount::from_units(units);
            proptest::prop_assert_eq!(amount.to_string().parse::<Amount>().unwrap(), amount);
        }
    }
}
