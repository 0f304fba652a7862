//! Each transaction kind's rules, with the numbers written out.

use crate::fixtures::{addr, failed, key, ok, Chain, MIN_FEE, TRL};
use trellis_ledger::{
    execute::{credits_for_burn, reward_leaf},
    merkle_root,
    state::keys,
    Antenna, Capability, DeviceClass, GovAction, MerkleProof, Params, RejectReason, StateRead, TxKind, TxOutcome,
};
use trellis_primitives::{Amount, Credits, DeviceAddress, Epoch, Hash, Location};

fn onboard_kind(device: &str, class: DeviceClass) -> TxKind {
    TxKind::OnboardDevice {
        device: key(device).public().into(),
        maker: key("maker").public(),
        class,
        capabilities: vec![Capability {
            name: "slots".into(),
            value: 2,
        }],
    }
}

fn onboard(chain: &mut Chain, owner: &str, device: &str, class: DeviceClass) -> TxOutcome {
    let tx = chain
        .tx(owner, onboard_kind(device, class))
        .cosign(&key("maker"))
        .cosign(&key(device));
    chain.block(vec![tx]).executed.receipts[0].outcome.clone()
}

fn dev(name: &str) -> DeviceAddress {
    key(name).public().into()
}

#[test]
fn transfer_moves_exact_units_and_burns_the_fee() {
    let mut c = Chain::new();
    ok(&c.run(
        "alice",
        TxKind::Transfer {
            to: addr("bob"),
            amount: Amount::from_units(12_345),
        },
    ));
    assert_eq!(c.balance("alice"), 1_000 * TRL - 12_345 - MIN_FEE);
    assert_eq!(c.balance("bob"), 1_000 * TRL + 12_345);
    assert_eq!(c.ledger.store().supply().unwrap().burned.units(), MIN_FEE);
    c.assert_supply_conserved();
}

#[test]
fn overdraft_fails_and_costs_only_the_fee() {
    let mut c = Chain::new();
    let outcome = c.run(
        "alice",
        TxKind::Transfer {
            to: addr("bob"),
            amount: Amount::from_units(1_000 * TRL),
        },
    );
    failed(&outcome, "insufficient_balance");
    assert_eq!(c.balance("alice"), 1_000 * TRL - MIN_FEE);
    assert_eq!(c.balance("bob"), 1_000 * TRL);
}

#[test]
fn a_fee_the_signer_cannot_pay_keeps_the_transaction_out_of_the_block() {
    let mut c = Chain::new();
    let mut tx = c.tx("alice", TxKind::WithdrawUnbonded);
    tx.body.fee = Amount::from_units(1_000 * TRL + 1);
    let tx = trellis_ledger::Transaction::sign(tx.body, &key("alice"));
    let p = c.block(vec![tx]);
    assert!(p.executed.block.txs.is_empty());
    assert!(matches!(p.rejected[0].1, RejectReason::CannotPayFee { .. }));
    assert_eq!(c.balance("alice"), 1_000 * TRL);
}

#[test]
fn burn_of_ten_trl_at_one_dollar_buys_one_million_credits() {
    // 10 TRL × $1/TRL = $10; one credit is $0.00001 (10 micro-USD) -> 1,000,000 credits.
    assert_eq!(
        credits_for_burn(Amount::from_units(10 * TRL), 1_000_000, 10),
        Some(Credits(1_000_000))
    );
    // Rounding is down: 1 unit at $1/TRL is 10^-8 USD, less than a credit.
    assert_eq!(credits_for_burn(Amount::from_units(1), 1_000_000, 10), Some(Credits(0)));
    // At $1.5/TRL: 666 units = 0.999e-5 USD -> 0 credits; 667 units = 1.0005e-5 USD -> 1 credit.
    assert_eq!(
        credits_for_burn(Amount::from_units(666), 1_500_000, 10),
        Some(Credits(0))
    );
    assert_eq!(
        credits_for_burn(Amount::from_units(667), 1_500_000, 10),
        Some(Credits(1))
    );
    let mut c = Chain::new();
    ok(&c.run(
        "alice",
        TxKind::BurnForCredits {
            amount: Amount::from_units(10 * TRL),
            beneficiary: addr("bob"),
        },
    ));
    assert_eq!(
        c.ledger.store().account(&addr("bob")).unwrap().credits,
        Credits(1_000_000)
    );
    assert_eq!(c.balance("alice"), 990 * TRL - MIN_FEE);
    failed(
        &c.run(
            "alice",
            TxKind::BurnForCredits {
                amount: Amount::from_units(1),
                beneficiary: addr("alice"),
            },
        ),
        "burn_too_small",
    );
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
    let supply = c.ledger.store().supply().unwrap();
    assert_eq!(
        (supply.credits_minted, supply.credits_spent),
        (Credits(1_000_000), Credits(400_000))
    );
    c.assert_supply_conserved();
}

#[test]
fn stale_price_refuses_burns() {
    let mut c = Chain::new();
    let params = Params {
        price_max_age_blocks: 2,
        ..c.ledger.store().params().unwrap()
    };
    let gov = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params },
            },
        )
        .cosign(&key("admin2"));
    ok(&c.block(vec![gov]).executed.receipts[0].outcome);
    c.block(vec![]);
    failed(
        &c.run(
            "alice",
            TxKind::BurnForCredits {
                amount: Amount::from_units(TRL),
                beneficiary: addr("alice"),
            },
        ),
        "stale_price",
    );
    let post = c
        .tx(
            "oracle1",
            TxKind::PostPrice {
                micro_usd_per_trl: 2_000_000,
            },
        )
        .cosign(&key("oracle2"));
    ok(&c.block(vec![post]).executed.receipts[0].outcome);
    ok(&c.run(
        "alice",
        TxKind::BurnForCredits {
            amount: Amount::from_units(TRL),
            beneficiary: addr("alice"),
        },
    ));
    assert_eq!(
        c.ledger.store().account(&addr("alice")).unwrap().credits,
        Credits(200_000)
    );
}

#[test]
fn onboarding_needs_maker_and_device_signatures_and_burns_the_fee() {
    let mut c = Chain::new();
    let no_maker = c
        .tx("alice", onboard_kind("d1", DeviceClass::Storage))
        .cosign(&key("d1"));
    failed(
        &c.block(vec![no_maker]).executed.receipts[0].outcome,
        "missing_cosignature",
    );
    let no_device = c
        .tx("alice", onboard_kind("d1", DeviceClass::Storage))
        .cosign(&key("maker"));
    failed(
        &c.block(vec![no_device]).executed.receipts[0].outcome,
        "missing_cosignature",
    );
    let before = c.balance("alice");
    ok(&onboard(&mut c, "alice", "d1", DeviceClass::Storage));
    assert_eq!(c.balance("alice"), before - TRL - MIN_FEE);
    let device = c.ledger.store().device(&dev("d1")).unwrap().unwrap();
    assert_eq!(
        (device.owner, device.class, device.onboarded_height),
        (addr("alice"), DeviceClass::Storage, 3)
    );
    failed(&onboard(&mut c, "bob", "d1", DeviceClass::Storage), "device_exists");
    // Revoked maker.
    let revoke = c.tx(
        "admin1",
        TxKind::Governance {
            action: GovAction::RevokeMaker {
                key: key("maker").public(),
            },
        },
    );
    ok(&c.block(vec![revoke.cosign(&key("admin3"))]).executed.receipts[0].outcome);
    failed(
        &onboard(&mut c, "bob", "d2", DeviceClass::Sensor),
        "maker_not_authorised",
    );
    c.assert_supply_conserved();
}

#[test]
fn unsorted_capabilities_are_invalid() {
    let mut c = Chain::new();
    let kind = TxKind::OnboardDevice {
        device: dev("d1"),
        maker: key("maker").public(),
        class: DeviceClass::Compute,
        capabilities: vec![
            Capability {
                name: "z".into(),
                value: 1,
            },
            Capability {
                name: "a".into(),
                value: 1,
            },
        ],
    };
    let tx = c.tx("alice", kind).cosign(&key("maker")).cosign(&key("d1"));
    failed(&c.block(vec![tx]).executed.receipts[0].outcome, "invalid");
}

#[test]
fn location_assertions_cost_credits_and_keep_history() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "hs", DeviceClass::Hotspot));
    let here = Location::from_degrees(52.52, 13.40).unwrap();
    let there = Location::from_degrees(52.53, 13.41).unwrap();
    let assert_at = |location, antenna| TxKind::AssertLocation {
        device: dev("hs"),
        location,
        antenna,
    };
    failed(
        &c.run(
            "alice",
            assert_at(
                here,
                Some(Antenna {
                    gain_dbi_tenths: 30,
                    elevation_m: 5,
                }),
            ),
        ),
        "insufficient_credits",
    );
    // 20 TRL at $1 buys 2,000,000 credits: two assertions at the default 1,000,000 each.
    ok(&c.run(
        "alice",
        TxKind::BurnForCredits {
            amount: Amount::from_units(20 * TRL),
            beneficiary: addr("alice"),
        },
    ));
    failed(&c.run("alice", assert_at(here, None)), "invalid");
    failed(
        &c.run(
            "bob",
            assert_at(
                here,
                Some(Antenna {
                    gain_dbi_tenths: 1,
                    elevation_m: 1,
                }),
            ),
        ),
        "not_device_owner",
    );
    ok(&c.run(
        "alice",
        assert_at(
            here,
            Some(Antenna {
                gain_dbi_tenths: 30,
                elevation_m: 5,
            }),
        ),
    ));
    ok(&c.run(
        "alice",
        assert_at(
            there,
            Some(Antenna {
                gain_dbi_tenths: 50,
                elevation_m: 9,
            }),
        ),
    ));
    assert_eq!(c.ledger.store().account(&addr("alice")).unwrap().credits, Credits(0));
    failed(
        &c.run(
            "alice",
            assert_at(
                here,
                Some(Antenna {
                    gain_dbi_tenths: 30,
                    elevation_m: 5,
                }),
            ),
        ),
        "insufficient_credits",
    );
    let device = c.ledger.store().device(&dev("hs")).unwrap().unwrap();
    assert_eq!(device.location_count, 2);
    assert_eq!(device.location.unwrap().location, there);
    let first: trellis_ledger::state::LocationRecord = c
        .ledger
        .store()
        .read(&keys::location_history(&dev("hs"), 0))
        .unwrap()
        .unwrap();
    assert_eq!(first.location, here);
}

#[test]
fn stake_unstake_withdraw_follow_the_unbonding_delay() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "s1", DeviceClass::Storage));
    failed(
        &c.run(
            "bob",
            TxKind::Stake {
                device: dev("s1"),
                amount: Amount::from_units(TRL),
            },
        ),
        "not_device_owner",
    );
    ok(&c.run(
        "alice",
        TxKind::Stake {
            device: dev("s1"),
            amount: Amount::from_units(100 * TRL),
        },
    ));
    failed(
        &c.run(
            "alice",
            TxKind::Unstake {
                device: dev("s1"),
                amount: Amount::from_units(101 * TRL),
            },
        ),
        "insufficient_stake",
    );
    ok(&c.run(
        "alice",
        TxKind::Unstake {
            device: dev("s1"),
            amount: Amount::from_units(40 * TRL),
        },
    ));
    let unstake_height = c.ledger.tip().height;
    let entry = c.ledger.store().account(&addr("alice")).unwrap().unbonding[0].clone();
    assert_eq!(
        (entry.amount.units(), entry.release_height),
        (40 * TRL, unstake_height + 3)
    );
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    c.block(vec![]);
    let before = c.balance("alice");
    ok(&c.run("alice", TxKind::WithdrawUnbonded));
    assert_eq!(c.balance("alice"), before + 40 * TRL - MIN_FEE);
    assert_eq!(
        c.ledger.store().device(&dev("s1")).unwrap().unwrap().stake.units(),
        60 * TRL
    );
    c.assert_supply_conserved();
}

#[test]
fn slash_needs_a_verifier_and_takes_stake_then_unbonding() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "s1", DeviceClass::Storage));
    ok(&c.run(
        "alice",
        TxKind::Stake {
            device: dev("s1"),
            amount: Amount::from_units(10 * TRL),
        },
    ));
    ok(&c.run(
        "alice",
        TxKind::Unstake {
            device: dev("s1"),
            amount: Amount::from_units(4 * TRL),
        },
    ));
    let slash = |amount| TxKind::Slash {
        device: dev("s1"),
        amount: Amount::from_units(amount),
        evidence: Hash::ZERO,
        reason: "failed audits".into(),
    };
    failed(&c.run("bob", slash(TRL)), "missing_cosignature");
    let burned_before = c.ledger.store().supply().unwrap().burned.units();
    // 6 TRL bonded + 4 TRL unbonding; slashing 8 takes all 6 bonded and 2 unbonding.
    ok(&c.run("verifier", slash(8 * TRL)));
    let device = c.ledger.store().device(&dev("s1")).unwrap().unwrap();
    assert_eq!(
        (device.stake.units(), device.slashed.units(), device.slash_count),
        (0, 8 * TRL, 1)
    );
    assert_eq!(
        c.ledger.store().account(&addr("alice")).unwrap().unbonding[0]
            .amount
            .units(),
        2 * TRL
    );
    assert_eq!(
        c.ledger.store().supply().unwrap().burned.units(),
        burned_before + 8 * TRL + MIN_FEE
    );
    // The same evidence cannot slash twice.
    failed(&c.run("verifier", slash(TRL)), "evidence_used");
    // Asking for more than is left is capped.
    let rest = TxKind::Slash {
        device: dev("s1"),
        amount: Amount::from_units(100 * TRL),
        evidence: Hash([1; 32]),
        reason: "more failed audits".into(),
    };
    ok(&c.run("verifier", rest));
    assert!(c.ledger.store().account(&addr("alice")).unwrap().unbonding.is_empty());
    let nothing = TxKind::Slash {
        device: dev("s1"),
        amount: Amount::from_units(TRL),
        evidence: Hash([2; 32]),
        reason: "x".into(),
    };
    failed(&c.run("verifier", nothing), "nothing_to_slash");
    c.assert_supply_conserved();
}

fn manifest(c: &mut Chain, epoch: u64, owners: &[(&str, u64)], signers: &[&str]) -> TxOutcome {
    let mut leaves: Vec<_> = owners.iter().map(|(o, a)| (addr(o), *a)).collect();
    leaves.sort();
    let hashes: Vec<Hash> = leaves
        .iter()
        .map(|(o, a)| reward_leaf(o, Amount::from_units(*a)))
        .collect();
    let total = leaves.iter().map(|(_, a)| a).sum();
    let kind = TxKind::PostRewardManifest {
        epoch: Epoch(epoch),
        root: merkle_root(&hashes),
        total: Amount::from_units(total),
        owner_count: leaves.len() as u32,
    };
    let mut tx = c.tx(signers[0], kind);
    for s in &signers[1..] {
        tx = tx.cosign(&key(s));
    }
    c.block(vec![tx]).executed.receipts[0].outcome.clone()
}

fn claim(c: &mut Chain, epoch: u64, owners: &[(&str, u64)], who: &str, amount: u64) -> TxOutcome {
    let mut leaves: Vec<_> = owners.iter().map(|(o, a)| (addr(o), *a)).collect();
    leaves.sort();
    let hashes: Vec<Hash> = leaves
        .iter()
        .map(|(o, a)| reward_leaf(o, Amount::from_units(*a)))
        .collect();
    let index = leaves.iter().position(|(o, _)| *o == addr(who)).unwrap();
    let proof = MerkleProof::build(&hashes, index).unwrap();
    let kind = TxKind::ClaimReward {
        epoch: Epoch(epoch),
        owner: addr(who),
        amount: Amount::from_units(amount),
        proof,
    };
    c.run("dave", kind)
}

#[test]
fn manifest_is_posted_once_per_completed_epoch_and_claims_cannot_exceed_it() {
    let mut c = Chain::new();
    let owners = [("alice", 300), ("bob", 200), ("carol", 500)];
    // Block 1 is in epoch 0 (5 blocks per epoch): epoch 0 is not complete.
    failed(
        &manifest(&mut c, 0, &owners, &["oracle1", "oracle2"]),
        "epoch_not_complete",
    );
    while c.ledger.tip().height < 5 {
        c.block(vec![]);
    }
    failed(&manifest(&mut c, 0, &owners, &["oracle1"]), "quorum_not_met");
    let issued_before = c.ledger.store().supply().unwrap().issued.units();
    ok(&manifest(&mut c, 0, &owners, &["oracle1", "oracle3"]));
    assert_eq!(c.ledger.store().supply().unwrap().issued.units(), issued_before + 1_000);
    failed(
        &manifest(&mut c, 0, &owners, &["oracle1", "oracle2"]),
        "manifest_exists",
    );
    let bob = c.balance("bob");
    ok(&claim(&mut c, 0, &owners, "bob", 200));
    assert_eq!(c.balance("bob"), bob + 200);
    failed(&claim(&mut c, 0, &owners, "bob", 200), "already_claimed");
    failed(&claim(&mut c, 0, &owners, "carol", 501), "bad_proof");
    ok(&claim(&mut c, 0, &owners, "carol", 500));
    let m: trellis_ledger::Manifest = c.ledger.store().read(&keys::manifest(Epoch(0))).unwrap().unwrap();
    assert_eq!((m.total.units(), m.claimed.units()), (1_000, 700));
    failed(&claim(&mut c, 7, &owners, "alice", 300), "no_manifest");
    c.assert_supply_conserved();
}

#[test]
fn manifest_above_the_cap_is_refused() {
    let mut c = Chain::new();
    while c.ledger.tip().height < 5 {
        c.block(vec![]);
    }
    let cap = c.ledger.store().params().unwrap().max_manifest_total.units();
    failed(
        &manifest(&mut c, 0, &[("alice", cap + 1)], &["oracle1", "oracle2"]),
        "manifest_too_large",
    );
}

#[test]
fn governance_needs_the_admin_quorum_and_valid_params() {
    let mut c = Chain::new();
    let params = Params {
        min_fee: Amount::from_units(5_000),
        ..c.ledger.store().params().unwrap()
    };
    let one = c.tx(
        "admin1",
        TxKind::Governance {
            action: GovAction::SetParams { params: params.clone() },
        },
    );
    failed(&c.block(vec![one]).executed.receipts[0].outcome, "quorum_not_met");
    // A non-admin co-signer does not count.
    let fake = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params: params.clone() },
            },
        )
        .cosign(&key("bob"));
    failed(&c.block(vec![fake]).executed.receipts[0].outcome, "quorum_not_met");
    let bad = Params {
        epoch_len_blocks: 0,
        ..params.clone()
    };
    let invalid = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params: bad },
            },
        )
        .cosign(&key("admin2"));
    failed(&c.block(vec![invalid]).executed.receipts[0].outcome, "invalid");
    let two = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params },
            },
        )
        .cosign(&key("admin2"));
    ok(&c.block(vec![two]).executed.receipts[0].outcome);
    assert_eq!(c.ledger.store().params().unwrap().min_fee.units(), 5_000);
    // The new minimum fee applies from the next block.
    let cheap = c.tx("alice", TxKind::WithdrawUnbonded);
    assert!(matches!(
        c.block(vec![cheap]).rejected[0].1,
        RejectReason::FeeTooLow { .. }
    ));
}

#[test]
fn genesis_errors_name_the_field() {
    let base = crate::fixtures::genesis();
    let check = |g: trellis_ledger::Genesis, field: &str| {
        let err = g.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err} should name {field}");
    };
    let mut g = base.clone();
    g.chain_id = "Not Valid".into();
    check(g, "chain_id");
    let mut g = base.clone();
    g.admins.threshold = 4;
    check(g, "admins");
    let mut g = base.clone();
    g.accounts.push(g.accounts[0].clone());
    check(g, "duplicate address");
    let mut g = base.clone();
    g.accounts[0].balance = Amount::ZERO;
    check(g, "balance");
    let mut g = base;
    g.params.epoch_len_blocks = 0;
    check(g, "epoch_len_blocks");
    let toml_err = trellis_ledger::Genesis::from_toml("chain_id = 5")
        .unwrap_err()
        .to_string();
    assert!(toml_err.contains("chain_id"), "{toml_err}");
}

#[test]
fn every_burn_is_recorded_in_its_epoch() {
    let mut c = Chain::new();
    // Blocks 1..=4 are epoch 0 (5 blocks per epoch): a fee, an onboarding fee and a credit burn.
    ok(&c.run(
        "alice",
        TxKind::Transfer {
            to: addr("bob"),
            amount: Amount::from_units(1),
        },
    ));
    ok(&onboard(&mut c, "alice", "d1", DeviceClass::Storage));
    ok(&c.run(
        "bob",
        TxKind::BurnForCredits {
            amount: Amount::from_units(3 * TRL),
            beneficiary: addr("bob"),
        },
    ));
    let epoch0: Amount = c.ledger.store().read(&keys::epoch_burn(Epoch(0))).unwrap().unwrap();
    assert_eq!(epoch0.units(), 3 * MIN_FEE + TRL + 3 * TRL);
    c.block(vec![]);
    // Block 5 is epoch 1.
    ok(&c.run(
        "alice",
        TxKind::Transfer {
            to: addr("bob"),
            amount: Amount::from_units(1),
        },
    ));
    let epoch1: Amount = c.ledger.store().read(&keys::epoch_burn(Epoch(1))).unwrap().unwrap();
    assert_eq!(epoch1.units(), MIN_FEE);
    assert_eq!(
        c.ledger.store().supply().unwrap().burned.units(),
        epoch0.units() + epoch1.units()
    );
}

#[test]
fn reward_parameters_change_only_by_admin_quorum_and_must_split_to_one_hundred_percent() {
    let mut c = Chain::new();
    assert!(c
        .ledger
        .store()
        .read::<trellis_ledger::RewardParams>(keys::REWARD_PARAMS)
        .unwrap()
        .is_none());
    let params = trellis_ledger::RewardParams {
        initial_epoch_emission: Amount::from_units(1_000 * TRL),
        halving_period_epochs: 10,
        supply_cap: None,
        net_emission_cap_per_epoch: Some(Amount::from_units(TRL)),
        split: trellis_ledger::PoolSplit {
            coverage_bps: 4_000,
            storage_bps: 2_000,
            compute_bps: 2_000,
            sensor_energy_bps: 1_000,
            operations_bps: 500,
            treasury_bps: 500,
        },
        treasury: addr("carol"),
        operations: addr("dave"),
    };
    let set = |p: trellis_ledger::RewardParams| TxKind::Governance {
        action: GovAction::SetRewardParams { params: p },
    };
    let alone = c.tx("admin1", set(params.clone()));
    failed(&c.block(vec![alone]).executed.receipts[0].outcome, "quorum_not_met");
    let bad = trellis_ledger::RewardParams {
        split: trellis_ledger::PoolSplit {
            treasury_bps: 499,
            ..params.split.clone()
        },
        ..params.clone()
    };
    let tx = c.tx("admin1", set(bad)).cosign(&key("admin2"));
    failed(&c.block(vec![tx]).executed.receipts[0].outcome, "invalid");
    let tx = c.tx("admin1", set(params.clone())).cosign(&key("admin2"));
    ok(&c.block(vec![tx]).executed.receipts[0].outcome);
    assert_eq!(
        c.ledger
            .store()
            .read::<trellis_ledger::RewardParams>(keys::REWARD_PARAMS)
            .unwrap(),
        Some(params.clone())
    );
    let mut g = crate::fixtures::genesis();
    g.rewards = Some(trellis_ledger::RewardParams {
        halving_period_epochs: 0,
        ..params
    });
    assert!(g.validate().unwrap_err().to_string().contains("halving_period_epochs"));
}
