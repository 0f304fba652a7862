//! A simulated radio medium for devnet and tests: who hears a LoRa beacon, and how loudly.
//!
//! Log-distance path loss with log-normal shadowing (Rappaport, *Wireless Communications*,
//! §4.9): `PL(d) = FSPL(d0) + 10·n·log10(d/d0) + X_σ`, with reference distance d0 = 1 m,
//! path-loss exponent n (2 in free space, 2.7–3.5 in suburbs) and X_σ a zero-mean Gaussian in dB.
//! Shadowing is derived from a hash of the link and round, so a run is reproducible and the two
//! directions of a link can differ. This is simulation: floats are fine here and nowhere in
//! verification.

use trellis_primitives::{DeviceAddress, HashDomain};

/// Propagation parameters.
#[derive(Debug, Clone, Copy)]
pub struct AirModel {
    /// Path-loss exponent beyond 1 m.
    pub exponent: f64,
    /// Shadowing standard deviation, dB.
    pub shadowing_sigma_db: f64,
    /// Weakest signal a gateway decodes, dBm (SX1302 at SF12: about −137 dBm; −130 is typical).
    pub sensitivity_dbm: f64,
}

impl Default for AirModel {
    /// Suburban LoRa: exponent 2.8, σ 6 dB, sensitivity −130 dBm.
    fn default() -> Self {
        AirModel {
            exponent: 2.8,
            shadowing_sigma_db: 6.0,
            sensitivity_dbm: -130.0,
        }
    }
}

/// Free-space path loss at 1 m, dB.
fn fspl_1m_db(frequency_hz: u64) -> f64 {
    20.0 * (frequency_hz as f64).log10() - 147.55
}

/// A reproducible standard-normal sample for a link in a round (sum of 12 uniforms − 6).
fn gaussian(from: &DeviceAddress, to: &DeviceAddress, round: u64) -> f64 {
    let h = HashDomain::BeaconPayload.hash_parts(&[b"air", &from.key().0, &to.key().0, &round.to_le_bytes()]);
    let bytes = h.as_bytes();
    let sum: f64 = (0..12)
        .map(|i| f64::from(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])) / 65_535.0)
        .sum();
    sum - 6.0
}

impl AirModel {
    /// Received power in dBm over `distance_m`, or `None` if below sensitivity.
    #[allow(clippy::too_many_arguments)]
    pub fn rssi_dbm(
        &self,
        from: &DeviceAddress,
        to: &DeviceAddress,
        round: u64,
        tx_power_dbm: f64,
        gains_dbi: f64,
        distance_m: f64,
        frequency_hz: u64,
    ) -> Option<f64> {
        let d = distance_m.max(1.0);
        let loss = fspl_1m_db(frequency_hz)
            + 10.0 * self.exponent * d.log10()
            + self.shadowing_sigma_db * gaussian(from, to, round);
        // Never better than free space: shadowing can fade a link but not beat physics.
        let free_space = fspl_1m_db(frequency_hz) + 20.0 * d.log10();
        let rssi = tx_power_dbm + gains_dbi - loss.max(free_space);
        (rssi >= self.sensitivity_dbm).then_some(rssi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_primitives::Keypair;

    #[test]
    fn nearby_links_are_heard_far_ones_are_not_and_results_repeat() {
        let (a, b) = (
            DeviceAddress::from(Keypair::from_seed([1; 32]).public()),
            DeviceAddress::from(Keypair::from_seed([2; 32]).public()),
        );
        let air = AirModel::default();
        let near = air.rssi_dbm(&a, &b, 1, 27.0, 6.0, 2_000.0, 904_300_000).unwrap();
        assert!(near < -60.0 && near > -130.0, "{near}");
        assert_eq!(air.rssi_dbm(&a, &b, 1, 27.0, 6.0, 2_000.0, 904_300_000), Some(near));
        assert_eq!(air.rssi_dbm(&a, &b, 1, 27.0, 6.0, 400_000.0, 904_300_000), None);
    }
}
