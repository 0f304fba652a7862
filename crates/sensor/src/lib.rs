//! Sensor and energy networks (the WeatherXM / DIMO / energy-DePIN row of Trellis).
//!
//! Weather stations and energy meters send signed readings through ingest like every other
//! device report. Each epoch this crate scores every device's **quality of data** (QoD): which
//! readings are physically possible, fresh and original ([`checks`]), whether the device is where
//! it says it is and agrees with its neighbours ([`qod`]), and turns the scores into the
//! sensor/energy pool's shares, weighted towards hexes with few devices ([`shares`]).
//!
//! **Architecture invariant:** verdicts are pure functions of the epoch's logged readings, the
//! devices' chain facts and the config: no I/O, no clock, no floats, ordered maps only, so every
//! verifier reaches byte-identical verdicts and `trellis rewards audit` can recompute them. The
//! sun's position for the energy checks is integer trigonometry ([`solar`]).

pub mod archive;
pub mod checks;
pub mod config;
pub mod line;
pub mod qod;
pub mod reading;
pub mod shares;
pub mod solar;

pub use archive::SensorArchive;
pub use config::QodConfig;
pub use qod::{score_epoch, DeviceFlag, DeviceQod, EpochQod, ReadingVerdict};
pub use reading::{baselines, epoch_readings, Measurement, Reading, SensorFacts, SensorKind};
pub use shares::sensor_shares;
