//! What auditors and providers say to each other: a challenge for chunks of one piece, and the
//! provider's signed answer. Binary, in the workspace codec; answers come from untrusted
//! providers, so decoding enforces every bound.

mod upload;

pub use upload::{
    decode_upload_header, SignedUploadGrant, UploadGrant, MAX_UPLOAD_HEADER_BYTES, UPLOAD_GRANT_EPOCHS, UPLOAD_HEADER,
};

use crate::piece::ChunkProof;
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    AccountAddress, DeviceAddress, Epoch, Hash, HashDomain, Keypair, PublicKey, Signature,
};

/// The download request header carrying the client's signed egress order, in hex (see
/// [`trellis_ledger::EgressOrder`]).
pub const ORDER_HEADER: &str = "trellis-order";
/// The error code of a download window refused because its serial is already claimed for
/// payment (the ledger pays a serial once): the client goes on under a new serial.
pub const ORDER_CLAIMED: &str = "order_claimed";

/// The staging request header carrying the client's signed [`StageGrant`], in hex.
pub const STAGE_HEADER: &str = "trellis-stage";
/// Longest stage header accepted (an encoded grant is 154 bytes, twice that in hex).
pub const MAX_STAGE_HEADER_BYTES: usize = 512;

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

/// A challenge as sent: signed by a registered verifier, so a provider spends its answering
/// slots (a tree file and a group read per chunk) only on auditors, never on anyone who sends
/// chunk indexes of their own. It names the provider it is for and the epoch
/// it was sent in, so one seen on the wire cannot be replayed at another provider (one the
/// piece moved to, say) or beyond [`CHALLENGE_EPOCH_SLACK`] epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChallenge {
    /// The challenge.
    pub challenge: Challenge,
    /// The provider asked.
    pub provider: DeviceAddress,
    /// The chain's epoch when the auditor sent it (not the audited epoch: an auditor catching
    /// up audits old epochs with fresh challenges).
    pub epoch: Epoch,
    /// The verifier key that signed it.
    pub signer: PublicKey,
    /// The signature over [`SignedChallenge::signing_hash`].
    pub signature: Signature,
}

impl SignedChallenge {
    /// What the auditor signs: the challenge, the provider and the epoch, for one chain (a
    /// challenge signed for a test chain is no use against a provider of another).
    pub fn signing_hash(chain_id: &str, challenge: &Challenge, provider: &DeviceAddress, epoch: Epoch) -> Hash {
        chain_bound(
            HashDomain::StorageChallengeSigning,
            chain_id,
            &[&challenge.to_bytes(), &provider.to_bytes(), &epoch.0.to_le_bytes()],
        )
    }

    /// Signs `challenge` for `provider` in `epoch` on `chain_id` with a verifier's `key`.
    pub fn sign(chain_id: &str, challenge: Challenge, provider: DeviceAddress, epoch: Epoch, key: &Keypair) -> Self {
        let signature = key.sign(Self::signing_hash(chain_id, &challenge, &provider, epoch).as_bytes());
        SignedChallenge {
            challenge,
            provider,
            epoch,
            signer: key.public(),
            signature,
        }
    }

    /// Whether it is for provider `me` at about epoch `now`, and a key of `verifiers` signed it
    /// for `chain_id`. Cheap checks first: a stranger's challenge costs no signature check.
    pub fn check(
        &self,
        chain_id: &str,
        verifiers: &[PublicKey],
        me: &DeviceAddress,
        now: Epoch,
    ) -> Result<(), ChallengeFault> {
        if &self.provider != me {
            return Err(ChallengeFault::OtherProvider);
        }
        if now.0 > self.epoch.0.saturating_add(CHALLENGE_EPOCH_SLACK) {
            return Err(ChallengeFault::Stale { sent: self.epoch, now });
        }
        if !verifiers.contains(&self.signer) {
            return Err(ChallengeFault::NotAVerifier);
        }
        let hash = Self::signing_hash(chain_id, &self.challenge, &self.provider, self.epoch);
        self.signer
            .verify(hash.as_bytes(), &self.signature)
            .map_err(|_| ChallengeFault::BadSignature)
    }
}

/// `domain`'s hash of `parts` for chain `chain_id`, the id's length first (so no chain's message
/// is another's with a longer id): what a signature bound to one chain signs.
pub(crate) fn chain_bound(domain: HashDomain, chain_id: &str, parts: &[&[u8]]) -> Hash {
    let mut h = domain.hasher();
    h.update(&(chain_id.len() as u64).to_le_bytes());
    h.update(chain_id.as_bytes());
    for part in parts {
        h.update(part);
    }
    Hash(*h.finalize().as_bytes())
}

/// How many epochs a challenge may be older than the provider's view of the chain: its node and
/// the auditor's may straddle an epoch boundary. A challenge from a later epoch than the
/// provider's is answered (its status is cached for a couple of seconds, and epochs may be
/// shorter on test networks); only a verifier can sign one, and replays are of old ones.
pub const CHALLENGE_EPOCH_SLACK: u64 = 1;

/// The error code of a challenge refused as older than the provider's view of the chain. An
/// auditor that hears it is behind the provider's node: it has no verdict for that piece.
pub const STALE_CHALLENGE: &str = "stale_challenge";

/// Why a provider refuses to answer a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeFault {
    /// It names another provider.
    #[error("the challenge is for another provider")]
    OtherProvider,
    /// Sent more than [`CHALLENGE_EPOCH_SLACK`] epochs ago: a replay.
    #[error("the challenge was sent in epoch {}, it is epoch {} here", sent.0, now.0)]
    Stale {
        /// The challenge's epoch.
        sent: Epoch,
        /// The provider's.
        now: Epoch,
    },
    /// The signer is not a verifier registered on chain.
    #[error("the challenge is not signed by a registered verifier")]
    NotAVerifier,
    /// The signature does not verify (another chain, or altered bytes).
    #[error("the challenge's signature does not verify for this chain")]
    BadSignature,
}

impl Encode for SignedChallenge {
    fn encode(&self, out: &mut Vec<u8>) {
        self.challenge.encode(out);
        self.provider.encode(out);
        self.epoch.encode(out);
        self.signer.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedChallenge {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedChallenge {
            challenge: Challenge::decode(r)?,
            provider: DeviceAddress::decode(r)?,
            epoch: Epoch::decode(r)?,
            signer: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
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

/// Decodes an auditor's signed challenge from untrusted bytes (the signature is checked by
/// [`SignedChallenge::check`]).
pub fn decode_challenge(bytes: &[u8]) -> Result<SignedChallenge, DecodeError> {
    if bytes.len() > MAX_CHALLENGE_BYTES {
        return Err(DecodeError::TooLong {
            what: "challenge",
            len: bytes.len(),
            max: MAX_CHALLENGE_BYTES,
        });
    }
    SignedChallenge::from_bytes(bytes)
}

/// A client's request that a provider take piece `index` of a file it is still coding, before
/// the deal naming the piece's root is on chain: the upload starts while the file is encoded,
/// and the provider keeps the piece only once that deal (same client, same nonce, this provider
/// at `index`, the root it computed) lands. Signed by the client, so staged bytes are always
/// some account's, and bound to one chain and one provider, so a grant cannot be replayed to
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageGrant {
    /// Who will open the deal (and signs the grant).
    pub client: AccountAddress,
    /// Who is asked to hold the piece.
    pub provider: DeviceAddress,
    /// The deal's nonce ([`trellis_ledger::DealTerms::nonce`]), fresh per file.
    pub nonce: [u8; 16],
    /// The piece's index in the deal.
    pub index: u16,
    /// The piece's length in bytes (the upload's Content-Length).
    pub len: u64,
}

impl StageGrant {
    /// The message the client signs: the grant on one chain.
    pub fn signing_message(&self, chain_id: &str) -> Hash {
        HashDomain::StorageStaging.hash_parts(&[chain_id.as_bytes(), &self.to_bytes()])
    }

    /// Signs the grant with `key` (the client's), as the header carries it.
    pub fn sign(self, chain_id: &str, key: &Keypair) -> SignedStageGrant {
        SignedStageGrant {
            grant: self,
            signature: key.sign(self.signing_message(chain_id).as_bytes()),
        }
    }
}

impl Encode for StageGrant {
    fn encode(&self, out: &mut Vec<u8>) {
        self.client.encode(out);
        self.provider.encode(out);
        out.extend_from_slice(&self.nonce);
        self.index.encode(out);
        self.len.encode(out);
    }
}

impl Decode for StageGrant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StageGrant {
            client: AccountAddress::decode(r)?,
            provider: DeviceAddress::decode(r)?,
            nonce: r.array()?,
            index: r.u16()?,
            len: r.u64()?,
        })
    }
}

/// A grant with the client's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedStageGrant {
    /// The grant.
    pub grant: StageGrant,
    /// The client's signature over [`StageGrant::signing_message`].
    pub signature: Signature,
}

impl SignedStageGrant {
    /// Whether the grant's client signed it for `chain_id`.
    pub fn verify(&self, chain_id: &str) -> bool {
        self.grant
            .client
            .key()
            .verify(self.grant.signing_message(chain_id).as_bytes(), &self.signature)
            .is_ok()
    }

    /// The header value carrying the grant.
    pub fn header(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl Encode for SignedStageGrant {
    fn encode(&self, out: &mut Vec<u8>) {
        self.grant.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedStageGrant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedStageGrant {
            grant: StageGrant::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// Decodes a stage header's value (hex of a [`SignedStageGrant`]) from an untrusted client.
pub fn decode_stage_header(value: &[u8]) -> Result<SignedStageGrant, String> {
    decode_grant_header(value, "stage", MAX_STAGE_HEADER_BYTES)
}

/// Decodes a grant header's value (hex of one encoded `T`, at most `max` bytes of it) from an
/// untrusted client; `what` names the header in the reasons.
fn decode_grant_header<T: Decode>(value: &[u8], what: &str, max: usize) -> Result<T, String> {
    if value.len() > max {
        return Err(format!("the {what} header is over {max} bytes"));
    }
    let bytes = hex::decode(value).map_err(|_| format!("the {what} header is not hex"))?;
    T::from_bytes(&bytes).map_err(|e| format!("the {what} grant does not decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> StageGrant {
        let client = Keypair::from_seed([1; 32]);
        StageGrant {
            client: client.public().into(),
            provider: Keypair::from_seed([2; 32]).public().into(),
            nonce: [3; 16],
            index: 4,
            len: 5_000,
        }
    }

    #[test]
    fn a_grant_verifies_only_for_its_chain_and_as_signed() {
        let signed = grant().sign("chain-a", &Keypair::from_seed([1; 32]));
        assert!(signed.verify("chain-a"));
        assert!(!signed.verify("chain-b"), "replayed on another chain");
        let mut longer = signed;
        longer.grant.len += 1;
        assert!(!longer.verify("chain-a"), "a changed grant");
        let forged = grant().sign("chain-a", &Keypair::from_seed([9; 32]));
        assert!(!forged.verify("chain-a"), "signed by someone else than its client");
        let back = decode_stage_header(signed.header().as_bytes()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(signed.to_bytes().len(), 154);
    }

    #[test]
    fn a_challenge_is_answered_only_when_a_verifier_signed_it_for_this_provider_chain_and_epoch() {
        let challenge = Challenge {
            deal: Hash([5; 32]),
            index: 2,
            chunks: vec![1, 7, 9],
            nonce: Hash([6; 32]),
        };
        let (auditor, stranger) = (Keypair::from_seed([7; 32]), Keypair::from_seed([8; 32]));
        let (me, other): (DeviceAddress, DeviceAddress) = (
            Keypair::from_seed([2; 32]).public().into(),
            Keypair::from_seed([3; 32]).public().into(),
        );
        let verifiers = [auditor.public()];
        let sign = |key: &Keypair| SignedChallenge::sign("chain-a", challenge.clone(), me, Epoch(10), key);
        let signed = sign(&auditor);
        let check = |c: &SignedChallenge, chain: &str, now: u64| c.check(chain, &verifiers, &me, Epoch(now));
        assert_eq!(check(&signed, "chain-a", 10), Ok(()));
        // Across an epoch boundary, but no further: an old one is a replay. One from a later
        // epoch than the provider's is the provider's stale view.
        assert_eq!(check(&signed, "chain-a", 11), Ok(()));
        assert_eq!(check(&signed, "chain-a", 3), Ok(()));
        assert_eq!(
            check(&signed, "chain-a", 12),
            Err(ChallengeFault::Stale {
                sent: Epoch(10),
                now: Epoch(12)
            })
        );
        assert_eq!(
            signed.check("chain-a", &verifiers, &other, Epoch(10)),
            Err(ChallengeFault::OtherProvider)
        );
        assert_eq!(check(&signed, "chain-b", 10), Err(ChallengeFault::BadSignature));
        assert_eq!(
            signed.check("chain-a", &[], &me, Epoch(10)),
            Err(ChallengeFault::NotAVerifier)
        );
        let forged = sign(&stranger);
        assert_eq!(check(&forged, "chain-a", 10), Err(ChallengeFault::NotAVerifier));
        let claimed = SignedChallenge {
            signer: auditor.public(),
            ..forged
        };
        assert_eq!(check(&claimed, "chain-a", 10), Err(ChallengeFault::BadSignature));
        let mut altered = signed.clone();
        altered.challenge.chunks[0] = 2;
        assert_eq!(check(&altered, "chain-a", 10), Err(ChallengeFault::BadSignature));
        // Moved to the current epoch, or to another provider, by whoever replays it: the
        // signature no longer holds.
        let renewed = SignedChallenge {
            epoch: Epoch(20),
            ..signed.clone()
        };
        assert_eq!(check(&renewed, "chain-a", 20), Err(ChallengeFault::BadSignature));
        let redirected = SignedChallenge {
            provider: other,
            ..signed.clone()
        };
        assert_eq!(
            redirected.check("chain-a", &verifiers, &other, Epoch(10)),
            Err(ChallengeFault::BadSignature)
        );
        let back = decode_challenge(&signed.to_bytes()).unwrap();
        assert_eq!(back, signed);
        let most = SignedChallenge {
            challenge: Challenge {
                chunks: vec![u64::MAX; MAX_CHALLENGE_CHUNKS],
                ..challenge.clone()
            },
            ..signed
        };
        assert!(
            most.to_bytes().len() <= MAX_CHALLENGE_BYTES,
            "the largest challenge fits the bound"
        );
    }

    #[test]
    fn bad_stage_headers_are_refused_with_reasons() {
        let signed = grant().sign("chain-a", &Keypair::from_seed([1; 32]));
        let header = signed.header();
        assert!(decode_stage_header(b"zz").unwrap_err().contains("not hex"));
        assert!(decode_stage_header(&header.as_bytes()[..header.len() - 2])
            .unwrap_err()
            .contains("does not decode"));
        let long = "00".repeat(MAX_STAGE_HEADER_BYTES);
        assert!(decode_stage_header(long.as_bytes()).unwrap_err().contains("over"));
    }
}
