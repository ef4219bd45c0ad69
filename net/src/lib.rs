//! # nexus-net — every wire type of Nexus
//!
//! The room for the protocol shared by client and server: version and magic, the
//! handshake with typed rejects, which messages are legal in which session phase, the JSON
//! control plane over WebSocket, the compact binary real-time plane over WebRTC data
//! channels (pose compression, deltas, acks), and state sync (interpolation, prediction,
//! clock sync). It does no application logic and depends on neither client nor server.
//!
//! **Not built yet** — reserved by the workspace layout; the net issue fills it in.
