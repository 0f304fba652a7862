//! A job module is untrusted bytes from a consumer: a provider loads and runs it. Loading must
//! never panic; a module that loads must run to an outcome (or a typed refusal) within its fuel
//! and memory limits, the same outcome twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use trellis_compute::{Executor, Limits};

/// One engine for the whole run, as a provider has (creating one per input would dominate).
static EXECUTOR: OnceLock<Executor> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let exec = EXECUTOR.get_or_init(Executor::new);
    let Ok(module) = exec.load(data) else { return };
    let limits = Limits { fuel: 200_000, memory_bytes: 1 << 20 };
    for entry in module.entries() {
        let first = exec.run(&module, &entry, b"fuzz input", limits).map_err(|e| e.to_string());
        let again = exec.run(&module, &entry, b"fuzz input", limits).map_err(|e| e.to_string());
        if let Ok(ex) = &first {
            assert!(ex.fuel_used <= limits.fuel);
        }
        assert_eq!(first, again, "a job must be deterministic");
    }
});
