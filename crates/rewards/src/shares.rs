//! What verifiers hand to the reward engine: contribution shares per device, with the reasons.

use crate::pools::Pool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use trellis_primitives::{AccountAddress, DeviceAddress, Epoch};

/// One device's contribution to one pool in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceShare {
    /// The device.
    pub device: DeviceAddress,
    /// Who is paid for it.
    pub owner: AccountAddress,
    /// Which pool it earns from.
    pub pool: Pool,
    /// Reward units after every multiplier (coverage units × hex scale, proven GiB-epochs ×
    /// reputation, verified compute units, QoD units). Integer; the verifier documents the scale.
    pub units: u64,
    /// Credits the device earned from consumers in the epoch (storage deals and egress, compute
    /// jobs), as the ledger recorded them: paid before units, at the epoch's credit value (see
    /// [`crate::credits`]). Zero in archives from before that rule.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub earned_credits: u64,
    /// Why: the inputs behind `units`, for the explorer and for audits.
    pub breakdown: ShareBreakdown,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a device's units came about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShareBreakdown {
    /// Reports that counted.
    pub counted_reports: u32,
    /// Reports rejected, by typed reason.
    pub rejected_reports: BTreeMap<String, u32>,
    /// Named integer factors, units in the name (`hex_scale_bps`, `reputation_bps`,
    /// `witness_units`), in the order they were applied.
    pub factors: Vec<(String, u64)>,
}

/// Implemented by every verifier (coverage, storage audits, compute replay, sensor QoD): the
/// shares it determined for an epoch. Must be a pure function of archived inputs and chain state,
/// so `trellis rewards audit` can recompute it.
pub trait ShareSource {
    /// Why shares could not be produced.
    type Error: std::error::Error;
    /// The pool this source's shares earn from.
    fn pool(&self) -> Pool;
    /// The shares for `epoch`, in any order.
    fn shares(&self, epoch: Epoch) -> Result<Vec<DeviceShare>, Self::Error>;
}
