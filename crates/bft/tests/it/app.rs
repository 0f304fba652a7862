//! The ledger application on its own: what it proposes, and what it votes for and against.

use crate::sim::{genesis, transfer, validator_key};
use commonware_consensus::{
    marshal::ancestry,
    simplex::types::Context,
    types::{Epoch, Round, View},
    Application as _,
};
use commonware_cryptography::{blake3::Digest, ed25519::PublicKey, Digested, Digestible as _, Signer as _};
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use std::time::{Duration, UNIX_EPOCH};
use trellis_bft::{block::digest_of, AppConfig, BftBlock, LedgerApp};
use trellis_chain::{Decided, Node};
use trellis_ledger::{Block, Ledger, MemStore};
use trellis_primitives::Hash;
use trellis_store::ChainStore;

/// Simulated time starts here (after the genesis timestamp, as in real life).
const START_MS: u64 = 1_000_000;

struct Fixture {
    app: LedgerApp,
    /// A ledger kept beside the app's, to build blocks with.
    ledger: Ledger<MemStore>,
    genesis: Block,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let genesis_doc = genesis();
        let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
        store.initialise(&genesis_doc).unwrap();
        let node = Node::new(store).unwrap();
        let (ledger, block0) = genesis_doc.into_ledger(MemStore::new()).unwrap();
        let app = LedgerApp::new(
            node,
            AppConfig {
                block_interval: Duration::from_millis(10),
            },
        );
        Fixture {
            app,
            ledger,
            genesis: block0.block,
            _dir: dir,
        }
    }
}

fn runner() -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new().with_start_time(UNIX_EPOCH + Duration::from_millis(START_MS)),
    )
}

fn digested(block: &Block) -> Digested<BftBlock> {
    let b = BftBlock::new(block.clone());
    let digest = b.digest();
    Digested::precomputed(b, digest)
}

fn leader() -> PublicKey {
    validator_key(0).public_key()
}

fn context(view: u64, parent: &Block) -> Context<Digest, PublicKey> {
    Context {
        round: Round::new(Epoch::zero(), View::new(view)),
        leader: leader(),
        parent: (View::new(view - 1), digest_of(parent.header.hash())),
    }
}

/// Verifies `chain` (the block first, then its ancestors down to one the app knows).
async fn verify(app: &mut LedgerApp, ctx: &deterministic::Context, chain: &[&Block]) -> bool {
    let blocks: Vec<_> = chain.iter().map(|b| digested(b)).collect();
    let parent = chain[1];
    app.verify(
        (ctx.child("verify"), context(chain[0].header.height, parent)),
        ancestry::from_iter(blocks),
    )
    .await
}

fn with_tx_root_fixed(mut block: Block) -> Block {
    block.header.tx_root = trellis_ledger::block::tx_root(&block.txs);
    block
}

#[test]
fn votes_for_valid_blocks_and_against_invalid_ones() {
    runner().start(|ctx| async move {
        let mut f = Fixture::new();
        let g = f.genesis.clone();
        let b1 = f
            .ledger
            .propose(vec![transfer(1, 2, 5, 0), transfer(3, 4, 7, 0)], START_MS)
            .unwrap()
            .executed
            .block;
        assert_eq!(b1.txs.len(), 2);

        let mut wrong_root = b1.clone();
        wrong_root.header.state_root = Hash([9; 32]);
        assert!(!verify(&mut f.app, &ctx, &[&wrong_root, &g]).await, "wrong state root");

        let mut bad_signature = b1.clone();
        bad_signature.txs[0].signature.0[5] ^= 1;
        let bad_signature = with_tx_root_fixed(bad_signature);
        assert!(!verify(&mut f.app, &ctx, &[&bad_signature, &g]).await, "bad signature");

        let mut dropped_tx = b1.clone();
        dropped_tx.txs.pop();
        dropped_tx.header.tx_count = 1;
        let dropped_tx = with_tx_root_fixed(dropped_tx);
        assert!(
            !verify(&mut f.app, &ctx, &[&dropped_tx, &g]).await,
            "state root of other txs"
        );

        let mut future = b1.clone();
        future.header.timestamp_ms = START_MS + 60_000;
        assert!(
            !verify(&mut f.app, &ctx, &[&future, &g]).await,
            "timestamp a minute ahead"
        );

        assert!(verify(&mut f.app, &ctx, &[&b1, &g]).await, "the valid block");
        assert_eq!(f.app.speculated(), 1);

        // A child of the (not yet final) block executes on top of it.
        let b2 = f
            .ledger
            .propose(vec![transfer(1, 2, 5, 1)], START_MS + 10)
            .unwrap()
            .executed
            .block;
        assert!(
            verify(&mut f.app, &ctx, &[&b2, &b1, &g]).await,
            "child of a speculated block"
        );
        // Nothing is committed before finality.
        assert_eq!(f.app.node().tip().height, 0);

        // After b1 is final, a sibling of b1 (a fork below finality) is voted against.
        assert!(matches!(f.app.node().commit_decided(&b1), Ok(Decided::Committed(_))));
        assert!(matches!(
            f.app.node().commit_decided(&b1),
            Ok(Decided::AlreadyCommitted)
        ));
        let mut other = trellis_ledger::Genesis::clone(&genesis())
            .into_ledger(MemStore::new())
            .unwrap()
            .0;
        let sibling = other
            .propose(vec![transfer(4, 3, 1, 0)], START_MS)
            .unwrap()
            .executed
            .block;
        assert!(!verify(&mut f.app, &ctx, &[&sibling, &g]).await, "fork below finality");
        let nephew = other.propose(vec![], START_MS + 1).unwrap().executed.block;
        assert!(
            !verify(&mut f.app, &ctx, &[&nephew, &sibling, &g]).await,
            "descends from a fork"
        );
        // A conflicting block at a committed height stops the node rather than being applied.
        assert!(f.app.node().commit_decided(&sibling).is_err());
    });
}

#[test]
fn verifies_unknown_ancestors_and_refuses_an_invalid_one() {
    runner().start(|ctx| async move {
        let mut f = Fixture::new();
        let g = f.genesis.clone();
        let b1 = f
            .ledger
            .propose(vec![transfer(1, 2, 5, 0)], START_MS)
            .unwrap()
            .executed
            .block;
        let b2 = f
            .ledger
            .propose(vec![transfer(1, 2, 5, 1)], START_MS)
            .unwrap()
            .executed
            .block;
        let b3 = f.ledger.propose(vec![], START_MS).unwrap().executed.block;
        let mut bad_b1 = b1.clone();
        bad_b1.header.state_root = Hash([1; 32]);
        // The ancestry claims b2's parent is an invalid block: refused, nothing remembered.
        let mut b2_on_bad = b2.clone();
        b2_on_bad.header.parent = bad_b1.header.hash();
        assert!(!verify(&mut f.app, &ctx, &[&b2_on_bad, &bad_b1, &g]).await);
        assert_eq!(f.app.speculated(), 0);
        // b3 arrives first: b1 and b2 are executed on the way.
        assert!(verify(&mut f.app, &ctx, &[&b3, &b2, &b1, &g]).await);
        assert_eq!(f.app.speculated(), 3);
    });
}

#[test]
fn proposes_mempool_transactions_that_another_validator_accepts() {
    runner().start(|ctx| async move {
        let mut proposer = Fixture::new();
        let mut voter = Fixture::new();
        let g = proposer.genesis.clone();
        for nonce in 0..5 {
            proposer.app.node().submit(transfer(1, 2, 10, nonce)).unwrap();
        }
        // A transaction that cannot pay its fee is left out (and dropped), not a failed block.
        proposer.app.node().submit(transfer(9, 2, 10, 0)).ok();
        let ancestry = ancestry::from_iter([digested(&g)]);
        let proposed = proposer
            .app
            .propose((ctx.child("propose"), context(1, &g)), ancestry, ())
            .await
            .expect("a block");
        let block = proposed.inner().block().clone();
        assert_eq!(block.header.height, 1);
        assert_eq!(block.txs.len(), 5);
        assert!(block.header.timestamp_ms >= START_MS);
        assert!(verify(&mut voter.app, &ctx, &[&block, &g]).await);
        // The next proposal builds on the speculated block: the same transactions are not
        // proposed twice.
        let ancestry = ancestry::from_iter([proposed.clone(), digested(&g)]);
        let next = proposer
            .app
            .propose((ctx.child("propose"), context(2, &block)), ancestry, ())
            .await
            .expect("a block");
        assert_eq!(next.inner().block().txs.len(), 0);
        assert_eq!(next.inner().block().header.parent, block.header.hash());
    });
}

#[test]
fn a_recorded_execution_is_committed_only_if_it_reaches_the_header_root() {
    let mut f = Fixture::new();
    let executed = f.ledger.propose(vec![transfer(1, 2, 5, 0)], START_MS).unwrap().executed;
    let mut tampered = executed.clone();
    let (key, _) = tampered
        .diff
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    tampered.diff.insert(key, Some(b"forged".to_vec()));
    assert!(f.app.node().commit_executed(&tampered).is_err());
    assert_eq!(f.app.node().tip().height, 0, "a failed commit changes nothing");
    assert!(matches!(
        f.app.node().commit_executed(&executed),
        Ok(Decided::Committed(_))
    ));
    let tip = f.app.node().tip();
    assert_eq!(tip.hash, executed.block.header.hash());
    let root = f.app.node().with_state(|s, _| trellis_ledger::Store::root(s));
    assert_eq!(root, tip.state_root);
    // The stored block replays like any other.
    assert_eq!(f.app.node().block(1).unwrap().unwrap(), executed.block);
}
