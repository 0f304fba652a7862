//! The ledger as a consensus application: proposing and verifying blocks on top of parents that
//! are not final yet, and committing blocks once they are.
//!
//! Simplex asks a leader to propose on a *notarized* parent and every validator to verify before
//! voting, so both run ahead of finality. [`Speculation`] keeps, per executed but not yet final
//! block, the merged state writes since the committed tip; executing a child reads through them
//! ([`trellis_ledger::Layered`]) instead of copying the state. Finalized blocks arrive in height
//! order through [`Finalizer`] and go through [`Node::commit_decided`], the same path (and the
//! same `Ledger::apply_block`) as replay from disk.

use crate::block::{BftBlock, MAX_BFT_BLOCK_BYTES};
use commonware_actor::Feedback;
use commonware_consensus::{
    marshal::{ancestry::Ancestry, Update},
    simplex::{scheme::ed25519::Scheme, types::Context},
    Application, Heightable as _, Reporter,
};
use commonware_cryptography::{blake3::Digest, ed25519::PublicKey, Digested, Digestible as _};
use commonware_runtime::Clock;
use commonware_utils::Acknowledgement as _;
use futures::StreamExt as _;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, UNIX_EPOCH},
};
use trellis_chain::{Decided, Mempool, Node};
use trellis_ledger::{
    BlockError, ChainTip, ExecutedBlock, Layered, Ledger, MemStore, RejectReason, StateDiff, StateRead as _,
};
use trellis_primitives::{codec::Encode as _, Hash};

/// How far ahead of a validator's clock a block timestamp may be before it votes against it.
pub const MAX_FUTURE_DRIFT: Duration = Duration::from_secs(10);
/// At most this many ancestors are executed to verify one block; a longer unknown ancestry
/// means this validator is far behind, and marshal's sync catches it up first.
pub const MAX_SPECULATION_DEPTH: usize = 256;

/// A block executed ahead of finality: its tip, the state writes since the committed tip, and
/// its own execution (committed as is once it is final).
#[derive(Debug)]
struct Speculated {
    tip: ChainTip,
    diff: StateDiff,
    executed: ExecutedBlock,
}

/// Executed, not yet final blocks by header hash.
#[derive(Debug, Default)]
pub struct Speculation {
    blocks: BTreeMap<Hash, Arc<Speculated>>,
}

impl Speculation {
    /// Forgets blocks at or below the committed height: they are final or can no longer be.
    fn prune(&mut self, committed_height: u64) {
        self.blocks.retain(|_, s| s.tip.height > committed_height);
    }

    /// Number of executed, not yet final blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Block pacing and size.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// A leader waits until this long after its parent's timestamp before proposing, so an idle
    /// network makes one (empty) block per interval instead of one per round trip.
    pub block_interval: Duration,
}

/// The ledger behind the consensus engine. Cheap to clone.
#[derive(Clone)]
pub struct LedgerApp {
    node: Node,
    speculation: Arc<Mutex<Speculation>>,
    config: AppConfig,
}

/// Where executing a block starts from.
enum Anchor {
    /// The committed tip.
    Committed(Hash),
    /// An executed, not yet final block.
    Speculated(Arc<Speculated>),
}

impl LedgerApp {
    /// The application over `node`'s committed ledger and mempool.
    pub fn new(node: Node, config: AppConfig) -> Self {
        LedgerApp {
            node,
            speculation: Arc::new(Mutex::new(Speculation::default())),
            config,
        }
    }

    /// The node (committed state, mempool, store).
    pub fn node(&self) -> &Node {
        &self.node
    }

    fn speculation(&self) -> MutexGuard<'_, Speculation> {
        self.speculation.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Blocks executed ahead of finality that are still held.
    pub fn speculated(&self) -> usize {
        self.speculation().len()
    }

    /// Walks `ancestry` down from its first block until it reaches the committed tip or a block
    /// already executed, and returns that anchor with the blocks above it, lowest first. `None`
    /// when the ancestry leaves the committed chain (a fork below finality) or is too deep.
    async fn resolve(&self, mut ancestry: impl Ancestry<BftBlock>) -> Option<(Anchor, Vec<BftBlock>)> {
        let mut above = Vec::new();
        while let Some(block) = ancestry.next().await {
            let block: &BftBlock = block.inner();
            let hash = block.block().header.hash();
            let committed = self.node.tip();
            if hash == committed.hash {
                above.reverse();
                return Some((Anchor::Committed(hash), above));
            }
            if block.block().header.height <= committed.height {
                return None;
            }
            if let Some(speculated) = self.speculation().blocks.get(&hash) {
                above.reverse();
                return Some((Anchor::Speculated(speculated.clone()), above));
            }
            if above.len() >= MAX_SPECULATION_DEPTH {
                tracing::warn!(
                    height = block.block().header.height,
                    "ancestry too deep to speculate on"
                );
                return None;
            }
            above.push(block.clone());
        }
        None
    }

    /// Runs `f` with the committed state, the mempool and the position reached by executing
    /// `above` on `anchor` (each executed ancestor is remembered). Fails if the committed tip
    /// moved off the anchor meanwhile or an ancestor does not execute.
    fn at<T>(
        &self,
        anchor: &Anchor,
        above: &[BftBlock],
        f: impl FnOnce(&MemStore, Position, &Mempool) -> (T, Rejected),
    ) -> Result<T, SpeculationError> {
        self.node.with_mempool(
            |store, committed, mempool| match self.advance(store, committed, anchor, above) {
                Ok(position) => {
                    let (out, rejected) = f(store, position, mempool);
                    (Ok(out), rejected)
                }
                Err(e) => (Err(e), Vec::new()),
            },
        )
    }

    fn advance(
        &self,
        store: &MemStore,
        committed: &ChainTip,
        anchor: &Anchor,
        above: &[BftBlock],
    ) -> Result<Position, SpeculationError> {
        let (diff, tip) = match anchor {
            Anchor::Committed(hash) if *hash == committed.hash => (StateDiff::new(), *committed),
            Anchor::Speculated(s) if s.tip.height > committed.height => (s.diff.clone(), s.tip),
            _ => return Err(SpeculationError::Moved),
        };
        let mut ledger = Ledger::resume(Layered::new(store, diff), tip).map_err(SpeculationError::Ancestor)?;
        for block in above {
            let executed = ledger.apply_block(block.block()).map_err(SpeculationError::Ancestor)?;
            self.remember(&ledger, executed);
        }
        let (layered, tip) = ledger.into_parts();
        Ok(Position {
            diff: layered.into_diff(),
            tip,
        })
    }

    /// Records an executed block: the ledger's tip and writes after it, and its execution.
    fn remember(&self, ledger: &Ledger<Layered<'_>>, executed: ExecutedBlock) {
        let tip = *ledger.tip();
        let diff = ledger.store().diff().clone();
        self.speculation()
            .blocks
            .insert(tip.hash, Arc::new(Speculated { tip, diff, executed }));
    }

    /// This node's execution of the block with header hash `hash`, if it has one.
    fn executed(&self, hash: &Hash) -> Option<Arc<Speculated>> {
        self.speculation().blocks.get(hash).cloned()
    }
}

/// Mempool candidates a builder refused, with why.
type Rejected = Vec<(Hash, RejectReason)>;

/// A point in the not yet final chain: the writes since the committed tip, and the tip there.
struct Position {
    diff: StateDiff,
    tip: ChainTip,
}

impl Position {
    fn ledger<'a>(&self, store: &'a MemStore) -> Result<Ledger<Layered<'a>>, BlockError> {
        Ledger::resume(Layered::new(store, self.diff.clone()), self.tip)
    }
}

/// Why a block could not be executed ahead of finality.
#[derive(Debug, thiserror::Error)]
enum SpeculationError {
    #[error("the committed tip moved while executing")]
    Moved,
    #[error("an ancestor does not execute: {0}")]
    Ancestor(BlockError),
}

fn now_ms(clock: &impl Clock) -> u64 {
    clock
        .current()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<E: Clock + Send + Sync + 'static> Application<E> for LedgerApp {
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = BftBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (clock, _context): (E, Self::Context),
        ancestry: impl Ancestry<BftBlock>,
        _input: (),
    ) -> Option<Digested<BftBlock>> {
        let parent_ts = ancestry.peek()?.inner().block().header.timestamp_ms;
        let interval = self.config.block_interval.as_millis() as u64;
        let due = parent_ts.saturating_add(interval);
        let now = now_ms(&clock);
        if now < due {
            clock.sleep(Duration::from_millis(due - now)).await;
        }
        let (anchor, above) = self.resolve(ancestry).await?;
        let timestamp = now_ms(&clock);
        let built = self.at(&anchor, &above, |store, position, mempool| {
            match build(store, &position, mempool, timestamp) {
                Ok((ledger, executed, rejected)) => {
                    let block = executed.block.clone();
                    self.remember(&ledger, executed);
                    (Some(block), rejected)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not build a block");
                    (None, Vec::new())
                }
            }
        });
        match built {
            Ok(Some(block)) => {
                let block = BftBlock::new(block);
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "not proposing");
                None
            }
        }
    }

    async fn verify(&mut self, (clock, _context): (E, Self::Context), mut ancestry: impl Ancestry<BftBlock>) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let block = block.inner().clone();
        let header = &block.block().header;
        let now = now_ms(&clock);
        if header.timestamp_ms > now.saturating_add(MAX_FUTURE_DRIFT.as_millis() as u64) {
            tracing::warn!(
                height = header.height,
                timestamp_ms = header.timestamp_ms,
                now,
                "block from the future"
            );
            return false;
        }
        let hash = header.hash();
        if self.speculation().blocks.contains_key(&hash) {
            return true;
        }
        let committed = self.node.tip();
        if header.height <= committed.height {
            return matches!(self.node.block(header.height), Ok(Some(b)) if b.header.hash() == hash);
        }
        let Some((anchor, above)) = self.resolve(ancestry).await else {
            return false;
        };
        let outcome = self.at(&anchor, &above, |store, position, _| {
            let applied = position.ledger(store).and_then(|mut ledger| {
                let executed = ledger.apply_block(block.block())?;
                self.remember(&ledger, executed);
                Ok(())
            });
            (applied, Vec::new())
        });
        match outcome {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(height = header.height, error = %e, "voting against an invalid block");
                false
            }
            Err(e) => {
                tracing::debug!(height = header.height, error = %e, "cannot verify yet");
                false
            }
        }
    }
}

/// Builds a block from the mempool at `position`, within [`MAX_BFT_BLOCK_BYTES`]: the ledger
/// after it, the executed block, and the candidates refused.
fn build<'a>(
    store: &'a MemStore,
    position: &Position,
    mempool: &Mempool,
    timestamp_ms: u64,
) -> Result<(Ledger<Layered<'a>>, ExecutedBlock, Rejected), BlockError> {
    let mut max = position.ledger(store)?.store().params()?.max_block_txs as usize;
    loop {
        let mut ledger = position.ledger(store)?;
        let candidates = {
            let state = ledger.store();
            mempool.select(max, |s| state.account(s).map(|a| a.nonce).unwrap_or(u64::MAX))
        };
        let proposal = ledger.propose(candidates, timestamp_ms)?;
        if proposal.executed.block.to_bytes().len() <= MAX_BFT_BLOCK_BYTES {
            return Ok((ledger, proposal.executed, proposal.rejected));
        }
        // Too many large transactions: try with half as many (an empty block always fits).
        max /= 2;
    }
}

/// Receives finalized blocks from marshal in height order (at least once) and commits them.
#[derive(Clone)]
pub struct Finalizer {
    app: LedgerApp,
}

impl Finalizer {
    /// Commits into `app`'s node and prunes its speculation.
    pub fn new(app: LedgerApp) -> Self {
        Finalizer { app }
    }
}

impl Reporter for Finalizer {
    type Activity = Update<BftBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Tip(_, height, _) => {
                self.app.node.metrics().set_finalized_tip(height.get());
            }
            Update::Block(block, ack) => {
                let height = block.height().get();
                let ledger_block = block.inner().block();
                // Commit this node's own execution when it has one (it voted on the block), so a
                // block is executed once per validator; otherwise (catching up) execute it now.
                let committed = match self.app.executed(&ledger_block.header.hash()) {
                    Some(speculated) => match self.app.node.commit_executed(&speculated.executed) {
                        Err(trellis_chain::NodeError::Invalid { source, .. }) => {
                            tracing::error!(height, error = %source, "recorded execution disagrees; executing again");
                            self.app.node.commit_decided(ledger_block)
                        }
                        other => other,
                    },
                    None => self.app.node.commit_decided(ledger_block),
                };
                match committed {
                    Ok(decided) => {
                        if let Decided::Committed(event) = decided {
                            tracing::debug!(height, txs = event.tx_count, "finalized block committed");
                        }
                        self.app.speculation().prune(height);
                        ack.acknowledge();
                    }
                    Err(error) => {
                        // Not acknowledging stops marshal: nothing past a block this node could
                        // not commit may be reported final here.
                        tracing::error!(height, %error, "cannot commit a finalized block; this validator stops following the chain");
                    }
                }
            }
        }
        Feedback::Ok
    }
}
