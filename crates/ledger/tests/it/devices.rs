//! Devices: onboarding with maker attestation, locations, collateral and slashing, with the
//! numbers written out.

use crate::fixtures::{addr, failed, key, ok, Chain, MIN_FEE, TRL, USER_BALANCE};
use trellis_ledger::{
    state::{keys, LocationRecord, Maker},
    Antenna, Capability, DeviceClass, GovAction, StateRead, TxKind, TxOutcome, Unbonding,
};
use trellis_primitives::{Amount, Credits, DeviceAddress, Hash, Location};

fn dev(name: &str) -> DeviceAddress {
    key(name).public().into()
}

fn onboard_kind(device: &str, class: DeviceClass) -> TxKind {
    TxKind::OnboardDevice {
        device: dev(device),
        maker: key("maker").public(),
        class,
        capabilities: vec![Capability {
            name: "slots".into(),
            value: 2,
        }],
    }
}

/// Onboards `device` for `owner` with both co-signatures.
fn onboard(c: &mut Chain, owner: &str, device: &str, class: DeviceClass) -> TxOutcome {
    let tx = c
        .tx(owner, onboard_kind(device, class))
        .cosign(&key("maker"))
        .cosign(&key(device));
    c.run_tx(tx)
}

fn maker(c: &Chain) -> Maker {
    c.ledger
        .store()
        .read(&keys::maker(&key("maker").public()))
        .unwrap()
        .unwrap()
}

fn governance(c: &mut Chain, action: GovAction) -> TxOutcome {
    let tx = c.tx("admin1", TxKind::Governance { action }).cosign(&key("admin3"));
    c.run_tx(tx)
}

#[test]
fn onboarding_needs_maker_and_device_cosignatures_and_burns_the_onboard_fee() {
    let mut c = Chain::new();
    let no_maker = c
        .tx("alice", onboard_kind("d1", DeviceClass::Storage))
        .cosign(&key("d1"));
    let outcome = c.run_tx(no_maker);
    failed(&outcome, "missing_cosignature");
    assert!(matches!(outcome, TxOutcome::Failed { message, .. } if message.ends_with("by the maker")));
    let no_device = c
        .tx("alice", onboard_kind("d1", DeviceClass::Storage))
        .cosign(&key("maker"));
    let outcome = c.run_tx(no_device);
    assert!(matches!(outcome, TxOutcome::Failed { message, .. } if message.ends_with("by the device key")));
    assert_eq!(c.ledger.store().device(&dev("d1")).unwrap(), None);
    assert_eq!(c.balance("alice"), USER_BALANCE - 2 * MIN_FEE);

    ok(&onboard(&mut c, "alice", "d1", DeviceClass::Storage));
    // 1 TRL onboarding fee plus the fee, both burned.
    assert_eq!(c.balance("alice"), USER_BALANCE - TRL - 3 * MIN_FEE);
    assert_eq!(c.burned(), TRL + 3 * MIN_FEE);
    let device = c.ledger.store().device(&dev("d1")).unwrap().unwrap();
    assert_eq!(
        (device.owner, device.class, device.onboarded_height, device.stake),
        (addr("alice"), DeviceClass::Storage, 3, Amount::ZERO)
    );
    assert_eq!(device.maker, key("maker").public());
    assert_eq!(maker(&c).devices_onboarded, 1);
    failed(&onboard(&mut c, "bob", "d1", DeviceClass::Storage), "device_exists");
    c.assert_supply_conserved();
}

#[test]
fn onboarding_with_a_revoked_or_unknown_maker_fails_maker_not_authorised() {
    let mut c = Chain::new();
    ok(&governance(
        &mut c,
        GovAction::RevokeMaker {
            key: key("maker").public(),
        },
    ));
    assert!(!maker(&c).active);
    let bob_before = c.balance("bob");
    failed(
        &onboard(&mut c, "bob", "d2", DeviceClass::Sensor),
        "maker_not_authorised",
    );
    assert_eq!(c.balance("bob"), bob_before - MIN_FEE);
    // A key that was never registered is no maker either, whatever it co-signs.
    let stranger = TxKind::OnboardDevice {
        device: dev("d3"),
        maker: key("carol").public(),
        class: DeviceClass::Sensor,
        capabilities: vec![],
    };
    let tx = c.tx("carol", stranger).cosign(&key("d3"));
    failed(&c.run_tx(tx), "maker_not_authorised");
    // Registered again, the maker attests again.
    ok(&governance(
        &mut c,
        GovAction::RegisterMaker {
            key: key("maker").public(),
            name: "Maker again".into(),
        },
    ));
    ok(&onboard(&mut c, "bob", "d2", DeviceClass::Sensor));
    assert_eq!((maker(&c).active, maker(&c).devices_onboarded), (true, 1));
}

#[test]
fn capabilities_out_of_order_or_badly_named_are_invalid() {
    let mut c = Chain::new();
    let cap = |name: &str| Capability {
        name: name.into(),
        value: 1,
    };
    for caps in [vec![cap("z"), cap("a")], vec![cap("a"), cap("a")], vec![cap("Upper")]] {
        let kind = TxKind::OnboardDevice {
            device: dev("d1"),
            maker: key("maker").public(),
            class: DeviceClass::Compute,
            capabilities: caps,
        };
        let tx = c.tx("alice", kind).cosign(&key("maker")).cosign(&key("d1"));
        failed(&c.run_tx(tx), "invalid");
    }
    assert_eq!(c.ledger.store().device(&dev("d1")).unwrap(), None);
}

#[test]
fn location_assertions_charge_location_fee_credits_and_keep_every_record_in_history() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "hs", DeviceClass::Hotspot));
    ok(&onboard(&mut c, "alice", "st", DeviceClass::Storage));
    let fee = c.ledger.store().params().unwrap().location_fee_credits;
    assert_eq!(fee, Credits(1_000_000));
    let here = Location::from_degrees(52.52, 13.40).unwrap();
    let there = Location::from_degrees(52.53, 13.41).unwrap();
    let low = Antenna {
        gain_dbi_tenths: 30,
        elevation_m: 5,
    };
    let high = Antenna {
        gain_dbi_tenths: 50,
        elevation_m: 9,
    };
    let assert_at = |device: &str, location, antenna| TxKind::AssertLocation {
        device: dev(device),
        location,
        antenna,
    };
    failed(
        &c.run("alice", assert_at("hs", here, Some(low))),
        "insufficient_credits",
    );
    // 20 TRL at $1 buys 2,000,000 credits: two assertions at 1,000,000 each.
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(20 * TRL),
        beneficiary: addr("alice"),
    };
    ok(&c.run("alice", burn));
    failed(&c.run("alice", assert_at("hs", here, None)), "invalid");
    failed(&c.run("alice", assert_at("st", here, Some(low))), "invalid");
    failed(&c.run("bob", assert_at("hs", here, Some(low))), "not_device_owner");
    failed(&c.run("alice", assert_at("nope", here, None)), "unknown_device");
    assert_eq!(c.account("alice").credits, Credits(2_000_000));

    ok(&c.run("alice", assert_at("hs", here, Some(low))));
    let first_height = c.ledger.tip().height;
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - fee.0));
    ok(&c.run("alice", assert_at("hs", there, Some(high))));
    assert_eq!(c.account("alice").credits, Credits(0));
    assert_eq!(c.ledger.store().supply().unwrap().credits_spent, Credits(2 * fee.0));
    failed(
        &c.run("alice", assert_at("hs", here, Some(low))),
        "insufficient_credits",
    );

    let device = c.ledger.store().device(&dev("hs")).unwrap().unwrap();
    assert_eq!(device.location_count, 2);
    let latest = device.location.unwrap();
    assert_eq!((latest.location, latest.antenna), (there, Some(high)));
    let history =
        |seq| -> Option<LocationRecord> { c.ledger.store().read(&keys::location_history(&dev("hs"), seq)).unwrap() };
    let first = history(0).unwrap();
    assert_eq!(
        (first.location, first.antenna, first.height),
        (here, Some(low), first_height)
    );
    assert_eq!(history(1).unwrap().location, there);
    assert_eq!(history(2), None);
}

#[test]
fn unstaked_collateral_is_withdrawable_only_after_unbonding_delay_blocks() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "s1", DeviceClass::Storage));
    let stake = |units| TxKind::Stake {
        device: dev("s1"),
        amount: Amount::from_units(units),
    };
    let unstake = |units| TxKind::Unstake {
        device: dev("s1"),
        amount: Amount::from_units(units),
    };
    failed(&c.run("bob", stake(TRL)), "not_device_owner");
    failed(&c.run("alice", stake(0)), "zero_amount");
    failed(&c.run("alice", stake(USER_BALANCE)), "insufficient_balance");
    let before_stake = c.balance("alice");
    ok(&c.run("alice", stake(100 * TRL)));
    assert_eq!(c.balance("alice"), before_stake - 100 * TRL - MIN_FEE);
    failed(&c.run("alice", unstake(101 * TRL)), "insufficient_stake");
    failed(&c.run("bob", unstake(TRL)), "not_device_owner");
    ok(&c.run("alice", unstake(40 * TRL)));
    let unstake_height = c.ledger.tip().height;
    assert_eq!(
        c.account("alice").unbonding,
        vec![Unbonding {
            device: dev("s1"),
            amount: Amount::from_units(40 * TRL),
            release_height: unstake_height + 3,
        }]
    );
    // Heights unstake+1 and unstake+2 are too early.
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    assert_eq!(c.ledger.tip().height, unstake_height + 2);
    assert_eq!(c.account("alice").unbonding.len(), 1);
    let before = c.balance("alice");
    ok(&c.run("alice", TxKind::WithdrawUnbonded));
    assert_eq!(c.balance("alice"), before + 40 * TRL - MIN_FEE);
    assert!(c.account("alice").unbonding.is_empty());
    assert_eq!(
        c.ledger.store().device(&dev("s1")).unwrap().unwrap().stake.units(),
        60 * TRL
    );
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    c.assert_supply_conserved();
}

#[test]
fn slash_needs_a_verifier_and_burns_stake_first_then_unbonding_collateral() {
    let mut c = Chain::new();
    ok(&onboard(&mut c, "alice", "s1", DeviceClass::Storage));
    let amount = |units| Amount::from_units(units);
    ok(&c.run(
        "alice",
        TxKind::Stake {
            device: dev("s1"),
            amount: amount(10 * TRL),
        },
    ));
    ok(&c.run(
        "alice",
        TxKind::Unstake {
            device: dev("s1"),
            amount: amount(4 * TRL),
        },
    ));
    let slash = |units, evidence: u8| TxKind::Slash {
        device: dev("s1"),
        amount: amount(units),
        evidence: Hash([evidence; 32]),
        reason: "failed audits".into(),
    };
    failed(&c.run("bob", slash(TRL, 1)), "missing_cosignature");
    // A verifier co-signing someone else's transaction counts.
    let cosigned = c.tx("bob", slash(0, 1)).cosign(&key("verifier"));
    failed(&c.run_tx(cosigned), "zero_amount");
    let burned_before = c.burned();
    // 6 TRL bonded + 4 TRL unbonding; slashing 8 takes all 6 bonded and 2 unbonding.
    ok(&c.run("verifier", slash(8 * TRL, 1)));
    let device = c.ledger.store().device(&dev("s1")).unwrap().unwrap();
    assert_eq!(
        (device.stake.units(), device.slashed.units(), device.slash_count),
        (0, 8 * TRL, 1)
    );
    assert_eq!(c.account("alice").unbonding[0].amount.units(), 2 * TRL);
    assert_eq!(c.burned(), burned_before + 8 * TRL + MIN_FEE);
    // The same evidence cannot slash twice.
    failed(&c.run("verifier", slash(TRL, 1)), "evidence_used");
    // Asking for more than is left takes what is left: the last 2 TRL.
    let burned_before = c.burned();
    ok(&c.run("verifier", slash(100 * TRL, 2)));
    assert!(c.account("alice").unbonding.is_empty());
    assert_eq!(c.burned(), burned_before + 2 * TRL + MIN_FEE);
    let device = c.ledger.store().device(&dev("s1")).unwrap().unwrap();
    assert_eq!((device.slashed.units(), device.slash_count), (10 * TRL, 2));
    failed(&c.run("verifier", slash(TRL, 3)), "nothing_to_slash");
    // Nothing unbonded is left to withdraw.
    c.advance_to(c.ledger.tip().height + 3);
    failed(&c.run("alice", TxKind::WithdrawUnbonded), "nothing_to_withdraw");
    c.assert_supply_conserved();
}
