//! The per-epoch QoD archive (`sensor-<N>.json` beside the reward archive): what the oracle
//! scored, with every reading and its flags. Auditors re-score from it; data gateways serve it.

use crate::{config::QodConfig, qod::EpochQod};
use serde::{Deserialize, Serialize};
use trellis_primitives::Epoch;

/// One epoch's QoD verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorArchive {
    /// The epoch.
    pub epoch: Epoch,
    /// The settings it was scored with.
    pub settings: QodConfig,
    /// The epoch's first block's timestamp (readings received from then on belong to it).
    pub start_ms: u64,
    /// The next epoch's first block's timestamp.
    pub end_ms: u64,
    /// The verdicts.
    #[serde(flatten)]
    pub qod: EpochQod,
}

impl SensorArchive {
    /// The archive's file name for `epoch`.
    pub fn file_name(epoch: Epoch) -> String {
        format!("sensor-{}.json", epoch.0)
    }
}
