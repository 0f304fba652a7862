//! Determinism: a seeded workload, replayed into fresh ledgers, gives byte-identical state; tampered
//! blocks are refused and change nothing.

use crate::fixtures::{addr, genesis, Chain, USERS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use trellis_ledger::{BlockError, Ledger, MemStore, Store, Transaction, TxKind};
use trellis_primitives::Amount;

fn seeded_chain(seed: u64, blocks: usize) -> Chain {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut chain = Chain::new();
    for _ in 0..blocks {
        let n = rng.gen_range(0..20);
        let txs: Vec<Transaction> = (0..n)
            .map(|_| {
                let from = USERS[rng.gen_range(0..USERS.len())];
                let to = addr(USERS[rng.gen_range(0..USERS.len())]);
                let amount = Amount::from_units(rng.gen_range(0..10_000_000_000));
                if rng.gen_bool(0.2) {
                    chain.tx(
                        from,
                        TxKind::BurnForCredits {
                            amount,
                            beneficiary: to,
                        },
                    )
                } else {
                    chain.tx(from, TxKind::Transfer { to, amount })
                }
            })
            .collect();
        chain.block(txs);
    }
    chain
}

fn fresh() -> Ledger<MemStore> {
    genesis().into_ledger(MemStore::new()).unwrap().0
}

fn state(l: &Ledger<MemStore>) -> Vec<(Vec<u8>, Vec<u8>)> {
    l.store().entries().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

#[test]
fn two_fresh_ledgers_fed_the_same_blocks_agree_byte_for_byte_at_every_height() {
    for seed in [1u64, 2, 3, 42] {
        let chain = seeded_chain(seed, 40);
        let (mut b, mut c) = (fresh(), fresh());
        for block in &chain.blocks[1..] {
            let eb = b.apply_block(block).unwrap();
            let ec = c.apply_block(block).unwrap();
            assert_eq!(eb.diff, ec.diff);
            assert_eq!(eb.receipts, ec.receipts);
            assert_eq!(b.store_mut().root(), block.header.state_root);
            assert_eq!(c.store_mut().root(), block.header.state_root);
        }
        assert_eq!(state(&b), state(&chain.ledger));
        assert_eq!(state(&c), state(&chain.ledger));
        assert_eq!(b.tip(), chain.ledger.tip());
    }
}

#[test]
fn the_same_seed_builds_the_same_chain_and_another_seed_does_not() {
    let a = seeded_chain(7, 25);
    let b = seeded_chain(7, 25);
    let c = seeded_chain(8, 25);
    assert_eq!(a.ledger.tip(), b.ledger.tip());
    assert_ne!(a.ledger.tip().state_root, c.ledger.tip().state_root);
}

#[test]
fn tampered_blocks_are_refused_and_leave_the_ledger_unchanged() {
    let chain = seeded_chain(5, 10);
    let mut replica = fresh();
    for block in &chain.blocks[1..5] {
        replica.apply_block(block).unwrap();
    }
    let tip = *replica.tip();
    let root = replica.store_mut().root();
    let good = chain.blocks[5].clone();
    assert!(!good.txs.is_empty(), "seed 5 gives block 5 transactions");

    let mut wrong_root = good.clone();
    wrong_root.header.state_root.0[0] ^= 1;
    assert!(matches!(
        replica.apply_block(&wrong_root),
        Err(BlockError::StateRootMismatch { .. })
    ));

    let mut changed_tx = good.clone();
    changed_tx.txs[0].body.fee = Amount::from_units(changed_tx.txs[0].body.fee.units() + 1);
    assert!(matches!(
        replica.apply_block(&changed_tx),
        Err(BlockError::TxRootMismatch)
    ));

    let mut forged = good.clone();
    forged.txs[0].body.fee = Amount::from_units(forged.txs[0].body.fee.units() + 1);
    forged.header.tx_root = trellis_ledger::block::tx_root(&forged.txs);
    assert!(matches!(replica.apply_block(&forged), Err(BlockError::BadSignatures)));

    let mut skipped = good.clone();
    skipped.header.height += 1;
    assert!(matches!(
        replica.apply_block(&skipped),
        Err(BlockError::WrongHeight { .. })
    ));

    let mut back_in_time = good.clone();
    back_in_time.header.timestamp_ms = 0;
    assert!(matches!(
        replica.apply_block(&back_in_time),
        Err(BlockError::TimestampBackwards { .. })
    ));

    assert_eq!(*replica.tip(), tip);
    assert_eq!(replica.store_mut().root(), root);
    replica.apply_block(&good).unwrap();
}
