//! # nexus-engine — rendering features, physics and spatial audio
//!
//! What the client and the server's offscreen renderer share. Built today:
//! - **offscreen capture** — the engine's one way to get rendered frames onto the CPU:
//!   [`capture`] (frames, row unpadding, pacing, latency statistics — plain Rust) and
//!   [`plugin::capture`] (render a camera into an image without a window, read it back once
//!   or continuously; or capture the window). The client's screenshots use it; generation
//!   and cloud rendering will reuse it.
//!
//! Not built yet: gaze-centred foveation, LOD (LOD0 < 5 m, LOD1 5–15 m, LOD2 15–30 m,
//! LOD3 > 30 m impostor), culling, physics with rapier3d (tracked hands as kinematic
//! colliders), spatial audio with kira (HRTF, occlusion, reverb).
//!
//! Pure modules build without Bevy (`--no-default-features`); the Bevy layer sits behind
//! the default `bevy` feature.
//!
//! ```
//! use nexus_engine::capture::{Pacing, padded_row_bytes, unpad_rows};
//! // wgpu pads each row of a readback to 256 bytes; a 10-px RGBA row is 40 bytes.
//! assert_eq!(padded_row_bytes(10, 4), 256);
//! let padded = vec![9u8; 256 + 40];
//! assert_eq!(unpad_rows(&padded, 10, 2, 4).unwrap().len(), 80);
//! assert!(Pacing::EveryNth(2).takes(4));
//! ```

pub mod capture;
#[cfg(feature = "bevy")]
pub mod plugin;
