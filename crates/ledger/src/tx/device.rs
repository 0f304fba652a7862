//! What a device declares about itself: class, capabilities, antenna.

use super::MAX_NAME_BYTES;
use serde::{Deserialize, Serialize};
use trellis_primitives::codec::{put_bytes, Decode, DecodeError, Encode, Reader};

/// The resource a device contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// Wireless coverage (Helium-like proof-of-coverage).
    Hotspot,
    /// Disk space (Filecoin-like proofs of storage).
    Storage,
    /// CPU/GPU compute (Render-like verified jobs).
    Compute,
    /// Environmental sensor (weather station).
    Sensor,
    /// Energy meter.
    Energy,
}

impl DeviceClass {
    /// Every class, in tag order.
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Hotspot,
        DeviceClass::Storage,
        DeviceClass::Compute,
        DeviceClass::Sensor,
        DeviceClass::Energy,
    ];

    fn tag(self) -> u8 {
        match self {
            DeviceClass::Hotspot => 1,
            DeviceClass::Storage => 2,
            DeviceClass::Compute => 3,
            DeviceClass::Sensor => 4,
            DeviceClass::Energy => 5,
        }
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeviceClass::Hotspot => "hotspot",
            DeviceClass::Storage => "storage",
            DeviceClass::Compute => "compute",
            DeviceClass::Sensor => "sensor",
            DeviceClass::Energy => "energy",
        }
    }
}

impl Encode for DeviceClass {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
    }
}

impl Decode for DeviceClass {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        DeviceClass::ALL
            .into_iter()
            .find(|c| c.tag() == tag)
            .ok_or(DecodeError::InvalidTag {
                what: "device class",
                tag,
            })
    }
}

/// One declared capability of a device, e.g. `capacity_bytes = 53687091200`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Capability {
    /// What is declared (lower-case `[a-z0-9_]`, at most 64 bytes).
    pub name: String,
    /// Its value, in the unit the name says.
    pub value: u64,
}

impl Encode for Capability {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.name.as_bytes());
        self.value.encode(out);
    }
}

impl Decode for Capability {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Capability {
            name: r.string("capability name", MAX_NAME_BYTES)?,
            value: r.u64()?,
        })
    }
}

/// Antenna details asserted with a hotspot's location (the coverage verifier checks RSSI with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Antenna {
    /// Antenna gain in tenths of dBi (Helium asserts gain the same way).
    pub gain_dbi_tenths: u16,
    /// Height above ground in metres.
    pub elevation_m: u16,
}

impl Encode for Antenna {
    fn encode(&self, out: &mut Vec<u8>) {
        self.gain_dbi_tenths.encode(out);
        self.elevation_m.encode(out);
    }
}

impl Decode for Antenna {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Antenna {
            gain_dbi_tenths: r.u16()?,
            elevation_m: r.u16()?,
        })
    }
}
