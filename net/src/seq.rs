//! 16-bit wrapping sequence numbers.

/// A sequence number; wraps at 65 536.
pub type Seq = u16;

/// Whether `a` comes after `b`, allowing for wrap-around (half-range rule).
#[must_use]
pub const fn seq_newer(a: Seq, b: Seq) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_across_the_wrap() {
        assert!(seq_newer(1, 0));
        assert!(seq_newer(0, 65_535));
        assert!(!seq_newer(65_535, 0));
        assert!(!seq_newer(5, 5));
        assert!(seq_newer(0x7FFF, 0));
        assert!(!seq_newer(0x8000, 0));
    }
}
