//! Which providers get a file's pieces, and how many pieces a file is cut into.
//!
//! Providers are ranked by audit reputation; among equals by a hash of the file nonce and the
//! provider, so different files spread over different providers. Selection then prefers spread:
//! a provider whose owner or H3 area (resolution 5, ~250 km²) already holds a piece of the file
//! is taken only when no other is left, because one owner's outage or one region's power cut
//! should cost as few pieces as possible.

use crate::{chain::ProviderInfo, codec::CodingParams};
use std::collections::BTreeSet;
use trellis_ledger::state::REPUTATION_DQ_PPM;
use trellis_primitives::{AccountAddress, Hash, HashDomain};

/// Sia's default: 10 of 30 pieces rebuild the file. Fewer providers scale it down at the same
/// 1:3 ratio (never below 1 of 2).
const DEFAULT_DATA: u16 = 10;
const DEFAULT_TOTAL: u16 = 30;

/// The coding for a file placed on `providers` eligible providers (at most 30 pieces, a third of
/// them needed). `None` when fewer than two providers are available.
pub fn coding_for(providers: usize, segment_bytes: u32) -> Option<CodingParams> {
    coding_of(
        u16::try_from(providers).unwrap_or(u16::MAX).min(DEFAULT_TOTAL),
        segment_bytes,
    )
}

/// The coding of `total` pieces at Sia's ratio (a third of them needed, at least 1, at most
/// `total - 1`). `None` below two pieces.
pub fn coding_of(total: u16, segment_bytes: u32) -> Option<CodingParams> {
    if total < 2 {
        return None;
    }
    let data = (u32::from(total) * u32::from(DEFAULT_DATA)).div_ceil(u32::from(DEFAULT_TOTAL));
    let data = u16::try_from(data).unwrap_or(u16::MAX).clamp(1, total - 1);
    Some(CodingParams {
        data_shards: data,
        parity_shards: total - data,
        segment_bytes,
    })
}

/// A provider the client may use, with what placement needs to know.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The provider.
    pub info: ProviderInfo,
    /// Its endpoint URL.
    pub endpoint: String,
}

/// Why no placement was possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Too few usable providers.
    #[error("{usable} usable storage providers ({listed} listed), {needed} needed: {why}")]
    TooFew {
        /// Providers that qualify.
        usable: usize,
        /// Providers listed by the node.
        listed: usize,
        /// Providers needed.
        needed: usize,
        /// What disqualified the others.
        why: String,
    },
}

/// The chosen providers, piece `i` on `chosen[i]`, and the usable rest in rank order (spares for
/// failed uploads).
#[derive(Debug, Clone)]
pub struct Placement {
    /// One provider per piece.
    pub chosen: Vec<Candidate>,
    /// The others, best first.
    pub spares: Vec<Candidate>,
}

fn usable(p: &ProviderInfo, piece_len: u64, price: u64) -> Result<String, &'static str> {
    if !p.slashed.is_zero() {
        return Err("slashed");
    }
    if !p.eligible {
        return Err("collateral below the minimum");
    }
    if p.reputation_ppm < REPUTATION_DQ_PPM {
        return Err("disqualified by audits");
    }
    if p.capability("capacity_bytes").is_some_and(|c| c < piece_len) {
        return Err("too small");
    }
    if p.capability("price_per_gib_epoch").is_some_and(|asked| asked > price) {
        return Err("asks more than the offered price");
    }
    p.endpoint.clone().ok_or("no endpoint published")
}

/// Ranks `providers` for a file with `nonce` and picks `n` of them for pieces of `piece_len` bytes
/// at `price` credits per GiB-epoch; `exclude` are never chosen (e.g. a failed provider).
pub fn place(
    providers: &[ProviderInfo],
    n: usize,
    piece_len: u64,
    price: u64,
    nonce: &[u8; 16],
    exclude: &BTreeSet<trellis_primitives::DeviceAddress>,
) -> Result<Placement, PlacementError> {
    let mut reasons = BTreeSet::new();
    let mut ranked: Vec<(u64, Hash, Candidate)> = providers
        .iter()
        .filter(|p| !exclude.contains(&p.address))
        .filter_map(|p| match usable(p, piece_len, price) {
            Ok(endpoint) => {
                let mut h = HashDomain::StorageContent.hasher();
                h.update(nonce);
                h.update(&p.address.key().0);
                let tiebreak = Hash(*h.finalize().as_bytes());
                Some((
                    p.reputation_ppm,
                    tiebreak,
                    Candidate {
                        info: p.clone(),
                        endpoint,
                    },
                ))
            }
            Err(why) => {
                reasons.insert(why);
                None
            }
        })
        .collect();
    if ranked.len() < n {
        return Err(PlacementError::TooFew {
            usable: ranked.len(),
            listed: providers.len(),
            needed: n,
            why: if reasons.is_empty() {
                "not enough providers registered".into()
            } else {
                reasons.into_iter().collect::<Vec<_>>().join(", ")
            },
        });
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut rest: Vec<Candidate> = ranked.into_iter().map(|(_, _, c)| c).collect();
    let mut chosen = Vec::with_capacity(n);
    let mut owners: BTreeSet<AccountAddress> = BTreeSet::new();
    let mut areas: BTreeSet<u64> = BTreeSet::new();
    let area = |c: &Candidate| c.info.location.and_then(|l| l.parent_index(5));
    while chosen.len() < n {
        // Best-ranked provider with a new owner and a new area, else a new owner, else anyone.
        let pick = rest
            .iter()
            .position(|c| !owners.contains(&c.info.owner) && area(c).is_none_or(|a| !areas.contains(&a)))
            .or_else(|| rest.iter().position(|c| !owners.contains(&c.info.owner)))
            .unwrap_or(0);
        let c = rest.remove(pick);
        owners.insert(c.info.owner);
        if let Some(a) = area(&c) {
            areas.insert(a);
        }
        chosen.push(c);
    }
    Ok(Placement { chosen, spares: rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coding_scales_sias_ratio_to_the_providers_available() {
        let c = |n| coding_for(n, 1 << 20).map(|p| (p.data_shards, p.parity_shards));
        assert_eq!(c(1), None);
        assert_eq!(c(2), Some((1, 1)));
        assert_eq!(c(8), Some((3, 5)));
        assert_eq!(c(30), Some((10, 20)));
        assert_eq!(c(500), Some((10, 20)));
    }
}
