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
    /// Path loss over `distance_m` (at least a metre) before shadowing, dB.
    fn mean_loss_db(&self, distance_m: f64, frequency_hz: u64) -> f64 {
        fspl_1m_db(frequency_hz) + 10.0 * self.exponent * distance_m.max(1.0).log10()
    }

    /// Mean received power over `distance_m` before shadowing, dBm.
    pub fn mean_rssi_dbm(&self, tx_power_dbm: f64, gains_dbi: f64, distance_m: f64, frequency_hz: u64) -> f64 {
        tx_power_dbm + gains_dbi - self.mean_loss_db(distance_m, frequency_hz)
    }

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
        let loss = self.mean_loss_db(d, frequency_hz) + self.shadowing_sigma_db * gaussian(from, to, round);
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

/// Largest datagram of the simulated air protocol.
pub const MAX_DATAGRAM: usize = 2_048;
/// Largest LoRa payload relayed (LoRaWAN's maximum at the fastest data rates is 222 bytes).
pub const MAX_PAYLOAD: usize = 255;

/// A datagram between the simulated air (`trellis air`) and a radio: JSON, deliberately close in
/// shape to the Semtech packet forwarder's `txpk`/`rxpk` objects.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AirMessage {
    /// A radio says where it really is (its antenna gain in centi-dBi).
    Hello {
        /// The radio's device.
        device: DeviceAddress,
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lng: f64,
        /// Antenna gain, centi-dBi.
        gain_centi_dbi: i64,
    },
    /// A radio transmits a frame; `seq` (per transmitter) seeds the link's fading.
    Transmit {
        /// The transmitting device.
        device: DeviceAddress,
        /// Per-transmitter sequence number.
        seq: u64,
        /// The frame, hex.
        payload_hex: String,
        /// Channel.
        frequency_hz: u64,
        /// Conducted power, centi-dBm.
        tx_power_centi_dbm: i64,
    },
    /// The air delivers a frame a radio heard.
    Receive {
        /// Who sent it.
        from: DeviceAddress,
        /// The frame, hex.
        payload_hex: String,
        /// Channel.
        frequency_hz: u64,
        /// Received power, centi-dBm.
        rssi_centi_dbm: i64,
        /// Signal-to-noise ratio, centi-dB.
        snr_centi_db: i64,
    },
}

/// Why a datagram is not an air message.
#[derive(Debug, thiserror::Error)]
pub enum AirDecodeError {
    /// Larger than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes exceeds {MAX_DATAGRAM}")]
    TooLarge(usize),
    /// Not the JSON of an [`AirMessage`].
    #[error("not an air message: {0}")]
    Malformed(String),
    /// The payload exceeds [`MAX_PAYLOAD`] bytes.
    #[error("payload exceeds {MAX_PAYLOAD} bytes")]
    PayloadTooLarge,
}

impl AirMessage {
    /// Decodes an untrusted datagram.
    pub fn decode(bytes: &[u8]) -> Result<Self, AirDecodeError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(AirDecodeError::TooLarge(bytes.len()));
        }
        let message: AirMessage =
            serde_json::from_slice(bytes).map_err(|e| AirDecodeError::Malformed(e.to_string()))?;
        match &message {
            AirMessage::Transmit { payload_hex, .. } | AirMessage::Receive { payload_hex, .. }
                if payload_hex.len() > 2 * MAX_PAYLOAD =>
            {
                Err(AirDecodeError::PayloadTooLarge)
            }
            _ => Ok(message),
        }
    }

    /// Encodes for sending.
    pub fn encode(&self) -> Vec<u8> {
        // A derived Serialize of strings and numbers cannot fail; an empty datagram would be
        // refused by the receiver anyway.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
