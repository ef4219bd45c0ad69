//! # nexus-haptics — haptic feedback
//!
//! The room for the haptic pattern library (taps, pulses, textures, heartbeat), the
//! scheduler that mixes patterns per hand against the frame clock, and the device
//! backends (OpenXR haptic actions on controllers). Plain Rust; the Bevy layer sits behind
//! a `bevy` feature.
//!
//! **Not built yet** — reserved by the workspace layout; no issue has reached it.
