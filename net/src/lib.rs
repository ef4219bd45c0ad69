//! # nexus-net — every wire type of Nexus, and the machinery that moves them
//!
//! Client and server both depend on this crate; it depends on neither. The protocol
//! itself is plain Rust with no I/O, tested over in-memory bytes; the transports are
//! behind the `transport` feature.
//!
//! Two planes (seed §1.1 "WebSocket + WebRTC (Low Latency)"):
//! - **Control** ([`control`]): JSON over the authenticated WebSocket — the handshake
//!   (magic, version, token; typed [`control::HandshakeReject`]s), rooms, members,
//!   moderation, WebRTC signalling. Which message is legal in which
//!   [`control::SessionPhase`] is [`control::ClientMsg::verify`].
//! - **Real time** ([`realtime`]): compact bit-packed binary — avatar pose updates and
//!   per-client snapshots on the unreliable, unordered WebRTC data channel, events on the
//!   reliable one, clock pings; the same bytes ride WebSocket binary frames when WebRTC
//!   cannot connect.
//!
//! The pipeline for one avatar, sender to screen:
//! [`state::AvatarState`] → [`pose_codec`] (quantise: mm positions, smallest-three
//! rotations, [`hand`] curls, 8-bit blend shapes; delta against the last acknowledged
//! state, tracked in [`baseline`]) → [`link`] (sequence numbers, acks, snapshot packing)
//! → transport → [`link`] → [`sync`] (clock sync, snapshot interpolation with a jitter-
//! adaptive delay, prediction and reconciliation of one's own locomotion, interest
//! management) → the avatar IK.
//!
//! Also here: [`vr_session`], the seed's `vr_sessions` record a client reports over HTTP.
//!
//! **Not in this crate**: rooms and the session manager (the server's `rooms` module),
//! rendering of remote avatars (the client).
//!
//! ```
//! use nexus_net::link::{ClientLink, Inbound, ServerLink};
//! use nexus_net::state::{AvatarState, Pose};
//!
//! let mut client = ClientLink::new(7);
//! let mut server = ServerLink::new(7);
//! let me = AvatarState::head_only(Pose::new(glam::Vec3::new(0.0, 1.7, 0.0), glam::Quat::IDENTITY));
//! let bytes = client.pose_update(&me, None, 0).unwrap();
//! let Inbound::Pose { avatar, .. } = server.receive(&bytes, 20_000).unwrap() else { panic!() };
//! assert!((avatar.to_state().head.position.y - 1.7).abs() < 0.001);
//! ```

pub mod baseline;
pub mod bits;
pub mod cluster;
pub mod control;
pub mod error;
pub mod hand;
pub mod link;
pub mod netsim;
pub mod pose_codec;
pub mod realtime;
pub mod scripted;
pub mod seq;
pub mod state;
pub mod sync;
#[cfg(feature = "transport")]
pub mod transport;
#[cfg(feature = "voice")]
pub mod voice;
pub mod vr_session;
