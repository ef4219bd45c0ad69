//! # nexus-avatar — humanoid avatars
//!
//! The room for everything that moves a humanoid: the VRM humanoid skeleton, full-body IK
//! from three-point tracking, the 52 ARKit blend shapes and the 12 seed emotions, lip sync
//! (visemes from TTS phoneme timings or live audio), and hand gestures from the 26 OpenXR
//! hand joints. A pure crate on `glam`; its Bevy layer is a `plugin` module behind a
//! default-on `bevy` feature.
//!
//! **Not built yet** — reserved by the workspace layout; the avatar issue fills it in.
