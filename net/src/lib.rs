//! # nexus-net — every wire type of Nexus
//!
//! The protocol shared by client and server. Today it holds the control-plane types the
//! client and server already exchange over HTTP:
//! - [`vr_session`] — the seed's `vr_sessions` record a client reports when a session
//!   ends (headset, rendering mode, quality preset, frame rate, latency, interactions).
//!
//! **Not built yet** (the net issue): version and magic, the handshake with typed
//! rejects, which messages are legal in which session phase, the JSON control plane over
//! WebSocket, the compact binary real-time plane over WebRTC data channels (pose
//! compression, deltas, acks), and state sync (interpolation, prediction, clock sync).
//! The crate does no application logic and depends on neither client nor server.
//!
//! ```
//! use nexus_net::vr_session::{HeadsetType, QualityPreset};
//! assert_eq!(HeadsetType::Quest3.as_str(), "QUEST_3");
//! assert_eq!("ULTRA".parse::<QualityPreset>(), Ok(QualityPreset::Ultra));
//! ```

pub mod vr_session;
