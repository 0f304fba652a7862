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
/// The largest fuel budget of one job: a few seconds on one core at the ~10^10 operators/s
/// measured in BENCHMARKS.md (a tile of several megapixels), so a verifier's replay stays
/// bounded too.
pub const MAX_FUEL: u64 = 50_000_000_000;

/// The runtime a commitment was made under. Fuel is counted per operator by wasmtime's
/// instrumentation and NaNs are canonicalised where observable ([`crate::canon`]), so the exact
/// release and the rewrite are part of what is committed to.
pub const RUNTIME_ID: &str = "wasmtime-48.0.10/nan-at-sinks/trellis-abi-1";
