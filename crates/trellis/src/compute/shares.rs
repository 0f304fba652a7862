//! The compute pool's shares, as chain state records them for the epoch: every device's work a
//! replay confirmed, weighted by the inverse of the chance it was replayed (the pool's units),
//! beside what consumers paid it for jobs that settled (paid first, at the credit's value). A
//! pure function of chain state, so `trellis rewards audit` checks it against `/v1/epochs/<N>`.

use anyhow::Result;
use std::collections::BTreeMap;
use trellis_chain::Node;
use trellis_ledger::{
    state::{compute_earned_in, compute_verified_in},
    StateRead,
};
use trellis_primitives::{DeviceAddress, Epoch};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

/// Units are replay-confirmed credits over the chance of the replay (the market's own valuation
/// of the work, fuel at the provider's ask, so a cheap provider is not paid the pool's share of
/// an expensive one); work nobody checked is paid its credits but earns no pool units.
pub(crate) fn compute_shares(node: &Node, epoch: Epoch) -> Result<Vec<DeviceShare>> {
    node.with_state(|s, _| -> Result<Vec<DeviceShare>> {
        // Device -> (verified units, earned credits).
        let mut per_device: BTreeMap<DeviceAddress, (u64, u64)> = BTreeMap::new();
        for (device, units) in compute_verified_in(s, epoch)? {
            per_device.entry(device).or_default().0 = units;
        }
        for (device, credits) in compute_earned_in(s, epoch)? {
            per_device.entry(device).or_default().1 = credits.0;
        }
        let mut shares = Vec::new();
        for (device, (units, credits)) in per_device {
            let Some(record) = s.device(&device)? else { continue };
            shares.push(DeviceShare {
                device,
                owner: record.owner,
                pool: Pool::Compute,
                units,
                earned_credits: credits,
                breakdown: ShareBreakdown {
                    factors: vec![("verified_units".into(), units), ("earned_credits".into(), credits)],
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
