//! Crash-safe persistence of the Trellis chain on redb.
//!
//! One redb write transaction per block holds the block, its receipts, its transaction index
//! entries, its state diff and the new tip, and commits with fsync (redb's default immediate
//! durability). A crash at any point therefore leaves either the whole block or none of it, and a
//! block the node reported as committed is on disk.
//!
//! **Architecture invariant:** this crate stores and loads; it never decides what is valid. Replay
//! (`ChainStore::replay`) re-runs stored blocks through the ledger and compares roots.

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;
use thiserror::Error;
use trellis_ledger::{
    Block, BlockError, ChainTip, ExecutedBlock, Genesis, GenesisError, Ledger, MemStore, Receipt, Store,
};
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    Hash,
};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const TX_INDEX: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const META_TIP: &str = "tip";
const META_GENESIS: &str = "genesis_json";

/// A storage failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// redb reported an error (disk, corruption, lock held by another process).
    #[error("database error: {0}")]
    Db(String),
    /// Stored bytes do not decode.
    #[error("stored {what} is corrupt: {source}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// The decode failure.
        source: DecodeError,
    },
    /// The database has no chain yet.
    #[error("the database holds no chain; initialise it from a genesis first")]
    Empty,
    /// The database already holds a chain.
    #[error("the database already holds a chain")]
    AlreadyInitialised,
    /// The stored genesis is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A stored block does not replay.
    #[error("block {height} does not replay: {source}")]
    Replay {
        /// Its height.
        height: u64,
        /// Why.
        source: BlockError,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
}

/// The node's database.
#[derive(Debug)]
pub struct ChainStore {
    db: Database,
}

fn encode_tip(tip: &ChainTip) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    tip.height.encode(&mut out);
    tip.hash.encode(&mut out);
    tip.state_root.encode(&mut out);
    tip.timestamp_ms.encode(&mut out);
    out
}

fn decode_tip(bytes: &[u8]) -> Result<ChainTip, StoreError> {
    let corrupt = |source| StoreError::Corrupt { what: "tip", source };
    let mut r = Reader::new(bytes);
    let tip = ChainTip {
        height: r.u64().map_err(corrupt)?,
        hash: Hash::decode(&mut r).map_err(corrupt)?,
        state_root: Hash::decode(&mut r).map_err(corrupt)?,
        timestamp_ms: r.u64().map_err(corrupt)?,
    };
    r.finish().map_err(corrupt)?;
    Ok(tip)
}

impl ChainStore {
    /// Opens (creating if needed) the database at `path`. Fails if another process holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(BLOCKS)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(STATE)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        Ok(ChainStore { db })
    }

    /// The committed tip, or `None` for an empty database.
    pub fn tip(&self) -> Result<Option<ChainTip>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let tip = meta.get(META_TIP)?;
        tip.map(|v| decode_tip(v.value())).transpose()
    }

    /// Writes block 0 of `genesis` and returns the ledger over the loaded state.
    pub fn initialise(&self, genesis: &Genesis) -> Result<Ledger<MemStore>, StoreError> {
        if self.tip()?.is_some() {
            return Err(StoreError::AlreadyInitialised);
        }
        let (ledger, block0) = genesis.into_ledger(MemStore::new())?;
        let json = serde_json::to_vec(genesis).map_err(|e| StoreError::Db(e.to_string()))?;
        self.write_block(&block0, Some(&json))?;
        Ok(ledger)
    }

    /// The genesis document the chain was started with.
    pub fn genesis(&self) -> Result<Genesis, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let raw = meta.get(META_GENESIS)?.ok_or(StoreError::Empty)?;
        let text = std::str::from_utf8(raw.value()).map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(Genesis::from_json(text)?)
    }

    /// Persists a block and everything it changed, atomically and durably.
    pub fn commit_block(&self, executed: &ExecutedBlock) -> Result<(), StoreError> {
        self.write_block(executed, None)
    }

    fn write_block(&self, executed: &ExecutedBlock, genesis_json: Option<&[u8]>) -> Result<(), StoreError> {
        let header = &executed.block.header;
        let txn = self.db.begin_write()?;
        {
            txn.open_table(BLOCKS)?
                .insert(header.height, executed.block.to_bytes().as_slice())?;
            let mut receipts = Vec::new();
            put_list(&mut receipts, &executed.receipts);
            txn.open_table(RECEIPTS)?.insert(header.height, receipts.as_slice())?;
            let mut index = txn.open_table(TX_INDEX)?;
            for (i, receipt) in executed.receipts.iter().enumerate() {
                index.insert(receipt.tx_id.as_bytes(), (header.height, i as u32))?;
            }
            let mut state = txn.open_table(STATE)?;
            for (key, value) in &executed.diff {
                match value {
                    Some(v) => {
                        state.insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        state.remove(key.as_slice())?;
                    }
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_TIP, encode_tip(&ChainTip::of(header)).as_slice())?;
            if let Some(json) = genesis_json {
                meta.insert(META_GENESIS, json)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Loads the committed state into memory and checks it against the tip's state root.
    pub fn load_ledger(&self) -> Result<Ledger<MemStore>, StoreError> {
        let tip = self.tip()?.ok_or(StoreError::Empty)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(STATE)?;
        let mut store = MemStore::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            store.insert(k.value().to_vec(), v.value().to_vec());
        }
        Ledger::resume(store, tip).map_err(|source| StoreError::Replay {
            height: tip.height,
            source,
        })
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOCKS)?;
        let raw = table.get(height)?;
        raw.map(|v| Block::decode_untrusted(v.value()).map_err(|source| StoreError::Corrupt { what: "block", source }))
            .transpose()
    }

    /// The receipts of the block at `height`.
    pub fn receipts(&self, height: u64) -> Result<Vec<Receipt>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECEIPTS)?;
        let Some(raw) = table.get(height)? else {
            return Ok(Vec::new());
        };
        let mut r = Reader::new(raw.value());
        let corrupt = |source| StoreError::Corrupt {
            what: "receipts",
            source,
        };
        let receipts = r
            .list("receipts", trellis_ledger::block::MAX_BLOCK_TXS as usize)
            .map_err(corrupt)?;
        r.finish().map_err(corrupt)?;
        Ok(receipts)
    }

    /// Where a committed transaction is.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TX_INDEX)?;
        Ok(table.get(id.as_bytes())?.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }

    /// Number of committed transactions.
    pub fn tx_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(TX_INDEX)?.len()?)
    }

    /// Re-executes every stored block from genesis in a fresh in-memory ledger, checking each
    /// block's state root, and returns the final ledger. `on_block` sees each height as it passes.
    pub fn replay(&self, mut on_block: impl FnMut(u64)) -> Result<Ledger<MemStore>, StoreError> {
        let tip = self.tip()?.ok_or(StoreError::Empty)?;
        let genesis = self.genesis()?;
        let (mut ledger, block0) = genesis.into_ledger(MemStore::new())?;
        let stored0 = self.block(0)?.ok_or(StoreError::Empty)?;
        if stored0.header != block0.block.header {
            return Err(StoreError::Replay {
                height: 0,
                source: BlockError::StateRootMismatch {
                    header: stored0.header.state_root,
                    computed: block0.block.header.state_root,
                },
            });
        }
        for height in 1..=tip.height {
            let block = self.block(height)?.ok_or(StoreError::Empty)?;
            ledger
                .apply_block(&block)
                .map_err(|source| StoreError::Replay { height, source })?;
            on_block(height);
        }
        Ok(ledger)
    }
}

/// The state root a ledger's store reports (convenience for comparisons in tests and tools).
pub fn state_root(ledger: &mut Ledger<MemStore>) -> Hash {
    ledger.store_mut().root()
}
