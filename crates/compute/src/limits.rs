//! The bounds every job lives within, whatever its spec asks for.

/// The largest job module, bytes. The reference module is ~64 KiB; 8 MiB leaves room for real
/// programs while keeping a verifier's download and translation cost bounded.
pub const MAX_MODULE_BYTES: usize = 8 << 20;
/// The largest job input, bytes (a 16 MiB model or scene batch; larger data belongs in storage).
pub const MAX_INPUT_BYTES: usize = 16 << 20;
/// The largest job output, bytes (a 1024² RGB tile is 3 MiB).
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// The most memory any job may be given, bytes. Below 2 GiB, so wasm32 pointers never reach
/// the ABI's error flag bit.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;
/// The largest fuel budget of one job: ~100 s of interpretation on one core at the rate
/// measured in BENCHMARKS.md, so a verifier's replay stays bounded too.
pub const MAX_FUEL: u64 = 50_000_000_000;

/// The runtime a commitment was made under. Fuel is counted in wasmi's instructions and the
/// float profile is wasmi's, so the exact release is part of what is committed to.
pub const RUNTIME_ID: &str = "wasmi-2.0.0/deterministic/trellis-abi-1";
