//! Reward manifests and claims, per-epoch burn records and reward parameters, with the numbers
//! written out.

use crate::fixtures::{addr, failed, key, ok, Chain, GENESIS_ISSUED, MIN_FEE, TRL, USER_BALANCE};
use trellis_ledger::{
    execute::reward_leaf, merkle_root, state::keys, Capability, DeviceClass, GovAction, Manifest, MerkleProof, Params,
    PoolSplit, RewardParams, StateRead, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Epoch, Hash};

const OWNERS: [(&str, u64); 3] = [("alice", 300), ("bob", 200), ("carol", 500)];

/// The manifest's leaves in owner order, and their hashes.
fn leaves(owners: &[(&str, u64)]) -> (Vec<(AccountAddress, u64)>, Vec<Hash>) {
    let mut leaves: Vec<_> = owners.iter().map(|(o, a)| (addr(o), *a)).collect();
    leaves.sort();
    let hashes = leaves
        .iter()
        .map(|(o, a)| reward_leaf(o, Amount::from_units(*a)))
        .collect();
    (leaves, hashes)
}

fn manifest(c: &mut Chain, epoch: u64, owners: &[(&str, u64)], signers: &[&str]) -> TxOutcome {
    let (leaves, hashes) = leaves(owners);
    let kind = TxKind::PostRewardManifest {
        epoch: Epoch(epoch),
        root: merkle_root(&hashes),
        total: Amount::from_units(leaves.iter().map(|(_, a)| a).sum()),
        owner_count: leaves.len() as u32,
    };
    let mut tx = c.tx(signers[0], kind);
    for s in &signers[1..] {
        tx = tx.cosign(&key(s));
    }
    c.run_tx(tx)
}

/// `who`'s claim for `amount`, with the proof of `who`'s real leaf.
fn claim(c: &mut Chain, epoch: u64, owners: &[(&str, u64)], who: &str, amount: u64) -> TxOutcome {
    let (leaves, hashes) = leaves(owners);
    let index = leaves.iter().position(|(o, _)| *o == addr(who)).unwrap();
    let kind = TxKind::ClaimReward {
        epoch: Epoch(epoch),
        owner: addr(who),
        amount: Amount::from_units(amount),
        proof: MerkleProof::build(&hashes, index).unwrap(),
    };
    c.run("dave", kind)
}

fn stored_manifest(c: &Chain, epoch: u64) -> Manifest {
    c.ledger.store().read(&keys::manifest(Epoch(epoch))).unwrap().unwrap()
}

#[test]
fn a_manifest_needs_a_complete_epoch_and_the_oracle_quorum_and_is_posted_once() {
    let mut c = Chain::new();
    // Block 1 is in epoch 0 (5 blocks per epoch): epoch 0 is not complete.
    failed(
        &manifest(&mut c, 0, &OWNERS, &["oracle1", "oracle2"]),
        "epoch_not_complete",
    );
    c.advance_to(4);
    // Block 5 is the first of epoch 1; epoch 1 itself is not complete.
    failed(
        &manifest(&mut c, 1, &OWNERS, &["oracle1", "oracle2"]),
        "epoch_not_complete",
    );
    assert_eq!(c.ledger.tip().height, 5);
    failed(&manifest(&mut c, 0, &OWNERS, &["oracle1"]), "quorum_not_met");
    failed(&manifest(&mut c, 0, &OWNERS, &["oracle1", "admin2"]), "quorum_not_met");
    let issued_before = c.ledger.store().supply().unwrap().issued.units();
    assert_eq!(issued_before, GENESIS_ISSUED);
    ok(&manifest(&mut c, 0, &OWNERS, &["oracle1", "oracle3"]));
    // The total is minted into escrow: issued grows by 1,000 units, no balance does.
    assert_eq!(
        c.ledger.store().supply().unwrap().issued.units(),
        GENESIS_ISSUED + 1_000
    );
    let stored = stored_manifest(&c, 0);
    assert_eq!(
        (stored.total.units(), stored.claimed.units(), stored.owner_count),
        (1_000, 0, 3)
    );
    assert_eq!(stored.root, merkle_root(&leaves(&OWNERS).1));
    let outcome = manifest(&mut c, 0, &[("dave", 1)], &["oracle1", "oracle2"]);
    failed(&outcome, "manifest_exists");
    assert_eq!(stored_manifest(&c, 0), stored);
    c.assert_supply_conserved();
}

#[test]
fn claims_with_a_valid_proof_pay_once_and_a_proof_for_a_bigger_amount_fails_bad_proof() {
    let mut c = Chain::new();
    c.advance_to(5);
    ok(&manifest(&mut c, 0, &OWNERS, &["oracle1", "oracle2"]));
    let bob = c.balance("bob");
    let dave = c.balance("dave");
    ok(&claim(&mut c, 0, &OWNERS, "bob", 200));
    // Anyone may submit a claim (dave pays the fee); the owner is paid.
    assert_eq!(c.balance("bob"), bob + 200);
    assert_eq!(c.balance("dave"), dave - MIN_FEE);
    failed(&claim(&mut c, 0, &OWNERS, "bob", 200), "already_claimed");
    failed(&claim(&mut c, 0, &OWNERS, "carol", 501), "bad_proof");
    failed(&claim(&mut c, 0, &OWNERS, "carol", 499), "bad_proof");
    // The right leaf under a proof claiming a different tree size is refused as well.
    let (_, hashes) = leaves(&OWNERS);
    let mut resized = MerkleProof::build(&hashes, 0).unwrap();
    resized.leaf_count = 4;
    let (sorted, _) = leaves(&OWNERS);
    let kind = TxKind::ClaimReward {
        epoch: Epoch(0),
        owner: sorted[0].0,
        amount: Amount::from_units(sorted[0].1),
        proof: resized,
    };
    failed(&c.run("dave", kind), "bad_proof");
    ok(&claim(&mut c, 0, &OWNERS, "carol", 500));
    assert_eq!(c.balance("carol"), USER_BALANCE + 500);
    let stored = stored_manifest(&c, 0);
    assert_eq!((stored.total.units(), stored.claimed.units()), (1_000, 700));
    failed(&claim(&mut c, 7, &OWNERS, "alice", 300), "no_manifest");
    c.assert_supply_conserved();
}

#[test]
fn a_manifest_above_max_manifest_total_is_refused() {
    let mut c = Chain::new();
    c.advance_to(5);
    let cap = c.ledger.store().params().unwrap().max_manifest_total.units();
    failed(
        &manifest(&mut c, 0, &[("alice", cap + 1)], &["oracle1", "oracle2"]),
        "manifest_too_large",
    );
    ok(&manifest(&mut c, 0, &[("alice", cap)], &["oracle1", "oracle2"]));
    assert_eq!(c.ledger.store().supply().unwrap().issued.units(), GENESIS_ISSUED + cap);
    c.assert_supply_conserved();
}

#[test]
fn every_burn_is_recorded_in_the_epoch_of_its_block() {
    let mut c = Chain::new();
    // Blocks 1..=4 are epoch 0 (5 blocks per epoch): a fee, an onboarding fee and a credit burn.
    let transfer = TxKind::Transfer {
        to: addr("bob"),
        amount: Amount::from_units(1),
    };
    ok(&c.run("alice", transfer.clone()));
    let onboard = TxKind::OnboardDevice {
        device: key("d1").public().into(),
        maker: key("maker").public(),
        class: DeviceClass::Storage,
        capabilities: vec![Capability {
            name: "slots".into(),
            value: 2,
        }],
    };
    let tx = c.tx("alice", onboard).cosign(&key("maker")).cosign(&key("d1"));
    ok(&c.run_tx(tx));
    let burn = TxKind::BurnForCredits {
        amount: Amount::from_units(3 * TRL),
        beneficiary: addr("bob"),
    };
    ok(&c.run("bob", burn));
    let epoch_burn = |c: &Chain, e| -> Option<Amount> { c.ledger.store().read(&keys::epoch_burn(Epoch(e))).unwrap() };
    assert_eq!(epoch_burn(&c, 0).unwrap().units(), 3 * MIN_FEE + TRL + 3 * TRL);
    c.block(vec![]);
    // Block 5 is epoch 1.
    ok(&c.run("alice", transfer));
    assert_eq!(epoch_burn(&c, 1).unwrap().units(), MIN_FEE);
    assert_eq!(epoch_burn(&c, 2), None);
    assert_eq!(c.burned(), 4 * MIN_FEE + 4 * TRL);
}

#[test]
fn reward_parameters_change_only_by_admin_quorum_and_must_split_to_one_hundred_percent() {
    let mut c = Chain::new();
    assert_eq!(
        c.ledger.store().read::<RewardParams>(keys::REWARD_PARAMS).unwrap(),
        None
    );
    let params = RewardParams {
        initial_epoch_emission: Amount::from_units(1_000 * TRL),
        halving_period_epochs: 10,
        supply_cap: None,
        net_emission_cap_per_epoch: Some(Amount::from_units(TRL)),
        split: PoolSplit {
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
    let set = |p: RewardParams| TxKind::Governance {
        action: GovAction::SetRewardParams { params: p },
    };
    let alone = c.tx("admin1", set(params.clone()));
    failed(&c.run_tx(alone), "quorum_not_met");
    let bad = RewardParams {
        split: PoolSplit {
            treasury_bps: 499,
            ..params.split.clone()
        },
        ..params.clone()
    };
    let tx = c.tx("admin1", set(bad)).cosign(&key("admin2"));
    failed(&c.run_tx(tx), "invalid");
    let tx = c.tx("admin1", set(params.clone())).cosign(&key("admin2"));
    ok(&c.run_tx(tx));
    assert_eq!(
        c.ledger.store().read::<RewardParams>(keys::REWARD_PARAMS).unwrap(),
        Some(params.clone())
    );
    let mut g = crate::fixtures::genesis();
    g.rewards = Some(RewardParams {
        halving_period_epochs: 0,
        ..params
    });
    assert!(g.validate().unwrap_err().to_string().contains("halving_period_epochs"));
}

#[test]
fn epoch_len_blocks_cannot_change_after_genesis_so_epoch_numbers_never_go_back() {
    let mut c = Chain::new();
    let one_unit = TxKind::Transfer {
        to: addr("bob"),
        amount: Amount::from_units(1),
    };
    ok(&c.run("alice", one_unit.clone()));
    c.advance_to(10);
    ok(&manifest(&mut c, 0, &OWNERS, &["oracle1", "oracle2"]));
    ok(&manifest(&mut c, 1, &OWNERS, &["oracle1", "oracle2"]));
    assert_eq!(c.ledger.next_epoch().unwrap(), Epoch(2));
    let burned_in_epoch_0: Amount = c.ledger.store().read(&keys::epoch_burn(Epoch(0))).unwrap().unwrap();
    assert_eq!(burned_in_epoch_0.units(), MIN_FEE);
    // Heights 13.. at 1,000 blocks per epoch would be epoch 0 again: epoch 0's manifest is posted and
    // its burns were reported, yet new burns would land in it.
    let longer = Params {
        epoch_len_blocks: 1_000,
        ..c.ledger.store().params().unwrap()
    };
    let tx = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params: longer },
            },
        )
        .cosign(&key("admin2"));
    let outcome = c.run_tx(tx);
    failed(&outcome, "invalid");
    assert!(matches!(outcome, TxOutcome::Failed { message, .. } if message.contains("epoch_len_blocks")));
    assert_eq!(c.ledger.store().params().unwrap().epoch_len_blocks, 5);
    ok(&c.run("alice", one_unit));
    assert_eq!(c.ledger.next_epoch().unwrap(), Epoch(3));
    let after: Amount = c.ledger.store().read(&keys::epoch_burn(Epoch(0))).unwrap().unwrap();
    assert_eq!(after, burned_in_epoch_0);
    // Every other parameter can still change.
    let cheaper = Params {
        min_fee: Amount::from_units(MIN_FEE / 2),
        ..c.ledger.store().params().unwrap()
    };
    let tx = c
        .tx(
            "admin1",
            TxKind::Governance {
                action: GovAction::SetParams { params: cheaper },
            },
        )
        .cosign(&key("admin2"));
    ok(&c.run_tx(tx));
    assert_eq!(c.ledger.store().params().unwrap().min_fee.units(), MIN_FEE / 2);
}
