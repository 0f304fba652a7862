//! Property tests over random transaction sequences of every kind: supply conservation and
//! independent books after every block, failure isolation, replay protection, and replicas that
//! agree byte for byte.

use crate::fixtures::{
    addr, all_accounts, all_devices, entries, fresh_ledger, scan, tx_writes, Chain, GENESIS_ISSUED, SUBMITTERS, USERS,
};
use crate::workload::{build, op, with_storage_preamble, Model, Op};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{RngAlgorithm, RngSeed, TestRng, TestRunner},
};
use std::collections::{BTreeMap, BTreeSet};
use trellis_ledger::{
    execute::{held_credits, held_total},
    state::keys,
    Deal, ExecutedBlock, RejectReason, StateRead, Store, Transaction, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Epoch};

/// The chain's accounting rebuilt from the blocks alone, without the ledger's code.
#[derive(Default)]
struct Books {
    fees: u128,
    credit_burns: u128,
    onboardings: u128,
    minted: u128,
    included: BTreeMap<AccountAddress, u64>,
}

impl Books {
    fn record(&mut self, executed: &ExecutedBlock) {
        for (tx, receipt) in executed.block.txs.iter().zip(&executed.receipts) {
            self.fees += u128::from(tx.body.fee.units());
            *self.included.entry(tx.body.signer).or_default() += 1;
            if receipt.outcome != TxOutcome::Success {
                continue;
            }
            match &tx.body.kind {
                TxKind::BurnForCredits { amount, .. } => self.credit_burns += u128::from(amount.units()),
                TxKind::OnboardDevice { .. } => self.onboardings += 1,
                TxKind::PostRewardManifest { total, .. } => self.minted += u128::from(total.units()),
                _ => {}
            }
        }
    }

    /// The ledger's supply, burn records, credits and nonces agree with these books, and
    /// everything the state holds is `issued - burned`.
    fn check(&self, chain: &Chain) -> Result<(), TestCaseError> {
        let store = chain.ledger.store();
        let supply = store.supply().unwrap();
        let (issued, burned) = (u128::from(supply.issued.units()), u128::from(supply.burned.units()));
        prop_assert_eq!(held_total(store).unwrap(), issued - burned, "supply not conserved");
        prop_assert_eq!(issued, u128::from(GENESIS_ISSUED) + self.minted);
        let slashed: u128 = all_devices(store).iter().map(|d| u128::from(d.slashed.units())).sum();
        // The workload's governance changes only min_fee, so the onboarding fee is constant.
        let onboard_fee = u128::from(store.params().unwrap().onboard_fee.units());
        prop_assert_eq!(
            burned,
            self.fees + self.credit_burns + self.onboardings * onboard_fee + slashed
        );
        let per_epoch: u128 = scan::<Amount>(store, keys::epoch_burn(Epoch(0))[0])
            .iter()
            .map(|a| u128::from(a.units()))
            .sum();
        prop_assert_eq!(
            per_epoch,
            burned,
            "epoch burn records do not add up to the burned total"
        );
        // Credits live in accounts and in deal escrow; settled escrow counts as spent.
        let credits: u64 = all_accounts(store).iter().map(|a| a.credits.0).sum();
        let escrow: u64 = scan::<Deal>(store, keys::DEAL_TABLE).iter().map(|d| d.escrow.0).sum();
        prop_assert_eq!(credits + escrow, supply.credits_minted.0 - supply.credits_spent.0);
        prop_assert_eq!(u128::from(credits + escrow), held_credits(store).unwrap());
        for name in USERS.iter().chain(SUBMITTERS.iter()) {
            let included = self.included.get(&addr(name)).copied().unwrap_or(0);
            prop_assert_eq!(store.account(&addr(name)).unwrap().nonce, included, "nonce of {}", name);
        }
        Ok(())
    }
}

/// How often each outcome happened: `ok:<kind>`, `failed:<code>`, `rejected:<code>`.
type Stats = BTreeMap<String, usize>;

fn tally(stats: &mut Stats, executed: &ExecutedBlock, rejected: &[(trellis_primitives::Hash, RejectReason)]) {
    for (tx, receipt) in executed.block.txs.iter().zip(&executed.receipts) {
        let key = match &receipt.outcome {
            TxOutcome::Success => format!("ok:{}", tx.body.kind.name()),
            TxOutcome::Failed { code, .. } => format!("failed:{code}"),
        };
        *stats.entry(key).or_default() += 1;
    }
    for (_, reason) in rejected {
        *stats.entry(format!("rejected:{}", reason.code())).or_default() += 1;
    }
}

/// Packs `ops` into blocks of `sizes`, checking the books after every block, refusals of every
/// transaction that must be refused, and finally that a fresh replica fed the blocks agrees.
fn run_packed(ops: &[Op], sizes: &[usize], stats: &mut Stats) -> Result<(), TestCaseError> {
    let mut chain = Chain::new();
    let (mut model, mut books) = (Model::default(), Books::default());
    let mut included: Vec<Transaction> = Vec::new();
    let mut ops = ops.iter();
    for &size in sizes {
        let mut txs = Vec::new();
        let mut refused = Vec::new();
        for op in ops.by_ref().take(size) {
            if let Some(tx) = build(&mut chain, &mut model, &included, op) {
                if op.must_be_rejected() {
                    refused.push((tx.id(), op.clone()));
                }
                txs.push(tx);
            }
        }
        let proposal = chain.block(txs);
        let executed = &proposal.executed;
        for (id, op) in &refused {
            prop_assert!(
                executed.block.txs.iter().all(|t| t.id() != *id),
                "{:?} was included",
                op
            );
            let reason = proposal.rejected.iter().find(|(r, _)| r == id).map(|(_, why)| why);
            let Some(reason) = reason else {
                return Err(TestCaseError::fail(format!("{op:?} not rejected")));
            };
            let expected = match op {
                Op::Replay { .. } | Op::FutureNonce { .. } => Some("bad_nonce"),
                Op::BadSignature { .. } => Some("bad_signature"),
                Op::WrongChain { .. } => Some("wrong_chain"),
                _ => None, // a bad fee may also meet a nonce gap left by an earlier refusal
            };
            if let Some(code) = expected {
                prop_assert_eq!(reason.code(), code, "{:?}", op);
            }
        }
        books.record(executed);
        model.note_block(executed);
        books.check(&chain)?;
        tally(stats, executed, &proposal.rejected);
        included.extend(executed.block.txs.iter().cloned());
    }
    let mut replica = fresh_ledger();
    for block in &chain.blocks[1..] {
        let replayed = replica.apply_block(block).unwrap();
        prop_assert_eq!(replayed.block.header.state_root, replica.store_mut().root());
    }
    prop_assert_eq!(replica.tip(), chain.ledger.tip());
    prop_assert_eq!(entries(&replica), entries(&chain.ledger));
    Ok(())
}

fn config(seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(0x7e11))]

    /// Many transactions per block: after every block supply is conserved and the books agree;
    /// refused transactions stay out; a replica replaying the blocks ends byte-identical.
    #[test]
    fn packed_blocks_conserve_supply_keep_independent_books_and_refuse_replays(
        ops in prop::collection::vec(op(), 1..120).prop_map(with_storage_preamble),
        sizes in prop::collection::vec(1usize..12, 1..40),
    ) {
        run_packed(&ops, &sizes, &mut Stats::new())?;
    }
}

proptest! {
    #![proptest_config(config(0xfa11))]

    /// One transaction per block: whatever happens, supply is conserved; a refused transaction
    /// changes nothing; a failed one changes exactly the signer's balance (by the fee), its nonce
    /// (by one), the burned total and the epoch's burn record (by the fee).
    #[test]
    fn failed_transactions_change_only_fee_and_nonce_and_refused_ones_nothing(
        ops in prop::collection::vec(op(), 1..60).prop_map(with_storage_preamble),
    ) {
        let mut chain = Chain::new();
        let (mut model, mut books) = (Model::default(), Books::default());
        let mut included: Vec<Transaction> = Vec::new();
        for op in &ops {
            let Some(tx) = build(&mut chain, &mut model, &included, op) else { continue };
            let (signer, fee) = (tx.body.signer, tx.body.fee.units());
            let before = chain.ledger.store().account(&signer).unwrap();
            let burned_before = chain.ledger.store().supply().unwrap().burned.units();
            let proposal = chain.block(vec![tx]);
            let executed = &proposal.executed;
            books.record(executed);
            model.note_block(executed);
            books.check(&chain)?;
            let Some(receipt) = executed.receipts.first() else {
                let reason = &proposal.rejected[0].1;
                let expected = match op {
                    Op::Replay { .. } | Op::FutureNonce { .. } => "bad_nonce",
                    Op::BadSignature { .. } => "bad_signature",
                    Op::WrongChain { .. } => "wrong_chain",
                    Op::BadFee { high: true, .. } => "cannot_pay_fee",
                    Op::BadFee { high: false, .. } => "fee_too_low",
                    // A valid transaction stays out only when its signer cannot pay the fee.
                    _ => {
                        prop_assert!(before.balance.units() < fee);
                        "cannot_pay_fee"
                    }
                };
                prop_assert_eq!(reason.code(), expected, "{:?}", op);
                prop_assert!(tx_writes(&executed.diff).is_empty(), "a block with no transaction changed state");
                let swept = executed
                    .diff
                    .iter()
                    .filter(|(k, v)| k.first() == Some(&keys::EGRESS_SERIAL_TABLE) && v.is_none())
                    .count();
                prop_assert_eq!(executed.diff.len(), 1 + swept, "more than the parent hash and the sweep was written");
                continue;
            };
            prop_assert!(!op.must_be_rejected(), "{:?} was included", op);
            included.push(executed.block.txs[0].clone());
            if let TxOutcome::Failed { .. } = receipt.outcome {
                let touched: BTreeSet<Vec<u8>> = tx_writes(&executed.diff);
                let epoch = Epoch::of_height(chain.ledger.tip().height, 5);
                let allowed: BTreeSet<Vec<u8>> =
                    [keys::account(&signer), keys::SUPPLY.to_vec(), keys::epoch_burn(epoch)].into_iter().collect();
                prop_assert_eq!(touched, allowed);
                let after = chain.ledger.store().account(&signer).unwrap();
                prop_assert_eq!(after.balance.units(), before.balance.units() - fee);
                prop_assert_eq!(after.nonce, before.nonce + 1);
                prop_assert_eq!(after.credits, before.credits);
                prop_assert_eq!(&after.unbonding, &before.unbonding);
                let burned = chain.ledger.store().supply().unwrap().burned.units();
                prop_assert_eq!(burned, burned_before + fee);
            }
        }
    }
}

/// Guards the properties above against vacuity: the same generator, with a fixed seed, reaches
/// a success of every transaction kind, the interesting failures and every refusal.
#[test]
fn the_random_workload_reaches_every_kind_of_success_failure_and_refusal() {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    let strategy = (
        prop::collection::vec(op(), 80..120).prop_map(with_storage_preamble),
        prop::collection::vec(1usize..12, 30..40),
    );
    let mut stats = Stats::new();
    for _ in 0..48 {
        let (ops, sizes) = strategy.new_tree(&mut runner).unwrap().current();
        run_packed(&ops, &sizes, &mut stats).unwrap();
    }
    let kinds = [
        "transfer",
        "burn_for_credits",
        "spend_credits",
        "onboard_device",
        "assert_location",
        "stake",
    ]
    .into_iter()
    .chain([
        "unstake",
        "withdraw_unbonded",
        "slash",
        "post_price",
        "post_reward_manifest",
        "claim_reward",
    ])
    .chain([
        "governance",
        "open_deal",
        "settle_deal",
        "move_piece",
        "close_deal",
        "claim_egress",
    ])
    .map(|k| format!("ok:{k}"));
    let failures = [
        "insufficient_balance",
        "zero_amount",
        "missing_cosignature",
        "quorum_not_met",
        "bad_proof",
    ]
    .into_iter()
    .chain([
        "already_claimed",
        "evidence_used",
        "not_device_owner",
        "nothing_to_withdraw",
        "invalid",
    ])
    .chain([
        "epoch_not_complete",
        "manifest_exists",
        "device_exists",
        "insufficient_credits",
    ])
    .chain([
        "not_storage_provider",
        "not_deal_client",
        "cannot_settle",
        "unknown_deal",
    ])
    .chain(["bad_egress_order", "egress_order_used"])
    .map(|c| format!("failed:{c}"));
    let refusals = [
        "bad_nonce",
        "bad_signature",
        "wrong_chain",
        "fee_too_low",
        "cannot_pay_fee",
    ]
    .into_iter()
    .map(|c| format!("rejected:{c}"));
    let missing: Vec<String> = kinds
        .chain(failures)
        .chain(refusals)
        .filter(|k| !stats.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "never happened: {missing:?}\nstats: {stats:#?}");
}
