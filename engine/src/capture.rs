//! Offscreen capture, the plain part: what a captured frame is, how GPU readback rows are
//! unpadded, which frames a continuous capture takes ([`Pacing`]) and how late frames
//! arrive ([`CaptureStats`]). The Bevy side is [`crate::plugin::capture`].

/// wgpu aligns each row of a texture-to-buffer copy to this many bytes.
pub const COPY_ROW_ALIGNMENT: usize = 256;

/// A frame read back to the CPU: tightly packed RGBA8 (sRGB), top row first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Caller's tag, echoed from the request.
    pub tag: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
    /// The app frame (`FrameCount`) the capture was requested on.
    pub requested_frame: u32,
    /// The app frame it reached the main world on.
    pub delivered_frame: u32,
}

impl CapturedFrame {
    /// Frames between request and delivery (the readback latency in frames).
    #[must_use]
    pub fn latency_frames(&self) -> u32 {
        self.delivered_frame.saturating_sub(self.requested_frame)
    }

    /// The pixel at (`x`, `y`), or `None` outside the frame.
    #[must_use]
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.rgba.get(i..i + 4).map(|p| [p[0], p[1], p[2], p[3]])
    }
}

/// Bytes per row of a readback buffer for `width` pixels of `bytes_per_pixel`.
#[must_use]
pub fn padded_row_bytes(width: u32, bytes_per_pixel: u32) -> usize {
    (width as usize * bytes_per_pixel as usize).next_multiple_of(COPY_ROW_ALIGNMENT)
}

/// Why readback data could not be unpadded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("readback of {got} bytes is too short for {width}×{height} (needs {needed})")]
pub struct ShortReadback {
    /// Bytes received.
    pub got: usize,
    /// Bytes needed.
    pub needed: usize,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
}

/// Removes wgpu's row padding from readback `data`, giving tightly packed rows.
pub fn unpad_rows(data: &[u8], width: u32, height: u32, bytes_per_pixel: u32) -> Result<Vec<u8>, ShortReadback> {
    let row = width as usize * bytes_per_pixel as usize;
    let stride = padded_row_bytes(width, bytes_per_pixel);
    let needed = if height == 0 { 0 } else { stride * (height as usize - 1) + row };
    if data.len() < needed {
        return Err(ShortReadback { got: data.len(), needed, width, height });
    }
    if stride == row {
        return Ok(data[..row * height as usize].to_vec());
    }
    let mut out = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        out.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    Ok(out)
}

/// Which frames a continuous capture reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Every rendered frame (cloud rendering at the display rate).
    EveryFrame,
    /// One frame in `n` (previews, thumbnails, lower-rate streams).
    EveryNth(u32),
}

impl Pacing {
    /// Whether frame `frame` (counted from the capture's start) is taken.
    #[must_use]
    pub fn takes(self, frame: u64) -> bool {
        match self {
            Self::EveryFrame => true,
            Self::EveryNth(0) => false,
            Self::EveryNth(n) => frame.is_multiple_of(u64::from(n)),
        }
    }
}

/// Readback latency of delivered frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureStats {
    /// Frames delivered.
    pub delivered: u64,
    /// Sum of latencies in frames.
    latency_frames_sum: u64,
    /// Largest latency in frames.
    pub max_latency_frames: u32,
}

impl CaptureStats {
    /// Counts one delivered frame.
    pub fn record(&mut self, frame: &CapturedFrame) {
        self.delivered += 1;
        self.latency_frames_sum += u64::from(frame.latency_frames());
        self.max_latency_frames = self.max_latency_frames.max(frame.latency_frames());
    }

    /// Mean latency in frames (0 before any delivery).
    #[must_use]
    pub fn mean_latency_frames(&self) -> f64 {
        if self.delivered == 0 { 0.0 } else { self.latency_frames_sum as f64 / self.delivered as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unpadded() {
        // 3 px wide RGBA = 12 bytes per row, padded to 256.
        let (w, h) = (3u32, 2u32);
        let stride = padded_row_bytes(w, 4);
        assert_eq!(stride, 256);
        let mut data = vec![0xEE; stride + 12];
        data[..12].copy_from_slice(&[1; 12]);
        data[stride..stride + 12].copy_from_slice(&[2; 12]);
        let out = unpad_rows(&data, w, h, 4).expect("unpad");
        assert_eq!(out, [vec![1; 12], vec![2; 12]].concat());
        assert!(unpad_rows(&data[..stride], w, h, 4).is_err());
        // A 64-px-wide frame needs no padding at all.
        let exact = vec![7u8; 64 * 4 * 2];
        assert_eq!(unpad_rows(&exact, 64, 2, 4).expect("exact"), exact);
    }

    #[test]
    fn pacing_and_latency() {
        assert_eq!((0..9).filter(|&f| Pacing::EveryNth(3).takes(f)).count(), 3);
        assert!((0..5).all(|f| Pacing::EveryFrame.takes(f)));
        assert!(!Pacing::EveryNth(0).takes(0));
        let mut stats = CaptureStats::default();
        for (req, del) in [(10, 12), (11, 14)] {
            let f = CapturedFrame {
                tag: 0,
                width: 1,
                height: 1,
                rgba: vec![0; 4],
                requested_frame: req,
                delivered_frame: del,
            };
            stats.record(&f);
        }
        assert_eq!((stats.delivered, stats.max_latency_frames), (2, 3));
        assert!((stats.mean_latency_frames() - 2.5).abs() < 1e-9);
    }
}
