//! Integration tests of the compute crate (one binary, per the workspace convention).

mod determinism;
mod modules;
