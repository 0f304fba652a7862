//! What a transaction does, and its encoding.

use super::{
    Antenna, Capability, ComputeTx, DealTerms, DeviceClass, EgressClaim, GovAction, MAX_CAPABILITIES,
    MAX_EGRESS_CLAIMS, MAX_PIECES, MAX_REASON_BYTES, MAX_URL_BYTES,
};
use crate::merkle::MerkleProof;
use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_bytes, put_list, put_option, Decode, DecodeError, Encode, Reader},
    AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, Location, PublicKey,
};

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
    /// Publish where a device serves clients (storage and compute providers); empty removes it.
    SetEndpoint {
        /// The device (owned by the signer).
        device: DeviceAddress,
        /// `http://` or `https://` URL, at most 200 bytes.
        url: String,
    },
    /// Open a storage deal: escrow its price in credits and record where every piece lives.
    OpenDeal {
        /// The terms; the deal id is their content commitment.
        terms: DealTerms,
    },
    /// Move a piece to another provider (repair, or a failed upload). Signed by the deal's client
    /// or co-signed by a verifier.
    MovePiece {
        /// The deal.
        deal: Hash,
        /// Which piece.
        index: u16,
        /// The new provider.
        provider: DeviceAddress,
    },
    /// Pay a deal's providers for one audited epoch from its escrow. Co-signed by a verifier.
    SettleDeal {
        /// The deal.
        deal: Hash,
        /// The completed epoch the audits cover.
        epoch: Epoch,
        /// Indexes of the pieces that passed every audit in that epoch, ascending.
        proven: Vec<u16>,
    },
    /// End a deal early or after it expires: holders whose pieces did not fail their latest audit
    /// are paid the running epoch so far, the rest of the escrow returns to the client.
    CloseDeal {
        /// The deal.
        deal: Hash,
    },
    /// The compute market: offers, jobs, commitments, verification, settlement.
    Compute(ComputeTx),
    /// The deal's client reports that a piece's provider served bytes that do not match the
    /// piece's commitment: the piece gets a heavier audit (see `state::PieceReport`).
    ReportPiece {
        /// The deal.
        deal: Hash,
        /// The piece.
        index: u16,
    },
    /// A storage provider's claim for the bytes it served under its clients' signed orders
    /// (see [`super::EgressOrder`]). Signed by the device's owner or the device key.
    ClaimEgress {
        /// The provider.
        device: DeviceAddress,
        /// The orders, each with its served bytes; every serial at most once.
        claims: Vec<EgressClaim>,
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
            TxKind::SetEndpoint { .. } => "set_endpoint",
            TxKind::OpenDeal { .. } => "open_deal",
            TxKind::MovePiece { .. } => "move_piece",
            TxKind::SettleDeal { .. } => "settle_deal",
            TxKind::CloseDeal { .. } => "close_deal",
            TxKind::Compute(c) => c.name(),
            TxKind::ClaimEgress { .. } => "claim_egress",
            TxKind::ReportPiece { .. } => "report_piece",
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
                put_option(out, antenna);
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
            TxKind::SetEndpoint { device, url } => {
                out.push(14);
                device.encode(out);
                put_bytes(out, url.as_bytes());
            }
            TxKind::OpenDeal { terms } => {
                out.push(15);
                terms.encode(out);
            }
            TxKind::MovePiece { deal, index, provider } => {
                out.push(16);
                deal.encode(out);
                index.encode(out);
                provider.encode(out);
            }
            TxKind::SettleDeal { deal, epoch, proven } => {
                out.push(17);
                deal.encode(out);
                epoch.encode(out);
                put_list(out, proven);
            }
            TxKind::CloseDeal { deal } => {
                out.push(18);
                deal.encode(out);
            }
            TxKind::Compute(c) => {
                out.push(19);
                c.encode(out);
            }
            TxKind::ClaimEgress { device, claims } => {
                out.push(20);
                device.encode(out);
                put_list(out, claims);
            }
            TxKind::ReportPiece { deal, index } => {
                out.push(21);
                deal.encode(out);
                index.encode(out);
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
            14 => TxKind::SetEndpoint {
                device: DeviceAddress::decode(r)?,
                url: r.string("endpoint url", MAX_URL_BYTES)?,
            },
            15 => TxKind::OpenDeal {
                terms: DealTerms::decode(r)?,
            },
            16 => TxKind::MovePiece {
                deal: Hash::decode(r)?,
                index: r.u16()?,
                provider: DeviceAddress::decode(r)?,
            },
            17 => TxKind::SettleDeal {
                deal: Hash::decode(r)?,
                epoch: Epoch::decode(r)?,
                proven: r.list("proven pieces", MAX_PIECES)?,
            },
            18 => TxKind::CloseDeal { deal: Hash::decode(r)? },
            19 => TxKind::Compute(ComputeTx::decode(r)?),
            20 => TxKind::ClaimEgress {
                device: DeviceAddress::decode(r)?,
                claims: r.list("egress claims", MAX_EGRESS_CLAIMS)?,
            },
            21 => TxKind::ReportPiece {
                deal: Hash::decode(r)?,
                index: r.u16()?,
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
