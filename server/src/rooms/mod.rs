//! Rooms and live VR sessions — the seed's *VR Session Manager* and *Sync Coordinator*
//! (§1.1). Clients connect to the WebSocket at [`ws::WS_PATH`] and speak the protocol of
//! `nexus_net::control`; once in a room, their avatars flow on the real-time plane
//! (WebRTC data channels, or WebSocket binary frames when WebRTC cannot connect).
//!
//! - [`core`] — one room's authoritative state and per-tick work, pure: slots, each
//!   member's real-time link, latest avatars, locomotion roots (server-authoritative),
//!   interest-managed snapshot fan-out, event and voice relay, mutes and bans;
//! - [`room`] — a live room: the core behind a lock, members' outbound queues, resume
//!   windows, the tick task;
//! - [`hub`] — the node's rooms, its real-time clock, resume tokens;
//! - [`ws`] — the connection: handshake, phases, signalling, the writer that prefers
//!   WebRTC;
//! - [`cluster`] — rooms shared by several nodes over NATS, moderation included: a mute,
//!   kick or ban reaches the member on whichever node they are connected to, and a ban
//!   holds on every node.
//! - [`listen`] — members' voice to text: speech-to-text, moderation of what is said,
//!   live captions.

pub mod cluster;
pub mod core;
pub mod hub;
pub mod listen;
pub mod room;
pub mod ws;
