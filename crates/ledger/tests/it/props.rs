//! Property tests over random transaction sequences: supply conservation, failure isolation,
//! replay protection.

use crate::fixtures::{addr, key, Chain, USERS};
use proptest::prelude::*;
use std::collections::BTreeSet;
use trellis_ledger::{
    execute::reward_leaf, merkle_root, state::keys, Antenna, Capability, DeviceClass, GovAction, Ledger, MemStore,
    MerkleProof, Params, RejectReason, StateRead, Store, Transaction, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, Location};

const TRL: u64 = crate::fixtures::TRL;

#[derive(Debug, Clone)]
enum Op {
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
    Onboard {
        owner: usize,
        device: usize,
        class: usize,
        maker_signs: bool,
        device_signs: bool,
    },
    Assert {
        owner: usize,
        device: usize,
        antenna: bool,
    },
    Stake {
        owner: usize,
        device: usize,
        amount: u64,
    },
    Unstake {
        owner: usize,
        device: usize,
        amount: u64,
    },
    Withdraw {
        who: usize,
    },
    Slash {
        by_verifier: bool,
        device: usize,
        amount: u64,
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
    FutureNonce {
        who: usize,
    },
    BadSignature {
        who: usize,
    },
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

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    let d = 0..6usize;
    prop_oneof![
        4 => (u.clone(), u.clone(), amount()).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (u.clone(), amount()).prop_map(|(who, amount)| Op::Burn { who, amount }),
        1 => (u.clone(), 0u64..3_000_000).prop_map(|(who, credits)| Op::Spend { who, credits }),
        2 => (u.clone(), d.clone(), 0..5usize, any::<bool>(), any::<bool>()).prop_map(|(owner, device, class, maker_signs, device_signs)| Op::Onboard { owner, device, class, maker_signs, device_signs }),
        1 => (u.clone(), d.clone(), any::<bool>()).prop_map(|(owner, device, antenna)| Op::Assert { owner, device, antenna }),
        2 => (u.clone(), d.clone(), amount()).prop_map(|(owner, device, amount)| Op::Stake { owner, device, amount }),
        1 => (u.clone(), d.clone(), amount()).prop_map(|(owner, device, amount)| Op::Unstake { owner, device, amount }),
        1 => u.clone().prop_map(|who| Op::Withdraw { who }),
        1 => (any::<bool>(), d, amount()).prop_map(|(by_verifier, device, amount)| Op::Slash { by_verifier, device, amount }),
        1 => (any::<bool>(), 0u64..5_000_000).prop_map(|(quorum, price)| Op::Price { quorum, price }),
        1 => (0u64..4, any::<bool>(), proptest::collection::vec(0u64..(10 * TRL), 1..4)).prop_map(|(epoch, quorum, amounts)| Op::Manifest { epoch, quorum, amounts }),
        2 => (0usize..4, u.clone(), any::<bool>()).prop_map(|(manifest, owner, inflate)| Op::Claim { manifest, owner, inflate }),
        1 => (any::<bool>(), 1u64..5_000).prop_map(|(quorum, min_fee)| Op::Gov { quorum, min_fee }),
        1 => u.clone().prop_map(|who| Op::FutureNonce { who }),
        1 => u.prop_map(|who| Op::BadSignature { who }),
    ]
}

/// Manifests posted so far (epoch, sorted leaves), to build claims against.
#[derive(Default)]
struct Model {
    manifests: Vec<(u64, Vec<(AccountAddress, u64)>)>,
    pending_manifest: Option<(u64, Vec<(AccountAddress, u64)>)>,
}

fn device(i: usize) -> DeviceAddress {
    key(&format!("device{i}")).public().into()
}

fn leaves_of(leaves: &[(AccountAddress, u64)]) -> Vec<Hash> {
    leaves
        .iter()
        .map(|(o, a)| reward_leaf(o, Amount::from_units(*a)))
        .collect()
}

fn build(chain: &mut Chain, model: &mut Model, op: &Op) -> Transaction {
    let amt = Amount::from_units;
    let user = |i: usize| USERS[i];
    match op {
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
                class: DeviceClass::ALL[*class],
                capabilities: vec![Capability {
                    name: "slots".into(),
                    value: 1,
                }],
            };
            let mut tx = chain.tx(user(*owner), kind);
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
            let antenna = antenna.then_some(Antenna {
                gain_dbi_tenths: 20,
                elevation_m: 3,
            });
            chain.tx(
                user(*owner),
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
            user(*owner),
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
            user(*owner),
            TxKind::Unstake {
                device: device(*d),
                amount: amt(*amount),
            },
        ),
        Op::Withdraw { who } => chain.tx(user(*who), TxKind::WithdrawUnbonded),
        Op::Slash {
            by_verifier,
            device: d,
            amount,
        } => {
            let signer = if *by_verifier { "verifier" } else { "alice" };
            chain.tx(
                signer,
                TxKind::Slash {
                    device: device(*d),
                    amount: amt(*amount),
                    evidence: Hash::ZERO,
                    reason: "test".into(),
                },
            )
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
            let mut leaves: Vec<(AccountAddress, u64)> =
                amounts.iter().enumerate().map(|(i, a)| (addr(USERS[i]), *a)).collect();
            leaves.sort();
            let total = leaves.iter().map(|(_, a)| a).sum::<u64>();
            let kind = TxKind::PostRewardManifest {
                epoch: Epoch(*epoch),
                root: merkle_root(&leaves_of(&leaves)),
                total: amt(total),
                owner_count: leaves.len() as u32,
            };
            model.pending_manifest = Some((*epoch, leaves));
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
            let (epoch, owner_addr, amount, proof) = match model.manifests.get(*manifest) {
                Some((epoch, leaves)) => {
                    let index = owner % leaves.len();
                    let (o, a) = leaves[index];
                    (*epoch, o, a, MerkleProof::build(&leaves_of(leaves), index).unwrap())
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
            chain.tx(
                "dave",
                TxKind::ClaimReward {
                    epoch: Epoch(epoch),
                    owner: owner_addr,
                    amount: amt(amount),
                    proof,
                },
            )
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
        Op::FutureNonce { who } => {
            let mut tx = chain.tx(user(*who), TxKind::WithdrawUnbonded);
            tx.body.nonce += 5;
            Transaction::sign(tx.body, &key(user(*who)))
        }
        Op::BadSignature { who } => {
            let mut tx = chain.tx(
                user(*who),
                TxKind::Transfer {
                    to: addr("bob"),
                    amount: Amount::from_units(1),
                },
            );
            tx.signature.0[0] ^= 0x40;
            tx
        }
    }
}

/// Keeps the fee at the chain's current minimum so governance changes don't starve the test.
fn with_current_fee(chain: &Chain, mut tx: Transaction, op: &Op) -> Transaction {
    let min_fee = chain.ledger.store().params().unwrap().min_fee;
    if tx.body.fee != min_fee && !matches!(op, Op::BadSignature { .. }) {
        tx.body.fee = min_fee;
        let signer = [USERS.as_slice(), &["oracle1", "admin1", "verifier"]]
            .concat()
            .into_iter()
            .find(|n| addr(n) == tx.body.signer)
            .unwrap();
        let cosigners: Vec<String> = tx
            .cosignatures
            .iter()
            .map(|c| {
                ["maker", "oracle2", "oracle3", "admin2"]
                    .into_iter()
                    .map(String::from)
                    .chain((0..6).map(|i| format!("device{i}")))
                    .find(|n| key(n).public() == c.key)
                    .unwrap()
            })
            .collect();
        let mut resigned = Transaction::sign(tx.body, &key(signer));
        for c in cosigners {
            resigned = resigned.cosign(&key(&c));
        }
        tx = resigned;
    }
    tx
}

fn note_manifest(model: &mut Model, outcome: &TxOutcome) {
    if let Some(m) = model.pending_manifest.take() {
        if outcome == &TxOutcome::Success {
            model.manifests.push(m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// One transaction per block: whatever happens, supply is conserved, and a failed transaction
    /// changes exactly the signer's balance (by the fee) and nonce (by one) and the burned total.
    #[test]
    fn failed_transactions_change_only_fee_and_nonce_and_supply_is_conserved(ops in proptest::collection::vec(op(), 1..60)) {
        let mut chain = Chain::new();
        let mut model = Model::default();
        for op in &ops {
            let tx = build(&mut chain, &mut model, op);
            let tx = with_current_fee(&chain, tx, op);
            let signer = tx.body.signer;
            let before = chain.ledger.store().account(&signer).unwrap();
            let burned_before = chain.ledger.store().supply().unwrap().burned;
            let fee = tx.body.fee;
            let proposal = chain.block(vec![tx]);
            chain.assert_supply_conserved();
            match op {
                Op::FutureNonce { .. } => {
                    let future = matches!(proposal.rejected[0].1, RejectReason::BadNonce { .. });
                    prop_assert!(future);
                }
                Op::BadSignature { .. } => prop_assert_eq!(&proposal.rejected[0].1, &RejectReason::BadSignature),
                _ => {}
            }
            let Some(receipt) = proposal.executed.receipts.first() else {
                model.pending_manifest = None;
                prop_assert!(proposal.executed.diff.is_empty(), "a block with no transaction changed state");
                continue;
            };
            note_manifest(&mut model, &receipt.outcome);
            if let TxOutcome::Failed { .. } = receipt.outcome {
                let touched: BTreeSet<Vec<u8>> = proposal.executed.diff.keys().cloned().collect();
                let epoch = trellis_primitives::Epoch::of_height(chain.ledger.tip().height, 5);
                let allowed: BTreeSet<Vec<u8>> =
                    [keys::account(&signer), keys::SUPPLY.to_vec(), keys::epoch_burn(epoch)].into_iter().collect();
                prop_assert_eq!(touched, allowed);
                let after = chain.ledger.store().account(&signer).unwrap();
                prop_assert_eq!(after.balance.units(), before.balance.units() - fee.units());
                prop_assert_eq!(after.nonce, before.nonce + 1);
                prop_assert_eq!(after.credits, before.credits);
                prop_assert_eq!(&after.unbonding, &before.unbonding);
                let burned = chain.ledger.store().supply().unwrap().burned;
                prop_assert_eq!(burned.units(), burned_before.units() + fee.units());
            }
        }
    }

    /// Many transactions per block, then replay into a fresh ledger: identical roots and state,
    /// and no included transaction can be included again.
    #[test]
    fn packed_blocks_conserve_supply_replay_identically_and_never_repeat_a_transaction(
        ops in proptest::collection::vec(op(), 1..120),
        block_sizes in proptest::collection::vec(1usize..12, 1..40),
    ) {
        let mut chain = Chain::new();
        let mut model = Model::default();
        let mut included: Vec<Transaction> = Vec::new();
        let mut ops = ops.iter();
        for size in block_sizes {
            let txs: Vec<Transaction> = ops.by_ref().take(size).map(|op| {
                let tx = build(&mut chain, &mut model, op);
                with_current_fee(&chain, tx, op)
            }).collect();
            model.pending_manifest = None;
            let proposal = chain.block(txs);
            chain.assert_supply_conserved();
            included.extend(proposal.executed.block.txs.iter().cloned());
        }
        // Replay protection: every included transaction, offered again, is refused.
        if let Some(old) = included.first().cloned() {
            let again = chain.block(vec![old]);
            prop_assert!(again.executed.block.txs.is_empty());
            let is_bad_nonce = matches!(again.rejected[0].1, RejectReason::BadNonce { .. });
            prop_assert!(is_bad_nonce);
        }
        let (mut replica, _) = crate::fixtures::genesis().into_ledger(MemStore::new()).unwrap();
        for block in &chain.blocks[1..] {
            replica.apply_block(block).unwrap();
        }
        prop_assert_eq!(replica.tip(), chain.ledger.tip());
        let entries = |l: &Ledger<MemStore>| l.store().entries().map(|(k, v)| (k.to_vec(), v.to_vec())).collect::<Vec<_>>();
        prop_assert_eq!(entries(&replica), entries(&chain.ledger));
    }
}
