//! Bounded little-endian reading of kernel inputs.

use std::fmt;

/// Why a kernel refused its input. Kernels check everything before they compute, so a bad
/// input costs the provider almost nothing and the client can run the same check before posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for building an [`InputError`].
pub(crate) fn bad(msg: impl Into<String>) -> InputError {
    InputError(msg.into())
}

/// A cursor over input bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], InputError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| bad(format!("input ends inside {what}")))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub(crate) fn magic(&mut self, magic: &[u8; 4]) -> Result<(), InputError> {
        if self.take(4, "the magic number")? != magic {
            return Err(bad(format!("not a {} input", String::from_utf8_lossy(magic))));
        }
        Ok(())
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, InputError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, InputError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn f32(&mut self, what: &str) -> Result<f32, InputError> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    /// A `u32` that must lie in `1..=max`.
    pub(crate) fn bounded(&mut self, what: &str, max: u32) -> Result<u32, InputError> {
        let v = self.u32(what)?;
        if v == 0 || v > max {
            return Err(bad(format!("{what} must be 1..={max}, got {v}")));
        }
        Ok(v)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.at..];
        self.at = self.bytes.len();
        out
    }

    pub(crate) fn finish(&self) -> Result<(), InputError> {
        if self.at != self.bytes.len() {
            return Err(bad(format!(
                "{} trailing bytes after the input",
                self.bytes.len() - self.at
            )));
        }
        Ok(())
    }
}
