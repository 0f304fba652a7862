//! Blocks and their headers.

use crate::{merkle::merkle_root, tx::Transaction};
use serde::Serialize;
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    Hash, HashDomain,
};

/// Hard upper bound on transactions per block (the `max_block_txs` param must stay within it).
/// 50,000 × the 16 KiB tx cap bounds a block at 800 MiB in theory; in practice transfers are
/// ~190 bytes, so a full block is under 10 MiB.
pub const MAX_BLOCK_TXS: u32 = 50_000;
/// Largest encoded block accepted from outside.
pub const MAX_BLOCK_BYTES: usize = 64 * 1024 * 1024;

/// What a block commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockHeader {
    /// Height (genesis is 0).
    pub height: u64,
    /// Hash of the previous header ([`Hash::ZERO`] for genesis).
    pub parent: Hash,
    /// Proposer's clock in ms since the Unix epoch; never earlier than the parent's. Only for
    /// display and wall-clock-based limits outside consensus; the ledger measures time in blocks.
    pub timestamp_ms: u64,
    /// Number of transactions.
    pub tx_count: u32,
    /// Merkle root over the transactions' leaf hashes.
    pub tx_root: Hash,
    /// State root after executing the block.
    pub state_root: Hash,
}

impl BlockHeader {
    /// The block hash. It is also on-chain entropy for challenges: nobody learns it before the
    /// block exists.
    pub fn hash(&self) -> Hash {
        HashDomain::BlockHeader.hash(&self.to_bytes())
    }
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// Decodes a block from untrusted bytes.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(DecodeError::TooLong {
                what: "block",
                len: bytes.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        Self::from_bytes(bytes)
    }
}

/// The leaf committing to one transaction (signatures included).
pub fn tx_leaf(tx: &Transaction) -> Hash {
    HashDomain::TxLeaf.hash(&tx.to_bytes())
}

/// The transaction root of a list of transactions.
pub fn tx_root(txs: &[Transaction]) -> Hash {
    let leaves: Vec<Hash> = txs.iter().map(tx_leaf).collect();
    merkle_root(&leaves)
}

impl Encode for BlockHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.height.encode(out);
        self.parent.encode(out);
        self.timestamp_ms.encode(out);
        self.tx_count.encode(out);
        self.tx_root.encode(out);
        self.state_root.encode(out);
    }
}

impl Decode for BlockHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            height: r.u64()?,
            parent: Hash::decode(r)?,
            timestamp_ms: r.u64()?,
            tx_count: r.u32()?,
            tx_root: Hash::decode(r)?,
            state_root: Hash::decode(r)?,
        })
    }
}

impl Encode for Block {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        put_list(out, &self.txs);
    }
}

impl Decode for Block {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block {
            header: BlockHeader::decode(r)?,
            txs: r.list("block transactions", MAX_BLOCK_TXS as usize)?,
        })
    }
}
