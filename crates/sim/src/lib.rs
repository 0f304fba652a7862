//! Trellis simulations. Today: tokenomics projections over years of demand scenarios, driven by
//! the real [`trellis_rewards::EmissionSchedule`]. The whole-network adversarial simulator joins
//! this crate with the sensor issue.
//!
//! **Architecture invariant:** simulations are deterministic: the same parameters give the same
//! bytes of CSV and SVG. Model arithmetic is integer; floats appear only as chart coordinates.

pub mod air;
pub mod chart;
pub mod tokenomics;
pub mod weather;
