//! The records the ledger keeps, their keys, and typed access over any [`StateRead`].

pub use crate::reputation::{Reputation, REPUTATION_DQ_PPM, REPUTATION_ONE};
use crate::{
    params::Params,
    store::{Overlay, Store},
    tx::{
        Antenna, Capability, DealTerms, DeviceClass, MAX_CAPABILITIES, MAX_CHAIN_ID_BYTES, MAX_COMMITTEE,
        MAX_NAME_BYTES, MAX_REASON_BYTES,
    },
};
use serde::Serialize;
use std::borrow::Cow;
use thiserror::Error;
use trellis_primitives::{
    codec::{put_bytes, put_list, put_option, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, Location, PublicKey,
};

/// Most unbonding entries one account may have open; bounds the account record's size. A user
/// who needs more withdraws the matured ones first.
pub const MAX_UNBONDING_ENTRIES: usize = 16;

/// A state entry that does not decode: the store was corrupted outside the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("state entry {key} is corrupt: {source}")]
pub struct CorruptState {
    /// Hex of the key.
    pub key: String,
    /// The decoding failure.
    pub source: DecodeError,
}

/// Collateral on its way back to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unbonding {
    /// The device it was staked on (slashable until released).
    pub device: DeviceAddress,
    /// How much.
    pub amount: Amount,
    /// First height at which it can be withdrawn.
    pub release_height: u64,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Account {
    /// Spendable TRL.
    pub balance: Amount,
    /// The nonce the next transaction must carry.
    pub nonce: u64,
    /// Non-transferable credits.
    pub credits: Credits,
    /// Collateral unbonding.
    pub unbonding: Vec<Unbonding>,
}

/// One location assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationRecord {
    /// The asserted cell.
    pub location: Location,
    /// Antenna details, for hotspots.
    pub antenna: Option<Antenna>,
    /// Block height of the assertion.
    pub height: u64,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The owning account.
    pub owner: AccountAddress,
    /// The maker key that attested it.
    pub maker: PublicKey,
    /// Its resource class.
    pub class: DeviceClass,
    /// What it declared at onboarding.
    pub capabilities: Vec<Capability>,
    /// Height of onboarding.
    pub onboarded_height: u64,
    /// The latest location assertion.
    pub location: Option<LocationRecord>,
    /// How many assertions have been made (history entries `0..location_count`).
    pub location_count: u32,
    /// Bonded collateral.
    pub stake: Amount,
    /// Everything ever slashed from it.
    pub slashed: Amount,
    /// How many slashes it has received (history entries `0..slash_count`).
    pub slash_count: u32,
}

/// An authorised device maker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maker {
    /// Display name.
    pub name: String,
    /// Whether it may still co-sign onboardings.
    pub active: bool,
    /// Height of registration.
    pub registered_height: u64,
    /// Devices it has attested.
    pub devices_onboarded: u64,
}

/// A posted reward manifest and how much of it has been claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Merkle root over (owner, amount) leaves.
    pub root: Hash,
    /// Minted into escrow at posting.
    pub total: Amount,
    /// Number of leaves.
    pub owner_count: u32,
    /// Paid out so far; never exceeds `total`.
    pub claimed: Amount,
    /// Height of posting.
    pub posted_height: u64,
}

/// The latest oracle price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PriceEntry {
    /// Micro-USD per whole TRL.
    pub micro_usd_per_trl: u64,
    /// Height it was posted at.
    pub height: u64,
}

/// A slash, kept as history on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlashRecord {
    /// How much was burned.
    pub amount: Amount,
    /// The verifier that signed the evidence.
    pub verifier: PublicKey,
    /// The evidence hash.
    pub evidence: Hash,
    /// Why.
    pub reason: String,
    /// Height.
    pub height: u64,
}

/// An open storage deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Deal {
    /// The client that opened and pays for it.
    pub client: AccountAddress,
    /// Coding, pieces (with their current providers) and price.
    pub terms: DealTerms,
    /// First epoch it is paid for: the one after it opened (the rest of the opening epoch is
    /// for uploads).
    pub start_epoch: Epoch,
    /// Credits still held for the providers.
    pub escrow: Credits,
    /// Credits paid to providers so far.
    pub paid: Credits,
    /// Epochs settled so far; the next settlement must be for `start_epoch + settled_epochs`.
    pub settled_epochs: u32,
}

impl Deal {
    /// The first epoch after the paid-for duration.
    pub fn end_epoch(&self) -> Epoch {
        Epoch(self.start_epoch.0.saturating_add(u64::from(self.terms.duration_epochs)))
    }

    /// The next epoch to settle (`start_epoch + settled_epochs`), while any of the duration is
    /// left to settle.
    pub fn due_epoch(&self) -> Option<Epoch> {
        (self.settled_epochs < self.terms.duration_epochs)
            .then(|| Epoch(self.start_epoch.0.saturating_add(u64::from(self.settled_epochs))))
    }
}

/// Chain-wide money accounting. Invariant (checked by property tests):
/// `issued - burned == Σ balances + Σ stake + Σ unbonding + Σ (manifest.total - manifest.claimed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Supply {
    /// TRL created: genesis balances plus reward manifests.
    pub issued: Amount,
    /// TRL destroyed: fees, onboarding fees, burns for credits, slashes.
    pub burned: Amount,
    /// Credits created by burns.
    pub credits_minted: Credits,
    /// Credits spent.
    pub credits_spent: Credits,
}

impl Supply {
    /// TRL in existence.
    pub fn circulating(&self) -> Option<Amount> {
        self.issued.checked_sub(self.burned)
    }
}

/// The `SpendCredits` purpose that buys sensor data: the credits join the signer's data
/// allowance (`keys::data_allowance`).
pub const DATA_ACCESS: Hash = Hash(*b"trellis:sensor-data-access:v1\0\0\0");

pub mod keys;

/// Raw reads, from a committed store or a pending overlay.
pub trait StateRead {
    /// The bytes at `key`.
    fn raw(&self, key: &[u8]) -> Option<Cow<'_, [u8]>>;

    /// Decodes the record at `key`.
    fn read<T: Decode>(&self, key: &[u8]) -> Result<Option<T>, CorruptState> {
        match self.raw(key) {
            None => Ok(None),
            Some(bytes) => T::from_bytes(&bytes).map(Some).map_err(|source| CorruptState {
                key: hex_key(key),
                source,
            }),
        }
    }

    /// An account (the default, empty account if never touched).
    fn account(&self, a: &AccountAddress) -> Result<Account, CorruptState> {
        Ok(self.read(&keys::account(a))?.unwrap_or_default())
    }

    /// A device, if registered.
    fn device(&self, d: &DeviceAddress) -> Result<Option<Device>, CorruptState> {
        self.read(&keys::device(d))
    }

    /// The parameters.
    fn params(&self) -> Result<Params, CorruptState> {
        required(self.read(keys::PARAMS)?, keys::PARAMS)
    }

    /// The supply accounting.
    fn supply(&self) -> Result<Supply, CorruptState> {
        Ok(self.read(keys::SUPPLY)?.unwrap_or_default())
    }

    /// A storage deal, if open.
    fn deal(&self, id: &Hash) -> Result<Option<Deal>, CorruptState> {
        self.read(&keys::deal(id))
    }

    /// A compute job, if posted.
    fn job(&self, id: &Hash) -> Result<Option<Job>, CorruptState> {
        self.read(&keys::job(id))
    }

    /// A compute provider's standing offer, if it has one.
    fn offer(&self, d: &DeviceAddress) -> Result<Option<ComputeOffer>, CorruptState> {
        self.read(&keys::offer(d))
    }

    /// A storage provider's audit reputation (a fresh one if never audited).
    fn reputation(&self, d: &DeviceAddress) -> Result<Reputation, CorruptState> {
        Ok(self.read(&keys::reputation(d))?.unwrap_or_default())
    }

    /// A device's endpoint URL, if published.
    fn endpoint(&self, d: &DeviceAddress) -> Result<Option<String>, CorruptState> {
        Ok(self
            .raw(&keys::endpoint(d))
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The chain id.
    fn chain_id(&self) -> Result<String, CorruptState> {
        let raw = self
            .raw(keys::CHAIN_ID)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        required(raw, keys::CHAIN_ID)
    }
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn required<T>(value: Option<T>, key: &[u8]) -> Result<T, CorruptState> {
    value.ok_or_else(|| CorruptState {
        key: hex_key(key),
        source: DecodeError::UnexpectedEnd { needed: 1 },
    })
}

impl<S: Store> StateRead for S {
    fn raw(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.get(key).map(Cow::Borrowed)
    }
}

impl<S: Store> StateRead for Overlay<'_, S> {
    fn raw(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.get(key).map(Cow::Owned)
    }
}

/// Every record of one state table, decoded, with the rest of its key.
fn table<T: Decode>(s: &impl Store, table: u8) -> Result<Vec<(Vec<u8>, T)>, CorruptState> {
    s.entries()
        .filter(|(k, _)| k.first() == Some(&table))
        .map(|(k, v)| {
            T::from_bytes(v)
                .map(|t| (k[1..].to_vec(), t))
                .map_err(|source| CorruptState {
                    key: format!("{k:02x?}"),
                    source,
                })
        })
        .collect()
}

fn fixed_key<const N: usize>(rest: &[u8]) -> Result<[u8; N], CorruptState> {
    rest.try_into().map_err(|_| CorruptState {
        key: format!("{rest:02x?}"),
        source: DecodeError::TooLong {
            what: "state key",
            len: rest.len(),
            max: N,
        },
    })
}

/// Every registered device, in address-key order.
pub fn devices(s: &impl Store) -> Result<Vec<(DeviceAddress, Device)>, CorruptState> {
    table::<Device>(s, keys::DEVICE_TABLE)?
        .into_iter()
        .map(|(k, d)| Ok((DeviceAddress::from(PublicKey(fixed_key(&k)?)), d)))
        .collect()
}

/// A storage device with what clients and auditors need to use it.
#[derive(Debug, Clone)]
pub struct StorageProvider {
    /// Its address.
    pub address: DeviceAddress,
    /// Its registry record (owner, stake, capabilities, location, slashes).
    pub device: Device,
    /// Where it serves, if published.
    pub endpoint: Option<String>,
    /// Its audit reputation.
    pub reputation: Reputation,
}

/// Every storage device, in address-key order.
pub fn storage_providers<S: Store + StateRead>(s: &S) -> Result<Vec<StorageProvider>, CorruptState> {
    devices(s)?
        .into_iter()
        .filter(|(_, d)| d.class == DeviceClass::Storage)
        .map(|(address, device)| {
            Ok(StorageProvider {
                address,
                endpoint: s.endpoint(&address)?,
                reputation: s.reputation(&address)?,
                device,
            })
        })
        .collect()
}

/// Every open storage deal, in id order.
pub fn deals(s: &impl Store) -> Result<Vec<(Hash, Deal)>, CorruptState> {
    table::<Deal>(s, keys::DEAL_TABLE)?
        .into_iter()
        .map(|(k, d)| Ok((Hash(fixed_key(&k)?), d)))
        .collect()
}

/// Typed writes.
pub(crate) fn write<T: Encode, S: Store>(overlay: &mut Overlay<'_, S>, key: Vec<u8>, value: &T) {
    overlay.put(key, value.to_bytes());
}

mod codec;
mod compute;
mod earnings;
mod reports;

pub use compute::{
    compute_providers, jobs, recent_hash, ComputeOffer, ComputeProvider, Job, JobFailure, JobRun, JobStatus,
    MAX_EXCLUDED, MAX_VERIFICATIONS, RECENT_HASHES,
};
pub use earnings::{
    compute_earned_in, compute_verified_in, credit_price_in, egress_served_in, storage_earned_in, EgressServed,
    PRICE_LOOKBACK_EPOCHS,
};
pub use reports::{piece_proven_by, piece_report, PieceReport};

/// The verifier key list as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifierKeys(pub Vec<PublicKey>);

impl Encode for VerifierKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        put_list(out, &self.0);
    }
}
impl Decode for VerifierKeys {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VerifierKeys(r.list("verifier keys", MAX_COMMITTEE)?))
    }
}

/// Checks a chain id: 1..=32 bytes of `[a-z0-9-]`.
pub fn validate_chain_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CHAIN_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "chain id `{id}` must be 1..={MAX_CHAIN_ID_BYTES} characters of a-z, 0-9 and -"
        ))
    }
}
