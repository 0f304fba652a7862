//! Modules that reach for a clock, randomness, threads or unbounded memory are refused or
//! trapped, with errors that say what was wrong.

use proptest::prelude::*;
use trellis_compute::{kernels::GUEST_WASM, limits::MAX_MODULE_BYTES, Executor, Limits, ModuleError, Outcome, Trap};

const LIMITS: Limits = Limits {
    fuel: 10_000_000,
    memory_bytes: 1 << 20,
};

/// A module with the job ABI around `body`, the entry `run`'s code.
fn abi_module(extra: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module {extra}
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func (export "run") (param i32 i32) (result i64) {body}))"#
    );
    wat::parse_str(&text).expect("test module is valid text")
}

fn load_err(bytes: &[u8]) -> ModuleError {
    match Executor::new().load(bytes) {
        Ok(_) => panic!("module was accepted"),
        Err(e) => e,
    }
}

fn outcome(bytes: &[u8], limits: Limits) -> trellis_compute::Execution {
    let exec = Executor::new();
    let module = exec.load(bytes).expect("module loads");
    exec.run(&module, "run", b"input", limits).expect("runs")
}

#[test]
fn a_module_asking_for_a_clock_or_randomness_is_refused() {
    for (module, name) in [
        ("wasi_snapshot_preview1", "clock_time_get"),
        ("wasi_snapshot_preview1", "random_get"),
        ("env", "now"),
    ] {
        let import = format!(r#"(import "{module}" "{name}" (func (param i32 i64 i32) (result i32)))"#);
        let err = load_err(&abi_module(&import, "i64.const 0"));
        assert_eq!(
            err,
            ModuleError::Imports {
                module: module.into(),
                name: name.into()
            }
        );
        assert!(
            err.to_string().contains("no clock, randomness, threads or I/O"),
            "{err}"
        );
    }
}

#[test]
fn threads_and_shared_memory_are_not_webassembly_we_run() {
    let text = r#"(module
        (memory (export "memory") 1 1 shared)
        (func (export "alloc") (param i32) (result i32) i32.const 0)
        (func (export "run") (param i32 i32) (result i64)
            (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1))) i64.const 0))"#;
    let bytes = wat::parse_str(text).expect("valid text");
    assert!(matches!(load_err(&bytes), ModuleError::Invalid(_)));
}

#[test]
fn growing_memory_past_the_cap_traps() {
    let grow = "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) i64.const 0";
    let ex = outcome(&abi_module("", grow), LIMITS);
    assert_eq!(ex.outcome, Outcome::Trapped { trap: Trap::MemoryCap });
    // Declaring too much up front is refused before running.
    let big = wat::parse_str(
        r#"(module (memory (export "memory") 64)
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "run") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .expect("valid");
    let exec = Executor::new();
    let module = exec.load(&big).expect("loads");
    assert_eq!(
        exec.run(&module, "run", b"", LIMITS).err(),
        Some(ModuleError::MemoryTooLarge {
            needed_bytes: 64 * 65_536,
            cap_bytes: 1 << 20
        })
    );
}

#[test]
fn an_endless_loop_runs_out_of_fuel_at_the_budget() {
    let ex = outcome(&abi_module("", "(loop $l (br $l)) i64.const 0"), LIMITS);
    assert_eq!(ex.outcome, Outcome::Trapped { trap: Trap::OutOfFuel });
    assert_eq!(ex.fuel_used, LIMITS.fuel);
}

#[test]
fn deep_recursion_and_wild_pointers_trap_with_their_reason() {
    let rec = abi_module("(func $f (result i64) call $f)", "call $f");
    assert_eq!(
        outcome(&rec, LIMITS).outcome,
        Outcome::Trapped {
            trap: Trap::StackOverflow
        }
    );
    let oob = abi_module("", "(drop (i32.load (i32.const 70000))) i64.const 0");
    assert_eq!(
        outcome(&oob, LIMITS).outcome,
        Outcome::Trapped {
            trap: Trap::MemoryOutOfBounds
        }
    );
    // An output region past the end of memory.
    let bad_out = abi_module("", "i64.const 0x0000fff000010000");
    assert_eq!(
        outcome(&bad_out, LIMITS).outcome,
        Outcome::Trapped { trap: Trap::BadOutput }
    );
    let div = abi_module("", "(drop (i32.div_u (i32.const 1) (i32.const 0))) i64.const 0");
    assert_eq!(
        outcome(&div, LIMITS).outcome,
        Outcome::Trapped { trap: Trap::Arithmetic }
    );
}

#[test]
fn malformed_or_incomplete_modules_say_what_is_missing() {
    assert!(matches!(load_err(b"\0asm\x01\0\0\0garbage"), ModuleError::Invalid(_)));
    assert!(matches!(load_err(b"not wasm at all"), ModuleError::Invalid(_)));
    assert_eq!(
        load_err(&vec![0; MAX_MODULE_BYTES + 1]),
        ModuleError::TooLarge(MAX_MODULE_BYTES + 1)
    );
    let no_alloc = wat::parse_str(r#"(module (memory (export "memory") 1))"#).expect("valid");
    assert!(load_err(&no_alloc).to_string().contains("alloc(i32) -> i32"));
    let no_mem =
        wat::parse_str(r#"(module (func (export "alloc") (param i32) (result i32) i32.const 0))"#).expect("valid");
    assert!(load_err(&no_mem).to_string().contains("`memory`"));
    let start = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func $s) (start $s)
            (func (export "alloc") (param i32) (result i32) i32.const 0))"#,
    )
    .expect("valid");
    assert!(
        matches!(load_err(&start), ModuleError::Invalid(_)),
        "start functions run before the ABI: refused"
    );
    let exec = Executor::new();
    let module = exec.load(GUEST_WASM).expect("reference module");
    assert_eq!(module.entries(), vec!["infer".to_string(), "render".to_string()]);
    let err = exec
        .run(
            &module,
            "mine_bitcoin",
            b"",
            Limits {
                memory_bytes: 64 << 20,
                ..LIMITS
            },
        )
        .expect_err("no such entry");
    assert!(err.to_string().contains("mine_bitcoin"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&bytes);
        let _verdict = Executor::new().load(&module).map(|_| ());
    }
}
