//! The genesis document: who starts with what, and the rules. TOML or JSON.

use crate::{
    block::{tx_root, Block, BlockHeader},
    ledger::{ChainTip, ExecutedBlock, Ledger},
    params::Params,
    state::{keys, validate_chain_id, Account, Maker, PriceEntry, Supply, VerifierKeys},
    store::{StateDiff, Store},
    tx::{Committee, MAX_COMMITTEE, MAX_NAME_BYTES},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;
use trellis_primitives::{AccountAddress, Amount, Encode, Hash, PublicKey};

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account.
    pub address: AccountAddress,
    /// Its starting balance in base units.
    pub balance: Amount,
}

/// A maker authorised at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMaker {
    /// Its key (hex).
    pub key: PublicKey,
    /// Display name.
    pub name: String,
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id every transaction names.
    pub chain_id: String,
    /// Timestamp of block 0.
    pub timestamp_ms: u64,
    /// Starting parameters.
    #[serde(default)]
    pub params: Params,
    /// Admin multisig.
    pub admins: Committee,
    /// Oracle committee (prices and reward manifests).
    pub oracles: Committee,
    /// Keys allowed to sign slashing evidence.
    #[serde(default)]
    pub verifiers: Vec<PublicKey>,
    /// Authorised makers.
    #[serde(default)]
    pub makers: Vec<GenesisMaker>,
    /// Funded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// A starting TRL price (micro-USD per TRL), so credits can be bought from block 1.
    #[serde(default)]
    pub initial_price_micro_usd_per_trl: Option<u64>,
    /// The reward engine's emission schedule and pool split (none: no rewards until governance
    /// sets them).
    #[serde(default)]
    pub rewards: Option<crate::reward_params::RewardParams>,
}

/// A genesis document that cannot start a chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    /// Not valid TOML/JSON for the schema.
    #[error("genesis does not parse: {0}")]
    Parse(String),
    /// Parses but breaks a rule; the message names the field.
    #[error("invalid genesis: {0}")]
    Invalid(String),
    /// The store already holds state.
    #[error("genesis can only be applied to an empty store")]
    StoreNotEmpty,
}

impl Genesis {
    /// A genesis in which one key is the whole admin and oracle committee, with default
    /// parameters, no makers, verifiers or price: single-operator chains, tests and benchmarks.
    pub fn single_authority(chain_id: &str, authority: PublicKey, accounts: Vec<GenesisAccount>) -> Genesis {
        let committee = Committee {
            threshold: 1,
            members: vec![authority],
        };
        Genesis {
            chain_id: chain_id.to_string(),
            timestamp_ms: 0,
            params: Params::default(),
            admins: committee.clone(),
            oracles: committee,
            verifiers: Vec::new(),
            makers: Vec::new(),
            accounts,
            initial_price_micro_usd_per_trl: None,
            rewards: None,
        }
    }

    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let mut g: Genesis = toml_parse(text)?;
        g.normalise();
        g.validate()?;
        Ok(g)
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let mut g: Genesis = serde_json::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        g.normalise();
        g.validate()?;
        Ok(g)
    }

    /// Sorts key lists so the document's order does not matter.
    pub fn normalise(&mut self) {
        self.admins.members.sort();
        self.oracles.members.sort();
        self.verifiers.sort();
        self.makers.sort_by_key(|m| m.key);
        self.accounts.sort_by_key(|a| a.address);
    }

    /// Checks every rule, naming the offending field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let invalid = |m: String| Err(GenesisError::Invalid(m));
        validate_chain_id(&self.chain_id).map_err(|e| GenesisError::Invalid(format!("chain_id: {e}")))?;
        self.params
            .validate()
            .map_err(|e| GenesisError::Invalid(format!("params: {}", e.0)))?;
        for (what, c) in [("admins", &self.admins), ("oracles", &self.oracles)] {
            let mut sorted = c.clone();
            sorted.members.sort();
            sorted.validate(what).map_err(GenesisError::Invalid)?;
        }
        if self.verifiers.len() > MAX_COMMITTEE {
            return invalid(format!("verifiers: at most {MAX_COMMITTEE} keys"));
        }
        if self.verifiers.iter().collect::<BTreeSet<_>>().len() != self.verifiers.len() {
            return invalid("verifiers: duplicate key".into());
        }
        let mut maker_keys = BTreeSet::new();
        for m in &self.makers {
            if m.name.trim().is_empty() || m.name.len() > MAX_NAME_BYTES {
                return invalid(format!("makers: name of {} must be 1..={MAX_NAME_BYTES} bytes", m.key));
            }
            if !maker_keys.insert(m.key) {
                return invalid(format!("makers: duplicate key {}", m.key));
            }
        }
        let mut seen = BTreeSet::new();
        let mut total = Amount::ZERO;
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return invalid(format!("accounts: duplicate address {}", a.address));
            }
            if a.balance.is_zero() {
                return invalid(format!("accounts: balance of {} must be greater than zero", a.address));
            }
            total = total
                .checked_add(a.balance)
                .ok_or_else(|| GenesisError::Invalid("accounts: total supply overflows u64 base units".into()))?;
        }
        if let Some(rewards) = &self.rewards {
            rewards.validate().map_err(GenesisError::Invalid)?;
        }
        if self.initial_price_micro_usd_per_trl == Some(0) {
            return invalid("initial_price_micro_usd_per_trl must be greater than zero".into());
        }
        Ok(())
    }

    /// The state at height 0.
    pub fn state(&self) -> StateDiff {
        let mut diff = StateDiff::new();
        let mut put = |k: Vec<u8>, v: Vec<u8>| {
            diff.insert(k, Some(v));
        };
        put(keys::CHAIN_ID.to_vec(), self.chain_id.as_bytes().to_vec());
        put(keys::PARAMS.to_vec(), self.params.to_bytes());
        let mut admins = self.admins.clone();
        admins.members.sort();
        put(keys::ADMINS.to_vec(), admins.to_bytes());
        let mut oracles = self.oracles.clone();
        oracles.members.sort();
        put(keys::ORACLES.to_vec(), oracles.to_bytes());
        let mut verifiers = self.verifiers.clone();
        verifiers.sort();
        put(keys::VERIFIERS.to_vec(), VerifierKeys(verifiers).to_bytes());
        for m in &self.makers {
            let maker = Maker {
                name: m.name.clone(),
                active: true,
                registered_height: 0,
                devices_onboarded: 0,
            };
            put(keys::maker(&m.key), maker.to_bytes());
        }
        let mut issued = Amount::ZERO;
        for a in &self.accounts {
            issued = issued.checked_add(a.balance).unwrap_or(issued);
            put(
                keys::account(&a.address),
                Account {
                    balance: a.balance,
                    ..Account::default()
                }
                .to_bytes(),
            );
        }
        put(
            keys::SUPPLY.to_vec(),
            Supply {
                issued,
                ..Supply::default()
            }
            .to_bytes(),
        );
        if let Some(rewards) = &self.rewards {
            put(keys::REWARD_PARAMS.to_vec(), rewards.to_bytes());
        }
        if let Some(price) = self.initial_price_micro_usd_per_trl {
            put(
                keys::PRICE.to_vec(),
                PriceEntry {
                    micro_usd_per_trl: price,
                    height: 0,
                }
                .to_bytes(),
            );
            put(keys::epoch_price(trellis_primitives::Epoch(0)), price.to_bytes());
        }
        diff
    }

    /// Starts a ledger on an empty store; returns it with block 0 for persisting.
    pub fn into_ledger<S: Store>(&self, mut store: S) -> Result<(Ledger<S>, ExecutedBlock), GenesisError> {
        self.validate()?;
        if store.entries().next().is_some() {
            return Err(GenesisError::StoreNotEmpty);
        }
        let diff = self.state();
        store.apply(&diff);
        let header = BlockHeader {
            height: 0,
            parent: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            tx_count: 0,
            tx_root: tx_root(&[]),
            state_root: store.root(),
        };
        let tip = ChainTip::of(&header);
        let executed = ExecutedBlock {
            block: Block {
                header,
                txs: Vec::new(),
            },
            receipts: Vec::new(),
            diff,
        };
        Ok((Ledger::from_parts(store, tip), executed))
    }
}

fn toml_parse(text: &str) -> Result<Genesis, GenesisError> {
    toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))
}
