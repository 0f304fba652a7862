//! The embedded single-node sequencer: one process orders transactions, builds a block every
//! `block_interval_ms`, persists it durably and only then reports it (finality on commit).

use crate::{
    mempool::{AdmissionContext, Mempool, MempoolError},
    metrics::ChainMetrics,
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};
use thiserror::Error;
use tokio::sync::{broadcast, watch};
use trellis_ledger::{Block, ChainTip, ExecutedBlock, Ledger, MemStore, Receipt, StateRead, Transaction};
use trellis_primitives::Hash;
use trellis_store::{ChainStore, StoreError, TxLocation};

/// How many recent rejections are remembered for status queries. Enough for a few minutes of
/// garbage at high rates; older ones are reported as unknown.
pub const MAX_REMEMBERED_REJECTIONS: usize = 10_000;
/// Capacity of the new-block broadcast channel. A subscriber more than this many blocks behind
/// skips ahead (it is told how many it missed).
pub const BLOCK_EVENT_BUFFER: usize = 256;
/// Capacity of the channel announcing transactions submitted here (for gossip to peers). A
/// gossiper that falls this far behind skips ahead; the skipped transactions still reach blocks
/// through this node's own proposals.
pub const ADMITTED_BUFFER: usize = 16_384;

/// Sequencer settings.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Time between blocks.
    pub block_interval_ms: u64,
    /// Whether to build blocks with no transactions (keeps the clock and epochs moving).
    pub empty_blocks: bool,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            block_interval_ms: 1_000,
            empty_blocks: true,
        }
    }
}

/// A failure of the node itself.
#[derive(Debug, Error)]
pub enum NodeError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Committed state is corrupt.
    #[error(transparent)]
    Corrupt(#[from] trellis_ledger::state::CorruptState),
    /// The node stopped after a fatal error.
    #[error("node has stopped: {0}")]
    Stopped(String),
    /// A decided block does not follow the committed tip.
    #[error("decided block {found} does not follow the committed tip {tip}")]
    Gap {
        /// Committed height.
        tip: u64,
        /// Height of the decided block.
        found: u64,
    },
    /// A decided block differs from the one committed at its height: consensus safety is broken.
    #[error("decided block {height} is {found} but {committed} is committed at that height")]
    Conflict {
        /// Height.
        height: u64,
        /// Hash committed here.
        committed: Hash,
        /// Hash decided now.
        found: Hash,
    },
    /// A decided block does not execute: its proposer and a quorum broke the ledger rules.
    #[error("decided block {height} is invalid: {source}")]
    Invalid {
        /// Height.
        height: u64,
        /// Why.
        source: trellis_ledger::BlockError,
    },
}

/// What [`Node::commit_decided`] did.
#[derive(Debug, Clone)]
pub enum Decided {
    /// The block was executed, persisted and announced.
    Committed(BlockEvent),
    /// The same block was already committed (consensus may deliver a block more than once).
    AlreadyCommitted,
}

/// A summary of a committed block, sent to subscribers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlockEvent {
    /// Height.
    pub height: u64,
    /// Header hash.
    pub hash: Hash,
    /// State root.
    pub state_root: Hash,
    /// Transactions in it.
    pub tx_count: u32,
    /// Timestamp.
    pub timestamp_ms: u64,
}

/// Where a transaction stands.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// Waiting in the mempool.
    Pending,
    /// In a committed (final) block.
    Committed {
        /// Block height.
        height: u64,
        /// Position.
        index: u32,
        /// Outcome.
        receipt: Receipt,
    },
    /// Dropped without inclusion.
    Rejected {
        /// Machine-readable reason.
        code: String,
        /// Why.
        message: String,
    },
    /// Never seen, or forgotten.
    Unknown,
}

struct Inner {
    ledger: Ledger<MemStore>,
    mempool: Mempool,
    rejected: HashMap<Hash, (String, String)>,
    rejected_order: VecDeque<Hash>,
    fatal: Option<String>,
}

/// A running chain: cheap to clone, shared by the sequencer task and the API.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Mutex<Inner>>,
    store: Arc<ChainStore>,
    blocks: broadcast::Sender<BlockEvent>,
    admitted: broadcast::Sender<Transaction>,
    metrics: Arc<ChainMetrics>,
    finality: Arc<Mutex<String>>,
}

/// How blocks become final under the single-node sequencer.
pub const SEQUENCER_FINALITY: &str = "final on commit (single-node sequencer)";

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

impl Node {
    /// A node over an opened store holding a chain (see [`ChainStore::initialise`]).
    pub fn new(store: ChainStore) -> Result<Self, NodeError> {
        let ledger = store.load_ledger()?;
        let (blocks, _) = broadcast::channel(BLOCK_EVENT_BUFFER);
        let (admitted, _) = broadcast::channel(ADMITTED_BUFFER);
        let metrics = Arc::new(ChainMetrics::default());
        metrics.set_height(ledger.tip().height);
        Ok(Node {
            inner: Arc::new(Mutex::new(Inner {
                ledger,
                mempool: Mempool::new(),
                rejected: HashMap::new(),
                rejected_order: VecDeque::new(),
                fatal: None,
            })),
            store: Arc::new(store),
            blocks,
            admitted,
            metrics,
            finality: Arc::new(Mutex::new(SEQUENCER_FINALITY.to_string())),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug; the state it guards is only ever
        // replaced whole (ledger.propose applies atomically), so recovering the guard is sound.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Says how this node's blocks become final (shown by the API).
    pub fn set_finality(&self, description: String) {
        *self.finality.lock().unwrap_or_else(|p| p.into_inner()) = description;
    }

    /// How this node's blocks become final.
    pub fn finality(&self) -> String {
        self.finality.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &ChainMetrics {
        &self.metrics
    }

    /// The store (blocks, receipts, tx index).
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// Subscribes to committed blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<BlockEvent> {
        self.blocks.subscribe()
    }

    /// The committed tip.
    pub fn tip(&self) -> ChainTip {
        *self.lock().ledger.tip()
    }

    /// Runs `f` on the committed state.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut MemStore, &ChainTip) -> T) -> T {
        let mut inner = self.lock();
        let tip = *inner.ledger.tip();
        f(inner.ledger.store_mut(), &tip)
    }

    /// Waiting transactions.
    pub fn mempool_len(&self) -> usize {
        self.lock().mempool.len()
    }

    /// Admits a transaction into the mempool and announces it to [`Node::subscribe_admitted`]
    /// subscribers (the gossip to other validators).
    pub fn submit(&self, tx: Transaction) -> Result<Hash, SubmitError> {
        let id = self.admit(tx.clone())?;
        // Without a gossiper (single node) nobody listens, which is fine.
        let _no_gossiper_is_fine = self.admitted.send(tx);
        Ok(id)
    }

    /// Admits a transaction a peer gossiped, without announcing it again.
    pub fn submit_gossiped(&self, tx: Transaction) -> Result<Hash, SubmitError> {
        self.admit(tx)
    }

    /// Subscribes to transactions submitted to this node.
    pub fn subscribe_admitted(&self) -> broadcast::Receiver<Transaction> {
        self.admitted.subscribe()
    }

    fn admit(&self, tx: Transaction) -> Result<Hash, SubmitError> {
        let mut inner = self.lock();
        if let Some(reason) = &inner.fatal {
            return Err(SubmitError::Stopped(reason.clone()));
        }
        let store = inner.ledger.store();
        let chain_id = store.chain_id()?;
        let min_fee = store.params()?.min_fee;
        let account = store.account(&tx.body.signer)?;
        let ctx = AdmissionContext {
            chain_id: &chain_id,
            min_fee,
            account: &account,
        };
        let result = inner.mempool.insert(tx, &ctx);
        match &result {
            Ok(_) => self.metrics.tx_accepted(),
            Err(e) => self.metrics.tx_refused(e.code()),
        }
        self.metrics.set_mempool(inner.mempool.len());
        Ok(result?)
    }

    /// Where a transaction stands. Read under the lock that block production holds while it
    /// persists, so a transaction moving from the mempool into a block is never seen in neither.
    pub fn tx_status(&self, id: &Hash) -> Result<TxStatus, NodeError> {
        let inner = self.lock();
        if let Some(TxLocation { height, index }) = self.store.tx_location(id)? {
            let receipts = self.store.receipts(height)?;
            let receipt = receipts
                .get(index as usize)
                .cloned()
                .ok_or_else(|| NodeError::Stopped(format!("receipt {index} of block {height} is missing")))?;
            return Ok(TxStatus::Committed { height, index, receipt });
        }
        if inner.mempool.contains(id) {
            return Ok(TxStatus::Pending);
        }
        Ok(match inner.rejected.get(id) {
            Some((code, message)) => TxStatus::Rejected {
                code: code.clone(),
                message: message.clone(),
            },
            None => TxStatus::Unknown,
        })
    }

    /// A committed block.
    pub fn block(&self, height: u64) -> Result<Option<Block>, NodeError> {
        Ok(self.store.block(height)?)
    }

    /// Builds, persists and announces one block from the mempool. Returns `None` when there was
    /// nothing to do and empty blocks are off.
    pub fn produce_block(&self, timestamp_ms: u64, empty_blocks: bool) -> Result<Option<BlockEvent>, NodeError> {
        let started = std::time::Instant::now();
        let mut inner = self.lock();
        if let Some(reason) = &inner.fatal {
            return Err(NodeError::Stopped(reason.clone()));
        }
        if inner.mempool.is_empty() && !empty_blocks {
            return Ok(None);
        }
        let max = inner.ledger.store().params()?.max_block_txs as usize;
        let candidates = {
            let store = inner.ledger.store();
            inner
                .mempool
                .select(max, |s| store.account(s).map(|a| a.nonce).unwrap_or(u64::MAX))
        };
        let proposal = inner.ledger.propose(candidates, timestamp_ms)?;
        if let Err(e) = self.store.commit_block(&proposal.executed) {
            // The in-memory ledger is now ahead of the disk. Stop taking work: a restart reloads
            // the last durable block, and nothing uncommitted was ever reported as committed.
            let reason = format!("could not persist block {}: {e}", proposal.executed.block.header.height);
            tracing::error!(%reason, "fatal storage error; node stops");
            inner.fatal = Some(reason.clone());
            return Err(NodeError::Stopped(reason));
        }
        self.drop_rejected(&mut inner, &proposal.rejected, false);
        Ok(Some(self.announce(inner, &proposal.executed, started)))
    }

    /// Forgets mempool candidates a block builder refused for good, remembering why. A future
    /// nonce may become valid once the gap fills, so those stay. With `keep_stale` (a builder
    /// working on a not yet final parent) a stale nonce stays too: it may be valid again if that
    /// parent is abandoned; committed nonces prune it anyway.
    fn drop_rejected(&self, inner: &mut Inner, rejected: &[(Hash, trellis_ledger::RejectReason)], keep_stale: bool) {
        let mut drop_ids = Vec::new();
        for (id, reason) in rejected {
            if let trellis_ledger::RejectReason::BadNonce { expected, found } = reason {
                if found > expected || keep_stale {
                    continue;
                }
            }
            drop_ids.push(*id);
            remember_rejection(inner, *id, reason.code(), reason.to_string());
            self.metrics.tx_dropped(reason.code());
        }
        let Inner { ledger, mempool, .. } = inner;
        let store = ledger.store();
        mempool.prune(&drop_ids, |s| store.account(s).map(|a| a.nonce).unwrap_or(0));
    }

    /// Bookkeeping after a block is durable: prunes the mempool, updates metrics, tells
    /// subscribers.
    fn announce(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        executed: &ExecutedBlock,
        started: std::time::Instant,
    ) -> BlockEvent {
        let header = &executed.block.header;
        let included: Vec<Hash> = executed.receipts.iter().map(|r| r.tx_id).collect();
        let Inner { ledger, mempool, .. } = &mut *inner;
        let store = ledger.store();
        mempool.prune(&included, |s| store.account(s).map(|a| a.nonce).unwrap_or(0));
        let event = BlockEvent {
            height: header.height,
            hash: header.hash(),
            state_root: header.state_root,
            tx_count: header.tx_count,
            timestamp_ms: header.timestamp_ms,
        };
        self.metrics
            .block_committed(header.height, u64::from(header.tx_count), started.elapsed());
        self.metrics.set_mempool(inner.mempool.len());
        drop(inner);
        // No subscribers is fine; the block is committed either way.
        let _no_subscribers_is_fine = self.blocks.send(event.clone());
        tracing::debug!(height = event.height, txs = event.tx_count, "block committed");
        event
    }

    /// Runs `f` on the committed state and the mempool: a BFT proposer selects candidates and
    /// executes them on top of its (possibly not yet final) parent. Candidates refused for good
    /// by `f` (its second result) are dropped from the mempool.
    pub fn with_mempool<T>(
        &self,
        f: impl FnOnce(&MemStore, &ChainTip, &Mempool) -> (T, Vec<(Hash, trellis_ledger::RejectReason)>),
    ) -> T {
        let mut inner = self.lock();
        let tip = *inner.ledger.tip();
        let (out, rejected) = f(inner.ledger.store(), &tip, &inner.mempool);
        self.drop_rejected(&mut inner, &rejected, true);
        out
    }

    /// Executes, persists and announces a block decided by consensus. A block at or below the
    /// committed height must be the one committed there (delivery is at-least-once); anything
    /// else is an error, and a conflict or a persistence failure stops the node.
    pub fn commit_decided(&self, block: &Block) -> Result<Decided, NodeError> {
        self.commit_final(block, None)
    }

    /// [`Node::commit_decided`] for a block this node already executed on the same parent (to
    /// vote on it): its recorded writes are applied and checked against the header's state root
    /// instead of executing it again.
    pub fn commit_executed(&self, executed: &ExecutedBlock) -> Result<Decided, NodeError> {
        self.commit_final(&executed.block, Some(executed))
    }

    fn commit_final(&self, block: &Block, executed: Option<&ExecutedBlock>) -> Result<Decided, NodeError> {
        let started = std::time::Instant::now();
        let mut inner = self.lock();
        if let Some(reason) = &inner.fatal {
            return Err(NodeError::Stopped(reason.clone()));
        }
        let tip = *inner.ledger.tip();
        let height = block.header.height;
        if height <= tip.height {
            let committed = match self.store.block(height)? {
                Some(b) => b.header.hash(),
                None => return Err(NodeError::Stopped(format!("committed block {height} is missing"))),
            };
            let found = block.header.hash();
            if committed == found {
                return Ok(Decided::AlreadyCommitted);
            }
            let error = NodeError::Conflict {
                height,
                committed,
                found,
            };
            tracing::error!(%error, "consensus safety violated; node stops");
            inner.fatal = Some(error.to_string());
            return Err(error);
        }
        if height != tip.height + 1 {
            return Err(NodeError::Gap {
                tip: tip.height,
                found: height,
            });
        }
        let executed = match executed {
            Some(executed) => {
                inner
                    .ledger
                    .apply_executed(executed)
                    .map_err(|source| NodeError::Invalid { height, source })?;
                std::borrow::Cow::Borrowed(executed)
            }
            None => std::borrow::Cow::Owned(
                inner
                    .ledger
                    .apply_block(block)
                    .map_err(|source| NodeError::Invalid { height, source })?,
            ),
        };
        if let Err(e) = self.store.commit_block(&executed) {
            let reason = format!("could not persist block {height}: {e}");
            tracing::error!(%reason, "fatal storage error; node stops");
            inner.fatal = Some(reason.clone());
            return Err(NodeError::Stopped(reason));
        }
        Ok(Decided::Committed(self.announce(inner, &executed, started)))
    }

    /// Runs the sequencer until `shutdown` flips to true or a fatal error.
    pub async fn run_sequencer(
        self,
        config: SequencerConfig,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        let mut ticker = tokio::time::interval(Duration::from_millis(config.block_interval_ms.max(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return Ok(());
                    }
                }
            }
            let node = self.clone();
            let now = wall_clock_ms();
            let empty = config.empty_blocks;
            tokio::task::spawn_blocking(move || node.produce_block(now, empty))
                .await
                .map_err(|e| NodeError::Stopped(format!("sequencer task failed: {e}")))??;
        }
    }
}

fn remember_rejection(inner: &mut Inner, id: Hash, code: &str, message: String) {
    if inner.rejected.insert(id, (code.to_string(), message)).is_none() {
        inner.rejected_order.push_back(id);
    }
    while inner.rejected_order.len() > MAX_REMEMBERED_REJECTIONS {
        if let Some(old) = inner.rejected_order.pop_front() {
            inner.rejected.remove(&old);
        }
    }
}

/// Milliseconds since the Unix epoch. The one clock read of the chain: it only stamps blocks.
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a submission was refused.
#[derive(Debug, Error)]
pub enum SubmitError {
    /// The mempool refused it.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// State is corrupt.
    #[error(transparent)]
    Corrupt(#[from] trellis_ledger::state::CorruptState),
    /// The node stopped.
    #[error("node has stopped: {0}")]
    Stopped(String),
}
