//! Little-endian readers shared by the model converters ([`crate::whisper_ggml`],
//! [`crate::e5_packed`]).

use anyhow::{Context as _, ensure};

/// A cursor over a model file's bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    /// Offset of the next byte.
    pub at: usize,
}

impl<'a> Reader<'a> {
    /// Reads `data` from offset `at`.
    pub fn new(data: &'a [u8], at: usize) -> Self {
        Self { data, at }
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        ensure!(end.is_some(), "the file ends early at byte {}", self.at);
        let out = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }
    pub fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }
    pub fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    /// A non-negative `i32` count or size.
    pub fn count(&mut self) -> anyhow::Result<usize> {
        let v = i32::from_le_bytes(self.take(4)?.try_into()?);
        usize::try_from(v).with_context(|| format!("negative count {v}"))
    }
    /// A `u64` offset or size.
    pub fn offset(&mut self) -> anyhow::Result<usize> {
        Ok(usize::try_from(u64::from_le_bytes(self.take(8)?.try_into()?))?)
    }
    pub fn f32(&mut self) -> anyhow::Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into()?))
    }
}

/// IEEE half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}
