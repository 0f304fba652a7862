//! Compiled job modules by content address: compiling costs ~60 ms for the 63 KiB reference
//! module (BENCHMARKS.md), running a small tile well under a millisecond, so a provider that
//! runs many jobs of one module compiles it once.

use crate::{
    commitment::blob_hash,
    exec::{Executor, JobModule, ModuleError},
};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};
use trellis_primitives::Hash;

/// An executor with the last few modules it compiled.
pub struct ModuleCache {
    exec: Executor,
    /// Most recently used last.
    modules: Mutex<VecDeque<(Hash, Arc<JobModule>)>>,
    capacity: usize,
}

impl ModuleCache {
    /// A cache keeping up to `capacity` compiled modules.
    pub fn new(capacity: usize) -> Self {
        ModuleCache {
            exec: Executor::new(),
            modules: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    /// The executor the modules were compiled for.
    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The compiled module for `bytes`, compiling it if it is not cached. Keyed by the bytes'
    /// own hash, so a caller cannot pair a hash with other bytes.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<JobModule>, ModuleError> {
        let hash = blob_hash(bytes);
        if let Some(found) = self.touch(&hash) {
            return Ok(found);
        }
        // Compiled outside the lock: other slots keep using the cache meanwhile.
        let module = Arc::new(self.exec.load(bytes)?);
        let mut modules = self.lock();
        if !modules.iter().any(|(h, _)| *h == hash) {
            modules.push_back((hash, module.clone()));
        }
        while modules.len() > self.capacity {
            modules.pop_front();
        }
        Ok(module)
    }

    /// The cached module under `hash`, moved to the most recently used end.
    fn touch(&self, hash: &Hash) -> Option<Arc<JobModule>> {
        let mut modules = self.lock();
        let at = modules.iter().position(|(h, _)| h == hash)?;
        let entry = modules.remove(at)?;
        let found = entry.1.clone();
        modules.push_back(entry);
        Some(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Hash, Arc<JobModule>)>> {
        self.modules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many modules are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::GUEST_WASM;

    #[test]
    fn a_module_is_compiled_once_and_the_oldest_is_dropped_first() {
        let cache = ModuleCache::new(1);
        let a = cache.load(GUEST_WASM).expect("loads");
        let again = cache.load(GUEST_WASM).expect("loads");
        assert!(Arc::ptr_eq(&a, &again), "the second load reuses the first compilation");
        let other = wat_free_module();
        cache.load(&other).expect("loads");
        assert_eq!(cache.len(), 1);
        let third = cache.load(GUEST_WASM).expect("loads");
        assert!(!Arc::ptr_eq(&a, &third), "evicted, so compiled again");
        assert!(cache.load(b"not wasm").is_err());
        assert_eq!(cache.len(), 1, "a module that does not load is not cached");
    }

    /// The smallest job-ABI module, as bytes (no text parser in this crate's dependencies).
    fn wat_free_module() -> Vec<u8> {
        use wasm_encoder::{
            CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, MemorySection, MemoryType,
            Module, TypeSection, ValType,
        };
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I32]);
        types.ty().function([ValType::I32, ValType::I32], [ValType::I64]);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        funcs.function(1);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        exports.export("alloc", ExportKind::Func, 0);
        exports.export("run", ExportKind::Func, 1);
        let mut code = CodeSection::new();
        let mut alloc = Function::new([]);
        alloc.instruction(&Instruction::I32Const(0));
        alloc.instruction(&Instruction::End);
        code.function(&alloc);
        let mut run = Function::new([]);
        run.instruction(&Instruction::I64Const(0));
        run.instruction(&Instruction::End);
        code.function(&run);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&funcs)
            .section(&memory)
            .section(&exports)
            .section(&code);
        module.finish()
    }
}
