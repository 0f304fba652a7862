//! How much TRL each epoch mints.

use crate::RewardError;
use serde::{Deserialize, Serialize};
use trellis_primitives::{Amount, Epoch};

/// The emission schedule.
///
/// Scheduled emission at epoch `e` is `initial_epoch_emission >> (e / halving_period_epochs)`:
/// it halves every period, exactly, in integer base units (Bitcoin's and Helium's rule). With a
/// `supply_cap`, emission stops at the cap (the last epoch mints only what fits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionSchedule {
    /// Minted in each epoch of the first period.
    pub initial_epoch_emission: Amount,
    /// Epochs between halvings.
    pub halving_period_epochs: u64,
    /// Never mint past this total issued supply.
    pub supply_cap: Option<Amount>,
    /// Burn-responsive emission.
    pub net_emission: NetEmission,
}

/// Whether burned TRL is re-minted (Helium's "net emissions", HIP-20 amended by HIP-51/HIP-66
/// discussions: burned HNT up to a fixed cap per epoch is minted again so supply approaches an
/// equilibrium instead of shrinking without bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum NetEmission {
    /// Emission ignores burns.
    Off,
    /// Add back what was burned during the epoch, at most `max_per_epoch`.
    Cap {
        /// Most re-minted per epoch.
        max_per_epoch: Amount,
    },
}

impl Default for EmissionSchedule {
    /// 1 epoch = 1 day by default (86,400 blocks of 1 s). 10,000 TRL a day, halving every 2 years
    /// (730 epochs): 14.6 M TRL in the first period and a geometric total of ~29.2 M TRL. The cap
    /// and net emission are off unless genesis/governance set them.
    fn default() -> Self {
        EmissionSchedule {
            initial_epoch_emission: Amount::from_units(10_000 * 100_000_000),
            halving_period_epochs: 730,
            supply_cap: None,
            net_emission: NetEmission::Off,
        }
    }
}

impl EmissionSchedule {
    /// Checks the invariants.
    pub fn validate(&self) -> Result<(), RewardError> {
        if self.halving_period_epochs == 0 {
            return Err(RewardError::Config("halving_period_epochs must be at least 1".into()));
        }
        Ok(())
    }

    /// The scheduled emission of `epoch`, before cap and net emission.
    pub fn scheduled(&self, epoch: Epoch) -> Amount {
        let halvings = epoch.0 / self.halving_period_epochs.max(1);
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_units(self.initial_epoch_emission.units() >> halvings)
    }

    /// What epoch `epoch` mints, given the supply issued before it and what was burned during it
    /// (the oracle settles an epoch after it completes, so its burn total is known).
    pub fn emission(&self, epoch: Epoch, issued_so_far: Amount, burned_in_epoch: Amount) -> Amount {
        let mut emission = self.scheduled(epoch);
        if let NetEmission::Cap { max_per_epoch } = self.net_emission {
            let remint = burned_in_epoch.min(max_per_epoch);
            emission = emission.checked_add(remint).unwrap_or(Amount::from_units(u64::MAX));
        }
        match self.supply_cap {
            Some(cap) => emission.min(cap.checked_sub(issued_so_far).unwrap_or(Amount::ZERO)),
            None => emission,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(initial: u64, period: u64) -> EmissionSchedule {
        EmissionSchedule {
            initial_epoch_emission: Amount::from_units(initial),
            halving_period_epochs: period,
            supply_cap: None,
            net_emission: NetEmission::Off,
        }
    }

    #[test]
    fn halving_boundaries_written_out() {
        let s = sched(1_000, 10);
        // Epochs 0..=9 mint 1000, 10..=19 mint 500, 20 mints 250; 1000 >> 10 = 0 from epoch 100.
        assert_eq!(s.scheduled(Epoch(0)).units(), 1_000);
        assert_eq!(s.scheduled(Epoch(9)).units(), 1_000);
        assert_eq!(s.scheduled(Epoch(10)).units(), 500);
        assert_eq!(s.scheduled(Epoch(19)).units(), 500);
        assert_eq!(s.scheduled(Epoch(20)).units(), 250);
        assert_eq!(s.scheduled(Epoch(99)).units(), 1);
        assert_eq!(s.scheduled(Epoch(100)).units(), 0);
        assert_eq!(s.scheduled(Epoch(u64::MAX)).units(), 0);
    }

    #[test]
    fn supply_cap_truncates_the_last_epoch_and_stops_emission() {
        let s = EmissionSchedule {
            supply_cap: Some(Amount::from_units(2_500)),
            ..sched(1_000, 10)
        };
        assert_eq!(
            s.emission(Epoch(2), Amount::from_units(2_000), Amount::ZERO).units(),
            500
        );
        assert_eq!(s.emission(Epoch(3), Amount::from_units(2_500), Amount::ZERO).units(), 0);
        assert_eq!(s.emission(Epoch(3), Amount::from_units(9_999), Amount::ZERO).units(), 0);
    }

    #[test]
    fn net_emission_remints_burns_up_to_the_cap() {
        let s = EmissionSchedule {
            net_emission: NetEmission::Cap {
                max_per_epoch: Amount::from_units(300),
            },
            ..sched(1_000, 10)
        };
        assert_eq!(
            s.emission(Epoch(0), Amount::ZERO, Amount::from_units(120)).units(),
            1_120
        );
        assert_eq!(
            s.emission(Epoch(0), Amount::ZERO, Amount::from_units(5_000)).units(),
            1_300
        );
        let off = sched(1_000, 10);
        assert_eq!(
            off.emission(Epoch(0), Amount::ZERO, Amount::from_units(5_000)).units(),
            1_000
        );
    }

    #[test]
    fn zero_halving_period_is_rejected() {
        assert!(sched(1, 0)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("halving_period_epochs"));
    }
}
