//! # nexus-client — the headset app and its desktop preview
//!
//! The one user-facing binary of Nexus. It will:
//! - start in headset mode through OpenXR (`bevy_mod_openxr` 0.6 on Bevy 0.19.1) when a
//!   runtime is present, and fall back to a desktop flat-screen preview otherwise;
//! - feed one tracked rig (head, hands, 26-joint hands, gaze) from OpenXR actions, the
//!   preview's mouse/keyboard driver, or recorded tracking files;
//! - run `nexus-server` in-process by default ("embedded services", SQLite in the user data
//!   directory) or talk to a remote server given with `--server URL`;
//! - show the first room (the café terrace) with the companion, a chat panel and comfort
//!   options, and write the session's `vr_sessions` record when it ends.
//!
//! **Not built yet** — this crate is reserved by the workspace layout (ARCHITECTURE.md) and
//! is filled in by the client issue. It holds no code so nothing here pretends to work.
