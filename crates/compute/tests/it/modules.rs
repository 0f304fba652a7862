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

/// The output of a job whose entry stores what `value` (an f32 expression) leaves at address 0
/// and returns those four bytes.
fn stored_f32(value: &str) -> u32 {
    let body = format!("(f32.store (i32.const 0) {value}) i64.const 4");
    let ex = outcome(&abi_module("", &body), LIMITS);
    let Outcome::Output { bytes } = ex.outcome else {
        panic!("{:?}", ex.outcome)
    };
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

#[test]
fn every_nan_a_job_can_observe_is_the_canonical_one() {
    use trellis_compute::canon::{CANONICAL_NAN_F32, CANONICAL_NAN_F64};
    // 0/0 is a negative NaN on x86 and a positive one on ARM; a NaN built from any bits, negated,
    // or passed through arithmetic keeps or changes its payload by CPU. Stored, each is canonical.
    for nan in [
        "(f32.div (f32.const 0) (f32.const 0))",
        "(f32.reinterpret_i32 (i32.const 0xffa00001))",
        "(f32.neg (f32.div (f32.const 0) (f32.const 0)))",
        "(f32.add (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const 1))",
        "(f32.sqrt (f32.const -1))",
    ] {
        assert_eq!(stored_f32(nan), CANONICAL_NAN_F32, "{nan}");
    }
    // Ordinary values, signed zeros and infinities keep their bits.
    assert_eq!(stored_f32("(f32.const -0)"), 0x8000_0000);
    assert_eq!(stored_f32("(f32.const 1.5)"), 1.5f32.to_bits());
    assert_eq!(
        stored_f32("(f32.div (f32.const -1) (f32.const 0))"),
        f32::NEG_INFINITY.to_bits()
    );
    // A reinterpretation sees the canonical NaN; copysign takes a NaN's sign as positive.
    let reinterpret = abi_module(
        "",
        "(i64.store (i32.const 0) (i64.reinterpret_f64 (f64.neg (f64.div (f64.const 0) (f64.const 0))))) i64.const 8",
    );
    let Outcome::Output { bytes } = outcome(&reinterpret, LIMITS).outcome else {
        panic!("no output")
    };
    assert_eq!(u64::from_le_bytes(bytes.try_into().unwrap()), CANONICAL_NAN_F64);
    assert_eq!(
        stored_f32("(f32.copysign (f32.const 2) (f32.reinterpret_i32 (i32.const 0xffc00000)))"),
        2.0f32.to_bits()
    );
    assert_eq!(
        stored_f32("(f32.copysign (f32.const 2) (f32.const -0))"),
        (-2.0f32).to_bits()
    );
}

#[test]
fn simd_and_start_functions_are_refused_before_anything_runs() {
    let simd = abi_module("", "(drop (i32x4.splat (i32.const 1))) i64.const 0");
    assert!(matches!(load_err(&simd), ModuleError::Invalid(_)));
    let start = abi_module("(func $s) (start $s)", "i64.const 0");
    let ModuleError::Invalid(why) = load_err(&start) else {
        panic!("a start function was accepted")
    };
    assert!(why.contains("start function"), "{why}");
    let tables = abi_module("(table 1 funcref) (table 1 funcref)", "i64.const 0");
    let ModuleError::Invalid(why) = load_err(&tables) else {
        panic!("two tables were accepted")
    };
    assert!(why.contains("2 tables"), "{why}");
}

#[test]
fn a_table_past_the_limit_fails_instantiation_the_same_way_everywhere() {
    // Refused by the store's limiter, not by this machine's memory: a committable outcome.
    let huge = abi_module("(table 2000000 funcref)", "i64.const 0");
    assert_eq!(
        outcome(&huge, LIMITS).outcome,
        Outcome::Trapped {
            trap: Trap::Instantiation
        }
    );
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
    // How deep a native stack lets a job recurse differs by machine: not an outcome to commit.
    let rec = abi_module("(func $f (result i64) call $f)", "call $f");
    let exec = Executor::new();
    let module = exec.load(&rec).expect("loads");
    assert_eq!(
        exec.run(&module, "run", b"", LIMITS).err(),
        Some(ModuleError::StackExhausted)
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
