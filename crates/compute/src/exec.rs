//! The deterministic executor: a job module run by wasmi under a fuel budget and a memory cap.
//!
//! Why wasmi (an interpreter) and not wasmtime (a JIT): determinism has to hold on every
//! verifier's machine, and wasmi gives it by construction: fuel is counted per interpreted
//! instruction (the same count everywhere), floats follow the Wasm 3.0 deterministic profile
//! (NaNs canonicalised, the `deterministic` feature), and there is no code generation that
//! could differ by CPU. The measured cost of that choice is in BENCHMARKS.md (`bench compute`).
//!
//! The job ABI: a module imports **nothing** (so it cannot reach a clock, randomness, threads,
//! the network or the file system: there is nothing to call), exports a `memory`, an
//! `alloc(len: i32) -> i32` and entry points `(ptr: i32, len: i32) -> i64`. The host copies the
//! input into memory at `alloc(len)`, calls the entry, and reads the output region
//! `ptr = r >> 32 & 0x7fff_ffff`, `len = r & 0xffff_ffff`; the top bit of `r` marks the region
//! as the module's own UTF-8 reason for refusing the input.

use crate::limits::{MAX_MEMORY_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES};
use serde::{Deserialize, Serialize};
use wasmi::{
    CompilationMode, Config, Engine, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, TrapCode,
};

/// The flag bit of an entry point's result: the region is an error message.
const ERROR_FLAG: u64 = 1 << 63;

/// Why a module cannot be a job module. Found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// Bigger than any job module may be.
    #[error("module is {0} bytes; at most {MAX_MODULE_BYTES}")]
    TooLarge(usize),
    /// Not valid WebAssembly, or uses a feature the deterministic runtime leaves out (threads and
    /// shared memory, SIMD, relaxed SIMD).
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
    /// The fuel budget (wasmi's instruction count).
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
    /// Recursion too deep.
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

/// A module that passed [`Executor::load`]: valid, import-free, with the ABI exports.
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

fn is_entry_type(ty: &wasmi::FuncType) -> bool {
    use wasmi::ValType::{I32, I64};
    ty.params() == [I32, I32] && ty.results() == [I64]
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

struct HostState {
    limits: StoreLimits,
}

impl Executor {
    /// An executor with the deterministic configuration.
    pub fn new() -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            // Validate and translate every function up front: a bad module is refused before it
            // runs, never half-way through.
            .compilation_mode(CompilationMode::Eager)
            // Host-dependent proposals stay off; SIMD (and its non-deterministic relaxed form)
            // and 64-bit memories are not even compiled in (wasmi's `simd` and
            // `memory64` features are off).
            .wasm_multi_memory(false)
            .allow_start_fn(false);
        Self {
            engine: Engine::new(&config),
        }
    }

    /// Checks a module against the job ABI.
    pub fn load(&self, bytes: &[u8]) -> Result<JobModule, ModuleError> {
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(ModuleError::TooLarge(bytes.len()));
        }
        let module = Module::new(&self.engine, bytes).map_err(|e| ModuleError::Invalid(e.to_string()))?;
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
                ("memory", wasmi::ExternType::Memory(m)) => {
                    initial_memory_bytes = Some(m.minimum().saturating_mul(65_536))
                }
                ("alloc", wasmi::ExternType::Func(f)) => {
                    use wasmi::ValType::I32;
                    has_alloc = f.params() == [I32] && f.results() == [I32];
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
    /// module's memory, a missing entry); everything after is an [`Outcome`].
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
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(cap).unwrap_or(usize::MAX))
                .memories(1)
                .tables(1)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| ModuleError::Invalid(e.to_string()))?;
        let outcome = self
            .call(&mut store, module, entry, input)
            .ok_or(ModuleError::HostOutOfMemory)?;
        // wasmi charges a block's fuel before running it, so a job that runs out stops with a
        // little fuel it could not spend; it has used its whole budget all the same.
        let fuel_used = match outcome {
            Outcome::Trapped { trap: Trap::OutOfFuel } => limits.fuel,
            _ => limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
        };
        debug_assert!(fuel_used <= limits.fuel);
        Ok(Execution { outcome, fuel_used })
    }

    /// The outcome, or `None` if the host itself ran out of memory.
    fn call(&self, store: &mut Store<HostState>, module: &JobModule, entry: &str, input: &[u8]) -> Option<Outcome> {
        let trapped = |trap: Option<Trap>| trap.map(|trap| Outcome::Trapped { trap });
        let instance = match Linker::<HostState>::new(&self.engine).instantiate_and_start(&mut *store, &module.module) {
            Ok(i) => i,
            Err(e) => return trapped(classify(&e)),
        };
        let Some(memory) = instance.get_memory(&*store, "memory") else {
            return trapped(Some(Trap::BadOutput));
        };
        let (Ok(alloc), Ok(run)) = (
            instance.get_typed_func::<i32, i32>(&*store, "alloc"),
            instance.get_typed_func::<(i32, i32), i64>(&*store, entry),
        ) else {
            return trapped(Some(Trap::BadOutput));
        };
        let Ok(len) = i32::try_from(input.len()) else {
            return trapped(Some(Trap::MemoryCap));
        };
        let ptr = match alloc.call(&mut *store, len) {
            Ok(p) => p,
            Err(e) => return trapped(classify(&e)),
        };
        if memory.write(&mut *store, ptr as u32 as usize, input).is_err() {
            return trapped(Some(Trap::MemoryOutOfBounds));
        }
        let result = match run.call(&mut *store, (ptr, len)) {
            Ok(r) => r as u64,
            Err(e) => return trapped(classify(&e)),
        };
        let Some(bytes) = read_region(store, memory, result & !ERROR_FLAG) else {
            return trapped(Some(Trap::BadOutput));
        };
        if result & ERROR_FLAG != 0 {
            return Some(Outcome::Refused {
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Some(Outcome::Output { bytes })
    }
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

/// The trap an error stands for; `None` for the host's own memory exhaustion.
fn classify(error: &wasmi::Error) -> Option<Trap> {
    Some(match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Trap::OutOfFuel,
        Some(TrapCode::GrowthOperationLimited) => Trap::MemoryCap,
        Some(TrapCode::UnreachableCodeReached) => Trap::Unreachable,
        Some(TrapCode::MemoryOutOfBounds) => Trap::MemoryOutOfBounds,
        Some(TrapCode::StackOverflow) => Trap::StackOverflow,
        Some(TrapCode::IntegerDivisionByZero | TrapCode::IntegerOverflow | TrapCode::BadConversionToInteger) => {
            Trap::Arithmetic
        }
        Some(TrapCode::OutOfSystemMemory) => return None,
        Some(_) => Trap::IndirectCall,
        // Not a trap: a store limit refused the instantiation.
        None => Trap::Instantiation,
    })
}
