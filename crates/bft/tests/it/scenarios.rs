//! Safety and liveness under faults, each over several seeds.

use crate::sim::{link, transfer, Sim, FUNDED};
use commonware_runtime::{deterministic, Clock as _, Runner as _};
use std::time::Duration;
use trellis_ledger::StateRead as _;
use trellis_ledger::Store as _;
use trellis_primitives::AccountAddress;

/// Seeds per scenario: `TRELLIS_SIM_SEEDS` (default 8; CI runs the default).
fn seeds() -> std::ops::Range<u64> {
    let n = std::env::var("TRELLIS_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    0..n
}

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(600))),
    )
}

fn balance(sim: &Sim, slot: usize, user: u8) -> u64 {
    let address = AccountAddress::from(crate::sim::user(user).public());
    sim.node(slot)
        .with_state(|store, _| store.account(&address).unwrap().balance.units())
}

/// Four validators over lossy, jittery links finalize transfers submitted to different
/// validators, and agree on every block.
#[test]
fn four_validators_finalize_transfers_over_lossy_links() {
    for seed in seeds() {
        runner(seed).start(|context| async move {
            let mut sim = Sim::new(context, 4, link(40, 20, 90)).await;
            for slot in 0..4 {
                sim.start(slot).await;
            }
            sim.wait_for_height(3, Duration::from_secs(60)).await;
            // User 1 sends 10 transfers of 1,000 to user 2, through validator (nonce % 4).
            for nonce in 0..10u64 {
                let tx = transfer(1, 2, 1_000, nonce);
                sim.node((nonce % 4) as usize).submit(tx).unwrap();
            }
            let target = sim.heights().into_iter().max().unwrap() + 10;
            sim.wait_for_height(target, Duration::from_secs(120)).await;
            let agreed = sim.assert_agreement();
            eprintln!(
                "seed {seed}: agreed height {agreed}, heights {:?}, simulated {:?}",
                sim.heights(),
                sim.context.current().duration_since(std::time::UNIX_EPOCH).unwrap()
            );
            assert!(agreed >= target);
            for slot in 0..4 {
                assert_eq!(balance(&sim, slot, 2), FUNDED + 10_000, "seed {seed} slot {slot}");
                assert_eq!(balance(&sim, slot, 1), FUNDED - 10 * 1_100, "seed {seed} slot {slot}");
            }
        });
    }
}

/// Submits `count` transfers of 1,000 from user 1 to user 2 starting at `nonce`, round robin
/// over the running slots in `via`.
fn submit_transfers(sim: &Sim, via: &[usize], nonce: u64, count: u64) {
    for n in nonce..nonce + count {
        let slot = via[(n % via.len() as u64) as usize];
        sim.node(slot).submit(transfer(1, 2, 1_000, n)).unwrap();
    }
}

/// A validator that crashes misses blocks; the other three keep finalizing; after a restart it
/// syncs the missed blocks from its peers and reaches the same chain and state root.
#[test]
fn crashed_validator_restarts_and_catches_up() {
    for seed in seeds() {
        runner(seed).start(|context| async move {
            let mut sim = Sim::new(context, 4, link(30, 10, 98)).await;
            for slot in 0..4 {
                sim.start(slot).await;
            }
            sim.wait_for_height(3, Duration::from_secs(60)).await;
            sim.crash(3).await;
            submit_transfers(&sim, &[0, 1, 2], 0, 6);
            let crashed_at = sim.heights().into_iter().max().unwrap();
            let target = crashed_at + 20;
            sim.wait_for_height(target, Duration::from_secs(120)).await;
            sim.start(3).await;
            assert!(
                sim.node(3).tip().height < target,
                "seed {seed}: the restarted validator missed blocks"
            );
            let target = target + 5;
            sim.wait_for_height(target, Duration::from_secs(120)).await;
            let agreed = sim.assert_agreement();
            assert!(agreed >= target);
            assert_eq!(balance(&sim, 3, 2), FUNDED + 6_000, "seed {seed}");
        });
    }
}

/// A 2-2 partition has no quorum: nothing more is finalized (safety over liveness). When it
/// heals, finalization resumes and everyone agrees.
#[test]
fn partition_stalls_then_heals() {
    for seed in seeds() {
        runner(seed).start(|context| async move {
            let good = link(30, 10, 100);
            let mut sim = Sim::new(context, 4, good.clone()).await;
            for slot in 0..4 {
                sim.start(slot).await;
            }
            sim.wait_for_height(3, Duration::from_secs(60)).await;
            sim.link_where(good.clone(), |i, j| (i < 2) == (j < 2)).await;
            // Let in-flight certificates land, then watch for progress.
            sim.context.sleep(Duration::from_secs(2)).await;
            let stalled = sim.heights();
            sim.context.sleep(Duration::from_secs(20)).await;
            assert_eq!(sim.heights(), stalled, "seed {seed}: progress without a quorum");
            sim.link_all(good).await;
            let target = stalled.iter().max().unwrap() + 5;
            sim.wait_for_height(target, Duration::from_secs(120)).await;
            assert!(sim.assert_agreement() >= target);
        });
    }
}

/// One Byzantine validator that equivocates when it leads (f = 1 of 4): the honest three keep
/// finalizing transfers and agree.
#[test]
fn equivocating_validator_does_not_break_safety_or_liveness() {
    for seed in seeds() {
        runner(seed).start(|context| async move {
            let mut sim = Sim::new(context, 4, link(30, 10, 98)).await;
            sim.start_equivocator(0).await;
            for slot in 1..4 {
                sim.start(slot).await;
            }
            sim.wait_for_height(3, Duration::from_secs(120)).await;
            submit_transfers(&sim, &[1, 2, 3], 0, 6);
            let target = sim.heights().into_iter().max().unwrap() + 12;
            sim.wait_for_height(target, Duration::from_secs(240)).await;
            assert!(sim.assert_agreement() >= target);
            for slot in 1..4 {
                assert_eq!(balance(&sim, slot, 2), FUNDED + 6_000, "seed {seed} slot {slot}");
            }
        });
    }
}

/// The same seed gives the same run: the same chain, and the same runtime event history.
#[test]
fn same_seed_same_run() {
    let run = |seed: u64| {
        runner(seed).start(|context| async move {
            let mut sim = Sim::new(context, 4, link(40, 20, 90)).await;
            for slot in 0..4 {
                sim.start(slot).await;
            }
            submit_transfers(&sim, &[0, 1, 2, 3], 0, 4);
            sim.wait_for_height(8, Duration::from_secs(60)).await;
            let node = sim.node(0);
            let hashes: Vec<_> = (0..=8).map(|h| node.block(h).unwrap().unwrap().header.hash()).collect();
            let root = node.with_state(|store, _| store.root());
            (hashes, root, sim.state())
        })
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a.2, c.2, "different seeds should schedule differently");
}

/// A validator that floods every channel with malformed messages and forged transactions is
/// ignored (or blocked): the other three keep finalizing, and no forged transaction lands.
#[test]
fn garbage_from_a_peer_does_not_halt_the_others() {
    for seed in seeds() {
        runner(seed).start(|context| async move {
            let mut sim = Sim::new(context, 4, link(30, 10, 100)).await;
            sim.start_spammer(0).await;
            for slot in 1..4 {
                sim.start(slot).await;
            }
            sim.wait_for_height(3, Duration::from_secs(120)).await;
            submit_transfers(&sim, &[1, 2, 3], 0, 3);
            let target = sim.heights().into_iter().max().unwrap() + 10;
            sim.wait_for_height(target, Duration::from_secs(240)).await;
            assert!(sim.assert_agreement() >= target);
            for slot in 1..4 {
                // Only the three genuine transfers moved money.
                assert_eq!(balance(&sim, slot, 2), FUNDED + 3_000, "seed {seed} slot {slot}");
            }
        });
    }
}
