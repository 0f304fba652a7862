//! Transactions: what users sign, and its canonical encoding.

use crate::{merkle::MerkleProof, params::Params};
use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_bytes, put_list, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, HashDomain, Keypair, Location, PublicKey, Signature,
};

/// Largest encoded transaction accepted anywhere. The largest legitimate ones are governance
/// actions carrying a committee (64 keys) with 64 co-signatures, about 8.5 KiB.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Most co-signatures on one transaction (admin, oracle and verifier committees are bounded by
/// [`MAX_COMMITTEE`]; onboarding needs two).
pub const MAX_COSIGNATURES: usize = 64;
/// Most members in an admin or oracle committee, or verifier keys.
pub const MAX_COMMITTEE: usize = 64;
/// Most declared capabilities on a device.
pub const MAX_CAPABILITIES: usize = 16;
/// Longest name (maker names, capability names).
pub const MAX_NAME_BYTES: usize = 64;
/// Longest chain id.
pub const MAX_CHAIN_ID_BYTES: usize = 32;
/// Longest free-text reason (slashing).
pub const MAX_REASON_BYTES: usize = 256;

/// The resource a device contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// Wireless coverage (Helium-like proof-of-coverage).
    Hotspot,
    /// Disk space (Filecoin-like proofs of storage).
    Storage,
    /// CPU/GPU compute (Render-like verified jobs).
    Compute,
    /// Environmental sensor (weather station).
    Sensor,
    /// Energy meter.
    Energy,
}

impl DeviceClass {
    /// Every class, in tag order.
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Hotspot,
        DeviceClass::Storage,
        DeviceClass::Compute,
        DeviceClass::Sensor,
        DeviceClass::Energy,
    ];

    fn tag(self) -> u8 {
        match self {
            DeviceClass::Hotspot => 1,
            DeviceClass::Storage => 2,
            DeviceClass::Compute => 3,
            DeviceClass::Sensor => 4,
            DeviceClass::Energy => 5,
        }
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeviceClass::Hotspot => "hotspot",
            DeviceClass::Storage => "storage",
            DeviceClass::Compute => "compute",
            DeviceClass::Sensor => "sensor",
            DeviceClass::Energy => "energy",
        }
    }
}

impl Encode for DeviceClass {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
    }
}

impl Decode for DeviceClass {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        DeviceClass::ALL
            .into_iter()
            .find(|c| c.tag() == tag)
            .ok_or(DecodeError::InvalidTag {
                what: "device class",
                tag,
            })
    }
}

/// One declared capability of a device, e.g. `capacity_bytes = 53687091200`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Capability {
    /// What is declared (lower-case `[a-z0-9_]`, at most 64 bytes).
    pub name: String,
    /// Its value, in the unit the name says.
    pub value: u64,
}

impl Encode for Capability {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.name.as_bytes());
        self.value.encode(out);
    }
}

impl Decode for Capability {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Capability {
            name: r.string("capability name", MAX_NAME_BYTES)?,
            value: r.u64()?,
        })
    }
}

/// Antenna details asserted with a hotspot's location (the coverage verifier checks RSSI with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Antenna {
    /// Antenna gain in tenths of dBi (Helium asserts gain the same way).
    pub gain_dbi_tenths: u16,
    /// Height above ground in metres.
    pub elevation_m: u16,
}

impl Encode for Antenna {
    fn encode(&self, out: &mut Vec<u8>) {
        self.gain_dbi_tenths.encode(out);
        self.elevation_m.encode(out);
    }
}

impl Decode for Antenna {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Antenna {
            gain_dbi_tenths: r.u16()?,
            elevation_m: r.u16()?,
        })
    }
}

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
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "governance action",
                    tag,
                })
            }
        })
    }
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TxKind {
    /// Move TRL to another account.
    Transfer {
        /// Recipient.
        to: AccountAddress,
        /// How much.
        amount: Amount,
    },
    /// Register a device owned by the signer. Co-signed by the device key (proof of possession)
    /// and by an authorised maker key (attestation); burns the onboarding fee.
    OnboardDevice {
        /// The device's key.
        device: DeviceAddress,
        /// The attesting maker's key.
        maker: PublicKey,
        /// The resource class.
        class: DeviceClass,
        /// Declared capabilities, sorted by name, names unique.
        capabilities: Vec<Capability>,
    },
    /// Assert where a device is; costs credits; every assertion is kept in the device's history.
    AssertLocation {
        /// The device (owned by the signer).
        device: DeviceAddress,
        /// Its H3 cell at resolution 12.
        location: Location,
        /// Antenna details (hotspots only; required for them).
        antenna: Option<Antenna>,
    },
    /// Burn TRL for credits at the current oracle price.
    BurnForCredits {
        /// TRL to burn.
        amount: Amount,
        /// Who receives the credits (credits themselves never move afterwards).
        beneficiary: AccountAddress,
    },
    /// Spend credits on a network service.
    SpendCredits {
        /// How many.
        amount: Credits,
        /// What they pay for (a deal or job id).
        purpose: Hash,
    },
    /// Lock TRL as collateral against a device the signer owns.
    Stake {
        /// The device.
        device: DeviceAddress,
        /// How much.
        amount: Amount,
    },
    /// Start unbonding collateral; it becomes withdrawable after the unbonding delay.
    Unstake {
        /// The device.
        device: DeviceAddress,
        /// How much.
        amount: Amount,
    },
    /// Move every matured unbonding entry of the signer back to its balance.
    WithdrawUnbonded,
    /// Burn collateral of a misbehaving device. Must be co-signed by a registered verifier key.
    Slash {
        /// The device.
        device: DeviceAddress,
        /// How much to slash (capped at what is bonded and unbonding for the device).
        amount: Amount,
        /// Hash of the evidence the verifier archived.
        evidence: Hash,
        /// Why.
        reason: String,
    },
    /// Publish a TRL price. Co-signed by the oracle quorum.
    PostPrice {
        /// Micro-USD per whole TRL.
        micro_usd_per_trl: u64,
    },
    /// Publish an epoch's reward manifest and mint its total into claimable escrow. Co-signed by
    /// the oracle quorum; once per epoch.
    PostRewardManifest {
        /// The completed epoch.
        epoch: Epoch,
        /// Merkle root over (owner, amount) leaves, in owner order.
        root: Hash,
        /// Sum of all leaves.
        total: Amount,
        /// Number of leaves.
        owner_count: u32,
    },
    /// Pay an owner its manifest amount against a Merkle proof. Anyone may submit it.
    ClaimReward {
        /// The epoch.
        epoch: Epoch,
        /// The owner being paid.
        owner: AccountAddress,
        /// The amount in the manifest leaf.
        amount: Amount,
        /// Inclusion proof of the leaf.
        proof: MerkleProof,
    },
    /// An admin multisig action.
    Governance {
        /// The action.
        action: GovAction,
    },
}

impl TxKind {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Transfer { .. } => "transfer",
            TxKind::OnboardDevice { .. } => "onboard_device",
            TxKind::AssertLocation { .. } => "assert_location",
            TxKind::BurnForCredits { .. } => "burn_for_credits",
            TxKind::SpendCredits { .. } => "spend_credits",
            TxKind::Stake { .. } => "stake",
            TxKind::Unstake { .. } => "unstake",
            TxKind::WithdrawUnbonded => "withdraw_unbonded",
            TxKind::Slash { .. } => "slash",
            TxKind::PostPrice { .. } => "post_price",
            TxKind::PostRewardManifest { .. } => "post_reward_manifest",
            TxKind::ClaimReward { .. } => "claim_reward",
            TxKind::Governance { .. } => "governance",
        }
    }
}

impl Encode for TxKind {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TxKind::Transfer { to, amount } => {
                out.push(1);
                to.encode(out);
                amount.encode(out);
            }
            TxKind::OnboardDevice {
                device,
                maker,
                class,
                capabilities,
            } => {
                out.push(2);
                device.encode(out);
                maker.encode(out);
                class.encode(out);
                put_list(out, capabilities);
            }
            TxKind::AssertLocation {
                device,
                location,
                antenna,
            } => {
                out.push(3);
                device.encode(out);
                location.encode(out);
                trellis_primitives::codec::put_option(out, antenna);
            }
            TxKind::BurnForCredits { amount, beneficiary } => {
                out.push(4);
                amount.encode(out);
                beneficiary.encode(out);
            }
            TxKind::SpendCredits { amount, purpose } => {
                out.push(5);
                amount.encode(out);
                purpose.encode(out);
            }
            TxKind::Stake { device, amount } => {
                out.push(6);
                device.encode(out);
                amount.encode(out);
            }
            TxKind::Unstake { device, amount } => {
                out.push(7);
                device.encode(out);
                amount.encode(out);
            }
            TxKind::WithdrawUnbonded => out.push(8),
            TxKind::Slash {
                device,
                amount,
                evidence,
                reason,
            } => {
                out.push(9);
                device.encode(out);
                amount.encode(out);
                evidence.encode(out);
                put_bytes(out, reason.as_bytes());
            }
            TxKind::PostPrice { micro_usd_per_trl } => {
                out.push(10);
                micro_usd_per_trl.encode(out);
            }
            TxKind::PostRewardManifest {
                epoch,
                root,
                total,
                owner_count,
            } => {
                out.push(11);
                epoch.encode(out);
                root.encode(out);
                total.encode(out);
                owner_count.encode(out);
            }
            TxKind::ClaimReward {
                epoch,
                owner,
                amount,
                proof,
            } => {
                out.push(12);
                epoch.encode(out);
                owner.encode(out);
                amount.encode(out);
                proof.encode(out);
            }
            TxKind::Governance { action } => {
                out.push(13);
                action.encode(out);
            }
        }
    }
}

impl Decode for TxKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            1 => TxKind::Transfer {
                to: AccountAddress::decode(r)?,
                amount: Amount::decode(r)?,
            },
            2 => TxKind::OnboardDevice {
                device: DeviceAddress::decode(r)?,
                maker: PublicKey::decode(r)?,
                class: DeviceClass::decode(r)?,
                capabilities: r.list("capabilities", MAX_CAPABILITIES)?,
            },
            3 => TxKind::AssertLocation {
                device: DeviceAddress::decode(r)?,
                location: Location::decode(r)?,
                antenna: r.option()?,
            },
            4 => TxKind::BurnForCredits {
                amount: Amount::decode(r)?,
                beneficiary: AccountAddress::decode(r)?,
            },
            5 => TxKind::SpendCredits {
                amount: Credits::decode(r)?,
                purpose: Hash::decode(r)?,
            },
            6 => TxKind::Stake {
                device: DeviceAddress::decode(r)?,
                amount: Amount::decode(r)?,
            },
            7 => TxKind::Unstake {
                device: DeviceAddress::decode(r)?,
                amount: Amount::decode(r)?,
            },
            8 => TxKind::WithdrawUnbonded,
            9 => TxKind::Slash {
                device: DeviceAddress::decode(r)?,
                amount: Amount::decode(r)?,
                evidence: Hash::decode(r)?,
                reason: r.string("slash reason", MAX_REASON_BYTES)?,
            },
            10 => TxKind::PostPrice {
                micro_usd_per_trl: r.u64()?,
            },
            11 => TxKind::PostRewardManifest {
                epoch: Epoch::decode(r)?,
                root: Hash::decode(r)?,
                total: Amount::decode(r)?,
                owner_count: r.u32()?,
            },
            12 => TxKind::ClaimReward {
                epoch: Epoch::decode(r)?,
                owner: AccountAddress::decode(r)?,
                amount: Amount::decode(r)?,
                proof: MerkleProof::decode(r)?,
            },
            13 => TxKind::Governance {
                action: GovAction::decode(r)?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "transaction kind",
                    tag,
                })
            }
        })
    }
}

/// The signed part of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxBody {
    /// Which chain this is for (stops replay on another chain).
    pub chain_id: String,
    /// The paying, nonce-bearing account.
    pub signer: AccountAddress,
    /// Must equal the signer's next nonce (stops replay on this chain).
    pub nonce: u64,
    /// TRL offered as fee (burned). Orders the mempool.
    pub fee: Amount,
    /// What it does.
    pub kind: TxKind,
}

impl Encode for TxBody {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.chain_id.as_bytes());
        self.signer.encode(out);
        self.nonce.encode(out);
        self.fee.encode(out);
        self.kind.encode(out);
    }
}

impl Decode for TxBody {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxBody {
            chain_id: r.string("chain id", MAX_CHAIN_ID_BYTES)?,
            signer: AccountAddress::decode(r)?,
            nonce: r.u64()?,
            fee: Amount::decode(r)?,
            kind: TxKind::decode(r)?,
        })
    }
}

impl TxBody {
    /// The transaction id: the hash every signature on the transaction signs.
    pub fn id(&self) -> Hash {
        HashDomain::TxSigning.hash(&self.to_bytes())
    }
}

/// A signature by someone other than the signer over the same body (maker, device, admins,
/// oracles, verifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cosignature {
    /// Who signed.
    pub key: PublicKey,
    /// Their signature over the transaction id.
    pub signature: Signature,
}

impl Encode for Cosignature {
    fn encode(&self, out: &mut Vec<u8>) {
        self.key.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for Cosignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Cosignature {
            key: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// A signed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// What was signed.
    pub body: TxBody,
    /// The signer's signature over [`TxBody::id`].
    pub signature: Signature,
    /// Further signatures over the same id.
    pub cosignatures: Vec<Cosignature>,
}

impl Transaction {
    /// Signs `body` with `signer` (which must be the body's signer key).
    pub fn sign(body: TxBody, signer: &Keypair) -> Self {
        debug_assert_eq!(body.signer.key(), &signer.public(), "signing with the wrong key");
        let signature = signer.sign(body.id().as_bytes());
        Transaction {
            body,
            signature,
            cosignatures: Vec::new(),
        }
    }

    /// Adds a co-signature by `key`.
    #[must_use]
    pub fn cosign(mut self, key: &Keypair) -> Self {
        let signature = key.sign(self.id().as_bytes());
        self.cosignatures.push(Cosignature {
            key: key.public(),
            signature,
        });
        self
    }

    /// The id (hash of the body).
    pub fn id(&self) -> Hash {
        self.body.id()
    }

    /// Decodes a transaction from untrusted bytes, enforcing [`MAX_TX_BYTES`].
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(DecodeError::TooLong {
                what: "transaction",
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Self::from_bytes(bytes)
    }
}

impl Encode for Transaction {
    fn encode(&self, out: &mut Vec<u8>) {
        self.body.encode(out);
        self.signature.encode(out);
        put_list(out, &self.cosignatures);
    }
}

impl Decode for Transaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            body: TxBody::decode(r)?,
            signature: Signature::decode(r)?,
            cosignatures: r.list("cosignatures", MAX_COSIGNATURES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_kinds() -> Vec<TxKind> {
        let k = |n: u8| Keypair::from_seed([n; 32]).public();
        let loc = Location::from_degrees(37.77, -122.42).unwrap();
        vec![
            TxKind::Transfer {
                to: k(2).into(),
                amount: Amount::from_units(5),
            },
            TxKind::OnboardDevice {
                device: k(3).into(),
                maker: k(4),
                class: DeviceClass::Storage,
                capabilities: vec![Capability {
                    name: "capacity_bytes".into(),
                    value: 1 << 40,
                }],
            },
            TxKind::AssertLocation {
                device: k(3).into(),
                location: loc,
                antenna: Some(Antenna {
                    gain_dbi_tenths: 12,
                    elevation_m: 5,
                }),
            },
            TxKind::BurnForCredits {
                amount: Amount::from_units(9),
                beneficiary: k(1).into(),
            },
            TxKind::SpendCredits {
                amount: Credits(3),
                purpose: Hash::ZERO,
            },
            TxKind::Stake {
                device: k(3).into(),
                amount: Amount::from_units(1),
            },
            TxKind::Unstake {
                device: k(3).into(),
                amount: Amount::from_units(1),
            },
            TxKind::WithdrawUnbonded,
            TxKind::Slash {
                device: k(3).into(),
                amount: Amount::from_units(1),
                evidence: Hash::ZERO,
                reason: "x".into(),
            },
            TxKind::PostPrice {
                micro_usd_per_trl: 1_500_000,
            },
            TxKind::PostRewardManifest {
                epoch: Epoch(3),
                root: Hash::ZERO,
                total: Amount::from_units(7),
                owner_count: 2,
            },
            TxKind::ClaimReward {
                epoch: Epoch(3),
                owner: k(1).into(),
                amount: Amount::from_units(7),
                proof: MerkleProof {
                    index: 0,
                    leaf_count: 1,
                    siblings: vec![],
                },
            },
            TxKind::Governance {
                action: GovAction::SetParams {
                    params: Params::default(),
                },
            },
            TxKind::Governance {
                action: GovAction::SetOracles {
                    committee: Committee {
                        threshold: 1,
                        members: vec![k(1)],
                    },
                },
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_through_the_codec() {
        let signer = Keypair::from_seed([1; 32]);
        for kind in sample_kinds() {
            let body = TxBody {
                chain_id: "t".into(),
                signer: signer.public().into(),
                nonce: 4,
                fee: Amount::from_units(1),
                kind,
            };
            let tx = Transaction::sign(body, &signer).cosign(&Keypair::from_seed([9; 32]));
            let bytes = tx.to_bytes();
            assert_eq!(Transaction::decode_untrusted(&bytes).unwrap(), tx);
            // Every strict prefix fails to decode.
            for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
                assert!(Transaction::decode_untrusted(&bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn oversize_transaction_is_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            Transaction::decode_untrusted(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn committee_counts_distinct_members_only() {
        let k = |n: u8| Keypair::from_seed([n; 32]).public();
        let mut members = vec![k(1), k(2), k(3)];
        members.sort();
        let c = Committee { threshold: 2, members };
        assert_eq!(c.count_members([k(1), k(1), k(9)].iter()), 1);
        assert_eq!(c.count_members([k(1), k(3), k(9)].iter()), 2);
        assert!(Committee {
            threshold: 4,
            members: c.members.clone()
        }
        .validate("admins")
        .is_err());
    }
}

#[cfg(test)]
mod decode_props {
    use super::*;
    use proptest::prelude::*;

    fn valid_bytes() -> Vec<u8> {
        let k = Keypair::from_seed([3; 32]);
        let body = TxBody {
            chain_id: "fuzz".into(),
            signer: k.public().into(),
            nonce: 1,
            fee: Amount::from_units(10),
            kind: TxKind::OnboardDevice {
                device: k.public().into(),
                maker: k.public(),
                class: DeviceClass::Compute,
                capabilities: vec![Capability { name: "slots".into(), value: 4 }],
            },
        };
        Transaction::sign(body, &k).cosign(&Keypair::from_seed([4; 32])).to_bytes()
    }

    proptest! {
        // The same property as the cargo-fuzz target `tx_decode`, run on every `cargo test`:
        // arbitrary and mutated inputs never panic, and anything that decodes re-encodes to the
        // identical bytes.
        #[test]
        fn mutated_transactions_decode_canonically_or_fail_cleanly(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = valid_bytes();
            for (pos, byte) in flips {
                let len = bytes.len();
                bytes[pos % len] = byte;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            bytes.extend_from_slice(&junk);
            if let Ok(tx) = Transaction::decode_untrusted(&bytes) {
                prop_assert_eq!(tx.to_bytes(), bytes);
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(tx) = Transaction::decode_untrusted(&bytes) {
                prop_assert_eq!(tx.to_bytes(), bytes);
            }
        }
    }
}
