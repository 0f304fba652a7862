//! Egress claims: a provider is paid once per order, only what the client signed, from the
//! client's credits; with the numbers written out.

use crate::{
    fixtures::{addr, failed, key, ok, Chain, CHAIN_ID},
    storage::{dev, setup},
};
use trellis_ledger::{
    state::{credit_price_in, egress_served_in, keys, storage_earned_in, EgressServed},
    EgressClaim, EgressOrder, SignedEgressOrder, StateRead, TxKind, GIB,
};
use trellis_primitives::{Credits, Epoch, Hash};

/// Alice's order for `bytes` from provider p1 at 2,000 credits per GiB, valid until epoch 3.
fn order(serial: u8, bytes: u64) -> EgressOrder {
    EgressOrder {
        deal: Hash([9; 32]),
        client: addr("alice"),
        provider: dev("p1"),
        serial: [serial; 16],
        bytes,
        price_per_gib: Credits(2_000),
        expires: Epoch(3),
    }
}

fn signed(o: EgressOrder, by: &str) -> SignedEgressOrder {
    o.sign(CHAIN_ID, &key(by))
}

fn claim(c: &mut Chain, by: &str, claims: Vec<EgressClaim>) -> trellis_ledger::TxOutcome {
    c.run(
        by,
        TxKind::ClaimEgress {
            device: dev("p1"),
            claims,
        },
    )
}

fn one(o: SignedEgressOrder, bytes: u64) -> Vec<EgressClaim> {
    vec![EgressClaim { order: o, bytes }]
}

#[test]
fn a_provider_is_paid_for_served_bytes_once_from_the_clients_credits() {
    let mut c = setup();
    let before = c.account("alice").credits;
    // Half a GiB of a GiB-sized order at 2,000 per GiB: 1,000 credits; a quarter GiB + 1 byte
    // rounds up to 501.
    let first = signed(order(1, GIB), "alice");
    let second = signed(order(2, GIB / 4 + 1), "alice");
    let claims = vec![
        EgressClaim {
            order: first,
            bytes: GIB / 2,
        },
        EgressClaim {
            order: second,
            bytes: GIB / 4 + 1,
        },
    ];
    // The device key (the agent's hot key, funded for fees) claims for its owner.
    let fees = TxKind::Transfer {
        to: addr("p1"),
        amount: trellis_primitives::Amount::from_units(crate::fixtures::TRL),
    };
    ok(&c.run("bob", fees));
    ok(&claim(&mut c, "p1", claims));
    assert_eq!(c.account("alice").credits, Credits(before.0 - 1_501));
    let epoch = Epoch(c.ledger.tip().height / 5);
    let store = c.ledger.store();
    assert_eq!(
        storage_earned_in(store, epoch).unwrap(),
        vec![(dev("p1"), Credits(1_501))]
    );
    assert_eq!(
        egress_served_in(store, epoch).unwrap(),
        vec![(
            dev("p1"),
            EgressServed {
                bytes: GIB / 2 + GIB / 4 + 1,
                credits: Credits(1_501)
            }
        )]
    );
    // The same serial again, even for fewer bytes: paid once.
    failed(&claim(&mut c, "bob", one(first, 1)), "egress_order_used");
    assert_eq!(c.account("alice").credits, Credits(before.0 - 1_501));
    // The same serial used with another provider is that provider's to claim as well: a client
    // cannot download from two providers and have one of them go unpaid.
    let mut elsewhere = order(1, GIB);
    elsewhere.provider = dev("p2");
    let p2 = TxKind::ClaimEgress {
        device: dev("p2"),
        claims: one(signed(elsewhere, "alice"), GIB / 2),
    };
    ok(&c.run("bob", p2));
    assert_eq!(c.account("alice").credits, Credits(before.0 - 2_501));
    c.assert_supply_conserved();
}

#[test]
fn orders_that_the_client_did_not_sign_for_this_provider_and_chain_are_refused() {
    let mut c = setup();
    let bad = |c: &mut Chain, claims| failed(&claim(c, "bob", claims), "bad_egress_order");
    // More than the order allows, or nothing.
    bad(&mut c, one(signed(order(1, 100), "alice"), 101));
    bad(&mut c, one(signed(order(1, 100), "alice"), 0));
    // Signed by someone else (a verifier's free repair order is not payable either).
    bad(&mut c, one(signed(order(1, 100), "carol"), 100));
    bad(&mut c, one(signed(order(1, 100), "verifier"), 100));
    // A raised byte count breaks the signature.
    let mut raised = signed(order(1, 100), "alice");
    raised.order.bytes = GIB;
    bad(&mut c, one(raised, GIB));
    // Signed for another chain.
    bad(&mut c, one(order(1, 100).sign("other-chain", &key("alice")), 100));
    // For another provider.
    let mut elsewhere = order(1, 100);
    elsewhere.provider = dev("p2");
    bad(&mut c, one(signed(elsewhere, "alice"), 100));
    // Expiring too far ahead, and expired.
    let mut far = order(1, 100);
    far.expires = Epoch(100);
    bad(&mut c, one(signed(far, "alice"), 100));
    c.advance_to(4 * 5);
    bad(&mut c, one(signed(order(1, 100), "alice"), 100));
    // Only the owner or the device key may claim, and only for a storage device.
    failed(
        &claim(&mut c, "carol", one(signed(order(5, 100), "alice"), 100)),
        "not_device_owner",
    );
    let hotspot = TxKind::ClaimEgress {
        device: dev("h1"),
        claims: one(signed(order(5, 100), "alice"), 100),
    };
    failed(&c.run("bob", hotspot), "not_storage_provider");
    failed(&claim(&mut c, "bob", vec![]), "invalid");
    assert_eq!(c.ledger.store().supply().unwrap().credits_spent, Credits(0));
    c.assert_supply_conserved();
}

#[test]
fn a_client_without_the_credits_leaves_the_claim_unpaid_and_its_serial_unused() {
    let mut c = setup();
    // Carol never bought credits.
    let mut o = order(1, GIB);
    o.client = addr("carol");
    let carols = signed(o, "carol");
    failed(&claim(&mut c, "bob", one(carols, GIB)), "insufficient_credits");
    let used = keys::egress_serial(o.expires, &o.client, &o.provider, &o.serial);
    assert!(c.ledger.store().raw(&used).is_none(), "a failed claim marks nothing");
    c.assert_supply_conserved();
}

#[test]
fn the_credit_price_of_an_epoch_is_the_last_one_posted_by_its_end() {
    let mut c = setup();
    let price = |c: &Chain, e: u64| credit_price_in(c.ledger.store(), Epoch(e)).unwrap();
    // Genesis price 1,000,000 (fixtures::PRICE) holds until a new one is posted.
    assert_eq!(price(&c, 0), Some(crate::fixtures::PRICE));
    c.advance_to(2 * 5);
    let post = |c: &mut Chain, p: u64| {
        let tx = c
            .tx("dave", TxKind::PostPrice { micro_usd_per_trl: p })
            .cosign(&key("oracle1"))
            .cosign(&key("oracle2"));
        ok(&c.run_tx(tx));
    };
    post(&mut c, 2_000_000);
    post(&mut c, 3_000_000);
    c.advance_to(4 * 5);
    post(&mut c, 5_000_000);
    // Epochs 0 and 1 keep the genesis price; epoch 2 ends with 3,000,000; epoch 3 had no post;
    // epoch 4 (the current one) has 5,000,000.
    assert_eq!(
        (1..=4).map(|e| price(&c, e)).collect::<Vec<_>>(),
        vec![Some(1_000_000), Some(3_000_000), Some(3_000_000), Some(5_000_000)]
    );
}

#[test]
fn paid_serials_are_forgotten_once_their_orders_expire() {
    let mut c = setup();
    // Expires at the end of epoch 3 (fixtures: 5 blocks per epoch).
    ok(&claim(&mut c, "bob", one(signed(order(1, 100), "alice"), 100)));
    let o = order(1, 100);
    let key = keys::egress_serial(o.expires, &o.client, &o.provider, &o.serial);
    // The claim below lands in block 19, the last of epoch 3.
    c.advance_to(4 * 5 - 2);
    assert!(
        c.ledger.store().raw(&key).is_some(),
        "remembered while the order is live"
    );
    failed(
        &claim(&mut c, "bob", one(signed(order(1, 100), "alice"), 100)),
        "egress_order_used",
    );
    // The first block of epoch 4 sweeps it; the order itself is now refused as expired.
    c.advance_to(4 * 5 + 1);
    assert!(c.ledger.store().raw(&key).is_none(), "an expired serial is kept");
    failed(
        &claim(&mut c, "bob", one(signed(order(1, 100), "alice"), 100)),
        "bad_egress_order",
    );
    c.assert_supply_conserved();
}
