//! Proofs of storage over time: which chunks an auditor challenges, how an answer is judged, and
//! what a verdict earns.
//!
//! Every epoch, each piece of each open deal is challenged for [`AuditConfig::chunks_per_piece`]
//! chunks picked from the epoch's last block hash mixed with the auditor's signature of it
//! ([`challenge_seed`]): a provider cannot know which chunks it must produce before the auditor
//! asks, and once the auditor publishes the signature anyone can recompute who was asked for
//! what. The auditor signs each
//! challenge with its verifier key ([`crate::protocol::SignedChallenge`]); a provider answers only
//! those, so nobody else can keep its answering slots busy. The provider answers
//! with the chunks, their Merkle paths to the piece root recorded in the deal, and its device
//! signature ([`crate::protocol::Answer`]).
//!
//! **Detection probability.** A provider that deleted (or corrupted) a fraction `f` of a piece
//! answers one uniformly drawn chunk correctly with probability `1 − f`, so `c` challenged chunks
//! catch it with probability `1 − (1 − f)^c`. For `f = 10 %` and `≥ 99.9 %`:
//! `c ≥ ln(0.001) / ln(0.9) = 65.6`, so at least **66 chunks per piece per day**.
//! [`AuditConfig::validate`] enforces that for the network's epochs per day; with hourly epochs
//! the default of 3 chunks per piece per epoch gives 72 per day (`1 − 0.9^72 = 99.95 %`). A
//! single flipped byte is one chunk of `chunk_count` and is found at rate
//! `chunks_per_day / chunk_count` per day; downloads (which check every byte) and the provider's
//! own integrity check on read find it sooner.

use crate::{
    piece::chunk_count,
    protocol::{decode_answer, AnswerFault, Challenge, SignedChallenge},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use trellis_primitives::{DeviceAddress, Encode, Hash, HashDomain, Signature};

/// Chunks per piece per day needed to catch a provider that lost 10 % of a piece with 99.9 %
/// probability (see the module docs).
pub const MIN_CHUNKS_PER_DAY: u64 = 66;

/// How audits run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditConfig {
    /// Chunks challenged per piece per epoch.
    pub chunks_per_piece: u16,
    /// How long a provider has to answer.
    pub deadline_ms: u64,
    /// Pieces of a deal that must stay healthy; below this the auditor repairs the failed ones.
    /// `0` means all of them (repair every failure at once).
    pub repair_threshold: u16,
    /// Share of collateral slashed for a failed piece, in basis points.
    pub slash_bps: u16,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            chunks_per_piece: 3,
            deadline_ms: 10_000,
            repair_threshold: 0,
            slash_bps: 1_000,
        }
    }
}

impl AuditConfig {
    /// Checks the config for a network with `epoch_ms` milliseconds per epoch.
    pub fn validate(&self, epoch_ms: u64) -> Result<(), String> {
        if self.chunks_per_piece == 0 || usize::from(self.chunks_per_piece) > crate::protocol::MAX_CHALLENGE_CHUNKS {
            return Err(format!(
                "chunks_per_piece must be in 1..={}",
                crate::protocol::MAX_CHALLENGE_CHUNKS
            ));
        }
        let epochs_per_day = (86_400_000 / epoch_ms.max(1)).max(1);
        let per_day = u64::from(self.chunks_per_piece) * epochs_per_day;
        if per_day < MIN_CHUNKS_PER_DAY {
            return Err(format!(
                "chunks_per_piece {} × {epochs_per_day} epochs a day = {per_day} challenged chunks a day; \
                 at least {MIN_CHUNKS_PER_DAY} are needed to catch a provider missing 10 % of a piece within a day \
                 with 99.9 % probability",
                self.chunks_per_piece
            ));
        }
        if self.deadline_ms == 0 || self.deadline_ms >= epoch_ms {
            return Err("the audit deadline must be positive and shorter than the epoch".into());
        }
        if self.slash_bps > 10_000 {
            return Err("slash_bps must be at most 10,000".into());
        }
        Ok(())
    }

    /// The answer deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}

/// What the auditor signs (with its verifier key) to seed an epoch's challenges: the epoch's
/// last block hash. See [`challenge_seed`].
pub fn seed_message(entropy: &Hash) -> Hash {
    HashDomain::StorageChallengeSeed.hash(entropy.as_bytes())
}

/// The seed of an epoch's challenges: its last block hash mixed with the auditor's signature of
/// it. The block hash alone is public the moment the epoch ends, so a provider would know which
/// chunks it will be asked for before the auditor asks (time to fetch them from elsewhere); the
/// signature is known to nobody else until the auditor publishes it in its verdict file, and an
/// ed25519 signature is deterministic, so the auditor cannot grind it either. Anyone can then
/// check it against the verifier's key and recompute every challenge.
pub fn challenge_seed(entropy: &Hash, signature: &Signature) -> Hash {
    HashDomain::StorageChallengeSeed.hash_parts(&[entropy.as_bytes(), &signature.0])
}

/// The challenge for piece `index` of `deal` in the epoch whose challenge seed is `entropy`
/// (the epoch's [`challenge_seed`]).
pub fn challenge_for(entropy: &Hash, deal: &Hash, index: u16, piece_len: u64, chunks: u16) -> Challenge {
    let mut h = HashDomain::StorageChallenge.hasher();
    h.update(entropy.as_bytes());
    h.update(deal.as_bytes());
    h.update(&index.to_le_bytes());
    let nonce = Hash(*h.finalize().as_bytes());
    let count = chunk_count(piece_len).max(1);
    let picks = (0..u64::from(chunks))
        .map(|j| {
            let mut h = HashDomain::StorageChallenge.hasher();
            h.update(nonce.as_bytes());
            h.update(&j.to_le_bytes());
            let word: [u8; 8] = h.finalize().as_bytes()[..8].try_into().unwrap_or([0; 8]);
            // Modulo bias is below count / 2^64: irrelevant for any real piece.
            u64::from_le_bytes(word) % count
        })
        .collect();
    Challenge {
        deal: *deal,
        index,
        chunks: picks,
        nonce,
    }
}

/// How one piece fared in one epoch's audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "detail")]
pub enum Verdict {
    /// Every challenged chunk proven.
    Passed,
    /// No answer in time, or no connection: counts against reputation, but is no evidence.
    Unresponsive(String),
    /// The provider says it does not hold the piece.
    NotStored,
    /// A signed answer that fails: wrong chunk bytes, wrong count, replayed nonce.
    BadAnswer(String),
    /// An answer that is not the provider's (bad signature) or does not decode.
    Malformed(String),
    /// The provider has published no endpoint.
    NoEndpoint,
}

impl Verdict {
    /// Whether the piece is proven for the epoch.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }

    /// Whether the failure convicts the provider, given whether it proved holding this piece in
    /// an earlier audit (`held_before`). A signed wrong answer always does: the provider only
    /// answers for pieces it has, so it holds wrong bytes. "Not stored" is an unsigned 404, so it
    /// convicts only a provider that once proved it held the piece: otherwise anyone could open
    /// a deal naming a provider, never upload, and get it slashed. Timeouts never do (the
    /// network may be at fault); they cost only pay and reputation.
    pub fn slashable(&self, held_before: bool) -> bool {
        match self {
            Verdict::BadAnswer(_) => true,
            Verdict::NotStored => held_before,
            _ => false,
        }
    }

    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Unresponsive(_) => "unresponsive",
            Verdict::NotStored => "not_stored",
            Verdict::BadAnswer(_) => "bad_answer",
            Verdict::Malformed(_) => "malformed",
            Verdict::NoEndpoint => "no_endpoint",
        }
    }
}

/// Sends `signed` (a challenge signed by the auditor's verifier key) to the provider at
/// `endpoint` and judges the answer against the piece's `root` and length and the provider's
/// key.
pub async fn audit_piece(
    http: &reqwest::Client,
    endpoint: &str,
    signed: &SignedChallenge,
    root: &Hash,
    piece_len: u64,
    provider: &DeviceAddress,
    deadline: Duration,
) -> Verdict {
    let url = format!("{}/v1/challenge", endpoint.trim_end_matches('/'));
    let sent = http
        .post(&url)
        .timeout(deadline)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(signed.to_bytes())
        .send()
        .await;
    let challenge = &signed.challenge;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Verdict::Unresponsive(e.to_string()),
    };
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Verdict::NotStored;
    }
    if !response.status().is_success() {
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or("");
        if code == crate::protocol::STALE_CHALLENGE {
            // Either this auditor's node is behind the provider's (auditors run on nodes at
            // the chain's tip) or the provider says so to dodge the audit: no answer either way.
            tracing::warn!(%provider, "a provider judged this auditor's challenge stale: is its node behind?");
        }
        return Verdict::Unresponsive(format!("answered {status} {code}"));
    }
    let body = match read_bounded(response, crate::protocol::MAX_ANSWER_BYTES).await {
        Ok(b) => b,
        Err(e) => return Verdict::Malformed(e),
    };
    let answer = match decode_answer(&body) {
        Ok(a) => a,
        Err(e) => return Verdict::Malformed(e.to_string()),
    };
    match answer.check(challenge, root, piece_len, provider) {
        Ok(()) => Verdict::Passed,
        // Not signed by the provider for this challenge: could be anyone's bytes.
        Err(fault @ (AnswerFault::BadSignature | AnswerFault::WrongNonce)) => Verdict::Malformed(fault.to_string()),
        // Signed for this challenge, and wrong: the provider's own word against it.
        Err(fault @ (AnswerFault::WrongCount { .. } | AnswerFault::BadProof(_))) => {
            Verdict::BadAnswer(fault.to_string())
        }
    }
}

/// Reads a response body of at most `max` bytes, chunk by chunk, so a provider cannot make the
/// auditor buffer more than that.
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("answer larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An HTTP client for auditors: no redirects (an endpoint must not bounce the auditor to other
/// hosts), bounded connect time.
pub fn auditor_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

/// The evidence hash a slash for this verdict cites: unique per deal, piece, epoch and provider,
/// so one failure slashes once.
pub fn evidence(deal: &Hash, index: u16, epoch: u64, provider: &DeviceAddress, verdict: &Verdict) -> Hash {
    let mut h = HashDomain::StorageChallenge.hasher();
    h.update(b"slash");
    h.update(deal.as_bytes());
    h.update(&index.to_le_bytes());
    h.update(&epoch.to_le_bytes());
    h.update(&provider.key().0);
    h.update(verdict.name().as_bytes());
    Hash(*h.finalize().as_bytes())
}

/// Epochs the storage pool's units wait before they are paid. Units proven in epoch `N` are paid
/// with epoch `N + HOLD_EPOCHS`, and forfeited by a provider convicted (a slashable verdict,
/// [`Verdict::slashable`]) in any of epochs `N ..= N + HOLD_EPOCHS`. An audit checks a few chunks
/// of each piece, so a provider that kept most of a piece passes it often; the first signed
/// wrong answer proves it was discarding data all along, and what its earlier passes earned is
/// still held (Storj holds back part of every payout; Filecoin vests block rewards and takes
/// fault penalties from what is locked). Two epochs: a provider that kept 70 % of the chunks of
/// its two pieces, each audited on three a epoch, passes an epoch 0.7^6 ≈ 12 % of the time, and
/// passes it and the two after it 0.7^18 ≈ 0.2 % of the time; the cost to honest providers is
/// being paid two epochs later.
pub const HOLD_EPOCHS: u64 = 2;

/// The storage pool's units paid with epoch `N`: `proven`, the units of epoch `N − HOLD_EPOCHS`,
/// less every provider in `convicted`, those convicted in any of epochs `N − HOLD_EPOCHS ..= N`.
pub fn released<K: Ord + Clone>(
    proven: &std::collections::BTreeMap<K, u64>,
    convicted: &std::collections::BTreeSet<K>,
) -> std::collections::BTreeMap<K, u64> {
    proven
        .iter()
        .filter(|(k, _)| !convicted.contains(*k))
        .map(|(k, u)| (k.clone(), *u))
        .collect()
}

/// Storage-pool units a provider earns for proven bytes: KiB-epochs proven, scaled by its
/// reputation score (parts per million), rounded down.
pub fn storage_units(proven_bytes: u64, reputation_ppm: u64) -> u64 {
    let kib = u128::from(proven_bytes / 1024);
    u64::try_from(kib * u128::from(reputation_ppm.min(1_000_000)) / 1_000_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_a_pure_function_of_entropy_deal_and_piece() {
        let (e, d) = (Hash([1; 32]), Hash([2; 32]));
        let a = challenge_for(&e, &d, 0, 1 << 20, 8);
        assert_eq!(a, challenge_for(&e, &d, 0, 1 << 20, 8));
        assert_ne!(a.chunks, challenge_for(&e, &d, 1, 1 << 20, 8).chunks);
        assert_ne!(a.nonce, challenge_for(&Hash([3; 32]), &d, 0, 1 << 20, 8).nonce);
        assert!(a.chunks.iter().all(|&c| c < 256));
        assert_eq!(a.chunks.len(), 8);
    }

    #[test]
    fn the_seed_needs_the_auditors_key_and_is_one_per_key_and_epoch() {
        let (entropy, other) = (Hash([1; 32]), Hash([2; 32]));
        let auditor = trellis_primitives::Keypair::from_seed([3; 32]);
        let signature = auditor.sign(seed_message(&entropy).as_bytes());
        // Deterministic: the auditor cannot try signatures until it likes the chunks.
        assert_eq!(signature, auditor.sign(seed_message(&entropy).as_bytes()));
        let seed = challenge_seed(&entropy, &signature);
        assert_ne!(seed, entropy, "the block hash alone is not the seed");
        let stranger = trellis_primitives::Keypair::from_seed([4; 32]);
        assert_ne!(
            seed,
            challenge_seed(&entropy, &stranger.sign(seed_message(&entropy).as_bytes()))
        );
        assert_ne!(
            seed,
            challenge_seed(&other, &auditor.sign(seed_message(&other).as_bytes()))
        );
        assert_eq!(
            auditor.public().verify(seed_message(&entropy).as_bytes(), &signature),
            Ok(())
        );
    }

    #[test]
    fn the_default_config_catches_a_ten_percent_loss_within_a_day() {
        let hour = 3_600_000;
        AuditConfig::default().validate(hour).unwrap();
        // 1 − 0.9^72 ≥ 0.999, written in integers: 0.9^72 · 10^n < 10^(n−3).
        let miss = (0..72).fold(1u128 << 100, |p, _| p * 9 / 10);
        assert!(miss * 1000 < 1u128 << 100);
        let daily = AuditConfig {
            chunks_per_piece: 2,
            ..AuditConfig::default()
        };
        assert!(daily.validate(hour).unwrap_err().contains("48 challenged chunks a day"));
        assert!(
            AuditConfig::default().validate(5_000).is_err(),
            "deadline longer than the epoch"
        );
    }

    #[test]
    fn held_units_are_released_to_all_but_the_providers_convicted_meanwhile() {
        let proven: std::collections::BTreeMap<u8, u64> = [(1, 10), (2, 20), (3, 30)].into();
        let convicted: std::collections::BTreeSet<u8> = [2, 9].into();
        assert_eq!(released(&proven, &convicted), [(1, 10), (3, 30)].into());
        assert_eq!(released(&proven, &Default::default()), proven);
    }

    #[test]
    fn units_are_proven_kib_scaled_by_reputation() {
        assert_eq!(storage_units(1 << 30, 1_000_000), 1 << 20);
        assert_eq!(storage_units(1 << 30, 500_000), 1 << 19);
        assert_eq!(storage_units(1023, 1_000_000), 0);
    }
}
