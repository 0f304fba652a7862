//! Random compute-market histories: honest and cheating providers and verifiers, timeouts and
//! finalizations in any order. After every block credits and TRL are conserved, and a replica
//! replaying the blocks ends byte-identical.

use crate::{
    compute::{claim, dev, owner, setup, spec},
    fixtures::{entries, fresh_ledger},
};
use proptest::prelude::*;
use trellis_ledger::{
    tx::{ComputeTx, JobSpec},
    TxKind,
};
use trellis_primitives::{Credits, Hash};

#[derive(Debug, Clone)]
enum Step {
    Post { nonce: u8, replicas: u8, all_sampled: bool },
    Commit { job: usize, device: usize, honest: bool },
    Verify { job: usize, device: usize, honest: bool },
    Finalize { job: usize },
    Reassign { job: usize },
    Wait { blocks: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<u8>(), 1..=2u8, any::<bool>()).prop_map(|(nonce, replicas, all_sampled)| Step::Post {
            nonce,
            replicas,
            all_sampled
        }),
        (0..6usize, 0..4usize, any::<bool>()).prop_map(|(job, device, honest)| Step::Commit { job, device, honest }),
        (0..6usize, 0..4usize, any::<bool>()).prop_map(|(job, device, honest)| Step::Verify { job, device, honest }),
        (0..6usize).prop_map(|job| Step::Finalize { job }),
        (0..6usize).prop_map(|job| Step::Reassign { job }),
        (1..40u8).prop_map(|blocks| Step::Wait { blocks }),
    ]
}

const DEVICES: [&str; 4] = ["c1", "c2", "c3", "c4"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, rng_seed: proptest::test_runner::RngSeed::Fixed(0xc0de), ..ProptestConfig::default() })]

    #[test]
    fn compute_histories_conserve_credits_and_supply_and_replay_identically(steps in proptest::collection::vec(step(), 1..60)) {
        let mut c = setup();
        let mut jobs: Vec<Hash> = Vec::new();
        for s in steps {
            let pick = |i: usize| jobs.get(i % jobs.len().max(1)).copied();
            match s {
                Step::Post { nonce, replicas, all_sampled } => {
                    let sp = JobSpec { replicas, max_price_per_gfuel: Credits(45), deadline_blocks: 5, ..spec(nonce, if all_sampled { 1_000_000 } else { 50_000 }) };
                    c.run("alice", TxKind::Compute(ComputeTx::PostJob { spec: sp.clone() }));
                    jobs.push(sp.id(&crate::fixtures::addr("alice")));
                }
                Step::Commit { job, device, honest } | Step::Verify { job, device, honest } if !jobs.is_empty() => {
                    let id = pick(job).unwrap_or_default();
                    let d = DEVICES[device];
                    let cl = claim(if honest { "honest" } else { "wrong" });
                    let op = if matches!(s, Step::Commit { .. }) {
                        ComputeTx::Commit { job: id, device: dev(d), claim: cl }
                    } else {
                        ComputeTx::Verify { job: id, device: dev(d), claim: cl }
                    };
                    c.run(owner(d), TxKind::Compute(op));
                }
                Step::Finalize { job } if !jobs.is_empty() => {
                    c.run("dave", TxKind::Compute(ComputeTx::Finalize { job: pick(job).unwrap_or_default() }));
                }
                Step::Reassign { job } if !jobs.is_empty() => {
                    c.run("dave", TxKind::Compute(ComputeTx::Reassign { job: pick(job).unwrap_or_default() }));
                }
                Step::Wait { blocks } => {
                    let to = c.ledger.tip().height + u64::from(blocks);
                    c.advance_to(to);
                }
                _ => {}
            }
            c.assert_supply_conserved();
        }
        let mut replica = fresh_ledger();
        for block in &c.blocks[1..] {
            replica.apply_block(block).unwrap();
        }
        prop_assert_eq!(entries(&replica), entries(&c.ledger));
    }
}

/// The share of jobs drawn for replay is the spec's rate: 400 jobs at 10 % draw 40 ± 18
/// (three standard deviations of the binomial). This is what the detection probability in
/// ARCHITECTURE.md rests on: a provider that cheats on n jobs escapes with (1 − p)^n.
#[test]
fn jobs_are_drawn_for_replay_at_their_sampling_rate() {
    use crate::fixtures::addr;
    use trellis_ledger::{execute::compute_sampled, state::recent_hash, StateRead};
    let mut c = setup();
    let providers = ["c1", "c2", "c3", "c4"];
    let mut drawn = 0usize;
    let mut total = 0usize;
    for round in 0..50u16 {
        // Eight jobs fill the four providers' two slots each; then each commits its runs.
        let mut posted = Vec::new();
        let mut txs = Vec::new();
        for k in 0..8u16 {
            let mut sp = JobSpec {
                max_price_per_gfuel: Credits(45),
                ..spec(0, 100_000)
            };
            sp.nonce[..2].copy_from_slice(&round.to_le_bytes());
            sp.nonce[2..4].copy_from_slice(&k.to_le_bytes());
            posted.push(sp.id(&addr("alice")));
            txs.push(c.tx("alice", TxKind::Compute(ComputeTx::PostJob { spec: sp })));
        }
        c.block(txs);
        let mut txs = Vec::new();
        for id in &posted {
            let job = c.ledger.store().job(id).unwrap().expect("posted");
            let device = providers.iter().find(|d| dev(d) == job.runs[0].provider).unwrap();
            txs.push(c.tx(
                owner(device),
                TxKind::Compute(ComputeTx::Commit {
                    job: *id,
                    device: dev(device),
                    claim: claim("honest"),
                }),
            ));
        }
        c.block(txs);
        c.block(vec![]);
        for id in &posted {
            let job = c.ledger.store().job(id).unwrap().unwrap();
            let entropy = recent_hash(c.ledger.store(), job.committed_height.unwrap())
                .unwrap()
                .unwrap();
            drawn += usize::from(compute_sampled(&job, id, &entropy));
            total += 1;
        }
    }
    assert_eq!(total, 400);
    assert!((22..=58).contains(&drawn), "{drawn} of 400 drawn at 10 %");
}
