//! Rules with the numbers written out: splits, rollover, manifests, claims against the ledger.

use crate::{owner, share};
use trellis_primitives::{Amount, Epoch};
use trellis_rewards::{
    compute_epoch, EmissionSchedule, EpochInputs, NetEmission, Pool, PoolAmounts, PoolSplit, RewardConfig,
};

fn config(emission: u64) -> RewardConfig {
    RewardConfig {
        schedule: EmissionSchedule {
            initial_epoch_emission: Amount::from_units(emission),
            halving_period_epochs: 10,
            supply_cap: None,
            net_emission: NetEmission::Off,
        },
        split: PoolSplit::default(),
        treasury: owner(9_000),
        operations: owner(9_001),
    }
}

fn inputs(epoch: u64, carry: PoolAmounts, shares: Vec<trellis_rewards::DeviceShare>) -> EpochInputs {
    EpochInputs {
        epoch: Epoch(epoch),
        issued_so_far: Amount::ZERO,
        burned_in_epoch: Amount::ZERO,
        carry,
        shares,
        credit_value: None,
    }
}

fn paid(result: &trellis_rewards::EpochResult, who: u32) -> u64 {
    result
        .manifest
        .owners
        .iter()
        .find(|o| o.owner == owner(who))
        .map_or(0, |o| o.amount.units())
}

#[test]
fn coverage_pool_pays_pro_rata_and_remainders_go_to_the_treasury() {
    // Emission 1,000,000: coverage 300,000. Units 1:2 -> 100,000 and 200,000 exactly.
    // Storage 200,000 over units 1:1:1 -> 66,666 each, remainder 2 -> treasury.
    let shares = vec![
        share(1, 1, Pool::Coverage, 10),
        share(2, 2, Pool::Coverage, 20),
        share(3, 3, Pool::Storage, 5),
        share(4, 4, Pool::Storage, 5),
        share(5, 5, Pool::Storage, 5),
        share(6, 1, Pool::Compute, 1),
        share(7, 6, Pool::SensorEnergy, 3),
    ];
    let r = compute_epoch(&config(1_000_000), &inputs(0, PoolAmounts::default(), shares)).unwrap();
    assert_eq!(r.emission.units(), 1_000_000);
    // Owner 1: 100,000 coverage + 200,000 compute (sole compute device).
    assert_eq!(paid(&r, 1), 300_000);
    assert_eq!(paid(&r, 2), 200_000);
    assert_eq!((paid(&r, 3), paid(&r, 4), paid(&r, 5)), (66_666, 66_666, 66_666));
    assert_eq!(paid(&r, 6), 100_000);
    assert_eq!(paid(&r, 9_001), 100_000, "operations");
    assert_eq!(
        paid(&r, 9_000),
        100_000 + 2,
        "treasury gets its pool plus the storage remainder"
    );
    assert_eq!(r.manifest.total.units(), 1_000_000);
}

#[test]
fn unearned_pool_rolls_over_once_then_goes_to_the_treasury() {
    let c = config(1_000_000);
    // Epoch 0: only coverage earns. Storage (200,000), compute (200,000), sensor (100,000) carry.
    let r0 = compute_epoch(
        &c,
        &inputs(0, PoolAmounts::default(), vec![share(1, 1, Pool::Coverage, 1)]),
    )
    .unwrap();
    assert_eq!(r0.manifest.total.units(), 500_000);
    assert_eq!(r0.next_carry.get(Pool::Storage).units(), 200_000);
    assert_eq!(r0.next_carry.get(Pool::Compute).units(), 200_000);
    assert_eq!(r0.next_carry.get(Pool::SensorEnergy).units(), 100_000);
    // Epoch 1: storage earns its 200,000 + 200,000 carried; compute stays empty: its carried
    // 200,000 goes to the treasury and the new 200,000 carries; sensor the same with 100,000.
    let r1 = compute_epoch(&c, &inputs(1, r0.next_carry, vec![share(2, 2, Pool::Storage, 7)])).unwrap();
    assert_eq!(paid(&r1, 2), 400_000);
    assert_eq!(paid(&r1, 9_000), 100_000 + 200_000 + 100_000);
    assert_eq!(r1.next_carry.get(Pool::Compute).units(), 200_000);
    assert_eq!(r1.next_carry.get(Pool::Coverage).units(), 300_000);
    // Conservation across both epochs: minted 2,000,000 = paid + still carried.
    let paid_total = r0.manifest.total.units() + r1.manifest.total.units();
    assert_eq!(paid_total + r1.next_carry.total().unwrap().units(), 2_000_000);
}

#[test]
fn halving_applies_at_the_boundary_epoch() {
    let c = config(1_000_000);
    let all = vec![
        share(1, 1, Pool::Coverage, 1),
        share(2, 1, Pool::Storage, 1),
        share(3, 1, Pool::Compute, 1),
        share(4, 1, Pool::SensorEnergy, 1),
    ];
    let r9 = compute_epoch(&c, &inputs(9, PoolAmounts::default(), all.clone())).unwrap();
    let r10 = compute_epoch(&c, &inputs(10, PoolAmounts::default(), all)).unwrap();
    assert_eq!(
        (r9.manifest.total.units(), r10.manifest.total.units()),
        (1_000_000, 500_000)
    );
}

#[test]
fn manifest_claims_work_on_the_ledger() {
    use trellis_ledger::{
        Genesis, GenesisAccount, MemStore, Params, StateRead, Transaction, TxBody, TxKind, TxOutcome,
    };
    use trellis_primitives::Keypair;
    let shares = vec![share(1, 1, Pool::Coverage, 3), share(2, 2, Pool::Coverage, 1)];
    let r = compute_epoch(&config(1_000_000), &inputs(0, PoolAmounts::default(), shares)).unwrap();
    let oracle = Keypair::from_seed([77; 32]);
    let funded = vec![GenesisAccount {
        address: oracle.public().into(),
        balance: Amount::from_units(1_000_000),
    }];
    let mut genesis = Genesis::single_authority("rewards", oracle.public(), funded);
    genesis.params.epoch_len_blocks = 2;
    let (mut ledger, _) = genesis.into_ledger(MemStore::new()).unwrap();
    let mut nonce = 0;
    let mut send = |ledger: &mut trellis_ledger::Ledger<MemStore>, kind: TxKind| {
        let body = TxBody {
            chain_id: "rewards".into(),
            signer: oracle.public().into(),
            nonce,
            fee: Params::default().min_fee,
            kind,
        };
        nonce += 1;
        let p = ledger.propose(vec![Transaction::sign(body, &oracle)], 0).unwrap();
        p.executed.receipts[0].outcome.clone()
    };
    ledger.propose(vec![], 0).unwrap();
    ledger.propose(vec![], 0).unwrap();
    assert_eq!(send(&mut ledger, r.manifest.post_kind()), TxOutcome::Success);
    for who in [1, 2, 9_000, 9_001] {
        let (amount, proof) = r.manifest.proof(&owner(who)).unwrap();
        let kind = TxKind::ClaimReward {
            epoch: Epoch(0),
            owner: owner(who),
            amount,
            proof,
        };
        assert_eq!(send(&mut ledger, kind), TxOutcome::Success, "claim of {who}");
        assert_eq!(ledger.store().account(&owner(who)).unwrap().balance, amount);
    }
    // 300,000 coverage split 3:1 -> 225,000 and 75,000.
    assert_eq!(ledger.store().account(&owner(1)).unwrap().balance.units(), 225_000);
    let m: trellis_ledger::Manifest = ledger
        .store()
        .read(&trellis_ledger::state::keys::manifest(Epoch(0)))
        .unwrap()
        .unwrap();
    assert_eq!(m.claimed, m.total);
}

#[test]
fn audit_matches_the_published_root_and_names_the_first_altered_device() {
    use trellis_rewards::{AuditVerdict, EpochArchive};
    let c = config(1_000_000);
    let shares = vec![
        share(1, 1, Pool::Coverage, 10),
        share(2, 2, Pool::Coverage, 30),
        share(3, 3, Pool::Storage, 4),
    ];
    let ins = inputs(4, PoolAmounts::default(), shares);
    let result = compute_epoch(&c, &ins).unwrap();
    let root = result.manifest.root;
    let archive = EpochArchive {
        config: c,
        inputs: ins,
        result,
    };
    assert_eq!(archive.audit(root).unwrap(), AuditVerdict::Match { root });
    // Alter one archived report: device 2's units.
    let mut altered = archive.clone();
    altered.inputs.shares[1].units = 31;
    match altered.audit(root).unwrap() {
        AuditVerdict::DeviceMismatch {
            device,
            published,
            recomputed,
        } => {
            // Coverage 300,000 over 10:30 -> 75,000/225,000; over 10:31 -> 73,170/226,829.
            // Devices are ordered by address, so the first differing one is whichever of 1 and 2
            // sorts first; both changed.
            assert!(device == crate::device(1) || device == crate::device(2));
            assert_ne!(published, recomputed);
        }
        other => panic!("expected a device mismatch, got {other:?}"),
    }
    // A root posted on chain that is not the archived one.
    assert!(matches!(
        archive.audit(trellis_primitives::Hash::ZERO).unwrap(),
        AuditVerdict::RootMismatch { .. }
    ));
    // JSON round trip (the archive format on disk).
    let json = serde_json::to_string(&archive).unwrap();
    assert_eq!(serde_json::from_str::<EpochArchive>(&json).unwrap(), archive);
}

fn with_credits(mut s: trellis_rewards::DeviceShare, credits: u64) -> trellis_rewards::DeviceShare {
    s.earned_credits = credits;
    s
}

/// 1 credit = $0.00001 and 1 TRL = $1: a credit is worth 1,000 base units.
const CREDIT_VALUE: trellis_rewards::CreditValue = trellis_rewards::CreditValue {
    credit_price_micro_usd: 10,
    micro_usd_per_trl: 1_000_000,
};

#[test]
fn earned_credits_are_paid_at_their_value_before_units_share_the_rest() {
    // Storage pool 200,000 (20 % of 1,000,000). Device 1 earned 50 credits (50,000 units),
    // device 2 earned 30 (30,000), device 3 none: 120,000 is left for units 1:1:2.
    let shares = vec![
        with_credits(share(1, 1, Pool::Storage, 10), 50),
        with_credits(share(2, 2, Pool::Storage, 10), 30),
        share(3, 3, Pool::Storage, 20),
    ];
    let mut i = inputs(0, PoolAmounts::default(), shares);
    i.credit_value = Some(CREDIT_VALUE);
    let r = compute_epoch(&config(1_000_000), &i).unwrap();
    assert_eq!(paid(&r, 1), 50_000 + 30_000);
    assert_eq!(paid(&r, 2), 30_000 + 30_000);
    assert_eq!(paid(&r, 3), 60_000);
    let d1 = r.devices.iter().find(|d| d.device == crate::device(1)).unwrap();
    assert_eq!(d1.for_credits.units(), 50_000);
    assert_eq!(d1.amount.units(), 80_000);
}

#[test]
fn credits_worth_more_than_the_pool_are_scaled_down_alike_and_units_get_nothing() {
    // Storage pool 200,000; owed 300,000 and 100,000: scaled by 1/2, device 3's units earn 0.
    let shares = vec![
        with_credits(share(1, 1, Pool::Storage, 10), 300),
        with_credits(share(2, 2, Pool::Storage, 0), 100),
        share(3, 3, Pool::Storage, 20),
    ];
    let mut i = inputs(0, PoolAmounts::default(), shares);
    i.credit_value = Some(CREDIT_VALUE);
    let r = compute_epoch(&config(1_000_000), &i).unwrap();
    assert_eq!(paid(&r, 1), 150_000);
    assert_eq!(paid(&r, 2), 50_000);
    assert_eq!(paid(&r, 3), 0);
}

#[test]
fn without_a_credit_value_earned_credits_change_nothing() {
    let plain = vec![share(1, 1, Pool::Storage, 10), share(2, 2, Pool::Storage, 30)];
    let earned = vec![
        with_credits(share(1, 1, Pool::Storage, 10), 1_000),
        share(2, 2, Pool::Storage, 30),
    ];
    let a = compute_epoch(&config(1_000_000), &inputs(0, PoolAmounts::default(), plain)).unwrap();
    let b = compute_epoch(&config(1_000_000), &inputs(0, PoolAmounts::default(), earned)).unwrap();
    assert_eq!(a.manifest, b.manifest);
    assert_eq!(paid(&a, 1), 50_000);
}
