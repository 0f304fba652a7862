//! The [`Ledger`]: a state [`Store`] plus the chain tip, advanced one block at a time.

use crate::{
    block::{tx_root, Block, BlockHeader},
    error::{BlockError, RejectReason},
    execute::{admit, apply, BlockContext},
    state::{CorruptState, StateRead},
    store::{Overlay, StateDiff, Store},
    tx::Transaction,
};
use serde::Serialize;
use trellis_primitives::{
    codec::{put_bytes, Decode, DecodeError, Encode, Reader},
    keys::{verify_batch_cached, KeyCache, SignedMessage},
    Epoch, Hash,
};

/// The latest committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChainTip {
    /// Its height.
    pub height: u64,
    /// Its header hash.
    pub hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// Its timestamp.
    pub timestamp_ms: u64,
}

impl ChainTip {
    /// The tip of `header`.
    pub fn of(header: &BlockHeader) -> Self {
        ChainTip {
            height: header.height,
            hash: header.hash(),
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        }
    }
}

/// How an included transaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxOutcome {
    /// Its effect applied.
    Success,
    /// Only its fee and nonce applied.
    Failed {
        /// Machine-readable reason.
        code: String,
        /// Human-readable reason.
        message: String,
    },
}

/// The outcome of one included transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The transaction id.
    pub tx_id: Hash,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: TxOutcome,
}

/// A block together with what executing it produced: what a store persists.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The block.
    pub block: Block,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// Its state changes.
    pub diff: StateDiff,
}

/// A block built from mempool candidates, and the candidates that could not go in.
#[derive(Debug)]
pub struct Proposal {
    /// The new block, already applied to the ledger.
    pub executed: ExecutedBlock,
    /// Candidates left out, with why. Those with a future nonce may fit a later block.
    pub rejected: Vec<(Hash, RejectReason)>,
}

/// The state machine: deterministic, no I/O, time and transactions come in as arguments.
#[derive(Debug)]
pub struct Ledger<S: Store> {
    store: S,
    tip: ChainTip,
    /// Decompressed signer keys (not state: verdicts are the same without it).
    keys: KeyCache,
}

fn signed_messages<'a>(tx: &'a Transaction, id: &'a Hash) -> impl Iterator<Item = SignedMessage<'a>> {
    std::iter::once(SignedMessage {
        message: id.as_bytes(),
        signature: &tx.signature,
        signer: tx.body.signer.key(),
    })
    .chain(tx.cosignatures.iter().map(move |c| SignedMessage {
        message: id.as_bytes(),
        signature: &c.signature,
        signer: &c.key,
    }))
}

/// Whether every signature of `txs` verifies as one batch, in order. This is the ledger's
/// signature rule: a pure function of the block's transaction list.
pub fn batch_signatures_ok(txs: &[&Transaction], ids: &[Hash], cache: &mut KeyCache) -> bool {
    let items: Vec<SignedMessage<'_>> = txs
        .iter()
        .zip(ids)
        .flat_map(|(tx, id)| signed_messages(tx, id))
        .collect();
    verify_batch_cached(&items, cache).is_ok()
}

impl<S: Store> Ledger<S> {
    /// A ledger over `store` whose last block is `tip`. Fails if the store's root disagrees.
    pub fn resume(mut store: S, tip: ChainTip) -> Result<Self, BlockError> {
        let computed = store.root();
        if computed != tip.state_root {
            return Err(BlockError::StateRootMismatch {
                header: tip.state_root,
                computed,
            });
        }
        Ok(Ledger {
            store,
            tip,
            keys: KeyCache::default(),
        })
    }

    pub(crate) fn from_parts(store: S, tip: ChainTip) -> Self {
        Ledger {
            store,
            tip,
            keys: KeyCache::default(),
        }
    }

    /// The store and the tip, giving the ledger up (a speculative execution keeps its writes).
    pub fn into_parts(self) -> (S, ChainTip) {
        (self.store, self.tip)
    }

    /// The latest block.
    pub fn tip(&self) -> &ChainTip {
        &self.tip
    }

    /// Committed state.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Committed state, mutably (for proofs, which cache the tree).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The epoch the next block belongs to.
    pub fn next_epoch(&self) -> Result<Epoch, CorruptState> {
        Ok(Epoch::of_height(
            self.tip.height + 1,
            self.store.params()?.epoch_len_blocks,
        ))
    }

    fn context(&self) -> Result<BlockContext, CorruptState> {
        let params = self.store.params()?;
        let height = self.tip.height + 1;
        Ok(BlockContext {
            height,
            epoch: Epoch::of_height(height, params.epoch_len_blocks),
            params,
            chain_id: self.store.chain_id()?,
        })
    }

    /// Builds the next block from `candidates` (in the order given) and applies it.
    ///
    /// Candidates with bad signatures or that fail admission are left out and returned in
    /// `rejected`; the block is valid by construction. `timestamp_ms` is clamped to be no earlier
    /// than the parent's.
    pub fn propose(&mut self, candidates: Vec<Transaction>, timestamp_ms: u64) -> Result<Proposal, CorruptState> {
        let ctx = self.context()?;
        let mut rejected = Vec::new();
        let mut candidates = candidates;
        candidates.truncate(ctx.params.max_block_txs as usize);
        let ids: Vec<Hash> = candidates.iter().map(Transaction::id).collect();
        let signed = select_signed(&candidates, &ids, &mut rejected, &mut self.keys);

        let mut overlay = Overlay::new(&self.store);
        begin_block(&mut overlay, &ctx, self.tip.hash);
        let mut txs = Vec::with_capacity(signed.len());
        let mut receipts = Vec::with_capacity(signed.len());
        for index in signed {
            let tx = &candidates[index];
            match admit(&mut overlay, tx, &ctx) {
                Ok(()) => {
                    receipts.push(run(&mut overlay, tx, ids[index], &ctx));
                    txs.push(index);
                }
                Err(reason) => rejected.push((ids[index], reason)),
            }
        }
        let diff = overlay.into_diff();
        let mut picked: Vec<Option<Transaction>> = candidates.into_iter().map(Some).collect();
        let txs: Vec<Transaction> = txs.into_iter().filter_map(|i| picked[i].take()).collect();
        let header_txs = (tx_root(&txs), txs.len() as u32);
        self.store.apply(&diff);
        let header = BlockHeader {
            height: ctx.height,
            parent: self.tip.hash,
            timestamp_ms: timestamp_ms.max(self.tip.timestamp_ms),
            tx_count: header_txs.1,
            tx_root: header_txs.0,
            state_root: self.store.root(),
        };
        self.tip = ChainTip::of(&header);
        Ok(Proposal {
            executed: ExecutedBlock {
                block: Block { header, txs },
                receipts,
                diff,
            },
            rejected,
        })
    }

    /// Validates and applies a block produced elsewhere (replay from disk, a peer). On error the
    /// ledger is unchanged.
    pub fn apply_block(&mut self, block: &Block) -> Result<ExecutedBlock, BlockError> {
        let header = &block.header;
        self.check_follows(header)?;
        if header.timestamp_ms < self.tip.timestamp_ms {
            return Err(BlockError::TimestampBackwards {
                parent: self.tip.timestamp_ms,
                found: header.timestamp_ms,
            });
        }
        let ctx = self.context()?;
        if block.txs.len() > ctx.params.max_block_txs as usize {
            return Err(BlockError::TooManyTxs {
                max: ctx.params.max_block_txs,
                found: block.txs.len(),
            });
        }
        if header.tx_count as usize != block.txs.len() || header.tx_root != tx_root(&block.txs) {
            return Err(BlockError::TxRootMismatch);
        }
        let ids: Vec<Hash> = block.txs.iter().map(Transaction::id).collect();
        let refs: Vec<&Transaction> = block.txs.iter().collect();
        if !batch_signatures_ok(&refs, &ids, &mut self.keys) {
            return Err(BlockError::BadSignatures);
        }
        let mut overlay = Overlay::new(&self.store);
        begin_block(&mut overlay, &ctx, self.tip.hash);
        let mut receipts = Vec::with_capacity(block.txs.len());
        for (index, tx) in block.txs.iter().enumerate() {
            admit(&mut overlay, tx, &ctx).map_err(|reason| BlockError::NotIncludable { index, reason })?;
            receipts.push(run(&mut overlay, tx, ids[index], &ctx));
        }
        let diff = overlay.into_diff();
        self.apply_checked(&diff, header)?;
        Ok(ExecutedBlock {
            block: block.clone(),
            receipts,
            diff,
        })
    }
}

impl<S: Store> Ledger<S> {
    /// Applies a block this node already executed on the same parent state (under consensus: to
    /// vote on it), without executing it again: checks it follows the tip, applies the recorded
    /// writes, and checks the resulting state root against the header. On error the ledger is
    /// unchanged.
    pub fn apply_executed(&mut self, executed: &ExecutedBlock) -> Result<(), BlockError> {
        let header = &executed.block.header;
        self.check_follows(header)?;
        self.apply_checked(&executed.diff, header)
    }

    /// Whether `header` can follow the tip (height and parent).
    fn check_follows(&self, header: &BlockHeader) -> Result<(), BlockError> {
        if header.height != self.tip.height + 1 {
            return Err(BlockError::WrongHeight {
                tip: self.tip.height,
                found: header.height,
            });
        }
        if header.parent != self.tip.hash {
            return Err(BlockError::WrongParent {
                expected: self.tip.hash,
                found: header.parent,
            });
        }
        Ok(())
    }

    /// Applies `diff` and makes `header` the tip if the state root then matches it; otherwise
    /// restores the state and fails.
    fn apply_checked(&mut self, diff: &StateDiff, header: &BlockHeader) -> Result<(), BlockError> {
        let undo: StateDiff = diff
            .keys()
            .map(|k| (k.clone(), self.store.get(k).map(<[u8]>::to_vec)))
            .collect();
        self.store.apply(diff);
        let computed = self.store.root();
        if computed != header.state_root {
            self.store.apply(&undo);
            return Err(BlockError::StateRootMismatch {
                header: header.state_root,
                computed,
            });
        }
        self.tip = ChainTip::of(header);
        Ok(())
    }
}

fn run<S: Store>(overlay: &mut Overlay<'_, S>, tx: &Transaction, id: Hash, ctx: &BlockContext) -> Receipt {
    overlay.begin();
    let outcome = match apply(overlay, tx, ctx) {
        Ok(()) => {
            overlay.commit();
            TxOutcome::Success
        }
        Err(failure) => {
            overlay.rollback();
            TxOutcome::Failed {
                code: failure.code().to_string(),
                message: failure.to_string(),
            }
        }
    };
    Receipt { tx_id: id, outcome }
}

/// Picks the candidates whose signatures verify, as a set that also verifies as one batch.
fn select_signed(
    candidates: &[Transaction],
    ids: &[Hash],
    rejected: &mut Vec<(Hash, RejectReason)>,
    cache: &mut KeyCache,
) -> Vec<usize> {
    let all: Vec<&Transaction> = candidates.iter().collect();
    if batch_signatures_ok(&all, ids, cache) {
        return (0..candidates.len()).collect();
    }
    let mut keep = Vec::with_capacity(candidates.len());
    for (i, tx) in candidates.iter().enumerate() {
        if batch_signatures_ok(&[tx], &ids[i..=i], cache) {
            keep.push(i);
        } else {
            rejected.push((ids[i], RejectReason::BadSignature));
        }
    }
    // Deliberately malformed signatures (torsion components) can pass alone and fail together.
    // Halve until the set verifies as a batch; what is cut off waits for the next block.
    loop {
        let txs: Vec<&Transaction> = keep.iter().map(|&i| &candidates[i]).collect();
        let kept_ids: Vec<Hash> = keep.iter().map(|&i| ids[i]).collect();
        if batch_signatures_ok(&txs, &kept_ids, cache) {
            return keep;
        }
        keep.truncate(keep.len() / 2);
    }
}

impl Encode for Receipt {
    fn encode(&self, out: &mut Vec<u8>) {
        self.tx_id.encode(out);
        match &self.outcome {
            TxOutcome::Success => out.push(0),
            TxOutcome::Failed { code, message } => {
                out.push(1);
                put_bytes(out, code.as_bytes());
                put_bytes(out, message.as_bytes());
            }
        }
    }
}

impl Decode for Receipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tx_id = Hash::decode(r)?;
        let outcome = match r.u8()? {
            0 => TxOutcome::Success,
            1 => TxOutcome::Failed {
                code: r.string("receipt code", 64)?,
                message: r.string("receipt message", 1024)?,
            },
            tag => return Err(DecodeError::InvalidTag { what: "receipt", tag }),
        };
        Ok(Receipt { tx_id, outcome })
    }
}

/// What every block writes before its transactions: its parent's hash into the ring of recent
/// block hashes, the entropy compute sampling draws from (a transaction cannot know the hash of
/// the block it is in, but every later block can read it).
///
/// An epoch's first block also forgets paid egress serials whose orders have expired: an expired
/// order is refused anyway, so its serial can never be paid twice, and state stays bounded by
/// the orders of the last [`crate::tx::MAX_ORDER_EPOCHS`] epochs.
fn begin_block<S: Store>(overlay: &mut Overlay<'_, S>, ctx: &BlockContext, parent: Hash) {
    let parent_height = ctx.height.saturating_sub(1);
    crate::state::write(
        overlay,
        crate::state::keys::recent_hash(parent_height),
        &(parent_height, parent),
    );
    if ctx.height.is_multiple_of(ctx.params.epoch_len_blocks.max(1)) {
        // Keys sort by expiry epoch (big-endian after the table byte): stop at the first live one.
        for (key, _) in overlay.table_entries(crate::state::keys::EGRESS_SERIAL_TABLE) {
            let expires = key
                .get(1..9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            match expires {
                Some(e) if e < ctx.epoch.0 => overlay.delete(key),
                _ => break,
            }
        }
    }
}
