//! Transfers, fees, replay, failure isolation, credits and governance, with the numbers written out.

use crate::fixtures::{addr, failed, key, ok, tx_writes, Chain, MIN_FEE, TRL, USER_BALANCE};
use std::collections::BTreeSet;
use trellis_ledger::{
    execute::credits_for_burn, state::keys, GovAction, MerkleProof, Params, RejectReason, StateRead, TxKind, TxOutcome,
};
use trellis_primitives::{Amount, Credits, Epoch, Hash};

fn transfer(to: &str, units: u64) -> TxKind {
    TxKind::Transfer {
        to: addr(to),
        amount: Amount::from_units(units),
    }
}

fn set_params(params: Params) -> TxKind {
    TxKind::Governance {
        action: GovAction::SetParams { params },
    }
}

#[test]
fn transfer_moves_exact_units_and_burns_the_fee() {
    let mut c = Chain::new();
    ok(&c.run("alice", transfer("bob", 12_345)));
    assert_eq!(c.balance("alice"), USER_BALANCE - 12_345 - MIN_FEE);
    assert_eq!(c.balance("bob"), USER_BALANCE + 12_345);
    assert_eq!(c.burned(), MIN_FEE);
    assert_eq!(c.account("alice").nonce, 1);
    c.assert_supply_conserved();
}

#[test]
fn one_unit_more_than_the_balance_fails_insufficient_balance_and_exactly_the_balance_succeeds() {
    let mut c = Chain::new();
    // The fee is charged first: alice then holds 1,000 TRL - 1,000 units, and sends one unit more.
    let outcome = c.run("alice", transfer("bob", USER_BALANCE - MIN_FEE + 1));
    failed(&outcome, "insufficient_balance");
    let TxOutcome::Failed { message, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(
        message,
        "insufficient balance: needed 999.99999001 TRL, available 999.99999 TRL"
    );
    assert_eq!(c.balance("alice"), USER_BALANCE - MIN_FEE);
    assert_eq!(c.balance("bob"), USER_BALANCE);
    // After the next fee she holds 1,000 TRL - 2,000 units and can send all of it.
    ok(&c.run("alice", transfer("bob", USER_BALANCE - 2 * MIN_FEE)));
    assert_eq!(c.balance("alice"), 0);
    assert_eq!(c.balance("bob"), 2 * USER_BALANCE - 2 * MIN_FEE);
    assert_eq!(c.burned(), 2 * MIN_FEE);
    c.assert_supply_conserved();
}

#[test]
fn a_fee_the_signer_cannot_pay_keeps_the_transaction_out_of_the_block() {
    let mut c = Chain::new();
    let tx = c.tx_with_fee("alice", TxKind::WithdrawUnbonded, Amount::from_units(USER_BALANCE + 1));
    let p = c.block(vec![tx.clone()]);
    assert!(p.executed.block.txs.is_empty());
    assert!(tx_writes(&p.executed.diff).is_empty());
    assert_eq!(
        p.rejected,
        vec![(
            tx.id(),
            RejectReason::CannotPayFee {
                fee: Amount::from_units(USER_BALANCE + 1),
                available: Amount::from_units(USER_BALANCE)
            }
        )]
    );
    assert_eq!((c.balance("alice"), c.account("alice").nonce), (USER_BALANCE, 0));
    // An empty account cannot pay any fee either.
    let mut drained = Chain::new();
    ok(&drained.run("bob", transfer("carol", USER_BALANCE - MIN_FEE)));
    let tx = drained.tx("bob", TxKind::WithdrawUnbonded);
    assert_eq!(
        drained.block(vec![tx]).rejected[0].1,
        RejectReason::CannotPayFee {
            fee: Amount::from_units(MIN_FEE),
            available: Amount::ZERO
        }
    );
}

#[test]
fn a_transaction_included_once_is_rejected_with_bad_nonce_when_offered_again() {
    let mut c = Chain::new();
    let tx = c.tx("alice", transfer("bob", 5 * TRL));
    ok(&c.run_tx(tx.clone()));
    c.block(vec![]);
    let later = c.block(vec![tx.clone()]);
    assert!(later.executed.block.txs.is_empty());
    assert_eq!(
        later.rejected,
        vec![(tx.id(), RejectReason::BadNonce { expected: 1, found: 0 })]
    );
    assert_eq!(c.balance("bob"), USER_BALANCE + 5 * TRL);
    assert_eq!(c.balance("alice"), USER_BALANCE - 5 * TRL - MIN_FEE);
    // Offered twice in one block, it goes in once.
    let twice = c.tx("alice", transfer("bob", TRL));
    let p = c.block(vec![twice.clone(), twice.clone()]);
    assert_eq!(p.executed.block.txs, vec![twice.clone()]);
    assert_eq!(
        p.rejected,
        vec![(twice.id(), RejectReason::BadNonce { expected: 2, found: 1 })]
    );
    assert_eq!(c.balance("bob"), USER_BALANCE + 6 * TRL);
    c.assert_supply_conserved();
}

/// Every failing kind below, in its own block, must touch exactly the signer's account, the
/// supply and the epoch's burn record: balance minus the fee, nonce plus one, burned plus the fee.
#[test]
fn failed_transactions_of_every_kind_change_only_the_signers_fee_and_nonce() {
    let unknown = key("device7").public().into();
    let no_proof = MerkleProof {
        index: 0,
        leaf_count: 1,
        siblings: vec![],
    };
    let cases: Vec<(&str, TxKind, &str)> = vec![
        ("alice", transfer("bob", 2 * USER_BALANCE), "insufficient_balance"),
        ("alice", transfer("bob", 0), "zero_amount"),
        (
            "bob",
            TxKind::Slash {
                device: unknown,
                amount: Amount::from_units(TRL),
                evidence: Hash([3; 32]),
                reason: "not a verifier".into(),
            },
            "missing_cosignature",
        ),
        (
            "verifier",
            TxKind::Slash {
                device: unknown,
                amount: Amount::from_units(TRL),
                evidence: Hash([3; 32]),
                reason: "no such device".into(),
            },
            "unknown_device",
        ),
        (
            "carol",
            TxKind::Stake {
                device: unknown,
                amount: Amount::from_units(TRL),
            },
            "unknown_device",
        ),
        (
            "dave",
            TxKind::BurnForCredits {
                amount: Amount::from_units(1),
                beneficiary: addr("dave"),
            },
            "burn_too_small",
        ),
        (
            "dave",
            TxKind::SpendCredits {
                amount: Credits(1),
                purpose: Hash::ZERO,
            },
            "insufficient_credits",
        ),
        ("alice", TxKind::WithdrawUnbonded, "nothing_to_withdraw"),
        ("oracle1", TxKind::PostPrice { micro_usd_per_trl: 7 }, "quorum_not_met"),
        (
            "bob",
            TxKind::ClaimReward {
                epoch: Epoch(0),
                owner: addr("bob"),
                amount: Amount::from_units(1),
                proof: no_proof,
            },
            "no_manifest",
        ),
        ("admin1", set_params(Params::default()), "quorum_not_met"),
    ];
    let mut c = Chain::new();
    for (signer, kind, code) in cases {
        let before = c.account(signer);
        let burned = c.burned();
        let tx = c.tx(signer, kind);
        let p = c.block(vec![tx]);
        failed(&p.executed.receipts[0].outcome, code);
        let epoch = Epoch::of_height(c.ledger.tip().height, 5);
        let touched: BTreeSet<Vec<u8>> = tx_writes(&p.executed.diff);
        let expected: BTreeSet<Vec<u8>> = [
            keys::account(&addr(signer)),
            keys::SUPPLY.to_vec(),
            keys::epoch_burn(epoch),
        ]
        .into_iter()
        .collect();
        assert_eq!(touched, expected, "{code}");
        let after = c.account(signer);
        assert_eq!(after.balance.units(), before.balance.units() - MIN_FEE, "{code}");
        assert_eq!(after.nonce, before.nonce + 1, "{code}");
        assert_eq!((&after.credits, &after.unbonding), (&before.credits, &before.unbonding));
        assert_eq!(c.burned(), burned + MIN_FEE, "{code}");
    }
    c.assert_supply_conserved();
}

#[test]
fn burn_of_ten_trl_at_one_dollar_buys_one_million_credits_rounding_down() {
    // 10 TRL × $1/TRL = $10; one credit is $0.00001 (10 micro-USD) -> 1,000,000 credits.
    assert_eq!(
        credits_for_burn(Amount::from_units(10 * TRL), 1_000_000, 10),
        Some(Credits(1_000_000))
    );
    // Rounding is down: 1 unit at $1/TRL is 10^-8 USD, less than a credit.
    assert_eq!(credits_for_burn(Amount::from_units(1), 1_000_000, 10), Some(Credits(0)));
    // 999 units at $1/TRL are 0.999 credits -> 0; 1,000 units are exactly 1; 1,999 are 1.
    assert_eq!(
        credits_for_burn(Amount::from_units(999), 1_000_000, 10),
        Some(Credits(0))
    );
    assert_eq!(
        credits_for_burn(Amount::from_units(1_000), 1_000_000, 10),
        Some(Credits(1))
    );
    assert_eq!(
        credits_for_burn(Amount::from_units(1_999), 1_000_000, 10),
        Some(Credits(1))
    );
    // At $1.5/TRL: 666 units = 0.999e-5 USD -> 0 credits; 667 units = 1.0005e-5 USD -> 1 credit.
    assert_eq!(
        credits_for_burn(Amount::from_units(666), 1_500_000, 10),
        Some(Credits(0))
    );
    assert_eq!(
        credits_for_burn(Amount::from_units(667), 1_500_000, 10),
        Some(Credits(1))
    );
    // A zero credit price cannot divide.
    assert_eq!(credits_for_burn(Amount::from_units(667), 1_500_000, 0), None);

    let mut c = Chain::new();
    let burn = |units, to: &str| TxKind::BurnForCredits {
        amount: Amount::from_units(units),
        beneficiary: addr(to),
    };
    ok(&c.run("alice", burn(10 * TRL, "bob")));
    assert_eq!(c.account("bob").credits, Credits(1_000_000));
    assert_eq!(c.account("alice").credits, Credits(0));
    assert_eq!(c.balance("alice"), USER_BALANCE - 10 * TRL - MIN_FEE);
    assert_eq!(c.burned(), 10 * TRL + MIN_FEE);
    // The rounding remainder is burned with the rest: 1,999 units buy one credit.
    ok(&c.run("carol", burn(1_999, "carol")));
    assert_eq!(c.account("carol").credits, Credits(1));
    assert_eq!(c.balance("carol"), USER_BALANCE - 1_999 - MIN_FEE);
    failed(&c.run("alice", burn(999, "alice")), "burn_too_small");
    failed(
        &c.run(
            "alice",
            TxKind::SpendCredits {
                amount: Credits(1),
                purpose: Hash::ZERO,
            },
        ),
        "insufficient_credits",
    );
    ok(&c.run(
        "bob",
        TxKind::SpendCredits {
            amount: Credits(400_000),
            purpose: Hash::ZERO,
        },
    ));
    assert_eq!(c.account("bob").credits, Credits(600_000));
    // Credits spent on sensor data become the spender's data allowance, and only those.
    let allowance = |c: &Chain| -> Credits {
        c.ledger
            .store()
            .read(&trellis_ledger::state::keys::data_allowance(&addr("bob")))
            .unwrap()
            .unwrap_or_default()
    };
    assert_eq!(allowance(&c), Credits(0));
    for _ in 0..2 {
        ok(&c.run(
            "bob",
            TxKind::SpendCredits {
                amount: Credits(50_000),
                purpose: trellis_ledger::state::DATA_ACCESS,
            },
        ));
    }
    assert_eq!(allowance(&c), Credits(100_000));
    assert_eq!(c.account("bob").credits, Credits(500_000));
    let supply = c.ledger.store().supply().unwrap();
    assert_eq!(
        (supply.credits_minted, supply.credits_spent),
        (Credits(1_000_001), Credits(500_000))
    );
    c.assert_supply_conserved();
}

#[test]
fn a_price_older_than_price_max_age_blocks_refuses_burns_until_the_oracles_post_again() {
    let mut c = Chain::new();
    let params = Params {
        price_max_age_blocks: 2,
        ..c.ledger.store().params().unwrap()
    };
    let gov = c.tx("admin1", set_params(params)).cosign(&key("admin2"));
    ok(&c.run_tx(gov));
    c.block(vec![]);
    // Block 3 with the genesis price from height 0: 3 blocks old, more than 2.
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(TRL),
        beneficiary: addr("alice"),
    };
    failed(&c.run("alice", burn.clone()), "stale_price");
    let alone = c.tx(
        "oracle1",
        TxKind::PostPrice {
            micro_usd_per_trl: 2_000_000,
        },
    );
    failed(&c.run_tx(alone), "quorum_not_met");
    let zero = c
        .tx("oracle1", TxKind::PostPrice { micro_usd_per_trl: 0 })
        .cosign(&key("oracle3"));
    failed(&c.run_tx(zero), "invalid");
    let post = c
        .tx(
            "oracle1",
            TxKind::PostPrice {
                micro_usd_per_trl: 2_000_000,
            },
        )
        .cosign(&key("oracle2"));
    ok(&c.run_tx(post));
    ok(&c.run("alice", burn));
    // 1 TRL at $2 is $2: 200,000 credits of $0.00001.
    assert_eq!(c.account("alice").credits, Credits(200_000));
}

#[test]
fn set_params_with_one_of_two_admin_signatures_fails_quorum_not_met_and_with_two_succeeds() {
    let mut c = Chain::new();
    let params = Params {
        min_fee: Amount::from_units(5_000),
        ..c.ledger.store().params().unwrap()
    };
    let one = c.tx("admin1", set_params(params.clone()));
    let outcome = c.run_tx(one);
    failed(&outcome, "quorum_not_met");
    assert_eq!(
        outcome,
        TxOutcome::Failed {
            code: "quorum_not_met".into(),
            message: "admin quorum not met: 1 of 2 required signatures".into()
        }
    );
    // The same admin twice, or a non-admin co-signer, still counts as one.
    let twice = c.tx("admin1", set_params(params.clone())).cosign(&key("admin1"));
    failed(&c.run_tx(twice), "quorum_not_met");
    let outsider = c.tx("admin1", set_params(params.clone())).cosign(&key("bob"));
    failed(&c.run_tx(outsider), "quorum_not_met");
    assert_eq!(c.ledger.store().params().unwrap().min_fee.units(), MIN_FEE);
    let bad = Params {
        epoch_len_blocks: 0,
        ..params.clone()
    };
    let invalid = c.tx("admin1", set_params(bad)).cosign(&key("admin2"));
    failed(&c.run_tx(invalid), "invalid");
    // Two distinct admins: admin1 signs, admin3 co-signs.
    let two = c.tx("admin1", set_params(params.clone())).cosign(&key("admin3"));
    ok(&c.run_tx(two));
    assert_eq!(c.ledger.store().params().unwrap(), params);
    // The new minimum fee applies from the next block.
    let cheap = c.tx_with_fee("alice", TxKind::WithdrawUnbonded, Amount::from_units(4_999));
    assert_eq!(
        c.block(vec![cheap]).rejected[0].1,
        RejectReason::FeeTooLow {
            min: Amount::from_units(5_000),
            offered: Amount::from_units(4_999)
        }
    );
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    assert_eq!(c.balance("alice"), USER_BALANCE - 5_000);
}
