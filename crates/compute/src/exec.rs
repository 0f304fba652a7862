//! The deterministic executor: a job module compiled by wasmtime (Cranelift) and run under a
//! fuel budget and a memory cap.
//!
//! Determinism has to hold on every verifier's machine. What makes it hold here:
//! - **Fuel** is counted per WebAssembly operator by wasmtime's own instrumentation, inserted
//!   while translating the module and the same whatever the CPU; the release is pinned
//!   ([`crate::limits::RUNTIME_ID`]) because another could count differently.
//! - **Floats**: IEEE 754 fixes every result but which NaN comes out; [`crate::canon`] rewrites
//!   the module so the only places a NaN's bits are observable see the canonical NaN. SIMD,
//!   relaxed SIMD, threads, 64-bit and multiple memories are switched off; no operation left has
//!   a host-dependent result.
//! - **Stack depth** is the one limit that is not the same everywhere (native frames differ by
//!   CPU and compiler), so running out of stack is not an outcome: nothing is committed
//!   ([`ModuleError::StackExhausted`]); the job times out and is refunded or re-run.
//! - The module imports **nothing**, so it cannot reach a clock, randomness, threads, the network
//!   or the file system: there is nothing to call.
//!
//! Why a JIT and not the interpreter it replaced (wasmi 2.0): the same kernel ran at 0.10 of
//! native in wasmi and at ~0.9 here (BENCHMARKS.md, "Compute").
//!
//! The job ABI: a module exports a `memory`, an `alloc(len: i32) -> i32` and entry points
//! `(ptr: i32, len: i32) -> i64`, and has no start function. The host copies the input into
//! memory at `alloc(len)`, calls the entry, and reads the output region
//! `ptr = r >> 32 & 0x7fff_ffff`, `len = r & 0xffff_ffff`; the top bit of `r` marks the region
//! as the module's own UTF-8 reason for refusing the input.

use crate::limits::{MAX_MEMORY_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES};
use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, Instance, Memory, Module, ResourceLimiter, Store, Trap as WasmTrap, ValType};

/// The flag bit of an entry point's result: the region is an error message.
const ERROR_FLAG: u64 = 1 << 63;

/// Why a module cannot be a job module. Found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// Bigger than any job module may be.
    #[error("module is {0} bytes; at most {MAX_MODULE_BYTES}")]
    TooLarge(usize),
    /// Not valid WebAssembly, or uses a feature the deterministic runtime leaves out (threads and
    /// shared memory, SIMD, relaxed SIMD, 64-bit or several memories, a start function, more
    /// than one table).
    #[error("not a valid deterministic WebAssembly module: {0}")]
    Invalid(String),
    /// Imports something. Jobs get nothing from the host: no clock, no randomness, no I/O.
    #[error(
        "module imports `{module}::{name}`; job modules may import nothing (no clock, randomness, threads or I/O)"
    )]
    Imports {
        /// The import's module name.
        module: String,
        /// The imported item.
        name: String,
    },
    /// An export the ABI needs is missing or has the wrong type.
    #[error("module lacks the job ABI export {0}")]
    MissingExport(String),
    /// The machine running the job could not provide the memory the job is allowed (not an
    /// outcome: nothing deterministic can be committed; the provider should not take the job).
    #[error("this machine ran out of memory running the job")]
    HostOutOfMemory,
    /// The job recursed deeper than this machine's stack allows. How deep that is depends on the
    /// CPU and the compiler, so it is not an outcome anyone could commit to or replay.
    #[error("the job ran out of native stack (recursion too deep); stack depth is not deterministic, so nothing is committed")]
    StackExhausted,
    /// Declares more memory up front than the job's cap.
    #[error("module needs {needed_bytes} bytes of memory up front; the job allows {cap_bytes}")]
    MemoryTooLarge {
        /// What the module declares.
        needed_bytes: u64,
        /// What the job allows.
        cap_bytes: u64,
    },
}

/// What a job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The fuel budget (WebAssembly operators, counted by wasmtime).
    pub fuel: u64,
    /// The most linear memory the module may have, bytes.
    pub memory_bytes: u64,
}

/// How an execution ended. Every variant is deterministic, so every variant can be committed
/// to and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// The entry returned an output.
    Output {
        /// The output bytes.
        #[serde(with = "crate::hex_bytes")]
        bytes: Vec<u8>,
    },
    /// The module refused its input with this reason.
    Refused {
        /// The module's message.
        message: String,
    },
    /// The module trapped (including running out of fuel or memory).
    Trapped {
        /// What happened.
        trap: Trap,
    },
}

/// Why an execution stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trap {
    /// The fuel budget ran out.
    OutOfFuel,
    /// The module tried to grow memory past the job's cap.
    MemoryCap,
    /// `unreachable` (a Rust panic in the module).
    Unreachable,
    /// A load or store outside memory.
    MemoryOutOfBounds,
    /// Recursion too deep. Kept so outcomes committed before the JIT still decode; the
    /// executor now reports deep recursion as [`ModuleError::StackExhausted`] instead.
    StackOverflow,
    /// Integer division by zero or overflow, or a bad float-to-int conversion.
    Arithmetic,
    /// A bad indirect call.
    IndirectCall,
    /// The entry's result pointed outside memory or at more than the output limit.
    BadOutput,
    /// Instantiation hit a store limit other than memory (tables, instances).
    Instantiation,
}

impl Trap {
    /// A short stable name (metrics, logs, the CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfFuel => "out_of_fuel",
            Self::MemoryCap => "memory_cap",
            Self::Unreachable => "unreachable",
            Self::MemoryOutOfBounds => "memory_out_of_bounds",
            Self::StackOverflow => "stack_overflow",
            Self::Arithmetic => "arithmetic",
            Self::IndirectCall => "indirect_call",
            Self::BadOutput => "bad_output",
            Self::Instantiation => "instantiation",
        }
    }
}

/// One execution: how it ended and the fuel it burnt (`≤ limits.fuel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The result.
    pub outcome: Outcome,
    /// Fuel consumed, including the ABI's `alloc` call.
    pub fuel_used: u64,
}

/// A module that passed [`Executor::load`]: valid, import-free, with the ABI exports, rewritten
/// by [`crate::canon`] and compiled.
pub struct JobModule {
    module: Module,
    initial_memory_bytes: u64,
}

impl JobModule {
    /// Whether `entry` is an exported entry point.
    pub fn has_entry(&self, entry: &str) -> bool {
        self.module
            .exports()
            .any(|e| e.name() == entry && e.ty().func().is_some_and(is_entry_type))
    }

    /// The exported entry points, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .module
            .exports()
            .filter(|e| e.ty().func().is_some_and(is_entry_type))
            .map(|e| e.name().to_string())
            .collect();
        out.sort();
        out
    }
}

fn is_entry_type(ty: &wasmtime::FuncType) -> bool {
    has_signature(ty, &[ValType::I32, ValType::I32], &[ValType::I64])
}

/// Whether a function type is exactly `params -> results` (numeric types only).
fn has_signature(ty: &wasmtime::FuncType, params: &[ValType], results: &[ValType]) -> bool {
    ty.params().len() == params.len()
        && ty.params().zip(params).all(|(a, b)| ValType::eq(&a, b))
        && ty.results().len() == results.len()
        && ty.results().zip(results).all(|(a, b)| ValType::eq(&a, b))
}

/// The runtime, configured once for determinism.
pub struct Executor {
    engine: Engine,
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

/// Most table elements a job may have (a Rust program's function table is a few hundred).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// What a job's store may grow to, and what the limiter refused (so a refusal is told from the
/// host's own failures).
struct HostState {
    memory_cap: usize,
    /// Set when the job tried to grow memory past the cap (the trap is then [`Trap::MemoryCap`]).
    refused_growth: bool,
    /// Set when a table would exceed [`MAX_TABLE_ELEMENTS`] (at instantiation that fails it:
    /// [`Trap::Instantiation`]; at run time `table.grow` returns −1).
    refused_table: bool,
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.refused_growth = true;
            return Err(wasmtime::Error::msg("memory cap"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused_table = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

impl Executor {
    /// An executor with the deterministic configuration.
    pub fn new() -> Self {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            // Host-dependent proposals stay off: SIMD (and its non-deterministic relaxed form),
            // 64-bit and multiple memories. Threads are not compiled in.
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_memory64(false)
            .wasm_multi_memory(false)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        // The configuration is fixed and valid, so this cannot fail; if it ever did, the default
        // engine has no fuel, and every run would fail at `set_fuel` with wasmtime's reason.
        let engine = Engine::new(&config).unwrap_or_default();
        Self { engine }
    }

    /// Checks a module against the job ABI, rewrites it (see [`crate::canon`]) and compiles it.
    pub fn load(&self, bytes: &[u8]) -> Result<JobModule, ModuleError> {
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(ModuleError::TooLarge(bytes.len()));
        }
        Module::validate(&self.engine, bytes).map_err(|e| ModuleError::Invalid(format!("{e:#}")))?;
        // Before compiling, which is the expensive part.
        check_structure(bytes)?;
        let canonical = crate::canon::canonicalise(bytes).map_err(|e| ModuleError::Invalid(e.to_string()))?;
        let module = Module::new(&self.engine, &canonical).map_err(|e| ModuleError::Invalid(format!("{e:#}")))?;
        if let Some(import) = module.imports().next() {
            return Err(ModuleError::Imports {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
        let mut initial_memory_bytes = None;
        let mut has_alloc = false;
        for export in module.exports() {
            match (export.name(), export.ty()) {
                ("memory", wasmtime::ExternType::Memory(m)) => {
                    initial_memory_bytes = Some(m.minimum().saturating_mul(65_536))
                }
                ("alloc", wasmtime::ExternType::Func(f)) => {
                    has_alloc = has_signature(&f, &[ValType::I32], &[ValType::I32]);
                }
                _ => {}
            }
        }
        let initial_memory_bytes = initial_memory_bytes.ok_or_else(|| ModuleError::MissingExport("`memory`".into()))?;
        if !has_alloc {
            return Err(ModuleError::MissingExport("`alloc(i32) -> i32`".into()));
        }
        Ok(JobModule {
            module,
            initial_memory_bytes,
        })
    }

    /// Runs `entry` on `input`. Errors only for what is wrong before execution starts (the
    /// module's memory, a missing entry) and for what this machine could not do (memory, stack);
    /// everything else is an [`Outcome`].
    pub fn run(&self, module: &JobModule, entry: &str, input: &[u8], limits: Limits) -> Result<Execution, ModuleError> {
        let cap = limits.memory_bytes.min(MAX_MEMORY_BYTES);
        if module.initial_memory_bytes > cap {
            return Err(ModuleError::MemoryTooLarge {
                needed_bytes: module.initial_memory_bytes,
                cap_bytes: cap,
            });
        }
        if !module.has_entry(entry) {
            return Err(ModuleError::MissingExport(format!("`{entry}(i32, i32) -> i64`")));
        }
        let host = HostState {
            memory_cap: usize::try_from(cap).unwrap_or(usize::MAX),
            refused_growth: false,
            refused_table: false,
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| h);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| ModuleError::Invalid(e.to_string()))?;
        let outcome = self.call(&mut store, module, entry, input)?;
        let fuel_used = match outcome {
            Outcome::Trapped { trap: Trap::OutOfFuel } => limits.fuel,
            _ => limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
        };
        debug_assert!(fuel_used <= limits.fuel);
        Ok(Execution { outcome, fuel_used })
    }

    /// The outcome, or what this machine could not do.
    fn call(
        &self,
        store: &mut Store<HostState>,
        module: &JobModule,
        entry: &str,
        input: &[u8],
    ) -> Result<Outcome, ModuleError> {
        let trapped = |trap: Trap| Ok(Outcome::Trapped { trap });
        let instance = match Instance::new(&mut *store, &module.module, &[]) {
            Ok(i) => i,
            Err(e) => return classify(store, &e, true).and_then(trapped),
        };
        let Some(memory) = instance.get_memory(&mut *store, "memory") else {
            return trapped(Trap::BadOutput);
        };
        let (Ok(alloc), Ok(run)) = (
            instance.get_typed_func::<i32, i32>(&mut *store, "alloc"),
            instance.get_typed_func::<(i32, i32), i64>(&mut *store, entry),
        ) else {
            return trapped(Trap::BadOutput);
        };
        let Ok(len) = i32::try_from(input.len()) else {
            return trapped(Trap::MemoryCap);
        };
        let ptr = match alloc.call(&mut *store, len) {
            Ok(p) => p,
            Err(e) => return classify(store, &e, false).and_then(trapped),
        };
        if memory.write(&mut *store, ptr as u32 as usize, input).is_err() {
            return trapped(Trap::MemoryOutOfBounds);
        }
        let result = match run.call(&mut *store, (ptr, len)) {
            Ok(r) => r as u64,
            Err(e) => return classify(store, &e, false).and_then(trapped),
        };
        let Some(bytes) = read_region(store, memory, result & !ERROR_FLAG) else {
            return trapped(Trap::BadOutput);
        };
        if result & ERROR_FLAG != 0 {
            return Ok(Outcome::Refused {
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(Outcome::Output { bytes })
    }
}

/// Refuses what a valid module may have but a job module may not: a start function (jobs run
/// only through their entry points) and more than one table (a store holds one).
fn check_structure(bytes: &[u8]) -> Result<(), ModuleError> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::StartSection { .. }) => {
                return Err(ModuleError::Invalid(
                    "a start function (job modules run only through their entry points)".into(),
                ))
            }
            Ok(wasmparser::Payload::TableSection(tables)) if tables.count() > 1 => {
                return Err(ModuleError::Invalid(format!(
                    "{} tables (job modules may have one)",
                    tables.count()
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(ModuleError::Invalid(e.to_string())),
        }
    }
    Ok(())
}

fn read_region(store: &Store<HostState>, memory: Memory, packed: u64) -> Option<Vec<u8>> {
    let ptr = usize::try_from(packed >> 32).ok()?;
    let len = usize::try_from(packed & 0xffff_ffff).ok()?;
    if len > MAX_OUTPUT_BYTES {
        return None;
    }
    let data = memory.data(store);
    data.get(ptr..ptr.checked_add(len)?).map(<[u8]>::to_vec)
}

/// The trap an error stands for, or what this machine could not do. `instantiating`: the error
/// came from instantiation, where anything but a trap or a limiter refusal is the host's
/// failure (the module was validated and its structure checked before).
fn classify(store: &Store<HostState>, error: &wasmtime::Error, instantiating: bool) -> Result<Trap, ModuleError> {
    if store.data().refused_growth {
        return Ok(Trap::MemoryCap);
    }
    if instantiating && store.data().refused_table {
        return Ok(Trap::Instantiation);
    }
    let Some(trap) = error.downcast_ref::<WasmTrap>() else {
        return if instantiating {
            Err(ModuleError::HostOutOfMemory)
        } else {
            Ok(Trap::Instantiation)
        };
    };
    Ok(match trap {
        WasmTrap::OutOfFuel => Trap::OutOfFuel,
        WasmTrap::StackOverflow => return Err(ModuleError::StackExhausted),
        WasmTrap::UnreachableCodeReached => Trap::Unreachable,
        WasmTrap::MemoryOutOfBounds | WasmTrap::HeapMisaligned => Trap::MemoryOutOfBounds,
        WasmTrap::IntegerDivisionByZero | WasmTrap::IntegerOverflow | WasmTrap::BadConversionToInteger => {
            Trap::Arithmetic
        }
        WasmTrap::AllocationTooLarge => Trap::MemoryCap,
        WasmTrap::TableOutOfBounds | WasmTrap::IndirectCallToNull | WasmTrap::BadSignature => Trap::IndirectCall,
        _ => Trap::Instantiation,
    })
}
