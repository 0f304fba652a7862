//! Device messages on the wire: protobuf (prost) so device firmware in any language can produce
//! them, wrapped in a signed envelope.
//!
//! The schema, for non-Rust devices, is `proto/trellis_reports.proto` beside this crate; the
//! structs here are its prost mapping, written out by hand so building needs no `protoc`.
//!
//! A signature covers the exact `body` bytes (domain-separated), never a re-encoding, so
//! protobuf's several encodings of one message cannot be used to forge or malleate anything.
//!
//! **Architecture invariant:** this crate only encodes, decodes and checks envelope shape; what a
//! report means is decided by the verifiers.

use prost::Message;
use thiserror::Error;
use trellis_primitives::{DeviceAddress, Hash, HashDomain, Keypair, PublicKey, Signature};

/// Largest encoded envelope accepted from a device. Beacons and witnesses are under 200 bytes;
/// storage proofs (a chunk plus a Merkle path) are the largest planned report at ~2 KiB.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024;

/// A report signed by a device key.
#[derive(Clone, PartialEq, Message)]
pub struct SignedReport {
    /// The device's ed25519 public key (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub device: Vec<u8>,
    /// Signature over the domain-separated hash of `body` (64 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
    /// An encoded [`Report`].
    #[prost(bytes = "vec", tag = "3")]
    pub body: Vec<u8>,
}

/// What a device reports.
#[derive(Clone, PartialEq, Message)]
pub struct Report {
    /// The device's clock, ms since the Unix epoch.
    #[prost(uint64, tag = "1")]
    pub timestamp_ms: u64,
    /// The report itself.
    #[prost(oneof = "report::Kind", tags = "2, 3, 4, 5, 6")]
    pub kind: Option<report::Kind>,
}

/// The report kinds.
pub mod report {
    /// One of the report kinds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// A beacon was transmitted.
        #[prost(message, tag = "2")]
        Beacon(super::Beacon),
        /// A beacon was heard.
        #[prost(message, tag = "3")]
        Witness(super::Witness),
        /// The device is alive.
        #[prost(message, tag = "4")]
        Heartbeat(super::Heartbeat),
        /// A weather station's measurement.
        #[prost(message, tag = "5")]
        Weather(super::WeatherReading),
        /// An energy meter's counters.
        #[prost(message, tag = "6")]
        Energy(super::EnergyReading),
    }
}

/// A transmitted beacon.
#[derive(Clone, PartialEq, Message)]
pub struct Beacon {
    /// Block hash the payload derives from (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub entropy: Vec<u8>,
    /// The transmitted payload.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
    /// Frequency in Hz.
    #[prost(uint64, tag = "3")]
    pub frequency_hz: u64,
    /// Transmit power, centi-dBm.
    #[prost(sint64, tag = "4")]
    pub tx_power_centi_dbm: i64,
}

/// A heard beacon.
#[derive(Clone, PartialEq, Message)]
pub struct Witness {
    /// The payload heard.
    #[prost(bytes = "vec", tag = "1")]
    pub payload: Vec<u8>,
    /// Frequency in Hz.
    #[prost(uint64, tag = "2")]
    pub frequency_hz: u64,
    /// Received signal strength, centi-dBm.
    #[prost(sint64, tag = "3")]
    pub rssi_centi_dbm: i64,
    /// Signal-to-noise ratio, centi-dB.
    #[prost(sint64, tag = "4")]
    pub snr_centi_db: i64,
}

/// Liveness.
#[derive(Clone, PartialEq, Message)]
pub struct Heartbeat {
    /// Seconds since the device agent started.
    #[prost(uint64, tag = "1")]
    pub uptime_s: u64,
}

/// One weather station measurement, in integer units (no floats on the wire).
#[derive(Clone, PartialEq, Message)]
pub struct WeatherReading {
    /// Air temperature, hundredths of a degree Celsius.
    #[prost(sint64, tag = "1")]
    pub temperature_centi_c: i64,
    /// Relative humidity, hundredths of a percent (0..=10000).
    #[prost(uint32, tag = "2")]
    pub humidity_centi_pct: u32,
    /// Station air pressure, pascals.
    #[prost(uint32, tag = "3")]
    pub pressure_pa: u32,
    /// Wind speed, centimetres per second.
    #[prost(uint32, tag = "4")]
    pub wind_speed_cm_s: u32,
    /// Wind direction, degrees clockwise from north (0..360).
    #[prost(uint32, tag = "5")]
    pub wind_direction_deg: u32,
    /// Rain since the previous reading, micrometres.
    #[prost(uint64, tag = "6")]
    pub rain_um: u64,
    /// Where the station's GPS puts it: an H3 cell index at any resolution; 0 = no fix.
    #[prost(uint64, tag = "7")]
    pub gps_cell: u64,
}

/// One energy meter reading: cumulative counters, like a utility meter's registers.
#[derive(Clone, PartialEq, Message)]
pub struct EnergyReading {
    /// Energy produced (exported by the inverter) since the meter was installed, milliwatt-hours.
    #[prost(uint64, tag = "1")]
    pub produced_mwh_total: u64,
    /// Energy consumed (imported) since the meter was installed, milliwatt-hours.
    #[prost(uint64, tag = "2")]
    pub consumed_mwh_total: u64,
    /// Where the meter's GPS puts it: an H3 cell index; 0 = no fix.
    #[prost(uint64, tag = "3")]
    pub gps_cell: u64,
}

/// One frame of the report log: what ingest accepted and when it received it.
#[derive(Clone, PartialEq, Message)]
pub struct LoggedReport {
    /// Ingest's receive time, ms since the Unix epoch.
    #[prost(uint64, tag = "1")]
    pub received_ms: u64,
    /// The envelope exactly as received.
    #[prost(message, optional, tag = "2")]
    pub report: Option<SignedReport>,
}

/// Why an envelope is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not protobuf of the expected shape.
    #[error("not a valid protobuf message: {0}")]
    Decode(String),
    /// Key or signature of the wrong length.
    #[error("device key must be 32 bytes and signature 64")]
    BadLengths,
    /// A report with no kind.
    #[error("report has no kind")]
    EmptyReport,
}

/// A decoded envelope with typed key and signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The device.
    pub device: DeviceAddress,
    /// Its signature over [`signing_hash`] of `body`.
    pub signature: Signature,
    /// The raw body bytes (what was signed).
    pub body: Vec<u8>,
    /// The decoded body.
    pub report: Report,
}

/// The hash a device signs for `body`.
pub fn signing_hash(body: &[u8]) -> Hash {
    HashDomain::DeviceReport.hash(body)
}

/// A report's identity for duplicate suppression: the device and the exact body it signed.
pub fn report_id(device: &DeviceAddress, body: &[u8]) -> Hash {
    HashDomain::DeviceReport.hash_parts(&[b"id", &device.key().0, body])
}

impl Envelope {
    /// Decodes and shape-checks untrusted bytes (no signature check: that is batched).
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let signed = SignedReport::decode(bytes).map_err(|e| EnvelopeError::Decode(e.to_string()))?;
        let key: [u8; 32] = signed
            .device
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::BadLengths)?;
        let signature: [u8; 64] = signed
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::BadLengths)?;
        let report = Report::decode(signed.body.as_slice()).map_err(|e| EnvelopeError::Decode(e.to_string()))?;
        if report.kind.is_none() {
            return Err(EnvelopeError::EmptyReport);
        }
        Ok(Envelope {
            device: DeviceAddress(PublicKey(key)),
            signature: Signature(signature),
            body: signed.body,
            report,
        })
    }

    /// Signs `report` with a device key (agents and tests).
    pub fn sign(report: &Report, key: &Keypair) -> SignedReport {
        let body = report.encode_to_vec();
        let signature = key.sign(signing_hash(&body).as_bytes());
        SignedReport {
            device: key.public().0.to_vec(),
            signature: signature.0.to_vec(),
            body,
        }
    }

    /// The kind's name, for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match &self.report.kind {
            Some(report::Kind::Beacon(_)) => "beacon",
            Some(report::Kind::Witness(_)) => "witness",
            Some(report::Kind::Heartbeat(_)) => "heartbeat",
            Some(report::Kind::Weather(_)) => "weather",
            Some(report::Kind::Energy(_)) => "energy",
            None => "empty",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            timestamp_ms: 5,
            kind: Some(report::Kind::Witness(Witness {
                payload: vec![1; 16],
                frequency_hz: 904_300_000,
                rssi_centi_dbm: -9_000,
                snr_centi_db: 550,
            })),
        }
    }

    #[test]
    fn signed_envelope_round_trips_and_signature_covers_the_body() {
        let key = Keypair::from_seed([3; 32]);
        let signed = Envelope::sign(&sample(), &key);
        let env = Envelope::decode(&signed.encode_to_vec()).unwrap();
        assert_eq!(env.report, sample());
        assert_eq!(env.device, DeviceAddress(key.public()));
        assert!(key
            .public()
            .verify(signing_hash(&env.body).as_bytes(), &env.signature)
            .is_ok());
        assert_eq!(env.kind_name(), "witness");
    }

    #[test]
    fn malformed_envelopes_are_typed_errors() {
        assert!(matches!(Envelope::decode(&[0xff; 10]), Err(EnvelopeError::Decode(_))));
        assert!(matches!(
            Envelope::decode(&vec![0; MAX_ENVELOPE_BYTES + 1]),
            Err(EnvelopeError::TooLarge(_))
        ));
        let short = SignedReport {
            device: vec![1; 31],
            signature: vec![0; 64],
            body: sample().encode_to_vec(),
        };
        assert_eq!(Envelope::decode(&short.encode_to_vec()), Err(EnvelopeError::BadLengths));
        let empty = Envelope::sign(
            &Report {
                timestamp_ms: 1,
                kind: None,
            },
            &Keypair::from_seed([1; 32]),
        );
        assert_eq!(
            Envelope::decode(&empty.encode_to_vec()),
            Err(EnvelopeError::EmptyReport)
        );
    }
}
