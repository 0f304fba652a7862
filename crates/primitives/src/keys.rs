//! ed25519 keys and signatures, with deterministic batch verification.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// An ed25519 public key as its 32 compressed bytes.
///
/// The bytes are not checked to be a valid curve point until a signature is verified against
/// them, so decoding stays cheap and total; an invalid key simply verifies nothing.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The public key bytes are not a valid curve point.
    #[error("public key is not a valid ed25519 point")]
    InvalidKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Invalid,
}

/// A signing key. Its secret bytes are zeroed on drop and never printed.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new key from the caller's random source.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        Self {
            signing: SigningKey::generate(rng),
        }
    }

    /// The key whose secret seed is `seed` (deterministic; for tests, genesis fixtures and keystores).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The secret seed, for writing into an encrypted keystore.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair(public: {})", self.public())
    }
}

impl PublicKey {
    fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::InvalidKey)
    }

    /// Verifies one signature (strict: rejects small-order keys and non-canonical encodings).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.verifying_key()?
            .verify_strict(message, &sig)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// One (message, signature, key) triple for [`verify_batch`].
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// What was signed.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
    /// The claimed signer.
    pub signer: &'a PublicKey,
}

/// Verifies many signatures at once.
///
/// ed25519-dalek derives the batch's random coefficients from a transcript of the batch itself,
/// so the verdict is a pure function of the (ordered) batch: every node that checks the same
/// block in the same order reaches the same verdict. Honestly made signatures pass batch and
/// single verification alike; the two can only disagree on deliberately malformed ones (torsion
/// components), which is why the ledger's rule is phrased in terms of the batch (see
/// `trellis-ledger`).
pub fn verify_batch(items: &[SignedMessage<'_>]) -> Result<(), SignatureError> {
    verify_batch_cached(items, &mut KeyCache::disabled())
}

/// Decompressed public keys, so a key that signs often is decompressed (a field square root)
/// once, not per signature. A pure optimisation: verdicts are identical with or without it.
#[derive(Debug)]
pub struct KeyCache {
    keys: std::collections::HashMap<PublicKey, VerifyingKey>,
    capacity: usize,
}

/// Default [`KeyCache`] capacity: 65,536 keys is about 12 MiB, room for every active signer of a
/// busy chain; when full the cache starts over rather than tracking recency.
pub const KEY_CACHE_CAPACITY: usize = 1 << 16;

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            keys: std::collections::HashMap::new(),
            capacity: KEY_CACHE_CAPACITY,
        }
    }
}

impl KeyCache {
    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        KeyCache {
            keys: std::collections::HashMap::new(),
            capacity: 0,
        }
    }

    fn get(&mut self, key: &PublicKey) -> Result<VerifyingKey, SignatureError> {
        if let Some(k) = self.keys.get(key) {
            return Ok(*k);
        }
        let decompressed = key.verifying_key()?;
        // Small-order keys can sign for every message; refuse them outright like verify_strict.
        if decompressed.is_weak() {
            return Err(SignatureError::InvalidKey);
        }
        if self.capacity > 0 {
            if self.keys.len() >= self.capacity {
                self.keys.clear();
            }
            self.keys.insert(*key, decompressed);
        }
        Ok(decompressed)
    }
}

/// [`verify_batch`] with decompressed keys taken from, and added to, `cache`.
pub fn verify_batch_cached(items: &[SignedMessage<'_>], cache: &mut KeyCache) -> Result<(), SignatureError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        messages.push(item.message);
        signatures.push(ed25519_dalek::Signature::from_bytes(&item.signature.0));
        keys.push(cache.get(item.signer)?);
    }
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).map_err(|_| SignatureError::Invalid)
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &hex::encode(self.0)[..16])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", &hex::encode(self.0)[..16])
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected 64 hex digits for a public key")]
pub struct PublicKeyParseError;

impl FromStr for PublicKey {
    type Err = PublicKeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| PublicKeyParseError)?;
        Ok(PublicKey(out))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&text, &mut out)
            .map_err(|_| serde::de::Error::custom("expected 128 hex digits for a signature"))?;
        Ok(Signature(out))
    }
}

impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for PublicKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey(reader.array()?))
    }
}

impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Signature {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(reader.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Keypair {
        Keypair::from_seed([n; 32])
    }

    #[test]
    fn signature_verifies_only_its_message_and_key() {
        let k = key(1);
        let sig = k.sign(b"hello");
        assert_eq!(k.public().verify(b"hello", &sig), Ok(()));
        assert_eq!(k.public().verify(b"hellp", &sig), Err(SignatureError::Invalid));
        assert_eq!(key(2).public().verify(b"hello", &sig), Err(SignatureError::Invalid));
    }

    #[test]
    fn batch_rejects_one_bad_signature_among_many() {
        let keys: Vec<Keypair> = (1..=16).map(key).collect();
        let msgs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let batch = |sigs: &[Signature]| {
            let items: Vec<SignedMessage<'_>> = (0..16)
                .map(|i| SignedMessage {
                    message: &msgs[i],
                    signature: &sigs[i],
                    signer: &pubs[i],
                })
                .collect();
            verify_batch(&items)
        };
        assert_eq!(batch(&sigs), Ok(()));
        sigs[9].0[0] ^= 1;
        assert!(batch(&sigs).is_err());
    }

    #[test]
    fn cached_keys_give_the_same_verdicts_as_fresh_ones() {
        let keys: Vec<Keypair> = (1..=4).map(key).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let good: Vec<Signature> = keys.iter().map(|k| k.sign(b"m")).collect();
        let mut bad = good.clone();
        bad[2].0[5] ^= 1;
        let mut cache = KeyCache::default();
        for sigs in [&good, &bad, &good, &bad] {
            let items: Vec<SignedMessage<'_>> = (0..4)
                .map(|i| SignedMessage {
                    message: b"m",
                    signature: &sigs[i],
                    signer: &pubs[i],
                })
                .collect();
            assert_eq!(verify_batch_cached(&items, &mut cache), verify_batch(&items));
        }
        assert_eq!(cache.keys.len(), 4);
        let mut tiny = KeyCache {
            keys: Default::default(),
            capacity: 2,
        };
        let items: Vec<SignedMessage<'_>> = (0..4)
            .map(|i| SignedMessage {
                message: b"m",
                signature: &good[i],
                signer: &pubs[i],
            })
            .collect();
        assert_eq!(verify_batch_cached(&items, &mut tiny), Ok(()));
        assert!(tiny.keys.len() <= 2, "the cache stays within its capacity");
    }

    #[test]
    fn small_order_key_is_refused() {
        // The identity point: a small-order key that "signs" anything under cofactored checks.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let pk = PublicKey(identity);
        let sig = Signature([0; 64]);
        let item = SignedMessage {
            message: b"m",
            signature: &sig,
            signer: &pk,
        };
        assert!(verify_batch(&[item]).is_err());
        assert!(pk.verify(b"m", &sig).is_err());
    }
}
