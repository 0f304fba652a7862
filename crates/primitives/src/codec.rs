//! Canonical, bounded binary encoding.
//!
//! Everything that is signed or hashed (transactions, blocks, state entries) is encoded with
//! this codec rather than protobuf because a signature must cover exactly one byte string per
//! value: fixed-width little-endian integers, length-prefixed byte strings, no optional fields
//! left out, no unknown fields, and the decoder rejects any input that is not the encoding of the
//! value it produced (trailing bytes, non-0/1 booleans, invalid enum tags, oversize lengths).
//!
//! Every length read from untrusted bytes is checked against a caller-visible bound before any
//! allocation, so a decoder can never be made to allocate more than the input it was given.

use thiserror::Error;

/// Why a byte string failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input ended early: needed {needed} more bytes")]
    UnexpectedEnd {
        /// How many more bytes were needed.
        needed: usize,
    },
    /// The value was complete but bytes were left over.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A length or count field exceeded its bound.
    #[error("{what} length {len} exceeds the limit {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// An enum tag that names no variant.
    #[error("invalid tag {tag} for {what}")]
    InvalidTag {
        /// Which enum.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A field whose bytes are well-formed but whose value is not allowed.
    #[error("invalid {what}: {reason}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// Writes a value in its canonical encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding of `self` as a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads a value from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the reader, leaving it positioned after the value.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a value that must span exactly `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// A cursor over untrusted bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Fails unless every byte has been read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::UnexpectedEnd {
                needed: n - self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a boolean encoded as exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { what: "bool", tag }),
        }
    }

    /// Reads a u32 length prefix and checks it against `max` before anything is allocated.
    pub fn len(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        Ok(len)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.len(what, max)?;
        self.take(len)
    }

    /// Reads a length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<String, DecodeError> {
        let raw = self.bytes(what, max)?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::InvalidValue {
            what,
            reason: "not UTF-8".into(),
        })
    }

    /// Reads a count-prefixed list of at most `max` items.
    ///
    /// Each item takes at least one byte, so the count is also checked against the bytes left:
    /// a four-byte prefix can never make us reserve gigabytes.
    pub fn list<T: Decode>(&mut self, what: &'static str, max: usize) -> Result<Vec<T>, DecodeError> {
        let count = self.len(what, max)?;
        if count > self.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                needed: count - self.remaining(),
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode(self)?);
        }
        Ok(items)
    }

    /// Reads an optional value tagged 0 (absent) or 1 (present).
    pub fn option<T: Decode>(&mut self) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(self)?)),
            tag => Err(DecodeError::InvalidTag { what: "option", tag }),
        }
    }
}

/// Appends a u32 length prefix.
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    debug_assert!(u32::try_from(len).is_ok(), "length prefix overflow");
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends a count-prefixed list.
pub fn put_list<T: Encode>(out: &mut Vec<u8>, items: &[T]) {
    put_len(out, items.len());
    for item in items {
        item.encode(out);
    }
}

/// Appends an optional value.
pub fn put_option<T: Encode>(out: &mut Vec<u8>, value: &Option<T>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            v.encode(out);
        }
    }
}

macro_rules! int_codec {
    ($($t:ty => $read:ident),*) => {$(
        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.$read()
            }
        }
    )*};
}
int_codec!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.bool()
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array()
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok((A::decode(reader)?, B::decode(reader)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = 7u64.to_bytes();
        bytes.push(0);
        assert_eq!(u64::from_bytes(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn oversize_list_prefix_is_rejected_before_allocation() {
        let mut bytes = Vec::new();
        put_len(&mut bytes, u32::MAX as usize);
        let mut reader = Reader::new(&bytes);
        let err = reader.list::<u64>("items", 16).unwrap_err();
        assert!(matches!(err, DecodeError::TooLong { len, max: 16, .. } if len == u32::MAX as usize));
        // Under the bound but more than the input could hold.
        let mut bytes = Vec::new();
        put_len(&mut bytes, 10);
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            reader.list::<u64>("items", 16),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn non_canonical_bool_and_option_are_rejected() {
        assert_eq!(
            bool::from_bytes(&[2]),
            Err(DecodeError::InvalidTag { what: "bool", tag: 2 })
        );
        let mut reader = Reader::new(&[5]);
        assert!(matches!(
            reader.option::<u8>(),
            Err(DecodeError::InvalidTag { tag: 5, .. })
        ));
    }

    #[test]
    fn list_round_trips() {
        let items: Vec<u32> = vec![1, 2, 3, u32::MAX];
        let mut out = Vec::new();
        put_list(&mut out, &items);
        let mut reader = Reader::new(&out);
        assert_eq!(reader.list::<u32>("items", 8).unwrap(), items);
        reader.finish().unwrap();
    }
}
