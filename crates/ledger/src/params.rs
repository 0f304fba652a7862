//! Chain parameters: set in genesis, changed only by the admin multisig.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use trellis_primitives::{
    codec::{Decode, DecodeError, Encode, Reader},
    Amount, Credits,
};

/// Tunable rules of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Smallest fee a transaction may offer; fees are burned.
    pub min_fee: Amount,
    /// Blocks per reward epoch.
    pub epoch_len_blocks: u64,
    /// TRL burned when a device is onboarded (an anti-Sybil cost, like Helium's onboarding fee).
    pub onboard_fee: Amount,
    /// Credits burned per location assertion.
    pub location_fee_credits: Credits,
    /// USD value of one credit in micro-USD (10 = $0.00001, Helium's data-credit price).
    pub credit_price_micro_usd: u64,
    /// How many blocks an oracle price stays usable for burns.
    pub price_max_age_blocks: u64,
    /// Blocks between unstaking and the TRL becoming withdrawable.
    pub unbonding_delay_blocks: u64,
    /// Largest total one reward manifest may mint. The reward engine's emission schedule stays
    /// below it; the ledger enforces it so a compromised oracle quorum cannot mint without bound.
    pub max_manifest_total: Amount,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// Collateral a storage provider must have bonded before a deal may place a piece on it.
    #[serde(default = "default_storage_min_collateral")]
    pub storage_min_collateral: Amount,
    /// Collateral a compute provider must have bonded to be matched to jobs or to verify them;
    /// also what one lost replay costs it (the slash).
    #[serde(default = "default_storage_min_collateral")]
    pub compute_min_collateral: Amount,
    /// The lowest share of jobs, in ppm, that are re-executed by a verifier.
    #[serde(default = "default_compute_min_sample_ppm")]
    pub compute_min_sample_ppm: u32,
    /// Blocks a sampled verifier has to replay a job after its last commit (an arbiter gets as
    /// long again).
    #[serde(default = "default_compute_verify_window_blocks")]
    pub compute_verify_window_blocks: u64,
}

fn default_compute_min_sample_ppm() -> u32 {
    // 5 %: a provider that cheats on every job is caught within ~20 jobs on average, and loses
    // its whole collateral when it is.
    50_000
}

fn default_compute_verify_window_blocks() -> u64 {
    30
}

fn default_storage_min_collateral() -> Amount {
    Amount::from_units(100 * 100_000_000)
}

/// A parameter set that breaks an invariant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid params: {0}")]
pub struct ParamsError(pub String);

impl Params {
    /// Checks the invariants the ledger relies on.
    pub fn validate(&self) -> Result<(), ParamsError> {
        let fail = |m: &str| Err(ParamsError(m.to_string()));
        if self.epoch_len_blocks == 0 {
            return fail("epoch_len_blocks must be at least 1");
        }
        if self.credit_price_micro_usd == 0 {
            return fail("credit_price_micro_usd must be at least 1");
        }
        if self.price_max_age_blocks == 0 {
            return fail("price_max_age_blocks must be at least 1");
        }
        if self.compute_min_sample_ppm == 0 || self.compute_min_sample_ppm > crate::tx::PPM {
            return fail("compute_min_sample_ppm must be 1..=1000000: some jobs are always replayed");
        }
        // The window's entropy (the commit block's hash) must still be in state when it closes.
        let window_max = crate::state::RECENT_HASHES / 2 - 1;
        if self.compute_verify_window_blocks == 0 || self.compute_verify_window_blocks > window_max {
            return Err(ParamsError(format!(
                "compute_verify_window_blocks must be in 1..={window_max}"
            )));
        }
        if self.max_block_txs == 0 || self.max_block_txs > crate::block::MAX_BLOCK_TXS {
            return Err(ParamsError(format!(
                "max_block_txs must be in 1..={}",
                crate::block::MAX_BLOCK_TXS
            )));
        }
        Ok(())
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_fee: Amount::from_units(1_000),
            epoch_len_blocks: 600,
            onboard_fee: Amount::from_units(10 * 100_000_000),
            location_fee_credits: Credits(1_000_000),
            credit_price_micro_usd: 10,
            price_max_age_blocks: 3_600,
            unbonding_delay_blocks: 100,
            max_manifest_total: Amount::from_units(1_000_000 * 100_000_000),
            max_block_txs: 10_000,
            storage_min_collateral: default_storage_min_collateral(),
            compute_min_collateral: default_storage_min_collateral(),
            compute_min_sample_ppm: default_compute_min_sample_ppm(),
            compute_verify_window_blocks: default_compute_verify_window_blocks(),
        }
    }
}

impl Encode for Params {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min_fee.encode(out);
        self.epoch_len_blocks.encode(out);
        self.onboard_fee.encode(out);
        self.location_fee_credits.encode(out);
        self.credit_price_micro_usd.encode(out);
        self.price_max_age_blocks.encode(out);
        self.unbonding_delay_blocks.encode(out);
        self.max_manifest_total.encode(out);
        self.max_block_txs.encode(out);
        self.storage_min_collateral.encode(out);
        self.compute_min_collateral.encode(out);
        self.compute_min_sample_ppm.encode(out);
        self.compute_verify_window_blocks.encode(out);
    }
}

impl Decode for Params {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Params {
            min_fee: Amount::decode(r)?,
            epoch_len_blocks: r.u64()?,
            onboard_fee: Amount::decode(r)?,
            location_fee_credits: Credits::decode(r)?,
            credit_price_micro_usd: r.u64()?,
            price_max_age_blocks: r.u64()?,
            unbonding_delay_blocks: r.u64()?,
            max_manifest_total: Amount::decode(r)?,
            max_block_txs: r.u32()?,
            storage_min_collateral: Amount::decode(r)?,
            compute_min_collateral: Amount::decode(r)?,
            compute_min_sample_ppm: r.u32()?,
            compute_verify_window_blocks: r.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let p = Params::default();
        p.validate().unwrap();
        assert_eq!(Params::from_bytes(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn zero_epoch_length_is_rejected_with_the_field_named() {
        let p = Params {
            epoch_len_blocks: 0,
            ..Params::default()
        };
        assert!(p.validate().unwrap_err().0.contains("epoch_len_blocks"));
    }
}
