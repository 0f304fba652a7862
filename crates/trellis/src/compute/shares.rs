//! The compute pool's shares: what every device earned from jobs (runs it was paid for and
//! replays it made) that settled in the epoch, as chain state records it. A pure function of
//! chain state, so `trellis rewards audit` checks it against `/v1/epochs/<N>`.

use anyhow::Result;
use std::collections::BTreeMap;
use trellis_chain::Node;
use trellis_ledger::{state::compute_earned_in, StateRead};
use trellis_primitives::{DeviceAddress, Epoch};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

/// Units are the credits earned: the market's own valuation of the work (fuel at the
/// provider's ask), so a cheap provider is not paid the pool's share of an expensive one.
pub(crate) fn compute_shares(node: &Node, epoch: Epoch) -> Result<Vec<DeviceShare>> {
    node.with_state(|s, _| -> Result<Vec<DeviceShare>> {
        let mut shares = Vec::new();
        for (device, credits) in compute_earned_in(s, epoch)? {
            let Some(record) = s.device(&device)? else { continue };
            shares.push(DeviceShare {
                device,
                owner: record.owner,
                pool: Pool::Compute,
                units: credits.0,
                earned_credits: credits.0,
                breakdown: ShareBreakdown {
                    factors: vec![("earned_credits".into(), credits.0)],
                    ..ShareBreakdown::default()
                },
            });
        }
        Ok(shares)
    })
}

/// Compute units per device from an archive's shares.
pub(crate) fn archived_units(shares: &[DeviceShare]) -> BTreeMap<DeviceAddress, u64> {
    shares
        .iter()
        .filter(|s| s.pool == Pool::Compute && s.units > 0)
        .map(|s| (s.device, s.units))
        .collect()
}
