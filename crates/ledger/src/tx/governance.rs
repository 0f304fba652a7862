//! Committees and the actions only the admin multisig may take.

use super::{MAX_COMMITTEE, MAX_NAME_BYTES};
use crate::params::Params;
use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_bytes, put_list, Decode, DecodeError, Encode, Reader},
    PublicKey,
};

/// An m-of-n key set (admins, oracles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    /// How many distinct members must co-sign.
    pub threshold: u32,
    /// The members, sorted and unique.
    pub members: Vec<PublicKey>,
}

impl Committee {
    /// Checks 1 ≤ threshold ≤ members, members sorted, unique and bounded.
    pub fn validate(&self, what: &str) -> Result<(), String> {
        if self.members.is_empty() || self.members.len() > MAX_COMMITTEE {
            return Err(format!(
                "{what} must have 1..={MAX_COMMITTEE} members, found {}",
                self.members.len()
            ));
        }
        if self.threshold == 0 || self.threshold as usize > self.members.len() {
            return Err(format!(
                "{what} threshold must be in 1..={}, found {}",
                self.members.len(),
                self.threshold
            ));
        }
        if !self.members.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("{what} members must be sorted and unique"));
        }
        Ok(())
    }

    /// How many distinct members appear among `signers`.
    pub fn count_members<'a>(&self, signers: impl Iterator<Item = &'a PublicKey>) -> usize {
        let mut seen: Vec<&PublicKey> = signers.filter(|k| self.members.binary_search(k).is_ok()).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }
}

impl Encode for Committee {
    fn encode(&self, out: &mut Vec<u8>) {
        self.threshold.encode(out);
        put_list(out, &self.members);
    }
}

impl Decode for Committee {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Committee {
            threshold: r.u32()?,
            members: r.list("committee", MAX_COMMITTEE)?,
        })
    }
}

/// Changes only the admin multisig may make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum GovAction {
    /// Authorise a device maker's key to co-sign onboardings.
    RegisterMaker {
        /// The maker's signing key.
        key: PublicKey,
        /// Display name.
        name: String,
    },
    /// Withdraw a maker's authorisation (devices already onboarded stay).
    RevokeMaker {
        /// The maker's key.
        key: PublicKey,
    },
    /// Replace the parameters.
    SetParams {
        /// The new parameters.
        params: Params,
    },
    /// Replace the oracle committee (prices, reward manifests).
    SetOracles {
        /// The new committee.
        committee: Committee,
    },
    /// Replace the admin committee.
    SetAdmins {
        /// The new committee.
        committee: Committee,
    },
    /// Replace the keys allowed to sign slashing evidence.
    SetVerifiers {
        /// The new keys, sorted and unique.
        keys: Vec<PublicKey>,
    },
    /// Replace the reward engine's emission schedule and pool split.
    SetRewardParams {
        /// The new parameters.
        params: crate::reward_params::RewardParams,
    },
}

impl Encode for GovAction {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            GovAction::RegisterMaker { key, name } => {
                out.push(1);
                key.encode(out);
                put_bytes(out, name.as_bytes());
            }
            GovAction::RevokeMaker { key } => {
                out.push(2);
                key.encode(out);
            }
            GovAction::SetParams { params } => {
                out.push(3);
                params.encode(out);
            }
            GovAction::SetOracles { committee } => {
                out.push(4);
                committee.encode(out);
            }
            GovAction::SetAdmins { committee } => {
                out.push(5);
                committee.encode(out);
            }
            GovAction::SetVerifiers { keys } => {
                out.push(6);
                put_list(out, keys);
            }
            GovAction::SetRewardParams { params } => {
                out.push(7);
                params.encode(out);
            }
        }
    }
}

impl Decode for GovAction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            1 => GovAction::RegisterMaker {
                key: PublicKey::decode(r)?,
                name: r.string("maker name", MAX_NAME_BYTES)?,
            },
            2 => GovAction::RevokeMaker {
                key: PublicKey::decode(r)?,
            },
            3 => GovAction::SetParams {
                params: Params::decode(r)?,
            },
            4 => GovAction::SetOracles {
                committee: Committee::decode(r)?,
            },
            5 => GovAction::SetAdmins {
                committee: Committee::decode(r)?,
            },
            6 => GovAction::SetVerifiers {
                keys: r.list("verifier keys", MAX_COMMITTEE)?,
            },
            7 => GovAction::SetRewardParams {
                params: crate::reward_params::RewardParams::decode(r)?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "governance action",
                    tag,
                })
            }
        })
    }
}
