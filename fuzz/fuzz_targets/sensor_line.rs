//! Sensor agents read lines from devices and files the operator may not control. Parsing must
//! never panic; a parsed weather reading's integer fields hold what the line said.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_sensor::{line::parse_line, SensorKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in [SensorKind::Weather, SensorKind::Energy] {
        if let Ok(Some(sample)) = parse_line(kind, text) {
            assert_eq!(sample.measurement.kind(), kind);
        }
    }
});
