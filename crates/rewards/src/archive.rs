//! What an oracle archives per epoch, and the audit that recomputes it.
//!
//! The archive holds the config, every input (shares with their breakdowns, chain-derived
//! amounts, carry) and the published result. Anyone holding it can recompute the manifest and
//! compare the root with the one posted on chain.

use crate::{compute_epoch, engine::EpochResult, EpochInputs, RewardConfig, RewardError};
use serde::{Deserialize, Serialize};
use trellis_primitives::{Amount, DeviceAddress, Hash};

/// One epoch's archive record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochArchive {
    /// The engine configuration used.
    pub config: RewardConfig,
    /// Everything the run consumed.
    pub inputs: EpochInputs,
    /// What the oracle published.
    pub result: EpochResult,
}

/// The verdict of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AuditVerdict {
    /// Recomputation gives the root posted on chain.
    Match {
        /// The root.
        root: Hash,
    },
    /// A device's recomputed amount differs from what the oracle published.
    DeviceMismatch {
        /// The first such device, in pool then device order.
        device: DeviceAddress,
        /// What the oracle published for it.
        published: Amount,
        /// What recomputation gives.
        recomputed: Amount,
    },
    /// The roots differ although every device agrees (owner aggregation, pool accounts, or a
    /// manifest posted that is not the archived one).
    RootMismatch {
        /// On chain.
        on_chain: Hash,
        /// Recomputed.
        recomputed: Hash,
    },
}

impl EpochArchive {
    /// Recomputes the epoch from the archived inputs and compares it with `on_chain_root`.
    pub fn audit(&self, on_chain_root: Hash) -> Result<AuditVerdict, RewardError> {
        let recomputed = compute_epoch(&self.config, &self.inputs)?;
        if recomputed.manifest.root == on_chain_root {
            return Ok(AuditVerdict::Match { root: on_chain_root });
        }
        let published = &self.result.devices;
        for (i, again) in recomputed.devices.iter().enumerate() {
            match published.get(i) {
                Some(p) if p.device == again.device && p.amount == again.amount => {}
                Some(p) if p.device == again.device => {
                    return Ok(AuditVerdict::DeviceMismatch {
                        device: p.device,
                        published: p.amount,
                        recomputed: again.amount,
                    })
                }
                _ => {
                    let published = published
                        .iter()
                        .find(|p| p.device == again.device && p.pool == again.pool);
                    return Ok(AuditVerdict::DeviceMismatch {
                        device: again.device,
                        published: published.map_or(Amount::ZERO, |p| p.amount),
                        recomputed: again.amount,
                    });
                }
            }
        }
        if let Some(extra) = published.get(recomputed.devices.len()) {
            return Ok(AuditVerdict::DeviceMismatch {
                device: extra.device,
                published: extra.amount,
                recomputed: Amount::ZERO,
            });
        }
        Ok(AuditVerdict::RootMismatch {
            on_chain: on_chain_root,
            recomputed: recomputed.manifest.root,
        })
    }
}
