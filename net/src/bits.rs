//! Bit-level writer and reader for the real-time plane. Values are packed LSB-first into
//! bytes; a reader never panics on short or hostile input, it returns
//! [`DecodeError::Truncated`].

use crate::error::DecodeError;

/// Appends values of 1–32 bits to a byte buffer.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Write the low `bits` bits of `value` (`bits` in 0..=32; higher bits of `value` are
    /// ignored).
    pub fn write(&mut self, value: u32, bits: u32) {
        debug_assert!(bits <= 32, "at most 32 bits at a time");
        if bits == 0 {
            return;
        }
        let mask = if bits == 32 { u64::from(u32::MAX) } else { (1u64 << bits) - 1 };
        self.acc |= (u64::from(value) & mask) << self.pending;
        self.pending += bits;
        while self.pending >= 8 {
            self.bytes.push((self.acc & 0xFF) as u8);
            self.acc >>= 8;
            self.pending -= 8;
        }
    }

    /// Write one flag bit.
    pub fn bit(&mut self, value: bool) {
        self.write(u32::from(value), 1);
    }

    /// Append everything `other` wrote, bit for bit (no padding in between).
    pub fn append(&mut self, other: &Self) {
        if self.pending == 0 {
            self.bytes.extend_from_slice(&other.bytes);
        } else {
            for &b in &other.bytes {
                self.write(u32::from(b), 8);
            }
        }
        self.write(other.acc as u32, other.pending);
    }

    /// Bits written so far.
    #[must_use]
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.pending as usize
    }

    /// Pad to a byte boundary and append whole bytes.
    pub fn bytes(&mut self, data: &[u8]) {
        self.align();
        self.bytes.extend_from_slice(data);
    }

    /// Pad with zero bits to the next byte boundary.
    pub fn align(&mut self) {
        if self.pending > 0 {
            self.bytes.push((self.acc & 0xFF) as u8);
            self.acc = 0;
            self.pending = 0;
        }
    }

    /// The bytes, the last one zero-padded.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        self.align();
        self.bytes
    }
}

/// Reads what a [`BitWriter`] wrote.
#[derive(Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`.
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Read `bits` bits (0..=32).
    pub fn read(&mut self, bits: u32) -> Result<u32, DecodeError> {
        if bits == 0 {
            return Ok(0);
        }
        if bits > 32 || self.pos + bits as usize > self.data.len() * 8 {
            return Err(DecodeError::Truncated);
        }
        let mut value = 0u64;
        let mut got = 0u32;
        while got < bits {
            let byte = u64::from(self.data[self.pos / 8]);
            let offset = (self.pos % 8) as u32;
            let take = (8 - offset).min(bits - got);
            let chunk = (byte >> offset) & ((1u64 << take) - 1);
            value |= chunk << got;
            got += take;
            self.pos += take as usize;
        }
        Ok(value as u32)
    }

    /// Read one flag bit.
    pub fn bit(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read(1)? == 1)
    }

    /// Skip to the next byte boundary, then take `len` whole bytes.
    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        self.align();
        let start = self.pos / 8;
        let end = start.checked_add(len).ok_or(DecodeError::Truncated)?;
        let slice = self.data.get(start..end).ok_or(DecodeError::Truncated)?;
        self.pos = end * 8;
        Ok(slice)
    }

    /// Skip the padding up to the next byte boundary.
    pub fn align(&mut self) {
        self.pos = self.pos.div_ceil(8) * 8;
    }

    /// Whole bytes not yet read (after aligning).
    #[must_use]
    pub fn remaining_bytes(&self) -> usize {
        self.data.len().saturating_sub(self.pos.div_ceil(8))
    }
}

/// Map a signed value onto an unsigned one so small magnitudes stay small (0, −1, 1, −2 …
/// → 0, 1, 2, 3 …).
#[must_use]
pub const fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag`].
#[must_use]
pub const fn unzigzag(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_round_trip(values in prop::collection::vec((any::<u32>(), 0u32..=32), 0..64)) {
            let mut w = BitWriter::new();
            for &(v, bits) in &values {
                w.write(v, bits);
            }
            let bytes = w.finish();
            let mut r = BitReader::new(&bytes);
            for &(v, bits) in &values {
                let mask = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
                prop_assert_eq!(r.read(bits).unwrap(), v & mask);
            }
        }

        #[test]
        fn zigzag_round_trips(v in any::<i32>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error_not_a_panic() {
        let mut r = BitReader::new(&[0xAB]);
        assert_eq!(r.read(8).unwrap(), 0xAB);
        assert_eq!(r.read(1), Err(DecodeError::Truncated));
        assert_eq!(r.read(33), Err(DecodeError::Truncated));
        assert!(r.bytes(usize::MAX).is_err());
    }

    #[test]
    fn small_signed_values_zigzag_to_small_codes() {
        assert_eq!([0, -1, 1, -2, 2].map(zigzag), [0, 1, 2, 3, 4]);
    }
}
