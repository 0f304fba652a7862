//! Reward engine invariants and rules.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod props;
mod rules;

use trellis_primitives::{AccountAddress, DeviceAddress, Keypair};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

pub fn device(i: u32) -> DeviceAddress {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    Keypair::from_seed(seed).public().into()
}

pub fn owner(i: u32) -> AccountAddress {
    let mut seed = [1u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    Keypair::from_seed(seed).public().into()
}

pub fn share(d: u32, o: u32, pool: Pool, units: u64) -> DeviceShare {
    DeviceShare {
        device: device(d),
        owner: owner(o),
        pool,
        units,
        earned_credits: 0,
        breakdown: ShareBreakdown::default(),
    }
}
