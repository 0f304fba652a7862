//! Trellis reference compute kernels.
//!
//! These are the workloads the compute network ships with: [`render`], a Monte-Carlo path tracer
//! that renders one tile of a scene, and [`mlp`], inference of a small dense neural network. The
//! same code is compiled natively (benchmarks, client-side validation of a job's input) and to
//! wasm32 as the job module (`guest/`), where the executor runs it under a fuel budget.
//!
//! What they must never do: depend on anything but their input bytes. No clock, no randomness
//! (the path tracer's sampler is seeded from the job input), no platform maths: only `+ - * /`
//! and `sqrt` on floats, which IEEE 754 defines exactly and wasm and x86-64 implement alike, so a
//! tile rendered natively is bit-identical to the one rendered in wasm (tested in
//! `trellis-compute`). Transcendentals are our own series in those operations.

pub mod input;
pub mod mlp;
pub mod render;

pub use input::InputError;
