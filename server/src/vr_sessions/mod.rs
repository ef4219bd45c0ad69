//! VR session records (seed §7.1 `vr_sessions`): when a user leaves a room the client
//! reports the session — headset, rendering mode, quality preset, frame rate, latency,
//! interactions, whether hand tracking and haptics were used — and the server keeps one
//! row per session. The report type is the wire type of [`nexus_net::vr_session`]; this
//! module checks that its figures are possible, derives the duration and stores it.

pub mod http;
pub mod service;
