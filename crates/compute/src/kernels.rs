//! The reference job module (`guest/`, the kernels of `trellis-kernels` built for wasm32) and
//! the standard benchmark job that gives providers their capability score.

use crate::{commitment::blob_hash, exec::Limits};
use trellis_primitives::Hash;

/// The reference module's bytes, built by `build.rs`.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trellis_guest.wasm"));

/// The path-tracer entry point.
pub const RENDER_ENTRY: &str = "render";
/// The neural-network inference entry point.
pub const INFER_ENTRY: &str = "infer";

/// The reference module's content address.
pub fn guest_hash() -> Hash {
    blob_hash(GUEST_WASM)
}

/// The standard benchmark job (like Render's OctaneBench): a fixed 64×48 render of the demo
/// scene, 8 samples per pixel. Its output and fuel are the same for everyone, so any verifier
/// can check a provider ran it; the provider's score is the fuel it burns per second.
pub fn benchmark_input() -> Vec<u8> {
    let tile = trellis_kernels::render::Tile::grid(64, 48, 1, 8, 6, 0x0074_7265_6c6c_6973)[0];
    tile.encode(trellis_kernels::render::DEMO_SCENE.as_bytes())
}

/// Limits for the benchmark job.
pub const BENCHMARK_LIMITS: Limits = Limits {
    fuel: 2_000_000_000,
    memory_bytes: 64 << 20,
};
