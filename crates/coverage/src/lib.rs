//! Wireless proof-of-coverage verification (the Helium row of Trellis).
//!
//! Hotspots transmit **beacons** whose payload is derived from recent on-chain entropy (so they
//! cannot be precomputed); other hotspots that hear one send **witness** reports. This crate
//! decides, for each report, whether it is valid or which typed reason makes it invalid, using the
//! radio physics that bound what an honest report can contain (free-space path loss, distance,
//! timing, frequency).
//!
//! **Architecture invariant:** verdicts are pure functions of the reports, chain facts and config:
//! no I/O, no clock, no floats (distances come from H3 grid distance, path loss from an integer
//! logarithm), so every verifier reaches byte-identical verdicts.
//!
//! Reward units follow Helium: HIP-15 diminishing returns for redundant witnesses
//! ([`redundancy`]) and HIP-17 hex density scaling ([`density`]).  [`epoch`] turns an epoch's
//! verdicts into the coverage pool's shares for the reward engine, with Helium's reciprocity rule.

mod bias;
pub mod config;
pub mod density;
pub mod entropy;
pub mod environment;
pub mod epoch;
pub mod locate;
pub mod physics;
pub mod redundancy;
pub mod reports;
mod truncation;
pub mod verify;

pub use config::CoverageConfig;
pub use reports::{BeaconReport, HotspotFacts, WitnessReport};
pub use verify::{verify_beacon, verify_witness, BeaconInvalid, WitnessInvalid};
