//! NaN canonicalisation where a NaN's bits can be seen, not after every float operation.
//!
//! IEEE 754 fixes every float result but one: which NaN an operation returns (x86 and ARM give
//! different sign and payload bits). A job can only ever see those bits in four places: storing a
//! float to memory (`f32.store`, `f64.store`), reinterpreting it as an integer
//! (`i32.reinterpret_f32`, `i64.reinterpret_f64`), and the sign a `copysign` takes from its second
//! operand. Every other operation maps any NaN to a NaN (or a trap, or a comparison that is false
//! for every NaN alike), so no other result depends on which NaN it was. This pass rewrites a
//! module so that each of those four places first replaces a NaN by the canonical one (positive,
//! quiet, zero payload): whatever NaNs the hardware produced in between, what the job can observe
//! is the same on every machine.
//!
//! Why not canonicalise after every operation (Cranelift's `cranelift_nan_canonicalization`,
//! wasmi's deterministic profile): measured on the reference render kernel, the JIT ran at 0.24
//! of native with per-operation canonicalisation and at 0.96 without; stores and reinterprets are
//! a small share of a float kernel's operations (BENCHMARKS.md, "Compute").
//!
//! The difference from the Wasm deterministic profile, stated: there, bit operations (`neg`,
//! `abs`, `copysign`, loads and stores) keep a NaN's bits; here a stored or reinterpreted NaN is
//! always the canonical one. Both are deterministic; Trellis commits to this one
//! ([`crate::limits::RUNTIME_ID`]).

use std::convert::Infallible;
use wasm_encoder::{
    reencode::{Error as ReencodeError, Reencode},
    CodeSection, Function, Ieee32, Ieee64, Instruction, Module, ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, Payload};

/// The canonical f32 NaN's bits.
pub const CANONICAL_NAN_F32: u32 = 0x7fc0_0000;
/// The canonical f64 NaN's bits.
pub const CANONICAL_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// Why a module could not be rewritten (it is not valid WebAssembly).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CanonError(String);

impl From<wasmparser::BinaryReaderError> for CanonError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CanonError(e.to_string())
    }
}

impl<E: std::fmt::Display> From<ReencodeError<E>> for CanonError {
    fn from(e: ReencodeError<E>) -> Self {
        CanonError(e.to_string())
    }
}

/// The rewriter: knows each defined function's parameter count, to number its scratch locals.
struct Canonicalise {
    /// Parameter count of every defined function, in order.
    params: Vec<u32>,
    /// The defined function being rewritten next.
    next: usize,
}

impl Canonicalise {
    /// Replaces the f32 (`wide` false) or f64 on top of the stack by the canonical NaN if it is a
    /// NaN, through the scratch local `tmp`: `tee tmp; const NaN; get tmp; get tmp; eq; select`.
    fn canonicalise_top(f: &mut Function, wide: bool, tmp: u32) {
        f.instruction(&Instruction::LocalTee(tmp));
        if wide {
            f.instruction(&Instruction::F64Const(Ieee64::new(CANONICAL_NAN_F64)));
        } else {
            f.instruction(&Instruction::F32Const(Ieee32::new(CANONICAL_NAN_F32)));
        }
        f.instruction(&Instruction::LocalGet(tmp));
        f.instruction(&Instruction::LocalGet(tmp));
        f.instruction(if wide { &Instruction::F64Eq } else { &Instruction::F32Eq });
        f.instruction(&Instruction::Select);
    }
}

impl Reencode for Canonicalise {
    type Error = Infallible;

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), ReencodeError<Infallible>> {
        let params = self.params.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        let mut locals = Vec::new();
        let mut count = params;
        for pair in func.get_locals_reader()? {
            let (n, ty) = pair?;
            count = count.saturating_add(n);
            locals.push((n, self.val_type(ty)?));
        }
        // Two scratch locals after the function's own: one f32, one f64.
        let (tmp32, tmp64) = (count, count.saturating_add(1));
        locals.push((1, ValType::F32));
        locals.push((1, ValType::F64));
        let mut f = Function::new(locals);
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            match op {
                Operator::F32Store { .. } | Operator::I32ReinterpretF32 | Operator::F32Copysign => {
                    Self::canonicalise_top(&mut f, false, tmp32)
                }
                Operator::F64Store { .. } | Operator::I64ReinterpretF64 | Operator::F64Copysign => {
                    Self::canonicalise_top(&mut f, true, tmp64)
                }
                _ => {}
            }
            f.instruction(&self.instruction(op)?);
        }
        code.function(&f);
        Ok(())
    }
}

/// Rewrites `wasm` (already validated) so that every place a NaN's bits are observable sees the
/// canonical NaN.
pub fn canonicalise(wasm: &[u8]) -> Result<Vec<u8>, CanonError> {
    // Parameter counts of the defined functions (the function section lists only those), from
    // the type section. Everything but code is copied as is.
    let mut type_params: Vec<u32> = Vec::new();
    let mut params = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(types) => {
                for group in types {
                    for sub in group?.into_types() {
                        let n = match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        };
                        type_params.push(n);
                    }
                }
            }
            Payload::FunctionSection(funcs) => {
                for ty in funcs {
                    params.push(type_params.get(ty? as usize).copied().unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    let mut module = Module::new();
    let mut rewriter = Canonicalise { params, next: 0 };
    rewriter.parse_core_module(&mut module, Parser::new(0), wasm)?;
    Ok(module.finish())
}
