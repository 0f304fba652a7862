//! H3 locations. Consensus state holds H3 cells, never raw latitude/longitude.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// The resolution devices assert their location at (about 300 m² per cell, as in Helium).
pub const ASSERT_RESOLUTION: Resolution = Resolution::Twelve;

/// An H3 cell at [`ASSERT_RESOLUTION`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location(CellIndex);

/// Why a cell is not an acceptable location.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LocationError {
    /// Not a valid H3 cell index.
    #[error("not a valid H3 cell index: {0}")]
    InvalidCell(String),
    /// A valid cell at the wrong resolution.
    #[error("location must be an H3 cell at resolution 12, found resolution {0}")]
    WrongResolution(u8),
    /// Latitude/longitude out of range.
    #[error("invalid coordinates: {0}")]
    InvalidCoordinates(String),
}

impl Location {
    /// The cell, if it is at resolution 12.
    pub fn new(cell: CellIndex) -> Result<Self, LocationError> {
        if cell.resolution() != ASSERT_RESOLUTION {
            return Err(LocationError::WrongResolution(u8::from(cell.resolution())));
        }
        Ok(Location(cell))
    }

    /// The resolution-12 cell containing a point (for CLIs and simulators, not consensus).
    pub fn from_degrees(lat: f64, lng: f64) -> Result<Self, LocationError> {
        let ll = LatLng::new(lat, lng).map_err(|e| LocationError::InvalidCoordinates(e.to_string()))?;
        Ok(Location(ll.to_cell(ASSERT_RESOLUTION)))
    }

    /// The H3 cell.
    pub fn cell(&self) -> CellIndex {
        self.0
    }

    /// The 64-bit H3 index.
    pub fn index(&self) -> u64 {
        u64::from(self.0)
    }

    /// The 64-bit index of the coarser cell at `resolution` (0..=12) that contains this one;
    /// `None` for a resolution outside that range.
    pub fn parent_index(&self, resolution: u8) -> Option<u64> {
        let res = Resolution::try_from(resolution).ok()?;
        self.0.parent(res).map(u64::from)
    }
}

impl TryFrom<u64> for Location {
    type Error = LocationError;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        let cell = CellIndex::try_from(raw).map_err(|e| LocationError::InvalidCell(e.to_string()))?;
        Location::new(cell)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.0)
    }
}

impl FromStr for Location {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cell = CellIndex::from_str(s.trim()).map_err(|e| LocationError::InvalidCell(e.to_string()))?;
        Location::new(cell)
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Encode for Location {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index().encode(out);
    }
}

impl Decode for Location {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = reader.u64()?;
        Location::try_from(raw).map_err(|e| DecodeError::InvalidValue {
            what: "location",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_maps_to_res12_cell_and_round_trips() {
        let loc = Location::from_degrees(48.8566, 2.3522).unwrap();
        assert_eq!(loc.cell().resolution(), Resolution::Twelve);
        assert_eq!(loc.to_string().parse::<Location>().unwrap(), loc);
        assert_eq!(Location::from_bytes(&loc.to_bytes()).unwrap(), loc);
    }

    #[test]
    fn coarser_cell_is_rejected() {
        let coarse = LatLng::new(48.8566, 2.3522).unwrap().to_cell(Resolution::Seven);
        assert_eq!(Location::new(coarse), Err(LocationError::WrongResolution(7)));
        assert!(Location::try_from(12345u64).is_err());
    }
}
