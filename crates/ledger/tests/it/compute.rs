//! The compute market on the ledger: matching to standing asks, escrow, commitments, sampled
//! replay with arbitration, slashing, timeouts; with the numbers written out.

use crate::fixtures::{addr, failed, key, ok, Chain, TRL};
use trellis_ledger::{
    execute::{compute_sampled, compute_verified_units, replay_status},
    state::{keys, recent_hash, JobFailure, JobStatus},
    tx::{ComputeClaim, ComputeTx, JobSpec},
    Capability, DeviceClass, StateRead, TxKind, TxOutcome,
};
use trellis_primitives::{Amount, Credits, DeviceAddress, Epoch, Hash, HashDomain};

pub(crate) fn dev(name: &str) -> DeviceAddress {
    key(name).public().into()
}

/// Onboards `device` for `owner` as a compute provider with 100 TRL bonded, an endpoint and an
/// offer of 2 slots at `price` credits per 10^9 fuel with score 50.
fn provider(c: &mut Chain, owner: &str, device: &str, price: u64) {
    let kind = TxKind::OnboardDevice {
        device: dev(device),
        maker: key("maker").public(),
        class: DeviceClass::Compute,
        capabilities: vec![Capability {
            name: "slots".into(),
            value: 2,
        }],
    };
    let tx = c.tx(owner, kind).cosign(&key("maker")).cosign(&key(device));
    ok(&c.run_tx(tx));
    ok(&c.run(
        owner,
        TxKind::Stake {
            device: dev(device),
            amount: Amount::from_units(100 * TRL),
        },
    ));
    ok(&c.run(
        owner,
        TxKind::SetEndpoint {
            device: dev(device),
            url: format!("http://{device}.example"),
        },
    ));
    let offer = ComputeTx::SetOffer {
        device: dev(device),
        slots: 2,
        price_per_gfuel: Credits(price),
        score: 50,
    };
    ok(&c.run(owner, TxKind::Compute(offer)));
}

/// Four providers asking 10, 20, 30 and 40; alice holds 2,000,000 credits.
pub(crate) fn setup() -> Chain {
    let mut c = Chain::new();
    provider(&mut c, "bob", "c1", 10);
    provider(&mut c, "bob", "c2", 20);
    provider(&mut c, "carol", "c3", 30);
    provider(&mut c, "carol", "c4", 40);
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(20 * TRL),
        beneficiary: addr("alice"),
    };
    ok(&c.run("alice", burn));
    c
}

/// 2·10^9 fuel at up to 25 credits per 10^9: one run costs at most 50, the escrow holds 100.
pub(crate) fn spec(nonce: u8, sample_ppm: u32) -> JobSpec {
    JobSpec {
        nonce: [nonce; 16],
        module: HashDomain::ComputeBlob.hash(b"module"),
        entry: "render".into(),
        input: HashDomain::ComputeBlob.hash(&[nonce]),
        fuel: 2_000_000_000,
        memory_bytes: 64 << 20,
        max_price_per_gfuel: Credits(25),
        min_score: 10,
        sample_ppm,
        replicas: 1,
        deadline_blocks: 3,
    }
}

fn compute(c: &mut Chain, who: &str, op: ComputeTx) -> TxOutcome {
    c.run(who, TxKind::Compute(op))
}

fn post(c: &mut Chain, spec: &JobSpec) -> Hash {
    ok(&compute(c, "alice", ComputeTx::PostJob { spec: spec.clone() }));
    spec.id(&addr("alice"))
}

fn job(c: &Chain, id: &Hash) -> trellis_ledger::state::Job {
    c.ledger.store().job(id).unwrap().unwrap()
}

pub(crate) fn claim(tag: &str) -> ComputeClaim {
    ComputeClaim {
        commitment: HashDomain::ComputeCommitment.hash(tag.as_bytes()),
        fuel_used: 1_500_000_000,
    }
}

pub(crate) fn owner(device: &str) -> &'static str {
    if matches!(device, "c1" | "c2") {
        "bob"
    } else {
        "carol"
    }
}

fn commit(c: &mut Chain, id: Hash, device: &str, claim: ComputeClaim) -> TxOutcome {
    compute(
        c,
        owner(device),
        ComputeTx::Commit {
            job: id,
            device: dev(device),
            claim,
        },
    )
}

/// A per-epoch, per-device record of `device` summed over every epoch so far.
fn all_epochs<T: trellis_primitives::Decode + Default>(
    c: &Chain,
    device: &str,
    key: fn(Epoch, &DeviceAddress) -> Vec<u8>,
    value: fn(T) -> u64,
) -> u64 {
    let epoch = Epoch::of_height(c.ledger.tip().height, 5);
    (0..=epoch.0)
        .map(|e| {
            value(
                c.ledger
                    .store()
                    .read::<T>(&key(Epoch(e), &dev(device)))
                    .unwrap()
                    .unwrap_or_default(),
            )
        })
        .sum()
}

fn earned(c: &Chain, device: &str) -> Credits {
    Credits(all_epochs(c, device, keys::compute_earned, |x: Credits| x.0))
}

/// The compute pool's units `device` was credited for replay-confirmed work, all epochs.
fn verified(c: &Chain, device: &str) -> u64 {
    all_epochs(c, device, keys::compute_verified, |x: u64| x)
}

/// Whether the job was drawn for replay (its last commit's block hash decides; it is readable
/// from the next block on, so one is made if needed).
fn drawn(c: &mut Chain, id: &Hash) -> bool {
    let j = job(c, id);
    if c.ledger.tip().height == j.committed_height.unwrap() {
        c.block(vec![]);
    }
    let entropy = recent_hash(c.ledger.store(), j.committed_height.unwrap())
        .unwrap()
        .unwrap();
    compute_sampled(&j, id, &entropy)
}

/// Submits a replay from each other provider in turn until one is accepted (only the drawn
/// replayer is); returns it.
fn replay_by_drawn(c: &mut Chain, id: Hash, claim: ComputeClaim, skip: &[&str]) -> &'static str {
    for d in ["c1", "c2", "c3", "c4"].into_iter().filter(|d| !skip.contains(d)) {
        match compute(
            c,
            owner(d),
            ComputeTx::Verify {
                job: id,
                device: dev(d),
                claim,
            },
        ) {
            TxOutcome::Success => return d,
            TxOutcome::Failed { code, message } => {
                assert_eq!(code, "job_state", "{message}");
                assert!(message.contains("the drawn replayer is"), "{message}");
            }
        }
    }
    panic!("no provider was accepted as the replayer");
}

/// The providers `replay_by_drawn` tries before (and including) `accepted`.
fn tried(skip: &[&str], accepted: &str) -> Vec<&'static str> {
    let all = ["c1", "c2", "c3", "c4"].into_iter().filter(|d| !skip.contains(d));
    let mut out = Vec::new();
    for d in all {
        out.push(d);
        if d == accepted {
            break;
        }
    }
    out
}

fn ask(device: &str) -> u64 {
    match device {
        "c1" => 10,
        "c2" => 20,
        "c3" => 30,
        _ => 40,
    }
}

#[test]
fn a_job_goes_to_the_cheapest_fitting_ask_and_escrows_its_worst_case() {
    let mut c = setup();
    let fail = |c: &mut Chain, who, s: JobSpec, code| failed(&compute(c, who, ComputeTx::PostJob { spec: s }), code);
    fail(
        &mut c,
        "alice",
        JobSpec {
            max_price_per_gfuel: Credits(5),
            ..spec(1, 50_000)
        },
        "no_compute_provider",
    );
    fail(
        &mut c,
        "alice",
        JobSpec {
            min_score: 51,
            ..spec(1, 50_000)
        },
        "no_compute_provider",
    );
    fail(&mut c, "alice", spec(1, 49_999), "invalid");
    fail(
        &mut c,
        "alice",
        JobSpec {
            replicas: 4,
            ..spec(1, 50_000)
        },
        "invalid",
    );
    fail(
        &mut c,
        "alice",
        JobSpec {
            fuel: 0,
            ..spec(1, 50_000)
        },
        "invalid",
    );
    fail(&mut c, "dave", spec(1, 50_000), "insufficient_credits");
    let hotspot = ComputeTx::SetOffer {
        device: dev("h1"),
        slots: 1,
        price_per_gfuel: Credits(1),
        score: 1,
    };
    failed(&compute(&mut c, "bob", hotspot), "unknown_device");

    let s = spec(1, 50_000);
    assert_eq!((s.max_run_cost(), s.escrow()), (Some(Credits(50)), Some(Credits(100))));
    let id = post(&mut c, &s);
    let j = job(&c, &id);
    assert_eq!(
        (j.runs.len(), j.runs[0].provider, j.runs[0].price_per_gfuel),
        (1, dev("c1"), Credits(10))
    );
    assert_eq!((j.escrow, j.status), (Credits(100), JobStatus::Open));
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - 100));
    assert_eq!(c.ledger.store().offer(&dev("c1")).unwrap().unwrap().active, 1);
    failed(&compute(&mut c, "alice", ComputeTx::PostJob { spec: s }), "job_exists");
    // c1's two slots fill; the third job goes to c2. Two replicas take the two cheapest free.
    post(&mut c, &spec(2, 50_000));
    let third = post(&mut c, &spec(3, 50_000));
    assert_eq!(job(&c, &third).runs[0].provider, dev("c2"));
    let pair = post(
        &mut c,
        &JobSpec {
            replicas: 2,
            max_price_per_gfuel: Credits(35),
            ..spec(4, 50_000)
        },
    );
    assert_eq!(
        job(&c, &pair).runs.iter().map(|r| r.provider).collect::<Vec<_>>(),
        vec![dev("c2"), dev("c3")]
    );
    c.assert_supply_conserved();
}

#[test]
fn an_unreplayed_honest_run_is_paid_its_ask_for_the_fuel_it_used() {
    let mut c = setup();
    // Post until one is not drawn for replay (5 %): the draw is the commit block's hash.
    let (id, nonce) = (1..40u8)
        .find_map(|n| {
            let id = post(&mut c, &spec(n, 50_000));
            ok(&commit(&mut c, id, "c1", claim("honest")));
            if drawn(&mut c, &id) {
                None
            } else {
                Some((id, n))
            }
        })
        .expect("a job not drawn for replay");
    let before = c.account("alice").credits;
    let spent_before = c.ledger.store().supply().unwrap().credits_spent;
    failed(&commit(&mut c, id, "c1", claim("again")), "job_state"); // committed already
    ok(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }));
    // 1.5·10^9 fuel at c1's ask of 10 is 15 credits; the other 85 of the escrow come back.
    let j = job(&c, &id);
    assert_eq!(
        j.status,
        JobStatus::Settled {
            commitment: claim("honest").commitment,
            verified: false
        }
    );
    assert_eq!((j.paid, j.escrow), (Credits(15), Credits(0)));
    assert_eq!(c.account("alice").credits, Credits(before.0 + 85));
    assert_eq!(
        c.ledger.store().supply().unwrap().credits_spent,
        Credits(spent_before.0 + 15)
    );
    assert_eq!(
        earned(&c, "c1"),
        Credits(15 * u64::from(nonce)),
        "every earlier job paid 15 too once finalized"
    );
    assert_eq!(verified(&c, "c1"), 0, "work nobody replayed earns no pool units");
    failed(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }), "job_state");
    c.assert_supply_conserved();
}

#[test]
fn verified_units_weigh_by_the_inverse_chance_and_saturate() {
    assert_eq!(compute_verified_units(Credits(15), 50_000), 300);
    assert_eq!(compute_verified_units(Credits(10), 300_000), 33, "rounded down");
    assert_eq!(compute_verified_units(Credits(7), 1_000_000), 7);
    assert_eq!(
        compute_verified_units(Credits(7), 0),
        0,
        "never replayed, never confirmed"
    );
    assert_eq!(compute_verified_units(Credits(u64::MAX), 1), u64::MAX);
}

#[test]
fn replay_confirmed_runs_count_for_the_pool_over_the_chance_they_were_replayed() {
    let mut c = setup();
    // Post at 5 % until one is drawn: its run, once confirmed, stands for the 19 in 20 like it
    // that nobody checks.
    let id = (1..80u8)
        .find_map(|n| {
            let id = post(&mut c, &spec(n, 50_000));
            ok(&commit(&mut c, id, "c1", claim("honest")));
            drawn(&mut c, &id).then_some(id)
        })
        .expect("a job drawn for replay");
    assert_eq!(verified(&c, "c1"), 0);
    let v = replay_by_drawn(&mut c, id, claim("honest"), &["c1"]);
    let fee = (ask(v).min(25) * 3).div_ceil(2);
    // c1's 15 credits over a 5 % chance: 300 units. The replay itself is checked work: its fee.
    assert_eq!((verified(&c, "c1"), verified(&c, v)), (300, fee));
    c.assert_supply_conserved();
}

#[test]
fn commits_are_checked_against_the_assignment_and_the_budget() {
    let mut c = setup();
    let id = post(
        &mut c,
        &JobSpec {
            deadline_blocks: 20,
            ..spec(1, 1_000_000)
        },
    );
    failed(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }), "job_state");
    failed(&commit(&mut c, id, "c2", claim("honest")), "job_state");
    failed(
        &commit(
            &mut c,
            id,
            "c1",
            ComputeClaim {
                fuel_used: 2_000_000_001,
                ..claim("honest")
            },
        ),
        "invalid",
    );
    failed(
        &compute(
            &mut c,
            "carol",
            ComputeTx::Commit {
                job: id,
                device: dev("c1"),
                claim: claim("x"),
            },
        ),
        "not_device_owner",
    );
    failed(&commit(&mut c, Hash([9; 32]), "c1", claim("honest")), "unknown_job");
    ok(&commit(&mut c, id, "c1", claim("honest")));
    assert_eq!(
        c.ledger.store().offer(&dev("c1")).unwrap().unwrap().active,
        0,
        "a committed run frees its slot"
    );
    // Drawn for replay (every job is, at 100 %): finalizing waits for the replay window.
    failed(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }), "job_state");
}

#[test]
fn a_drawn_verifier_that_agrees_settles_the_job_and_both_are_paid() {
    let mut c = setup();
    let id = post(&mut c, &spec(1, 1_000_000));
    // The device's own (hot) key may commit for it once it can pay the fee; another's may not.
    ok(&c.run(
        "bob",
        TxKind::Transfer {
            to: addr("c1"),
            amount: Amount::from_units(TRL),
        },
    ));
    failed(
        &compute(
            &mut c,
            "c1",
            ComputeTx::Commit {
                job: id,
                device: dev("c2"),
                claim: claim("x"),
            },
        ),
        "not_device_owner",
    );
    ok(&compute(
        &mut c,
        "c1",
        ComputeTx::Commit {
            job: id,
            device: dev("c1"),
            claim: claim("honest"),
        },
    ));
    c.block(vec![]);
    // What agents read: drawn, who replays, and when finalizing opens.
    let tip = c.ledger.tip().height;
    let status = replay_status(c.ledger.store(), &id, &job(&c, &id), tip).unwrap();
    let committed = job(&c, &id).committed_height.unwrap();
    let window = c.ledger.store().params().unwrap().compute_verify_window_blocks;
    assert_eq!(
        (status.drawn, status.finalizable_after),
        (Some(true), Some(committed + 2 * window))
    );
    let v = replay_by_drawn(&mut c, id, claim("honest"), &["c1"]);
    assert_eq!(
        status.replayer,
        Some(dev(v)),
        "the status names the replayer the chain accepts"
    );
    let j = job(&c, &id);
    assert_eq!(
        j.status,
        JobStatus::Settled {
            commitment: claim("honest").commitment,
            verified: true
        }
    );
    // c1: 15. The verifier: its ask capped at the job's 25, for 1.5·10^9 fuel, rounded up.
    let fee = (ask(v).min(25) * 3).div_ceil(2);
    assert_eq!((earned(&c, "c1"), earned(&c, v)), (Credits(15), Credits(fee)));
    // Replayed for sure (10^6 ppm): the pool counts exactly what was paid.
    assert_eq!((verified(&c, "c1"), verified(&c, v)), (15, fee));
    assert_eq!(c.account("alice").credits, Credits(2_000_000 - 15 - fee));
    c.assert_supply_conserved();
}

#[test]
fn a_cheat_is_convicted_by_verifier_and_arbiter_slashed_and_the_consumer_refunded() {
    let mut c = setup();
    let id = post(&mut c, &spec(1, 1_000_000));
    // c1 returns a wrong output (or inflates its fuel: the commitment covers both).
    ok(&commit(&mut c, id, "c1", claim("wrong")));
    let verifier = replay_by_drawn(&mut c, id, claim("honest"), &["c1"]);
    assert_eq!(
        job(&c, &id).status,
        JobStatus::Open,
        "one disagreement waits for the arbiter"
    );
    let burned_before = c.burned();
    let balances = |c: &Chain| (c.balance("bob"), c.balance("carol"));
    let before = balances(&c);
    let arbiter = replay_by_drawn(&mut c, id, claim("honest"), &["c1", verifier]);
    // Every attempt paid a 1,000-unit fee.
    let attempts = tried(&["c1", verifier], arbiter);
    let j = job(&c, &id);
    assert_eq!(
        j.status,
        JobStatus::Failed {
            reason: JobFailure::Fraud
        }
    );
    // c1 loses its 100 TRL: 25 to each truthful replayer's owner, 50 burned.
    assert_eq!(
        c.ledger.store().device(&dev("c1")).unwrap().unwrap().stake,
        Amount::ZERO
    );
    assert_eq!(c.burned() - burned_before, 50 * TRL + 1_000 * attempts.len() as u64);
    let by_owner = |d: &str, v: u64| if owner(d) == "bob" { (v, 0) } else { (0, v) };
    let mut want = before;
    for (d, v) in [(verifier, 25 * TRL), (arbiter, 25 * TRL)] {
        let (b, k) = by_owner(d, v);
        (want.0, want.1) = (want.0 + b, want.1 + k);
    }
    for d in &attempts {
        let (b, k) = by_owner(d, 1_000);
        (want.0, want.1) = (want.0 - b, want.1 - k);
    }
    assert_eq!(balances(&c), want);
    // The replayers are paid their fees; c1 nothing; alice gets the rest of the escrow back.
    let fee = |d: &str| (ask(d).min(25) * 3).div_ceil(2);
    assert_eq!(earned(&c, "c1"), Credits(0));
    assert_eq!(
        c.account("alice").credits,
        Credits(2_000_000 - fee(verifier) - fee(arbiter))
    );
    // c1 has no collateral left: a re-post goes elsewhere.
    let again = post(&mut c, &spec(2, 1_000_000));
    assert_ne!(job(&c, &again).runs[0].provider, dev("c1"));
    c.assert_supply_conserved();
}

#[test]
fn a_lying_verifier_is_overruled_by_the_arbiter_and_slashed_instead() {
    let mut c = setup();
    let id = post(&mut c, &spec(1, 1_000_000));
    ok(&commit(&mut c, id, "c1", claim("honest")));
    let liar = replay_by_drawn(&mut c, id, claim("lie"), &["c1"]);
    let arbiter = replay_by_drawn(&mut c, id, claim("honest"), &["c1", liar]);
    assert_eq!(
        job(&c, &id).status,
        JobStatus::Settled {
            commitment: claim("honest").commitment,
            verified: true
        }
    );
    assert_eq!(
        c.ledger.store().device(&dev(liar)).unwrap().unwrap().stake,
        Amount::ZERO
    );
    assert_eq!(
        c.ledger.store().device(&dev("c1")).unwrap().unwrap().stake,
        Amount::from_units(100 * TRL)
    );
    assert_eq!((earned(&c, "c1"), earned(&c, liar)), (Credits(15), Credits(0)));
    assert!(earned(&c, arbiter).0 > 0);
    assert_eq!((verified(&c, "c1"), verified(&c, liar)), (15, 0));
    assert_eq!(verified(&c, arbiter), earned(&c, arbiter).0);
    c.assert_supply_conserved();
}

#[test]
fn disagreeing_replicas_are_always_replayed() {
    let mut c = setup();
    let id = post(
        &mut c,
        &JobSpec {
            replicas: 2,
            ..spec(1, 50_000)
        },
    );
    ok(&commit(&mut c, id, "c1", claim("honest")));
    assert_eq!(job(&c, &id).committed_height, None, "one replica is not a result");
    ok(&commit(&mut c, id, "c2", claim("wrong")));
    assert!(drawn(&mut c, &id));
    failed(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }), "job_state");
    let v = replay_by_drawn(&mut c, id, claim("honest"), &["c1", "c2"]);
    let a = replay_by_drawn(&mut c, id, claim("honest"), &["c1", "c2", v]);
    assert_eq!(
        job(&c, &id).status,
        JobStatus::Failed {
            reason: JobFailure::Fraud
        }
    );
    assert_eq!(
        c.ledger.store().device(&dev("c2")).unwrap().unwrap().stake,
        Amount::ZERO
    );
    assert_eq!(earned(&c, "c1"), Credits(15), "the honest replica is paid");
    assert!(earned(&c, v).0 > 0 && earned(&c, a).0 > 0);
    // A disagreement is always replayed, so the 5 % sampling rate does not weigh the run.
    assert_eq!((verified(&c, "c1"), verified(&c, "c2")), (15, 0));
    c.assert_supply_conserved();
}

#[test]
fn a_job_nobody_replays_in_time_pays_agreeing_runs_after_both_windows() {
    let mut c = setup();
    let id = post(&mut c, &spec(1, 1_000_000));
    ok(&commit(&mut c, id, "c1", claim("honest")));
    let committed = job(&c, &id).committed_height.unwrap();
    let window = c.ledger.store().params().unwrap().compute_verify_window_blocks;
    c.advance_to(committed + 2 * window - 1);
    failed(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }), "job_state");
    ok(&compute(&mut c, "dave", ComputeTx::Finalize { job: id }));
    assert_eq!(
        job(&c, &id).status,
        JobStatus::Settled {
            commitment: claim("honest").commitment,
            verified: false
        }
    );
    assert_eq!(earned(&c, "c1"), Credits(15));
    assert_eq!(verified(&c, "c1"), 0, "drawn but never replayed: unchecked");
    c.assert_supply_conserved();
}

#[test]
fn a_provider_that_misses_its_deadline_is_replaced_and_never_matched_again() {
    let mut c = setup();
    let id = post(
        &mut c,
        &JobSpec {
            max_price_per_gfuel: Credits(45),
            ..spec(1, 50_000)
        },
    );
    let posted = job(&c, &id).posted_height;
    failed(&compute(&mut c, "dave", ComputeTx::Reassign { job: id }), "job_state");
    // The deadline is 3 blocks: a reassign in block posted + 3 is early, in posted + 4 not.
    c.advance_to(posted + 2);
    failed(&compute(&mut c, "dave", ComputeTx::Reassign { job: id }), "job_state");
    ok(&compute(&mut c, "dave", ComputeTx::Reassign { job: id }));
    let j = job(&c, &id);
    assert_eq!((j.runs[0].provider, j.excluded.clone()), (dev("c2"), vec![dev("c1")]));
    assert_eq!(c.ledger.store().offer(&dev("c1")).unwrap().unwrap().active, 0);
    failed(&commit(&mut c, id, "c1", claim("late")), "job_state");
    // Everyone else misses too: c3, then c4, then nobody is left and the escrow returns.
    for _ in 0..3 {
        let at = job(&c, &id).runs[0].assigned_height;
        c.advance_to(at + 3);
        ok(&compute(&mut c, "dave", ComputeTx::Reassign { job: id }));
    }
    let j = job(&c, &id);
    assert_eq!(
        j.status,
        JobStatus::Failed {
            reason: JobFailure::NoProvider
        }
    );
    assert_eq!(j.excluded.len(), 4);
    assert_eq!(c.account("alice").credits, Credits(2_000_000));
    for d in ["c1", "c2", "c3", "c4"] {
        assert_eq!(
            c.ledger.store().offer(&dev(d)).unwrap().unwrap().active,
            0,
            "{d}'s slot is free"
        );
    }
    c.assert_supply_conserved();
}
