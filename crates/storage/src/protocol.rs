//! What auditors and providers say to each other: a challenge for chunks of one piece, and the
//! provider's signed answer. Binary, in the workspace codec; answers come from untrusted
//! providers, so decoding enforces every bound.

use crate::piece::ChunkProof;
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    DeviceAddress, Hash, HashDomain, Keypair, PublicKey, Signature,
};

/// The download request header carrying the client's signed egress order, in hex (see
/// [`trellis_ledger::EgressOrder`]).
pub const ORDER_HEADER: &str = "trellis-order";

/// Most chunks one challenge may ask for (a 64-chunk answer is about 300 KiB).
pub const MAX_CHALLENGE_CHUNKS: usize = 64;
/// Largest encoded challenge.
pub const MAX_CHALLENGE_BYTES: usize = 1024;
/// Largest encoded answer: every chunk with a 64-level path, plus the signature.
pub const MAX_ANSWER_BYTES: usize = MAX_CHALLENGE_CHUNKS * (4096 + 8 + 8 + 8 + 8 + 64 * 32 + 8) + 256;

/// A request to prove possession of some chunks of a piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The deal.
    pub deal: Hash,
    /// The piece.
    pub index: u16,
    /// Chunk indexes to prove.
    pub chunks: Vec<u64>,
    /// Fresh per challenge: an answer to an earlier challenge cannot be replayed.
    pub nonce: Hash,
}

impl Encode for Challenge {
    fn encode(&self, out: &mut Vec<u8>) {
        self.deal.encode(out);
        self.index.encode(out);
        put_list(out, &self.chunks);
        self.nonce.encode(out);
    }
}

impl Decode for Challenge {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Challenge {
            deal: Hash::decode(r)?,
            index: r.u16()?,
            chunks: r.list("challenged chunks", MAX_CHALLENGE_CHUNKS)?,
            nonce: Hash::decode(r)?,
        })
    }
}

/// A provider's answer: the challenged chunks with their Merkle paths, signed by its device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The challenge's nonce.
    pub nonce: Hash,
    /// One proof per challenged chunk, in the challenge's order.
    pub proofs: Vec<ChunkProof>,
    /// The device key's signature over [`Answer::signing_hash`].
    pub signature: Signature,
}

impl Answer {
    /// What the provider signs: the challenge it answers and every proof.
    pub fn signing_hash(challenge: &Challenge, proofs: &[ChunkProof]) -> Hash {
        let mut h = HashDomain::StorageAnswer.hasher();
        h.update(&challenge.to_bytes());
        for proof in proofs {
            h.update(&proof.to_bytes());
        }
        Hash(*h.finalize().as_bytes())
    }

    /// Signs `proofs` as the answer to `challenge`.
    pub fn sign(challenge: &Challenge, proofs: Vec<ChunkProof>, key: &Keypair) -> Self {
        let signature = key.sign(Self::signing_hash(challenge, &proofs).as_bytes());
        Answer {
            nonce: challenge.nonce,
            proofs,
            signature,
        }
    }

    /// Checks the answer against the challenge, the piece's root and length, and the provider.
    pub fn check(
        &self,
        challenge: &Challenge,
        root: &Hash,
        piece_len: u64,
        provider: &DeviceAddress,
    ) -> Result<(), AnswerFault> {
        // Nonce and signature first: only an answer the provider signed for this very challenge
        // can convict it (a replayed or forged answer says nothing about the provider).
        if self.nonce != challenge.nonce {
            return Err(AnswerFault::WrongNonce);
        }
        let key: &PublicKey = provider.key();
        if key
            .verify(Self::signing_hash(challenge, &self.proofs).as_bytes(), &self.signature)
            .is_err()
        {
            return Err(AnswerFault::BadSignature);
        }
        if self.proofs.len() != challenge.chunks.len() {
            return Err(AnswerFault::WrongCount {
                asked: challenge.chunks.len(),
                answered: self.proofs.len(),
            });
        }
        for (proof, &index) in self.proofs.iter().zip(&challenge.chunks) {
            if !proof.verify(root, piece_len, index) {
                return Err(AnswerFault::BadProof(index));
            }
        }
        Ok(())
    }
}

/// Why an answer fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnswerFault {
    /// It answers another challenge (a replay).
    #[error("the answer is for another challenge (replayed)")]
    WrongNonce,
    /// Not one proof per challenged chunk.
    #[error("{answered} proofs for {asked} challenged chunks")]
    WrongCount {
        /// Chunks asked for.
        asked: usize,
        /// Proofs given.
        answered: usize,
    },
    /// A chunk does not match the piece's commitment.
    #[error("chunk {0} does not match the piece's commitment")]
    BadProof(u64),
    /// Not signed by the provider's device key.
    #[error("the answer is not signed by the provider")]
    BadSignature,
}

impl Encode for Answer {
    fn encode(&self, out: &mut Vec<u8>) {
        self.nonce.encode(out);
        put_list(out, &self.proofs);
        self.signature.encode(out);
    }
}

impl Decode for Answer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Answer {
            nonce: Hash::decode(r)?,
            proofs: r.list("chunk proofs", MAX_CHALLENGE_CHUNKS)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// Decodes a provider's answer from untrusted bytes.
pub fn decode_answer(bytes: &[u8]) -> Result<Answer, DecodeError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(DecodeError::TooLong {
            what: "answer",
            len: bytes.len(),
            max: MAX_ANSWER_BYTES,
        });
    }
    Answer::from_bytes(bytes)
}

/// Decodes an auditor's challenge from untrusted bytes.
pub fn decode_challenge(bytes: &[u8]) -> Result<Challenge, DecodeError> {
    if bytes.len() > MAX_CHALLENGE_BYTES {
        return Err(DecodeError::TooLong {
            what: "challenge",
            len: bytes.len(),
            max: MAX_CHALLENGE_BYTES,
        });
    }
    Challenge::from_bytes(bytes)
}
