//! Trellis simulations: tokenomics projections over years of demand scenarios, driven by the
//! real [`trellis_rewards::EmissionSchedule`]; the physical models devnet and the simulator share
//! (the radio in [`air`], weather and metered sites in [`weather`]); and the whole-network
//! adversarial simulator ([`network`]), which runs every class of device and every kind of
//! cheater through the real verifiers and the reward engine.
//!
//! **Architecture invariant:** simulations are deterministic: the same parameters give the same
//! bytes of report, CSV and SVG. Tokenomics and everything judged in the reports is integer
//! arithmetic; the physical models use floats (deterministic on one platform), and nothing they
//! compute is trusted by a verifier: it is what devices would report.

pub mod air;
pub mod chart;
pub mod network;
pub mod tokenomics;
pub mod weather;
