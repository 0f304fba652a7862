//! Storage providers' audit reputation, kept in chain state and updated by deal settlements.

use serde::Serialize;
use trellis_primitives::codec::{Decode, DecodeError, Encode, Reader};

/// A storage provider's audit reputation: the beta-distribution estimate Storj's satellites keep
/// (Storj v3 whitepaper, section 4.16), updated on chain every time a deal with a piece on the
/// provider is settled. Fixed point: one unit is `1 / REPUTATION_ONE`.
///
/// `alpha' = λ·alpha + (1 + v)/2`, `beta' = λ·beta + (1 − v)/2`, with `v = +1` for a proven piece
/// and `−1` for one that failed, and the forgetting factor `λ = 0.99`. The score is
/// `alpha / (alpha + beta)`. A new provider starts at alpha = 1, beta = 0 (unvetted: proving a
/// piece once and then failing it twice disqualifies it); one with a long clean history (alpha
/// near `1/(1−λ)` = 100) survives 50 failed piece-epochs in a row and is disqualified by the
/// 51st. A failure is recorded only against a holder that proved the piece since taking it
/// ([`crate::state::piece_proven_by`]): deals name providers without their consent.
/// Every piece of every settled deal is one event, so λ is close to 1: a provider holding many
/// pieces that is offline for one epoch loses one event per piece, not its standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reputation {
    /// Weighted successes, fixed point.
    pub alpha: u64,
    /// Weighted failures, fixed point.
    pub beta: u64,
    /// Piece-epochs proven.
    pub proven: u64,
    /// Piece-epochs failed.
    pub failed: u64,
}

/// Fixed-point one for [`Reputation`].
pub const REPUTATION_ONE: u64 = 1_000_000;
/// The forgetting factor λ as a fraction.
const REPUTATION_LAMBDA: (u64, u64) = (99, 100);
/// Below this score (in parts per million) a provider is disqualified: no new pieces may be
/// placed on it (Storj's original audit disqualification threshold, 0.6).
pub const REPUTATION_DQ_PPM: u64 = 600_000;

impl Default for Reputation {
    fn default() -> Self {
        Reputation {
            alpha: REPUTATION_ONE,
            beta: 0,
            proven: 0,
            failed: 0,
        }
    }
}

impl Reputation {
    /// The reputation after one more audited piece-epoch.
    pub fn record(self, proven: bool) -> Self {
        // In u128: a record decoded from state is only as sane as the store.
        let decay = |x: u64| (u128::from(x) * u128::from(REPUTATION_LAMBDA.0) / u128::from(REPUTATION_LAMBDA.1)) as u64;
        let (a, b) = if proven {
            (REPUTATION_ONE, 0)
        } else {
            (0, REPUTATION_ONE)
        };
        Reputation {
            alpha: decay(self.alpha).saturating_add(a),
            beta: decay(self.beta).saturating_add(b),
            proven: self.proven.saturating_add(u64::from(proven)),
            failed: self.failed.saturating_add(u64::from(!proven)),
        }
    }

    /// `alpha / (alpha + beta)` in parts per million.
    pub fn score_ppm(&self) -> u64 {
        let total = u128::from(self.alpha) + u128::from(self.beta);
        if total == 0 {
            return 0;
        }
        (u128::from(self.alpha) * 1_000_000 / total) as u64
    }

    /// Whether no new pieces may be placed on the provider.
    pub fn disqualified(&self) -> bool {
        self.score_ppm() < REPUTATION_DQ_PPM
    }
}

impl Encode for Reputation {
    fn encode(&self, out: &mut Vec<u8>) {
        self.alpha.encode(out);
        self.beta.encode(out);
        self.proven.encode(out);
        self.failed.encode(out);
    }
}
impl Decode for Reputation {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Reputation {
            alpha: r.u64()?,
            beta: r.u64()?,
            proven: r.u64()?,
            failed: r.u64()?,
        })
    }
}
