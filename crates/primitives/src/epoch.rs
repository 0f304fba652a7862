//! Reward epochs.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A reward epoch number. Epochs are counted in blocks (`epoch_len_blocks` in the ledger params),
/// never in wall-clock time, so every node assigns every block to the same epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch that contains block `height` when epochs are `len_blocks` long.
    pub fn of_height(height: u64, len_blocks: u64) -> Epoch {
        debug_assert!(len_blocks > 0, "epoch length is validated at genesis");
        Epoch(height / len_blocks.max(1))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

impl Encode for Epoch {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Decode for Epoch {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Epoch(reader.u64()?))
    }
}
