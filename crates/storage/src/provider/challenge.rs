//! Audit challenges: checked to be a verifier's, fresh and for this provider before anything is
//! read; answered with the challenged chunks' proofs from the piece's stored tree, signed by the
//! device key; recent answers remembered, so a challenge replayed within its epochs costs no
//! reads.

use super::{
    disk::PieceId,
    server::{Provider, Refusal},
};
use crate::protocol::{decode_challenge, Answer, ChallengeFault, STALE_CHALLENGE};
use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use std::sync::{atomic::Ordering, PoisonError};
use trellis_primitives::{Encode, Epoch, Hash, HashDomain};

/// Answers remembered for replayed challenges (one is at most ~300 KiB, usually ~14 KiB).
const REMEMBERED_ANSWERS: usize = 64;

impl Provider {
    /// The answer given to `challenge` lately, if any.
    fn remembered_answer(&self, challenge: &Hash) -> Option<Bytes> {
        let answers = self.0.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.iter().find(|(c, _)| c == challenge).map(|(_, a)| a.clone())
    }

    fn remember_answer(&self, challenge: Hash, answer: Bytes) {
        let mut answers = self.0.answers.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.len() >= REMEMBERED_ANSWERS {
            answers.pop_front();
        }
        answers.push_back((challenge, answer));
    }
}

pub(super) async fn challenge(State(p): State<Provider>, body: Bytes) -> Result<Response, Refusal> {
    let signed = decode_challenge(&body)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_challenge", e.to_string()))?;
    // Before anything is read: only an auditor may spend the answering slots.
    let status = p.chain_status().await?;
    let now = Epoch(status.epoch);
    signed
        .check(&status.chain_id, &status.verifiers, &p.device(), now)
        .map_err(|e| {
            p.0.metrics.challenges_unauthorized.fetch_add(1, Ordering::Relaxed);
            // A stale one has its own code: from an auditor, it means the auditor's node is
            // behind this provider's, and the auditor must not take the refusal for a failure.
            let code = match e {
                ChallengeFault::Stale { .. } => STALE_CHALLENGE,
                _ => "unauthorized_challenge",
            };
            Refusal::new(StatusCode::FORBIDDEN, code, e.to_string())
        })?;
    let challenge = signed.challenge;
    let id = PieceId {
        deal: challenge.deal,
        index: challenge.index,
    };
    if !p.0.store.has(&id) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_piece",
            format!("piece {} of deal {} is not stored here", id.index, id.deal),
        ));
    }
    let asked = HashDomain::StorageChallenge.hash(&challenge.to_bytes());
    if let Some(answer) = p.remembered_answer(&asked) {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response());
    }
    // Queue briefly rather than refuse at once: an auditor's challenge that meets a burst of
    // others still gets answered well within its deadline.
    let limits = p.0.limits;
    let permit = tokio::time::timeout(limits.challenge_queue_wait, p.0.challenges.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            p.0.metrics.challenges_busy.fetch_add(1, Ordering::Relaxed);
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{} challenges in progress; retry shortly", limits.max_challenges),
            )
        })?;
    let prover = p.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Answer, Refusal> {
        let _permit = permit;
        let store = &prover.0.store;
        let tree = store.tree(&id).map_err(Refusal::internal)?;
        let past_end = |index: u64| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_challenge",
                format!("chunk {index} is past the end of the piece"),
            )
        };
        let mut proofs = Vec::with_capacity(challenge.chunks.len());
        for &index in &challenge.chunks {
            let (proof, intact) = store.prove_chunk(&id, &tree, index).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => past_end(index),
                _ => Refusal::internal(e),
            })?;
            if !intact {
                // Answered anyway: the auditor's verdict is what counts, and an answer that
                // fails says more than a refusal. The operator hears of it here.
                prover.0.metrics.corrupt_reads.fetch_add(1, Ordering::Relaxed);
                tracing::error!(deal = %id.deal, piece = id.index, chunk = index, "challenged data is corrupt");
            }
            proofs.push(proof);
        }
        Ok(Answer::sign(&challenge, proofs, &prover.0.key))
    })
    .await
    .map_err(Refusal::internal)??;
    p.0.metrics.challenges.fetch_add(1, Ordering::Relaxed);
    let answer = Bytes::from(answer.to_bytes());
    p.remember_answer(asked, answer.clone());
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response())
}
