//! Determinism: a seeded workload of every transaction kind, replayed into fresh ledgers, gives
//! byte-identical state at every height; tampered blocks are refused and change nothing.

use crate::fixtures::{entries, fresh_ledger, Chain};
use crate::workload::{build, op, Model};
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use trellis_ledger::{block::tx_root, BlockError, Store, TxKind};
use trellis_primitives::{Amount, Hash};

/// A chain of `blocks` blocks built by `propose` from the random workload seeded with `seed`.
fn seeded_chain(seed: u64, blocks: usize) -> Chain {
    let mut sizes = ChaCha20Rng::seed_from_u64(seed);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let ops = op();
    let mut chain = Chain::new();
    let mut model = Model::default();
    let mut included = Vec::new();
    for _ in 0..blocks {
        let n = sizes.gen_range(0..16);
        let txs = (0..n)
            .filter_map(|_| {
                let op = ops.new_tree(&mut runner).unwrap().current();
                build(&mut chain, &mut model, &included, &op)
            })
            .collect();
        let proposal = chain.block(txs);
        model.note_block(&proposal.executed);
        included.extend(proposal.executed.block.txs);
    }
    chain
}

#[test]
fn three_ledgers_fed_the_same_blocks_agree_on_every_state_root_and_every_byte() {
    for seed in [1u64, 2, 3, 42] {
        let chain = seeded_chain(seed, 40);
        let included = chain.blocks.iter().map(|b| b.txs.len()).sum::<usize>();
        assert!(included > 100, "seed {seed} included only {included} transactions");
        let (mut b, mut c) = (fresh_ledger(), fresh_ledger());
        assert_eq!(b.tip().hash, chain.blocks[0].header.hash());
        for block in &chain.blocks[1..] {
            let eb = b.apply_block(block).unwrap();
            let ec = c.apply_block(block).unwrap();
            assert_eq!(eb.diff, ec.diff);
            assert_eq!(eb.receipts, ec.receipts);
            assert_eq!(b.store_mut().root(), block.header.state_root);
            assert_eq!(c.store_mut().root(), block.header.state_root);
            assert_eq!(b.tip().hash, block.header.hash());
        }
        let a = entries(&chain.ledger);
        assert_eq!(entries(&b), a, "seed {seed}");
        assert_eq!(entries(&c), a, "seed {seed}");
        assert_eq!(b.tip(), chain.ledger.tip());
        assert_eq!(c.tip(), chain.ledger.tip());
    }
}

#[test]
fn the_same_seed_builds_the_same_chain_and_another_seed_does_not() {
    let a = seeded_chain(7, 25);
    let b = seeded_chain(7, 25);
    let c = seeded_chain(8, 25);
    assert_eq!(a.blocks, b.blocks);
    assert_eq!(a.ledger.tip(), b.ledger.tip());
    assert_eq!(entries(&a.ledger), entries(&b.ledger));
    assert_ne!(a.ledger.tip().state_root, c.ledger.tip().state_root);
}

#[test]
fn tampered_blocks_are_refused_and_leave_tip_and_state_unchanged() {
    let chain = seeded_chain(5, 12);
    // The first block after height 3 with a transfer in it.
    let at = (4..chain.blocks.len())
        .find(|&h| {
            chain.blocks[h]
                .txs
                .iter()
                .any(|t| matches!(t.body.kind, TxKind::Transfer { .. }))
        })
        .expect("seed 5 transfers after height 3");
    let mut replica = fresh_ledger();
    for block in &chain.blocks[1..at] {
        replica.apply_block(block).unwrap();
    }
    let tip = *replica.tip();
    let state = entries(&replica);
    let good = chain.blocks[at].clone();
    let i = good
        .txs
        .iter()
        .position(|t| matches!(t.body.kind, TxKind::Transfer { .. }))
        .unwrap();
    let refuse = |replica: &mut trellis_ledger::Ledger<trellis_ledger::MemStore>, block, what: &str| {
        let err = replica.apply_block(&block).unwrap_err();
        assert_eq!(*replica.tip(), tip, "{what} moved the tip");
        assert_eq!(entries(replica), state, "{what} changed state");
        assert_eq!(replica.store_mut().root(), tip.state_root, "{what} changed the root");
        err
    };

    let mut wrong_root = good.clone();
    wrong_root.header.state_root.0[0] ^= 1;
    let err = refuse(&mut replica, wrong_root, "a wrong state root");
    assert_eq!(
        err,
        BlockError::StateRootMismatch {
            header: Hash({
                let mut r = good.header.state_root.0;
                r[0] ^= 1;
                r
            }),
            computed: good.header.state_root,
        }
    );

    let mut more = good.clone();
    if let TxKind::Transfer { amount, .. } = &mut more.txs[i].body.kind {
        *amount = Amount::from_units(amount.units() ^ 1);
    }
    assert!(matches!(
        refuse(&mut replica, more.clone(), "an amount"),
        BlockError::TxRootMismatch
    ));
    more.header.tx_root = tx_root(&more.txs);
    assert!(matches!(
        refuse(&mut replica, more, "a re-rooted amount"),
        BlockError::BadSignatures
    ));

    let mut dropped = good.clone();
    dropped.txs.remove(i);
    dropped.header.tx_root = tx_root(&dropped.txs);
    dropped.header.tx_count -= 1;
    let err = refuse(&mut replica, dropped, "a dropped transaction");
    assert!(
        matches!(
            err,
            BlockError::StateRootMismatch { .. } | BlockError::NotIncludable { .. }
        ),
        "{err:?}"
    );

    let mut skipped = good.clone();
    skipped.header.height += 1;
    assert!(matches!(
        refuse(&mut replica, skipped, "a height"),
        BlockError::WrongHeight { .. }
    ));
    let mut orphan = good.clone();
    orphan.header.parent = Hash([9; 32]);
    assert!(matches!(
        refuse(&mut replica, orphan, "a parent"),
        BlockError::WrongParent { .. }
    ));
    let mut back_in_time = good.clone();
    back_in_time.header.timestamp_ms = 0;
    assert!(matches!(
        refuse(&mut replica, back_in_time, "a timestamp"),
        BlockError::TimestampBackwards { .. }
    ));

    let executed = replica.apply_block(&good).unwrap();
    assert_eq!(replica.tip().state_root, good.header.state_root);
    assert_eq!(executed.receipts.len(), good.txs.len());
}
