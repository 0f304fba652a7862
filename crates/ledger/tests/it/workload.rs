//! The random workload of the property tests: one [`Op`] per candidate transaction, of every kind,
//! valid and not, built against the chain's current nonces and minimum fee.

use crate::fixtures::{addr, key, Chain, CHAIN_ID, TRL, USERS};
use proptest::prelude::*;
use std::collections::BTreeMap;
use trellis_ledger::{
    execute::reward_leaf, merkle_root, Antenna, Capability, DealTerms, DeviceClass, ExecutedBlock, GovAction,
    MerkleProof, Params, Piece, StateRead, Transaction, TxKind, TxOutcome, GIB,
};
use trellis_primitives::{AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, Location};

/// Device keys the workload uses (`device0..`).
pub const DEVICES: usize = 6;

#[derive(Debug, Clone)]
pub enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Burn {
        who: usize,
        amount: u64,
    },
    Spend {
        who: usize,
        credits: u64,
    },
    /// `owner: None` is the device's usual owner (see [`owner_of`]), `Some` any user.
    /// `class: None` is the device's usual class (see [`class_of`]).
    Onboard {
        owner: Option<usize>,
        device: usize,
        class: Option<usize>,
        maker_signs: bool,
        device_signs: bool,
    },
    /// `antenna: None` asserts an antenna exactly when the usual class is a hotspot.
    Assert {
        owner: Option<usize>,
        device: usize,
        antenna: Option<bool>,
    },
    Stake {
        owner: Option<usize>,
        device: usize,
        amount: u64,
    },
    Unstake {
        owner: Option<usize>,
        device: usize,
        amount: u64,
    },
    /// `who: None` is a user with collateral unbonding, if there is one.
    Withdraw {
        who: Option<usize>,
    },
    Slash {
        by_verifier: bool,
        device: usize,
        amount: u64,
        evidence: u8,
    },
    Price {
        quorum: bool,
        price: u64,
    },
    Manifest {
        epoch: u64,
        quorum: bool,
        amounts: Vec<u64>,
    },
    Claim {
        manifest: usize,
        owner: usize,
        inflate: bool,
    },
    Gov {
        quorum: bool,
        min_fee: u64,
    },
    /// A 1-of-2 storage deal on devices `a` and `b` (usually rejected: they must be staked
    /// storage providers).
    Deal {
        who: usize,
        a: usize,
        b: usize,
        price: u64,
        duration: u32,
        nonce: u8,
    },
    /// Settles the next epoch of an opened deal, maybe without the verifier.
    Settle {
        pick: usize,
        by_verifier: bool,
        proven: u8,
    },
    /// Moves a piece of an opened deal, by its client or by someone else.
    Move {
        pick: usize,
        index: u16,
        device: usize,
        by_client: bool,
    },
    /// Closes an opened deal, by its client or by someone else.
    Close {
        pick: usize,
        by_client: bool,
    },
    /// Reports a piece of an opened deal, by its client or by someone else.
    Report {
        pick: usize,
        index: u16,
        by_client: bool,
    },
    /// A storage device's claim for bytes served to user `client` under serial `serial` (few
    /// serials, so some are claimed twice), claiming `claimed` of the order's `bytes`; signed by
    /// the device's usual owner, or by someone else.
    Egress {
        client: usize,
        device: usize,
        serial: u8,
        bytes: u64,
        claimed: u64,
        by_owner: bool,
    },
    /// A nonce ahead of the account's: rejected with `BadNonce`.
    FutureNonce {
        who: usize,
    },
    /// A flipped signature bit: rejected with `BadSignature`.
    BadSignature {
        who: usize,
    },
    /// Signed for another chain: rejected with `WrongChain`.
    WrongChain {
        who: usize,
    },
    /// Below the minimum fee (`FeeTooLow`) or above any balance (`CannotPayFee`).
    BadFee {
        who: usize,
        high: bool,
    },
    /// An already included transaction offered again: rejected with `BadNonce`.
    Replay {
        pick: usize,
    },
}

impl Op {
    /// Whether the ledger must refuse to include it.
    pub fn must_be_rejected(&self) -> bool {
        matches!(
            self,
            Op::FutureNonce { .. }
                | Op::BadSignature { .. }
                | Op::WrongChain { .. }
                | Op::BadFee { .. }
                | Op::Replay { .. }
        )
    }
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..1_000,
        1u64..(50 * TRL),
        Just(2_000 * TRL),
        Just(u64::MAX)
    ]
}

/// Burns: mostly enough for a few location assertions, sometimes too little or too much.
fn burn_amount() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 1 => 1u64..1_000, 4 => 1u64..(50 * TRL), 1 => Just(2_000 * TRL)]
}

/// Collateral amounts: mostly affordable, sometimes zero or far too much.
fn collateral() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 6 => 1u64..(20 * TRL), 1 => Just(2_000 * TRL)]
}

/// Mostly the device's usual owner, sometimes any user.
fn owner() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![3 => Just(None), 1 => (0..USERS.len()).prop_map(Some)]
}

/// The user who owns device `d` unless an op says otherwise: devices spread over the users.
pub fn owner_of(owner: Option<usize>, d: usize) -> &'static str {
    USERS[owner.unwrap_or(d % USERS.len())]
}

/// The class of device `d` unless an op says otherwise: device 0 is a hotspot, 1 storage, ...
/// in class order, and device 5 a second storage provider so deals can open.
pub fn class_of(class: Option<usize>, d: usize) -> DeviceClass {
    let usual = if d == 5 { 1 } else { d };
    DeviceClass::ALL[class.unwrap_or(usual) % DeviceClass::ALL.len()]
}

/// Mostly `None` (the usual choice), sometimes an arbitrary one.
fn usually_none<T: std::fmt::Debug + Clone + 'static>(
    other: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![3 => Just(None), 1 => other.prop_map(Some)]
}

pub fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    let d = 0..DEVICES;
    prop_oneof![
        4 => (u.clone(), u.clone(), amount()).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (u.clone(), burn_amount()).prop_map(|(who, amount)| Op::Burn { who, amount }),
        1 => (u.clone(), 0u64..300_000).prop_map(|(who, credits)| Op::Spend { who, credits }),
        5 => (owner(), d.clone(), usually_none(0..DeviceClass::ALL.len()), prop::bool::weighted(0.9), prop::bool::weighted(0.9))
            .prop_map(|(owner, device, class, maker_signs, device_signs)| Op::Onboard { owner, device, class, maker_signs, device_signs }),
        3 => (owner(), d.clone(), usually_none(any::<bool>())).prop_map(|(owner, device, antenna)| Op::Assert { owner, device, antenna }),
        3 => (owner(), d.clone(), collateral()).prop_map(|(owner, device, amount)| Op::Stake { owner, device, amount }),
        3 => (owner(), d.clone(), collateral()).prop_map(|(owner, device, amount)| Op::Unstake { owner, device, amount: amount / 4 }),
        2 => usually_none(u.clone()).prop_map(|who| Op::Withdraw { who }),
        3 => (prop::bool::weighted(0.75), d.clone(), collateral(), 0u8..4).prop_map(|(by_verifier, device, amount, evidence)| Op::Slash { by_verifier, device, amount: amount / 8, evidence }),
        1 => (any::<bool>(), prop_oneof![Just(0u64), 100_000u64..5_000_000]).prop_map(|(quorum, price)| Op::Price { quorum, price }),
        2 => (0u64..4, prop::bool::weighted(0.75), prop::collection::vec(0u64..(10 * TRL), 1..4)).prop_map(|(epoch, quorum, amounts)| Op::Manifest { epoch, quorum, amounts }),
        3 => (any::<usize>(), u.clone(), any::<bool>()).prop_map(|(manifest, owner, inflate)| Op::Claim { manifest, owner, inflate }),
        1 => (any::<bool>(), 1u64..5_000).prop_map(|(quorum, min_fee)| Op::Gov { quorum, min_fee }),
        2 => (u.clone(), prop_oneof![3 => Just((1, 5)), 1 => (d.clone(), d.clone())], 1u64..2_000, 1u32..4, 0u8..6).prop_map(|(who, (a, b), price, duration, nonce)| Op::Deal { who, a, b, price, duration, nonce }),
        2 => (any::<usize>(), prop::bool::weighted(0.8), 0u8..4).prop_map(|(pick, by_verifier, proven)| Op::Settle { pick, by_verifier, proven }),
        2 => (any::<usize>(), 0u16..3, d.clone(), prop::bool::weighted(0.8)).prop_map(move |(pick, index, device, by_client)| Op::Move { pick, index, device, by_client }),
        1 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, by_client)| Op::Close { pick, by_client }),
        2 => (prop_oneof![3 => Just(0usize), 1 => u.clone()], prop_oneof![3 => Just(1usize), 1 => d.clone()], 0u8..3, 1u64..(4 * GIB), 0u64..(4 * GIB), prop::bool::weighted(0.9))
            .prop_map(|(client, device, serial, bytes, claimed, by_owner)| Op::Egress { client, device, serial, bytes, claimed: claimed.min(bytes + 1), by_owner }),
        1 => (any::<usize>(), 0u16..3, prop::bool::weighted(0.8)).prop_map(|(pick, index, by_client)| Op::Report { pick, index, by_client }),
        1 => u.clone().prop_map(|who| Op::FutureNonce { who }),
        1 => u.clone().prop_map(|who| Op::BadSignature { who }),
        1 => u.clone().prop_map(|who| Op::WrongChain { who }),
        1 => (u, any::<bool>()).prop_map(|(who, high)| Op::BadFee { who, high }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
    ]
}

/// Three staked storage providers (devices 1 and 5, and 2 as a repair target) and credits for the
/// first user, followed by `ops`: without them almost no random storage deal could open.
pub fn with_storage_preamble(ops: Vec<Op>) -> Vec<Op> {
    let onboard = |device| Op::Onboard {
        owner: None,
        device,
        class: Some(1),
        maker_signs: true,
        device_signs: true,
    };
    let stake = |device| Op::Stake {
        owner: None,
        device,
        amount: 5 * TRL,
    };
    let burn = Op::Burn {
        who: 0,
        amount: 10 * TRL,
    };
    [onboard(1), onboard(5), onboard(2), stake(1), stake(5), stake(2), burn]
        .into_iter()
        .chain(ops)
        .collect()
}

pub fn device(i: usize) -> DeviceAddress {
    key(&format!("device{i}")).public().into()
}

pub type Leaves = Vec<(AccountAddress, u64)>;

fn leaf_hashes(leaves: &Leaves) -> Vec<Hash> {
    leaves
        .iter()
        .map(|(o, a)| reward_leaf(o, Amount::from_units(*a)))
        .collect()
}

/// What the workload remembers: manifests it built (by root) and those the ledger accepted.
#[derive(Default)]
pub struct Model {
    built: BTreeMap<Hash, (u64, Leaves)>,
    pub posted: Vec<(u64, Leaves)>,
    /// Ids of deals the workload proposed (open or not).
    deals: Vec<Hash>,
}

impl Model {
    /// Notes the manifests a block accepted, so later claims can carry real proofs.
    pub fn note_block(&mut self, executed: &ExecutedBlock) {
        for (tx, receipt) in executed.block.txs.iter().zip(&executed.receipts) {
            if let (TxKind::PostRewardManifest { root, .. }, TxOutcome::Success) = (&tx.body.kind, &receipt.outcome) {
                self.posted.push(self.built[root].clone());
            }
        }
    }
}

/// The candidate transaction for `op`; `None` for a replay when nothing was included yet.
pub fn build(chain: &mut Chain, model: &mut Model, included: &[Transaction], op: &Op) -> Option<Transaction> {
    let amt = Amount::from_units;
    let user = |i: usize| USERS[i];
    let tx = match op {
        Op::Transfer { from, to, amount } => chain.tx(
            user(*from),
            TxKind::Transfer {
                to: addr(user(*to)),
                amount: amt(*amount),
            },
        ),
        Op::Burn { who, amount } => chain.tx(
            user(*who),
            TxKind::BurnForCredits {
                amount: amt(*amount),
                beneficiary: addr(user(*who)),
            },
        ),
        Op::Spend { who, credits } => chain.tx(
            user(*who),
            TxKind::SpendCredits {
                amount: Credits(*credits),
                purpose: Hash::ZERO,
            },
        ),
        Op::Onboard {
            owner,
            device: d,
            class,
            maker_signs,
            device_signs,
        } => {
            let kind = TxKind::OnboardDevice {
                device: device(*d),
                maker: key("maker").public(),
                class: class_of(*class, *d),
                capabilities: vec![Capability {
                    name: "slots".into(),
                    value: 1,
                }],
            };
            let mut tx = chain.tx(owner_of(*owner, *d), kind);
            if *maker_signs {
                tx = tx.cosign(&key("maker"));
            }
            if *device_signs {
                tx = tx.cosign(&key(&format!("device{d}")));
            }
            tx
        }
        Op::Assert {
            owner,
            device: d,
            antenna,
        } => {
            let location = Location::from_degrees(10.0 + *d as f64, 20.0).unwrap();
            let antenna = antenna.unwrap_or(class_of(None, *d) == DeviceClass::Hotspot);
            let antenna = antenna.then_some(Antenna {
                gain_dbi_tenths: 20,
                elevation_m: 3,
            });
            chain.tx(
                owner_of(*owner, *d),
                TxKind::AssertLocation {
                    device: device(*d),
                    location,
                    antenna,
                },
            )
        }
        Op::Stake {
            owner,
            device: d,
            amount,
        } => chain.tx(
            owner_of(*owner, *d),
            TxKind::Stake {
                device: device(*d),
                amount: amt(*amount),
            },
        ),
        Op::Unstake {
            owner,
            device: d,
            amount,
        } => chain.tx(
            owner_of(*owner, *d),
            TxKind::Unstake {
                device: device(*d),
                amount: amt(*amount),
            },
        ),
        Op::Withdraw { who } => {
            let unbonding = |u: &str| !chain.ledger.store().account(&addr(u)).unwrap().unbonding.is_empty();
            let who = who.map_or_else(|| USERS.into_iter().find(|u| unbonding(u)).unwrap_or(USERS[0]), user);
            chain.tx(who, TxKind::WithdrawUnbonded)
        }
        Op::Slash {
            by_verifier,
            device: d,
            amount,
            evidence,
        } => {
            let signer = if *by_verifier { "verifier" } else { "alice" };
            let kind = TxKind::Slash {
                device: device(*d),
                amount: amt(*amount),
                evidence: Hash([*evidence; 32]),
                reason: "test".into(),
            };
            chain.tx(signer, kind)
        }
        Op::Price { quorum, price } => {
            let tx = chain.tx(
                "oracle1",
                TxKind::PostPrice {
                    micro_usd_per_trl: *price,
                },
            );
            if *quorum {
                tx.cosign(&key("oracle2"))
            } else {
                tx
            }
        }
        Op::Manifest { epoch, quorum, amounts } => {
            let mut leaves: Leaves = amounts.iter().enumerate().map(|(i, a)| (addr(USERS[i]), *a)).collect();
            leaves.sort();
            let total = leaves.iter().map(|(_, a)| a).sum::<u64>();
            let root = merkle_root(&leaf_hashes(&leaves));
            let kind = TxKind::PostRewardManifest {
                epoch: Epoch(*epoch),
                root,
                total: amt(total),
                owner_count: leaves.len() as u32,
            };
            model.built.insert(root, (*epoch, leaves));
            let tx = chain.tx("oracle1", kind);
            if *quorum {
                tx.cosign(&key("oracle3"))
            } else {
                tx
            }
        }
        Op::Claim {
            manifest,
            owner,
            inflate,
        } => {
            let posted = (!model.posted.is_empty()).then(|| &model.posted[manifest % model.posted.len()]);
            let (epoch, owner_addr, amount, proof) = match posted {
                Some((epoch, leaves)) => {
                    let index = owner % leaves.len();
                    let (o, a) = leaves[index];
                    (*epoch, o, a, MerkleProof::build(&leaf_hashes(leaves), index).unwrap())
                }
                None => (
                    9,
                    addr(USERS[*owner]),
                    1,
                    MerkleProof {
                        index: 0,
                        leaf_count: 1,
                        siblings: vec![],
                    },
                ),
            };
            let amount = if *inflate { amount + 1 } else { amount };
            let kind = TxKind::ClaimReward {
                epoch: Epoch(epoch),
                owner: owner_addr,
                amount: amt(amount),
                proof,
            };
            chain.tx("dave", kind)
        }
        Op::Gov { quorum, min_fee } => {
            let params = Params {
                min_fee: amt(*min_fee),
                ..chain.ledger.store().params().unwrap()
            };
            let tx = chain.tx(
                "admin1",
                TxKind::Governance {
                    action: GovAction::SetParams { params },
                },
            );
            if *quorum {
                tx.cosign(&key("admin2"))
            } else {
                tx
            }
        }
        Op::Deal {
            who,
            a,
            b,
            price,
            duration,
            nonce,
        } => {
            let terms = DealTerms {
                nonce: [*nonce; 16],
                size: GIB / 4,
                data_shards: 1,
                parity_shards: 1,
                segment_bytes: 1 << 20,
                piece_len: GIB / 4,
                pieces: [*a, *b]
                    .iter()
                    .map(|i| Piece {
                        provider: device(*i),
                        root: Hash([*i as u8; 32]),
                    })
                    .collect(),
                duration_epochs: *duration,
                price_per_gib_epoch: Credits(*price),
            };
            model.deals.push(terms.commitment(&addr(user(*who))));
            chain.tx(user(*who), TxKind::OpenDeal { terms })
        }
        Op::Settle {
            pick,
            by_verifier,
            proven,
        } => {
            let id = *model.deals.get(pick % model.deals.len().max(1))?;
            let epoch = chain
                .ledger
                .store()
                .deal(&id)
                .unwrap()
                .map_or(0, |d| d.start_epoch.0 + u64::from(d.settled_epochs));
            let proven = (0..2u16).filter(|i| proven & (1 << i) != 0).collect();
            let kind = TxKind::SettleDeal {
                deal: id,
                epoch: Epoch(epoch),
                proven,
            };
            let tx = chain.tx("dave", kind);
            if *by_verifier {
                tx.cosign(&key("verifier"))
            } else {
                tx
            }
        }
        Op::Move {
            pick,
            index,
            device: d,
            by_client,
        } => {
            let id = *model.deals.get(pick % model.deals.len().max(1))?;
            let client = chain.ledger.store().deal(&id).unwrap().map(|d| d.client);
            let signer = match client {
                Some(c) if *by_client => USERS.iter().find(|u| addr(u) == c).copied().unwrap_or("dave"),
                _ => "carol",
            };
            let kind = TxKind::MovePiece {
                deal: id,
                index: *index,
                provider: device(*d),
            };
            chain.tx(signer, kind)
        }
        Op::Close { pick, by_client } => {
            let id = *model.deals.get(pick % model.deals.len().max(1))?;
            let client = chain.ledger.store().deal(&id).unwrap().map(|d| d.client);
            let signer = match client {
                Some(c) if *by_client => USERS.iter().find(|u| addr(u) == c).copied().unwrap_or("dave"),
                _ => "bob",
            };
            chain.tx(signer, TxKind::CloseDeal { deal: id })
        }
        Op::Report { pick, index, by_client } => {
            let id = *model.deals.get(pick % model.deals.len().max(1))?;
            let client = chain.ledger.store().deal(&id).unwrap().map(|d| d.client);
            let signer = match client {
                Some(c) if *by_client => USERS.iter().find(|u| addr(u) == c).copied().unwrap_or("dave"),
                _ => "carol",
            };
            chain.tx(
                signer,
                TxKind::ReportPiece {
                    deal: id,
                    index: *index,
                },
            )
        }
        Op::Egress {
            client,
            device: d,
            serial,
            bytes,
            claimed,
            by_owner,
        } => {
            let order = trellis_ledger::EgressOrder {
                deal: Hash([7; 32]),
                client: addr(user(*client)),
                provider: device(*d),
                serial: [*serial; 16],
                bytes: *bytes,
                price_per_gib: Credits(300),
                expires: Epoch(chain.ledger.tip().height / 5 + 1),
            };
            let claims = vec![trellis_ledger::EgressClaim {
                order: order.sign(CHAIN_ID, &key(user(*client))),
                bytes: *claimed,
            }];
            let signer = if *by_owner { owner_of(None, *d) } else { "carol" };
            chain.tx(
                signer,
                TxKind::ClaimEgress {
                    device: device(*d),
                    claims,
                },
            )
        }
        Op::FutureNonce { who } => {
            let mut tx = chain.tx(user(*who), TxKind::WithdrawUnbonded);
            chain.unuse_nonce(&tx.body.signer);
            tx.body.nonce += 5;
            Transaction::sign(tx.body, &key(user(*who)))
        }
        Op::BadSignature { who } => {
            let mut tx = chain.tx(
                user(*who),
                TxKind::Transfer {
                    to: addr("bob"),
                    amount: amt(1),
                },
            );
            chain.unuse_nonce(&tx.body.signer);
            tx.signature.0[0] ^= 0x40;
            tx
        }
        Op::WrongChain { who } => {
            let mut tx = chain.tx(
                user(*who),
                TxKind::Transfer {
                    to: addr("bob"),
                    amount: amt(1),
                },
            );
            chain.unuse_nonce(&tx.body.signer);
            tx.body.chain_id = format!("{CHAIN_ID}-fork");
            Transaction::sign(tx.body, &key(user(*who)))
        }
        Op::BadFee { who, high } => {
            let min_fee = chain.ledger.store().params().unwrap().min_fee.units();
            // More than the whole supply, or one unit short of the minimum.
            let fee = if *high { 1_000_000 * TRL } else { min_fee - 1 };
            let tx = chain.tx_with_fee(user(*who), TxKind::WithdrawUnbonded, amt(fee));
            chain.unuse_nonce(&tx.body.signer);
            tx
        }
        Op::Replay { pick } => {
            if included.is_empty() {
                return None;
            }
            included[pick % included.len()].clone()
        }
    };
    Some(tx)
}
