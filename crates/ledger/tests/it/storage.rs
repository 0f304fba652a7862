//! Storage deals: who may hold pieces, escrow on open, per-epoch settlement to proven pieces,
//! repair moves, close and refund, provider endpoints; with the numbers written out.

use crate::fixtures::{addr, failed, key, ok, Chain, TRL};
use trellis_ledger::{state::keys, Capability, DealTerms, DeviceClass, Piece, StateRead, TxKind, TxOutcome, GIB};
use trellis_primitives::{Amount, Credits, DeviceAddress, Epoch, Hash, HashDomain};

pub(crate) fn dev(name: &str) -> DeviceAddress {
    key(name).public().into()
}

/// Onboards `device` for bob as a storage provider asking 1,000 credits per GiB-epoch.
pub(crate) fn provider(c: &mut Chain, device: &str, class: DeviceClass, stake_trl: u64) {
    let kind = TxKind::OnboardDevice {
        device: dev(device),
        maker: key("maker").public(),
        class,
        capabilities: vec![
            Capability {
                name: "capacity_bytes".into(),
                value: 50 * GIB,
            },
            Capability {
                name: "price_per_gib_epoch".into(),
                value: 1_000,
            },
        ],
    };
    let tx = c.tx("bob", kind).cosign(&key("maker")).cosign(&key(device));
    ok(&c.run_tx(tx));
    if stake_trl > 0 {
        let stake = TxKind::Stake {
            device: dev(device),
            amount: Amount::from_units(stake_trl * TRL),
        };
        ok(&c.run("bob", stake));
    }
}

/// A 2-of-3 deal of half-GiB pieces on `providers` for 4 epochs at `price`.
fn terms(providers: [&str; 3], price: u64) -> DealTerms {
    DealTerms {
        nonce: [7; 16],
        size: GIB,
        data_shards: 2,
        parity_shards: 1,
        segment_bytes: 4 << 20,
        piece_len: GIB / 2,
        pieces: providers
            .iter()
            .enumerate()
            .map(|(i, p)| Piece {
                provider: dev(p),
                root: HashDomain::StoragePiece.hash(&[i as u8]),
            })
            .collect(),
        duration_epochs: 4,
        price_per_gib_epoch: Credits(price),
    }
}

pub(crate) fn setup() -> Chain {
    let mut c = Chain::new();
    for p in ["p1", "p2", "p3"] {
        provider(&mut c, p, DeviceClass::Storage, 100);
    }
    provider(&mut c, "p4", DeviceClass::Storage, 0);
    provider(&mut c, "h1", DeviceClass::Hotspot, 100);
    // 20 TRL at $1 buys 2,000,000 credits.
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(20 * TRL),
        beneficiary: addr("alice"),
    };
    ok(&c.run("alice", burn));
    c
}

fn open(c: &mut Chain, who: &str, terms: DealTerms) -> TxOutcome {
    c.run(who, TxKind::OpenDeal { terms })
}

/// Opens `terms` for alice; the deal id and its first paid epoch.
fn opened(c: &mut Chain, terms: DealTerms) -> (Hash, u64) {
    let id = terms.commitment(&addr("alice"));
    ok(&open(c, "alice", terms));
    (id, c.ledger.store().deal(&id).unwrap().unwrap().start_epoch.0)
}

fn settle(c: &mut Chain, deal: Hash, epoch: u64, proven: Vec<u16>, verifier: bool) -> TxOutcome {
    let kind = TxKind::SettleDeal {
        deal,
        epoch: Epoch(epoch),
        proven,
    };
    let tx = c.tx("dave", kind);
    let tx = if verifier { tx.cosign(&key("verifier")) } else { tx };
    c.run_tx(tx)
}

fn earned(c: &Chain, epoch: u64, device: &str) -> Credits {
    c.ledger
        .store()
        .read(&keys::storage_earned(Epoch(epoch), &dev(device)))
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn a_deal_needs_staked_storage_providers_that_accept_its_price_and_escrows_its_cost() {
    let mut c = setup();
    let fail = |c: &mut Chain, t, code| failed(&open(c, "alice", t), code);
    fail(&mut c, terms(["p1", "p2", "p4"], 1_000), "not_storage_provider");
    fail(&mut c, terms(["p1", "p2", "h1"], 1_000), "not_storage_provider");
    fail(&mut c, terms(["p1", "p2", "p3"], 999), "not_storage_provider");
    fail(&mut c, terms(["p1", "p2", "p2"], 1_000), "invalid");
    let mut short = terms(["p1", "p2", "p3"], 1_000);
    short.pieces.pop();
    fail(&mut c, short, "invalid");
    failed(
        &open(&mut c, "carol", terms(["p1", "p2", "p3"], 1_000)),
        "insufficient_credits",
    );

    let t = terms(["p1", "p2", "p3"], 1_000);
    // Half a GiB at 1,000 per GiB-epoch is 500 per piece-epoch: 3 pieces × 4 epochs = 6,000.
    assert_eq!(
        (t.piece_epoch_price(), t.escrow()),
        (Some(Credits(500)), Some(Credits(6_000)))
    );
    ok(&open(&mut c, "alice", t.clone()));
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - 6_000));
    let deal = c.ledger.store().deal(&t.commitment(&addr("alice"))).unwrap().unwrap();
    assert_eq!(
        (deal.client, deal.escrow, deal.paid),
        (addr("alice"), Credits(6_000), Credits(0))
    );
    assert_eq!(deal.end_epoch(), Epoch(deal.start_epoch.0 + 4));
    failed(&open(&mut c, "alice", t), "deal_exists");
    c.assert_supply_conserved();
}

#[test]
fn settlement_pays_proven_pieces_once_per_completed_epoch_in_order() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let (id, start) = opened(&mut c, t);
    failed(&settle(&mut c, id, start, vec![0, 2], true), "cannot_settle");
    c.advance_to((start + 1) * 5);
    failed(&settle(&mut c, id, start, vec![0, 2], false), "missing_cosignature");
    failed(&settle(&mut c, id, start + 1, vec![0, 2], true), "cannot_settle");
    failed(&settle(&mut c, id, start, vec![2, 0], true), "invalid");
    failed(&settle(&mut c, id, start, vec![3], true), "invalid");
    failed(&settle(&mut c, Hash([1; 32]), start, vec![0], true), "unknown_deal");
    // Piece 1 failed its audits: its 500 stays in escrow.
    ok(&settle(&mut c, id, start, vec![0, 2], true));
    assert_eq!(
        [
            earned(&c, start, "p1"),
            earned(&c, start, "p2"),
            earned(&c, start, "p3")
        ],
        [Credits(500), Credits(0), Credits(500)]
    );
    let deal = c.ledger.store().deal(&id).unwrap().unwrap();
    assert_eq!(
        (deal.escrow, deal.paid, deal.settled_epochs),
        (Credits(5_000), Credits(1_000), 1)
    );
    assert_eq!(c.ledger.store().supply().unwrap().credits_spent, Credits(1_000));
    failed(&settle(&mut c, id, start, vec![0], true), "cannot_settle");
    c.assert_supply_conserved();

    // Closing returns what was not paid; only the client may close, and not while the next
    // epoch is complete but unsettled (here nobody settles it, so after the grace).
    failed(&c.run("bob", TxKind::CloseDeal { deal: id }), "not_deal_client");
    failed(&c.run("alice", TxKind::CloseDeal { deal: id }), "settlement_pending");
    c.advance_to((start + 4) * 5);
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - 1_000));
    assert_eq!(c.ledger.store().deal(&id).unwrap(), None);
    failed(&c.run("alice", TxKind::CloseDeal { deal: id }), "unknown_deal");
    c.assert_supply_conserved();
}

#[test]
fn a_deal_stops_settling_after_its_duration() {
    let mut c = setup();
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.duration_epochs = 1;
    let (id, start) = opened(&mut c, t);
    c.advance_to((start + 3) * 5);
    ok(&settle(&mut c, id, start, vec![0, 1, 2], true));
    failed(&settle(&mut c, id, start + 1, vec![0], true), "cannot_settle");
    assert_eq!(c.ledger.store().deal(&id).unwrap().unwrap().escrow, Credits(0));
}

#[test]
fn pieces_move_by_the_client_or_a_verifier_onto_eligible_providers_only() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let id = t.commitment(&addr("alice"));
    ok(&open(&mut c, "alice", t.clone()));
    let move_to = |index, provider: &str| TxKind::MovePiece {
        deal: id,
        index,
        provider: dev(provider),
    };
    failed(&c.run("carol", move_to(1, "p4")), "not_deal_client");
    failed(&c.run("alice", move_to(1, "p4")), "not_storage_provider");
    failed(&c.run("alice", move_to(1, "p3")), "invalid");
    let stake = TxKind::Stake {
        device: dev("p4"),
        amount: Amount::from_units(100 * TRL),
    };
    ok(&c.run("bob", stake));
    failed(&c.run("alice", move_to(3, "p4")), "invalid");
    let by_verifier = c.tx("dave", move_to(1, "p4")).cosign(&key("verifier"));
    ok(&c.run_tx(by_verifier));
    let deal = c.ledger.store().deal(&id).unwrap().unwrap();
    assert_eq!(deal.terms.pieces[1].provider, dev("p4"));
    // The deal id does not depend on who holds the pieces.
    assert_eq!(deal.terms.commitment(&addr("alice")), id);
    assert_eq!(deal.terms.pieces[1].root, t.pieces[1].root);
}

#[test]
fn endpoints_are_set_by_the_owner_as_http_urls_and_removed_when_empty() {
    let mut c = setup();
    let set = |url: &str| TxKind::SetEndpoint {
        device: dev("p1"),
        url: url.into(),
    };
    failed(&c.run("alice", set("http://127.0.0.1:9000")), "not_device_owner");
    failed(&c.run("bob", set("ftp://127.0.0.1")), "invalid");
    failed(&c.run("bob", set("http://a b")), "invalid");
    ok(&c.run("bob", set("http://127.0.0.1:9000")));
    assert_eq!(
        c.ledger.store().endpoint(&dev("p1")).unwrap().as_deref(),
        Some("http://127.0.0.1:9000")
    );
    ok(&c.run("bob", set("")));
    assert_eq!(c.ledger.store().endpoint(&dev("p1")).unwrap(), None);
}

#[test]
fn a_failed_piece_counts_only_against_a_holder_that_proved_it_and_two_disqualify_a_new_provider() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let (id, start) = opened(&mut c, t);
    let rep = |c: &Chain, p: &str| c.ledger.store().reputation(&dev(p)).unwrap();
    let proven_by = |c: &Chain, index| trellis_ledger::state::piece_proven_by(c.ledger.store(), &id, index).unwrap();
    c.advance_to((start + 1) * 5);
    // p2 never proved piece 1: anyone can name a provider in a deal and never upload, so that
    // costs p2 nothing. p1: alpha 0.99 + 1, beta 0.
    ok(&settle(&mut c, id, start, vec![0, 2], true));
    assert_eq!(rep(&c, "p2"), trellis_ledger::Reputation::default());
    assert_eq!(
        (rep(&c, "p1").alpha, rep(&c, "p1").beta, rep(&c, "p1").proven),
        (1_990_000, 0, 1)
    );
    assert_eq!((proven_by(&c, 0), proven_by(&c, 1)), (Some(dev("p1")), None));
    // Once p2 has proven it, losing it counts: alpha 1.99 · 0.99 = 1.9701, beta 1.
    c.advance_to((start + 2) * 5);
    ok(&settle(&mut c, id, start + 1, vec![0, 1, 2], true));
    assert_eq!(proven_by(&c, 1), Some(dev("p2")));
    c.advance_to((start + 3) * 5);
    ok(&settle(&mut c, id, start + 2, vec![0, 2], true));
    assert_eq!(
        (rep(&c, "p2").alpha, rep(&c, "p2").beta, rep(&c, "p2").failed),
        (1_970_100, 1_000_000, 1)
    );
    assert_eq!(rep(&c, "p2").score_ppm(), 663_310);
    assert!(!rep(&c, "p2").disqualified());
    // A second failure in a row takes a new provider below 0.6.
    c.advance_to((start + 4) * 5);
    ok(&settle(&mut c, id, start + 3, vec![0, 2], true));
    assert_eq!((rep(&c, "p2").alpha, rep(&c, "p2").beta), (1_950_399, 1_990_000));
    assert!(rep(&c, "p2").disqualified() && !rep(&c, "p1").disqualified());
    // No new deal may place a piece on the disqualified provider.
    let mut again = terms(["p1", "p2", "p3"], 1_000);
    again.nonce = [8; 16];
    failed(&open(&mut c, "alice", again.clone()), "not_storage_provider");
    again.pieces[1].provider = dev("p4");
    let stake = TxKind::Stake {
        device: dev("p4"),
        amount: Amount::from_units(100 * TRL),
    };
    ok(&c.run("bob", stake));
    ok(&open(&mut c, "alice", again));
}

#[test]
fn a_provider_with_a_long_clean_history_survives_fifty_failures_in_a_row_but_not_51() {
    let mut r = trellis_ledger::Reputation::default();
    for _ in 0..3_000 {
        r = r.record(true);
    }
    // alpha converges to 1 / (1 − 0.99) = 100 units (integer rounding keeps it a little below).
    assert!((99_900_000..=100_000_000).contains(&r.alpha), "{}", r.alpha);
    for failures in 1..=51 {
        r = r.record(false);
        assert_eq!(
            r.disqualified(),
            failures == 51,
            "after {failures} failures: {} ppm",
            r.score_ppm()
        );
    }
}

#[test]
fn terms_that_cannot_describe_a_real_file_are_refused() {
    let mut c = setup();
    let mut too_small = terms(["p1", "p2", "p3"], 1_000);
    too_small.piece_len = GIB / 4; // 2 × 256 MiB cannot hold 1 GiB
    failed(&open(&mut c, "alice", too_small), "invalid");
    let mut huge = terms(["p1", "p2", "p3"], 1_000);
    huge.segment_bytes = 65 << 20;
    failed(&open(&mut c, "alice", huge), "invalid");
    let mut giant = terms(["p1", "p2", "p3"], 1);
    giant.piece_len = (1 << 40) + 1;
    failed(&open(&mut c, "alice", giant), "invalid");
}

#[test]
fn a_deal_cannot_be_closed_between_an_epoch_and_its_settlement_until_the_grace_runs_out() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let (id, start) = opened(&mut c, t);
    // The first paid epoch is complete, not settled: the providers' pay is not refundable yet.
    c.advance_to((start + 1) * 5);
    failed(&c.run("alice", TxKind::CloseDeal { deal: id }), "settlement_pending");
    ok(&settle(&mut c, id, start, vec![0, 1, 2], true));
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    // With no auditor at all, the client gets its escrow back two epochs later.
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.nonce = [9; 16];
    let (id, start) = opened(&mut c, t);
    c.advance_to((start + 2) * 5);
    failed(&c.run("alice", TxKind::CloseDeal { deal: id }), "settlement_pending");
    c.advance_to((start + 3) * 5);
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    c.assert_supply_conserved();
}

#[test]
fn closing_pays_the_passed_part_of_the_epoch_in_progress_to_holders_that_did_not_fail() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let (id, start) = opened(&mut c, t);
    // Epochs are 5 blocks. The first paid epoch settles early in the next one, piece 1 failing.
    c.advance_to((start + 1) * 5);
    ok(&settle(&mut c, id, start, vec![0, 2], true));
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    // Closed in the epoch's third block: 3/5 of the 500 a piece-epoch costs, for p1 and p3
    // only (p2 failed the latest audit); the rest of the escrow (5,000 after settlement) is
    // alice's again.
    assert_eq!(c.ledger.tip().height, (start + 1) * 5 + 2);
    let earned_in = |c: &Chain, epoch| ["p1", "p2", "p3"].map(|p| earned(c, epoch, p));
    assert_eq!(earned_in(&c, start + 1), [Credits(300), Credits(0), Credits(300)]);
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - 6_000 + 5_000 - 600));
    assert_eq!(c.ledger.store().supply().unwrap().credits_spent, Credits(1_000 + 600));
    c.assert_supply_conserved();

    // Closed during the first paid epoch, before any audit: every holder is paid its part (here
    // 2/5, rounded up like prices), else the first epoch of every deal would be free.
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.nonce = [8; 16];
    let (id, start) = opened(&mut c, t);
    c.advance_to(start * 5);
    let before = c.account("alice").credits;
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.ledger.tip().height, start * 5 + 1);
    assert_eq!(earned_in(&c, start), [Credits(200); 3]);
    assert_eq!(
        c.account("alice").credits,
        before.checked_add(Credits(6_000 - 600)).unwrap()
    );
    c.assert_supply_conserved();

    // A holder that failed and then passed again is paid its part.
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.nonce = [11; 16];
    let (id, start) = opened(&mut c, t);
    c.advance_to((start + 1) * 5);
    ok(&settle(&mut c, id, start, vec![0, 2], true));
    c.advance_to((start + 2) * 5);
    ok(&settle(&mut c, id, start + 1, vec![0, 1, 2], true));
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.ledger.tip().height, (start + 2) * 5 + 2);
    assert_eq!(earned_in(&c, start + 2), [Credits(300); 3]);
    c.assert_supply_conserved();

    // Closed in its opening epoch (the upload window), or once settlement lags past the grace
    // (no auditor): nothing is owed.
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.nonce = [9; 16];
    let (id, _) = opened(&mut c, t);
    let before = c.account("alice").credits;
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.account("alice").credits, before.checked_add(Credits(6_000)).unwrap());
    let mut t = terms(["p1", "p2", "p3"], 1_000);
    t.nonce = [10; 16];
    let (id, start) = opened(&mut c, t);
    c.advance_to((start + 3) * 5);
    let before = c.account("alice").credits;
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.account("alice").credits, before.checked_add(Credits(6_000)).unwrap());
    c.assert_supply_conserved();
}

#[test]
fn a_deal_id_is_the_clients_and_is_used_once() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    // Someone who sees alice's pending deal and sends the same terms first opens a deal of its
    // own, under another id: alice's still opens.
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(TRL),
        beneficiary: addr("carol"),
    };
    ok(&c.run("carol", burn));
    ok(&open(&mut c, "carol", t.clone()));
    assert_ne!(t.commitment(&addr("carol")), t.commitment(&addr("alice")));
    let (id, _) = opened(&mut c, t.clone());
    // Closed (in its opening epoch, all refunded), the same terms cannot be opened again: closing
    // and reopening every epoch would keep the data stored without ever paying an epoch.
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(c.account("alice").credits, Credits(2_000_000));
    failed(&open(&mut c, "alice", t), "deal_exists");
    c.assert_supply_conserved();
}

#[test]
fn a_piece_does_not_move_between_an_epoch_and_its_settlement() {
    let mut c = setup();
    ok(&c.run(
        "bob",
        TxKind::Stake {
            device: dev("p4"),
            amount: Amount::from_units(100 * TRL),
        },
    ));
    let (id, start) = opened(&mut c, terms(["p1", "p2", "p3"], 1_000));
    let move_to_p4 = TxKind::MovePiece {
        deal: id,
        index: 1,
        provider: dev("p4"),
    };
    // p2 held piece 1 through the first paid epoch: until that epoch is settled, its pay and
    // its verdict are p2's, so the piece stays (for the client and for a verifier's repair).
    c.advance_to((start + 1) * 5);
    failed(&c.run("alice", move_to_p4.clone()), "settlement_pending");
    let repair = c.tx("dave", move_to_p4.clone()).cosign(&key("verifier"));
    failed(&c.run_tx(repair), "settlement_pending");
    ok(&settle(&mut c, id, start, vec![0, 1, 2], true));
    assert_eq!(earned(&c, start, "p2"), Credits(500));
    ok(&c.run("alice", move_to_p4));
    let deal = c.ledger.store().deal(&id).unwrap().unwrap();
    assert_eq!(deal.terms.pieces[1].provider, dev("p4"));
    // p4 has proven nothing yet; moving the piece back to p2 does not restore p2's proof either
    // (it may have dropped the piece meanwhile), so a "not stored" cannot get it slashed.
    let proven_by = |c: &Chain, index| trellis_ledger::state::piece_proven_by(c.ledger.store(), &id, index).unwrap();
    assert_eq!((proven_by(&c, 0), proven_by(&c, 1)), (Some(dev("p1")), None));
    let back = TxKind::MovePiece {
        deal: id,
        index: 1,
        provider: dev("p2"),
    };
    // The epoch p4 held the piece through settles first (p4 never uploaded: no verdict on it).
    c.advance_to((start + 2) * 5);
    ok(&settle(&mut c, id, start + 1, vec![0, 2], true));
    assert_eq!(
        c.ledger.store().reputation(&dev("p4")).unwrap(),
        trellis_ledger::Reputation::default()
    );
    ok(&c.run("alice", back));
    assert_eq!(proven_by(&c, 1), None);
    c.assert_supply_conserved();
}

#[test]
fn a_clients_report_marks_a_piece_until_it_passes_an_audit_or_moves() {
    let mut c = setup();
    let t = terms(["p1", "p2", "p3"], 1_000);
    let (id, start) = opened(&mut c, t);
    let report = |index| TxKind::ReportPiece { deal: id, index };
    let open_report = |c: &Chain, index| trellis_ledger::state::piece_report(c.ledger.store(), &id, index).unwrap();
    failed(&c.run("carol", report(0)), "not_deal_client");
    failed(&c.run("alice", report(3)), "invalid");
    failed(
        &c.run(
            "alice",
            TxKind::ReportPiece {
                deal: Hash([1; 32]),
                index: 0,
            },
        ),
        "unknown_deal",
    );
    ok(&c.run("alice", report(0)));
    ok(&c.run("alice", report(1)));
    let filed = open_report(&c, 0).unwrap();
    assert_eq!(filed.provider, dev("p1"));
    // Reporting again changes nothing.
    ok(&c.run("alice", report(0)));
    assert_eq!(open_report(&c, 0), Some(filed));
    // Reports filed before the settled epoch ended were audited: a proven piece is cleared, a
    // failed one stays reported until it moves.
    c.advance_to((start + 1) * 5);
    ok(&settle(&mut c, id, start, vec![0, 2], true));
    assert_eq!(open_report(&c, 0), None);
    assert!(open_report(&c, 1).is_some());
    let by_verifier = c
        .tx(
            "dave",
            TxKind::MovePiece {
                deal: id,
                index: 1,
                provider: dev("p4"),
            },
        )
        .cosign(&key("verifier"));
    let stake = TxKind::Stake {
        device: dev("p4"),
        amount: Amount::from_units(100 * TRL),
    };
    ok(&c.run("bob", stake));
    ok(&c.run_tx(by_verifier));
    assert_eq!(open_report(&c, 1), None);
    // Closing the deal drops whatever is still open.
    ok(&c.run("alice", report(2)));
    c.advance_to((start + 5) * 5);
    ok(&c.run("alice", TxKind::CloseDeal { deal: id }));
    assert_eq!(open_report(&c, 2), None);
}
