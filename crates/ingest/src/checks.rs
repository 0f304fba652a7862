//! Typed rejections and the per-device limits.

use axum::http::StatusCode;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use trellis_primitives::{DeviceAddress, Hash};

/// Why ingest refused a report. Every variant has a stable code and is counted in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Not a decodable envelope.
    #[error("malformed envelope")]
    Malformed,
    /// Over the size limit.
    #[error("envelope too large")]
    TooLarge,
    /// Device clock too far from ours.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// Not a registered device.
    #[error("unknown device")]
    UnknownDevice,
    /// Signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Seen before.
    #[error("duplicate report")]
    Duplicate,
    /// Over the device's rate limit.
    #[error("rate limited")]
    RateLimited,
    /// The ingest pipeline is saturated; retry later.
    #[error("overloaded")]
    Overloaded,
    /// The report log could not make the report durable.
    #[error("report log unavailable")]
    LogUnavailable,
}

impl Rejection {
    /// Every reason, for metrics.
    pub const ALL: [Rejection; 9] = [
        Rejection::Malformed,
        Rejection::TooLarge,
        Rejection::StaleTimestamp,
        Rejection::UnknownDevice,
        Rejection::BadSignature,
        Rejection::Duplicate,
        Rejection::RateLimited,
        Rejection::Overloaded,
        Rejection::LogUnavailable,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::TooLarge => "too_large",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::UnknownDevice => "unknown_device",
            Rejection::BadSignature => "bad_signature",
            Rejection::Duplicate => "duplicate",
            Rejection::RateLimited => "rate_limited",
            Rejection::Overloaded => "overloaded",
            Rejection::LogUnavailable => "log_unavailable",
        }
    }

    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::Malformed => StatusCode::BAD_REQUEST,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::StaleTimestamp => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::UnknownDevice => StatusCode::FORBIDDEN,
            Rejection::BadSignature => StatusCode::UNAUTHORIZED,
            Rejection::Duplicate => StatusCode::CONFLICT,
            Rejection::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Rejection::Overloaded | Rejection::LogUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Most devices tracked by the rate limiter; beyond it the oldest-refilled state is forgotten
/// (a forgotten device starts with a full bucket, which only ever errs towards accepting).
pub const MAX_TRACKED_DEVICES: usize = 1_000_000;

/// A token bucket per device: `burst` reports at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: u64,
    per_minute: u64,
    buckets: BTreeMap<DeviceAddress, (u64, u64)>,
}

impl RateLimiter {
    /// A limiter.
    pub fn new(burst: u64, per_minute: u64) -> Self {
        RateLimiter {
            burst: burst.max(1),
            per_minute: per_minute.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// Takes one token for `device` at `now_ms`; false when empty.
    pub fn allow(&mut self, device: &DeviceAddress, now_ms: u64) -> bool {
        if self.buckets.len() >= MAX_TRACKED_DEVICES && !self.buckets.contains_key(device) {
            self.buckets.clear();
        }
        // One token is 60,000 credit units and each millisecond adds `per_minute` units, so refill
        // is exact integer arithmetic at any rate.
        const TOKEN: u64 = 60_000;
        let full = self.burst * TOKEN;
        let (credit, at) = self.buckets.entry(*device).or_insert((full, now_ms));
        let refill = now_ms.saturating_sub(*at).saturating_mul(self.per_minute);
        *credit = credit.saturating_add(refill).min(full);
        *at = (*at).max(now_ms);
        if *credit >= TOKEN {
            *credit -= TOKEN;
            true
        } else {
            false
        }
    }
}

/// Remembers the last `capacity` reports' hashes.
#[derive(Debug)]
pub struct Dedup {
    capacity: usize,
    seen: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl Dedup {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Dedup {
            capacity: capacity.max(1),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `h` was seen.
    pub fn contains(&self, h: &Hash) -> bool {
        self.seen.contains(h)
    }

    /// Records `h`.
    pub fn insert(&mut self, h: Hash) {
        if self.seen.insert(h) {
            self.order.push_back(h);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_primitives::Keypair;

    #[test]
    fn bucket_allows_a_burst_then_refills_at_the_rate() {
        let d: DeviceAddress = Keypair::from_seed([1; 32]).public().into();
        let mut rl = RateLimiter::new(3, 60); // one per second
        assert!((0..3).all(|_| rl.allow(&d, 1_000)));
        assert!(!rl.allow(&d, 1_000));
        assert!(!rl.allow(&d, 1_999));
        assert!(rl.allow(&d, 2_999));
    }

    #[test]
    fn dedup_forgets_the_oldest_beyond_capacity() {
        let mut dd = Dedup::new(2);
        let h = |n: u8| Hash([n; 32]);
        dd.insert(h(1));
        dd.insert(h(2));
        dd.insert(h(3));
        assert!(!dd.contains(&h(1)));
        assert!(dd.contains(&h(2)) && dd.contains(&h(3)));
    }
}
