//! Beacon payloads derived from on-chain entropy.
//!
//! A beacon's payload is a hash of a recent block hash and the beaconer's key, so no hotspot can
//! know its payload before that block exists, and no two hotspots send the same payload. The
//! verifier regenerates it and compares.

use trellis_primitives::{DeviceAddress, Hash, HashDomain};

/// Payload length in bytes: LoRa beacons are small; 16 bytes of hash are unguessable.
pub const BEACON_PAYLOAD_BYTES: usize = 16;

/// The payload `beaconer` must transmit for block-hash `entropy`.
pub fn beacon_payload(entropy: &Hash, beaconer: &DeviceAddress) -> [u8; BEACON_PAYLOAD_BYTES] {
    let h = HashDomain::BeaconPayload.hash_parts(&[entropy.as_bytes(), &beaconer.key().0]);
    let mut out = [0u8; BEACON_PAYLOAD_BYTES];
    out.copy_from_slice(&h.as_bytes()[..BEACON_PAYLOAD_BYTES]);
    out
}
