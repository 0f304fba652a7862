//! Builds the reference job module (`guest/`) for wasm32 and leaves it in `OUT_DIR`, where
//! `src/kernels.rs` embeds it. The wasm32 target comes with the toolchain (`rust-toolchain.toml`
//! lists it, so rustup installs it on first use).

use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..");
    let guest = root.join("guest");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for path in [
        "guest/Cargo.toml",
        "guest/Cargo.lock",
        "guest/src",
        "crates/kernels/src",
        "crates/kernels/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=TRELLIS_SKIP_GUEST");
    if env::var_os("TRELLIS_SKIP_GUEST").is_some() {
        // Fuzzing the executor needs no reference module (and runs on another toolchain).
        std::fs::write(out.join("trellis_guest.wasm"), b"").expect("writing the empty module");
        return;
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out.join("guest-target");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy, coverage, host RUSTFLAGS) are not for the
    // guest: it must be the same bytes however the host was built.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guest module");
    if !status.success() {
        panic!(
            "building the wasm32 job module failed (see above). If the target is missing: \
             `rustup target add wasm32-unknown-unknown`"
        );
    }
    let wasm = target_dir.join("wasm32-unknown-unknown/release/trellis_guest.wasm");
    std::fs::copy(&wasm, out.join("trellis_guest.wasm")).expect("copying the job module");
}
