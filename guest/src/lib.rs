//! The Trellis reference job module.
//!
//! The job ABI (see `trellis_compute::abi`): the module imports nothing, exports its `memory`,
//! `alloc(len: i32) -> i32`, and one entry point per kernel, `(ptr: i32, len: i32) -> i64`.
//! An entry reads its input at `ptr..ptr + len` and returns `out_ptr << 32 | out_len`; with
//! the top bit set the region holds a UTF-8 message saying why the input was refused.

use trellis_kernels::{mlp, render, InputError};

/// Reserves `len` bytes for the host to write the input into.
#[no_mangle]
pub extern "C" fn alloc(len: u32) -> u32 {
    let mut buf = Vec::<u8>::with_capacity(len as usize);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr as u32
}

/// Renders one tile (`trellis_kernels::render`).
#[no_mangle]
pub extern "C" fn render(ptr: u32, len: u32) -> u64 {
    finish(render::run(input(ptr, len)))
}

/// Runs a dense network over a batch (`trellis_kernels::mlp`).
#[no_mangle]
pub extern "C" fn infer(ptr: u32, len: u32) -> u64 {
    finish(mlp::run(input(ptr, len)))
}

fn input<'a>(ptr: u32, len: u32) -> &'a [u8] {
    // SAFETY: the host wrote `len` bytes at `ptr`, a region `alloc` handed out and nothing frees.
    unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) }
}

const ERROR_FLAG: u64 = 1 << 63;

fn finish(result: Result<Vec<u8>, InputError>) -> u64 {
    let (bytes, flag) = match result {
        Ok(out) => (out, 0),
        Err(e) => (e.0.into_bytes(), ERROR_FLAG),
    };
    let out = bytes.leak();
    flag | (out.as_ptr() as u64) << 32 | out.len() as u64
}
