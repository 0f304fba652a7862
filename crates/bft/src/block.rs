//! [`BftBlock`]: a ledger block as the consensus engine sees it.
//!
//! The engine orders 32-byte digests; the digest of a block is its ledger header hash, so a
//! finalized digest names exactly one ledger block, and the chain of `parent` links the engine
//! checks is the ledger's own.

use bytes::BufMut;
use commonware_codec::{varint::UInt, Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_consensus::{types::Height, Block as ConsensusBlock, BoundedBlock, Heightable};
use commonware_cryptography::{blake3::Digest, Digestible};
use std::sync::Arc;
use trellis_ledger::Block;
use trellis_primitives::{
    codec::{Decode as _, Encode as _},
    Hash,
};

/// Largest encoded block a validator proposes or accepts from a peer. It bounds every p2p
/// message that can carry a block. At ~190 bytes per transfer it holds over 40,000 transfers,
/// which is more than the ledger's default `max_block_txs`.
pub const MAX_BFT_BLOCK_BYTES: usize = 8 * 1024 * 1024;

/// A ledger block with its header hash computed once.
#[derive(Clone, Debug)]
pub struct BftBlock {
    block: Arc<Block>,
    digest: Digest,
}

/// The consensus digest of a ledger header hash.
pub fn digest_of(hash: Hash) -> Digest {
    Digest(hash.0)
}

/// The ledger hash of a consensus digest.
pub fn hash_of(digest: &Digest) -> Hash {
    Hash(digest.0)
}

impl BftBlock {
    /// Wraps a ledger block.
    pub fn new(block: Block) -> Self {
        let digest = digest_of(block.header.hash());
        BftBlock {
            block: Arc::new(block),
            digest,
        }
    }

    /// The ledger block.
    pub fn block(&self) -> &Block {
        &self.block
    }
}

impl Digestible for BftBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for BftBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height)
    }
}

impl ConsensusBlock for BftBlock {
    fn parent(&self) -> Digest {
        digest_of(self.block.header.parent)
    }
}

// On the wire: a varint length, then the ledger's canonical block encoding. The length prefix
// lets a block sit inside larger engine messages; the ledger codec stays the single definition
// of a block's bytes.
impl Write for BftBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let bytes = self.block.to_bytes();
        // Blocks are built under MAX_BFT_BLOCK_BYTES, far below u32::MAX.
        UInt(bytes.len() as u32).write(buf);
        buf.put_slice(&bytes);
    }
}

impl EncodeSize for BftBlock {
    fn encode_size(&self) -> usize {
        let len = self.block.to_bytes().len();
        UInt(len as u32).encode_size() + len
    }
}

impl Read for BftBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _cfg: &()) -> Result<Self, CodecError> {
        let len = UInt::<u32>::read(buf)?.0 as usize;
        if len > MAX_BFT_BLOCK_BYTES {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0u8; len];
        buf.copy_to_slice(&mut bytes);
        let block = Block::from_bytes(&bytes).map_err(|e| CodecError::Wrapped("trellis block", Box::new(e)))?;
        Ok(BftBlock::new(block))
    }
}

impl BoundedBlock for BftBlock {
    fn max_encode_size(_cfg: &()) -> usize {
        UInt(MAX_BFT_BLOCK_BYTES as u32).encode_size() + MAX_BFT_BLOCK_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode};

    fn decode(bytes: &[u8]) -> Result<BftBlock, CodecError> {
        BftBlock::decode(bytes::Bytes::copy_from_slice(bytes))
    }
    use trellis_ledger::BlockHeader;

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                height,
                parent: Hash([7; 32]),
                timestamp_ms: 1_000,
                tx_count: 0,
                tx_root: Hash([1; 32]),
                state_root: Hash([2; 32]),
            },
            txs: vec![],
        }
    }

    #[test]
    fn round_trips_and_digest_is_the_header_hash() {
        let b = BftBlock::new(block(5));
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encode_size());
        let back = decode(&bytes).unwrap();
        assert_eq!(back.block(), b.block());
        assert_eq!(hash_of(&back.digest()), b.block().header.hash());
        assert_eq!(back.height(), Height::new(5));
        assert_eq!(hash_of(&back.parent()), Hash([7; 32]));
    }

    #[test]
    fn refuses_oversized_and_truncated_input() {
        let mut huge = Vec::new();
        UInt((MAX_BFT_BLOCK_BYTES + 1) as u32).write(&mut huge);
        assert!(matches!(decode(&huge), Err(CodecError::InvalidLength(_))));
        let bytes = BftBlock::new(block(1)).encode();
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut garbage = Vec::new();
        UInt(3u32).write(&mut garbage);
        garbage.extend_from_slice(&[1, 2, 3]);
        assert!(decode(&garbage).is_err());
    }
}
