//! A client's report that a provider served it bytes that did not match a piece's commitment.
//!
//! A downloaded byte is not signed by the provider, so a report proves nothing by itself; it
//! buys the piece a heavier audit (every challenge chunk the protocol allows) at the end of the
//! epoch. Passing that audit clears the report; failing it convicts the provider the usual way,
//! and repair moves the piece (which clears it too).

use super::{keys, CorruptState, StateRead};
use serde::Serialize;
use trellis_primitives::{
    codec::{Decode, DecodeError, Encode, Reader},
    DeviceAddress, Epoch, Hash,
};

/// An open report on one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PieceReport {
    /// The provider that held the piece when it was reported.
    pub provider: DeviceAddress,
    /// The epoch the report landed in: the audit at that epoch's end is the heavy one.
    pub epoch: Epoch,
}

impl Encode for PieceReport {
    fn encode(&self, out: &mut Vec<u8>) {
        self.provider.encode(out);
        self.epoch.encode(out);
    }
}

impl Decode for PieceReport {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PieceReport {
            provider: DeviceAddress::decode(r)?,
            epoch: Epoch::decode(r)?,
        })
    }
}

/// The open report on piece `index` of `deal`, if any.
pub fn piece_report(
    s: &(impl StateRead + ?Sized),
    deal: &Hash,
    index: u16,
) -> Result<Option<PieceReport>, CorruptState> {
    s.read(&keys::piece_report(deal, index))
}

/// The provider that holds piece `index` of `deal` and has passed an audit of it since it took
/// the piece, if the current holder has. Written by settlement, cleared when the piece moves.
/// Only such a holder is charged for a failed audit (reputation) and slashable for answering
/// "not stored": a client can name any provider in a deal and never upload, and that must not
/// cost the provider anything.
pub fn piece_proven_by(
    s: &(impl StateRead + ?Sized),
    deal: &Hash,
    index: u16,
) -> Result<Option<DeviceAddress>, CorruptState> {
    s.read(&keys::piece_proven(deal, index))
}
