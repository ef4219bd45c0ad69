//! PDQ, Meta's 256-bit perceptual image hash (the format hash-sharing programmes
//! exchange), implemented from its published description:
//!
//! 1. luminance `0.299 R + 0.587 G + 0.114 B` as floats;
//! 2. a Jarosz filter — two passes of box filters along rows then columns, window
//!    `ceil(dim / 128)` — to blur before decimating;
//! 3. decimation to 64 × 64 by sampling at cell centres;
//! 4. quality: the sum of absolute neighbour differences (in percent of full scale) / 90,
//!    capped at 100 — flat or tiny images hash unreliably and are not matched below 50;
//! 5. a 16 × 16 block of the 2-D DCT (coefficients 1–16 in each direction, DC dropped);
//! 6. bit `16 i + j` set when coefficient (i, j) is above the median of the 256.
//!
//! Two images match when their hashes differ in at most [`MATCH_DISTANCE`] bits.

use std::f32::consts::PI;

/// A PDQ hash: bit `k` is bit `k % 8` of byte `k / 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PdqHash(pub [u8; 32]);

/// Largest Hamming distance still counted as the same image.
pub const MATCH_DISTANCE: u32 = 31;
/// Smallest quality for which a hash is trusted.
pub const MIN_QUALITY: u32 = 50;

impl PdqHash {
    /// Bits that differ.
    #[must_use]
    pub fn distance(&self, other: &Self) -> u32 {
        self.0.iter().zip(&other.0).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// The usual 64-hex-digit spelling: sixteen 16-bit words, the word holding bits
    /// 240–255 first.
    #[must_use]
    pub fn to_hex(&self) -> String {
        (0..16).rev().map(|w| format!("{:04x}", u16::from_le_bytes([self.0[2 * w], self.0[2 * w + 1]]))).collect()
    }

    /// Parses [`Self::to_hex`].
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(4).enumerate() {
            let word = u16::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
            let w = 15 - i;
            out[2 * w..2 * w + 2].copy_from_slice(&word.to_le_bytes());
        }
        Some(Self(out))
    }
}

/// Hashes an RGB image given as rows of `[r, g, b]` bytes; returns the hash and quality.
#[must_use]
pub fn hash_rgb(rgb: &[u8], width: usize, height: usize) -> (PdqHash, u32) {
    debug_assert_eq!(rgb.len(), width * height * 3);
    let mut luma: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let mut scratch = vec![0.0f32; luma.len()];
    let window_along_rows = jarosz_window(width, 64);
    let window_along_cols = jarosz_window(height, 64);
    for _ in 0..2 {
        for r in 0..height {
            box_1d(&luma[r * width..], &mut scratch[r * width..], width, 1, window_along_rows);
        }
        for c in 0..width {
            box_1d(&scratch[c..], &mut luma[c..], height, width, window_along_cols);
        }
    }
    let mut grid = [[0.0f32; 64]; 64];
    for (i, row) in grid.iter_mut().enumerate() {
        let r = (((i as f32 + 0.5) * height as f32) / 64.0) as usize;
        for (j, cell) in row.iter_mut().enumerate() {
            let c = (((j as f32 + 0.5) * width as f32) / 64.0) as usize;
            *cell = luma[r.min(height - 1) * width + c.min(width - 1)];
        }
    }
    let quality = quality(&grid);
    let dct = dct_16(&grid);
    let mut sorted: Vec<f32> = dct.iter().flatten().copied().collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[127];
    let mut hash = [0u8; 32];
    for (k, value) in dct.iter().flatten().enumerate() {
        if *value > median {
            hash[k / 8] |= 1 << (k % 8);
        }
    }
    (PdqHash(hash), quality)
}

/// `ceil(old / (2 new))`, the filter width that averages away what decimation drops.
fn jarosz_window(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// A centred moving average of width `window` over `len` values `stride` apart, with the
/// window shrinking at both ends.
fn box_1d(input: &[f32], output: &mut [f32], len: usize, stride: usize, window: usize) {
    let window = window.clamp(1, len.max(1));
    let half = (window + 2) / 2;
    let (mut sum, mut count) = (0.0f32, 0usize);
    let (mut li, mut ri, mut oi) = (0usize, 0usize, 0usize);
    for _ in 0..half - 1 {
        sum += input[ri];
        count += 1;
        ri += stride;
    }
    for _ in 0..window - half + 1 {
        sum += input[ri];
        count += 1;
        output[oi] = sum / count as f32;
        ri += stride;
        oi += stride;
    }
    for _ in 0..len - window {
        sum += input[ri] - input[li];
        output[oi] = sum / count as f32;
        li += stride;
        ri += stride;
        oi += stride;
    }
    for _ in 0..half - 1 {
        sum -= input[li];
        count -= 1;
        output[oi] = sum / count as f32;
        li += stride;
        oi += stride;
    }
}

fn quality(grid: &[[f32; 64]; 64]) -> u32 {
    let mut gradient = 0i64;
    for pair in grid.windows(2) {
        for (u, v) in pair[0].iter().zip(&pair[1]) {
            gradient += (((u - v) * 100.0 / 255.0) as i64).abs();
        }
    }
    for row in grid {
        for j in 0..63 {
            gradient += (((row[j] - row[j + 1]) * 100.0 / 255.0) as i64).abs();
        }
    }
    (gradient / 90).min(100) as u32
}

/// `D · A · Dᵀ` with `D[i][j] = sqrt(2/64) cos(π (i+1) (2j+1) / 128)`, i < 16, j < 64.
fn dct_16(a: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    let scale = (2.0f32 / 64.0).sqrt();
    let mut d = [[0.0f32; 64]; 16];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = scale * (PI / 128.0 * (i as f32 + 1.0) * (2.0 * j as f32 + 1.0)).cos();
        }
    }
    let mut t = [[0.0f32; 64]; 16]; // D · A
    for i in 0..16 {
        for k in 0..64 {
            let dik = d[i][k];
            for j in 0..64 {
                t[i][j] += dik * a[k][j];
            }
        }
    }
    let mut b = [[0.0f32; 16]; 16]; // (D · A) · Dᵀ
    for i in 0..16 {
        for j in 0..16 {
            b[i][j] = (0..64).map(|k| t[i][k] * d[j][k]).sum();
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_image(w: usize, h: usize, phase: f32) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let v = 127.5 + 120.0 * ((x as f32 / 23.0 + phase).sin() * (y as f32 / 31.0).cos());
                let b = v.clamp(0.0, 255.0) as u8;
                rgb.extend_from_slice(&[b, b.wrapping_add(40), 255 - b]);
            }
        }
        rgb
    }

    #[test]
    fn hex_round_trips_and_distance_counts_bits() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0b1011;
        bytes[31] = 0x80;
        let h = PdqHash(bytes);
        assert_eq!(PdqHash::from_hex(&h.to_hex()), Some(h));
        assert!(h.to_hex().starts_with("8000") && h.to_hex().ends_with("000b"));
        assert_eq!(h.distance(&PdqHash([0; 32])), 4);
        assert_eq!(PdqHash::from_hex("zz"), None);
    }

    #[test]
    fn near_copies_match_and_different_images_do_not() {
        let (w, h) = (320, 240);
        let original = gradient_image(w, h, 0.0);
        let (a, qa) = hash_rgb(&original, w, h);
        assert!(qa >= MIN_QUALITY, "quality {qa}");
        // Brightened and slightly noised copy.
        let copy: Vec<u8> = original.iter().enumerate().map(|(i, &v)| v.saturating_add(10 + (i % 7) as u8)).collect();
        let (b, _) = hash_rgb(&copy, w, h);
        assert!(a.distance(&b) <= MATCH_DISTANCE, "distance {}", a.distance(&b));
        let other = gradient_image(w, h, 1.7);
        let (c, _) = hash_rgb(&other, w, h);
        assert!(a.distance(&c) > MATCH_DISTANCE, "distance {}", a.distance(&c));
        // Half the bits are set: the median splits the coefficients.
        assert_eq!(a.0.iter().map(|b| b.count_ones()).sum::<u32>(), 128);
    }

    #[test]
    fn flat_and_tiny_images_have_low_quality_and_do_not_panic() {
        let (_, q) = hash_rgb(&[128; 64 * 64 * 3], 64, 64);
        assert_eq!(q, 0);
        let (_, q) = hash_rgb(&[1, 2, 3], 1, 1);
        assert!(q < MIN_QUALITY);
    }
}
