//! The real-time plane: compact binary messages that travel on the unreliable, unordered
//! WebRTC data channel (poses, clock pings) or the reliable one (events), and over the
//! WebSocket as binary frames when WebRTC cannot connect.
//!
//! Every message is one byte of [`RealtimeKind`] and a bit-packed body. Avatar states
//! inside are delta-encoded by [`crate::pose_codec`] against a baseline the receiver
//! acknowledged: pose updates name theirs by sequence number, snapshot entries by how many
//! snapshots back. [`decode`] therefore takes the receiver's [`History`].
//!
//! Messages and who may send them:
//!
//! | kind | direction | channel |
//! |---|---|---|
//! | [`PoseUpdate`] | client → server | unreliable |
//! | [`Snapshot`] | server → client | unreliable |
//! | [`ClockPing`] / [`ClockPong`] | client → server / back | unreliable |
//! | [`RoomEvent`] | both | reliable |
//! | [`VoiceFrame`] | both (WebSocket fallback only; WebRTC carries voice as RTP) | unreliable |

use glam::{Vec2, Vec3};

use crate::baseline::{AckWindow, History};
use crate::bits::{BitReader, BitWriter};
use crate::error::DecodeError;
use crate::hand::Side;
use crate::pose_codec::{self, QuantizedAvatar};
use crate::seq::Seq;
use crate::sync::prediction::{LocomotionInput, RootState};

/// Largest real-time message: fits one UDP datagram on any path without fragmentation
/// (the WebRTC SCTP user message limit is far higher, but fragmented messages die whole
/// when one fragment is lost).
pub const MAX_REALTIME_BYTES: usize = 1200;
/// Largest Opus payload in a [`VoiceFrame`].
pub const MAX_VOICE_PAYLOAD: usize = 1000;
/// Most locomotion inputs a [`PoseUpdate`] repeats (redundancy against loss).
pub const MAX_INPUTS: usize = 3;

/// The first byte of every real-time message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RealtimeKind {
    /// [`PoseUpdate`].
    PoseUpdate = 1,
    /// [`Snapshot`].
    Snapshot = 2,
    /// [`ClockPing`].
    ClockPing = 3,
    /// [`ClockPong`].
    ClockPong = 4,
    /// [`RoomEvent`].
    Event = 5,
    /// [`VoiceFrame`].
    Voice = 6,
}

impl RealtimeKind {
    /// Whether a client may send this kind (the rest only come from the server).
    #[must_use]
    pub const fn client_may_send(self) -> bool {
        matches!(self, Self::PoseUpdate | Self::ClockPing | Self::Event | Self::Voice)
    }

    /// Whether the server may send this kind (pose updates and pings only come from
    /// clients).
    #[must_use]
    pub const fn server_may_send(self) -> bool {
        matches!(self, Self::Snapshot | Self::ClockPong | Self::Event | Self::Voice)
    }

    /// Whether it belongs on the reliable channel.
    #[must_use]
    pub const fn reliable(self) -> bool {
        matches!(self, Self::Event)
    }
}

impl TryFrom<u8> for RealtimeKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            1 => Self::PoseUpdate,
            2 => Self::Snapshot,
            3 => Self::ClockPing,
            4 => Self::ClockPong,
            5 => Self::Event,
            6 => Self::Voice,
            other => return Err(DecodeError::UnknownKind(other)),
        })
    }
}

/// A client's own avatar at one tracking frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseUpdate {
    /// This update's sequence number.
    pub seq: Seq,
    /// When the tracking sample was taken, on the client's clock (µs, wrapping at 2³²);
    /// the server maps it onto its own clock so receivers interpolate on capture times,
    /// not on jittery arrival times.
    pub captured_at: u32,
    /// The snapshots this client has received (so the server can delta against them).
    pub snapshot_acks: AckWindow,
    /// The update this one is a delta against (one the server acknowledged), or `None`.
    pub baseline: Option<Seq>,
    /// The newest locomotion inputs, oldest first (at most [`MAX_INPUTS`]).
    pub inputs: Vec<LocomotionInput>,
    /// The avatar.
    pub avatar: QuantizedAvatar,
}

/// One remote avatar inside a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The member's slot in the room.
    pub slot: u16,
    /// How many snapshots back its baseline travelled (0: sent whole).
    pub baseline_ago: u8,
    /// How long before the snapshot's `server_time_us` the state was captured, in units
    /// of 100 µs (saturating at 6.5 s).
    pub age: u16,
    /// The avatar.
    pub avatar: QuantizedAvatar,
}

/// What the server sends one client each tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// This snapshot's sequence number (per client).
    pub seq: Seq,
    /// Server clock, microseconds since the server's epoch.
    pub server_time_us: u64,
    /// The client's pose updates the server has received.
    pub pose_acks: AckWindow,
    /// The client's own authoritative root and the last input applied to it.
    pub root: Option<(Seq, RootState)>,
    /// Avatars in view this tick (interest-managed).
    pub entries: Vec<SnapshotEntry>,
}

/// Clock-sync probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPing {
    /// Client clock when sent, µs.
    pub client_time_us: u64,
}

/// Clock-sync answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPong {
    /// Echo of [`ClockPing::client_time_us`].
    pub client_time_us: u64,
    /// Server clock when answered, µs.
    pub server_time_us: u64,
}

/// Something that happened, delivered reliably to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomEvent {
    /// Who did it (the server overwrites what a client claims).
    pub from: u16,
    /// What.
    pub action: EventAction,
}

/// A recognised hand gesture, as the avatar crate's recogniser names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the names say it
pub enum GestureCode {
    Pinch = 0,
    Fist = 1,
    Point = 2,
    OpenPalm = 3,
    ThumbsUp = 4,
    Victory = 5,
    Ok = 6,
    Wave = 7,
}

impl GestureCode {
    const ALL: [Self; 8] =
        [Self::Pinch, Self::Fist, Self::Point, Self::OpenPalm, Self::ThumbsUp, Self::Victory, Self::Ok, Self::Wave];
}

/// The kinds of [`RoomEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// A hand gesture began.
    Gesture {
        /// Which hand.
        hand: Side,
        /// Which gesture.
        gesture: GestureCode,
    },
    /// A hand touched another member's avatar.
    Touch {
        /// The member touched.
        target: u16,
        /// Which hand.
        hand: Side,
        /// Contact strength, 0–255.
        strength: u8,
    },
    /// An expression to show (emotion index in the avatar crate's order, intensity 0–255).
    Expression {
        /// Emotion index.
        emotion: u8,
        /// Intensity.
        intensity: u8,
    },
}

/// A packet of Opus audio (WebSocket fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceFrame {
    /// The speaker's slot (the server overwrites what a client claims).
    pub from: u16,
    /// Packet sequence number.
    pub seq: Seq,
    /// RTP-style timestamp at 48 kHz.
    pub timestamp: u32,
    /// One Opus packet.
    pub payload: Vec<u8>,
}

/// Any real-time message.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // each variant is its type
pub enum Realtime {
    PoseUpdate(PoseUpdate),
    Snapshot(Snapshot),
    ClockPing(ClockPing),
    ClockPong(ClockPong),
    Event(RoomEvent),
    Voice(VoiceFrame),
}

impl Realtime {
    /// Its kind byte.
    #[must_use]
    pub const fn kind(&self) -> RealtimeKind {
        match self {
            Self::PoseUpdate(_) => RealtimeKind::PoseUpdate,
            Self::Snapshot(_) => RealtimeKind::Snapshot,
            Self::ClockPing(_) => RealtimeKind::ClockPing,
            Self::ClockPong(_) => RealtimeKind::ClockPong,
            Self::Event(_) => RealtimeKind::Event,
            Self::Voice(_) => RealtimeKind::Voice,
        }
    }
}

fn write_u64(w: &mut BitWriter, v: u64) {
    w.write(v as u32, 32);
    w.write((v >> 32) as u32, 32);
}

fn read_u64(r: &mut BitReader<'_>) -> Result<u64, DecodeError> {
    let lo = u64::from(r.read(32)?);
    let hi = u64::from(r.read(32)?);
    Ok(lo | (hi << 32))
}

fn write_mm(w: &mut BitWriter, v: Vec3) {
    let q = crate::pose_codec::QuantizedPose::from_pose(crate::state::Pose::new(v, glam::Quat::IDENTITY));
    for p in q.position {
        w.write(u32::from(p), 16);
    }
}

fn read_mm(r: &mut BitReader<'_>) -> Result<Vec3, DecodeError> {
    let mut p = [0.0f32; 3];
    for v in &mut p {
        *v = f32::from(r.read(16)? as u16 as i16) * pose_codec::POSITION_STEP;
    }
    Ok(Vec3::from_array(p))
}

fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

/// Locomotion input on the wire: dt in µs (16 bits, ≤ 65 ms), stick axes in 8 bits each,
/// turn in 0.1 mrad (16 bits, ±3.27 rad), optional teleport target in mm.
fn write_input(w: &mut BitWriter, input: &LocomotionInput) {
    w.write(u32::from(input.seq), 16);
    w.write((finite_or_zero(input.dt).clamp(0.0, 0.065_535) * 1e6).round() as u32, 16);
    for a in [input.move_axis.x, input.move_axis.y] {
        w.write(((finite_or_zero(a).clamp(-1.0, 1.0) * 127.0).round() as i8) as u8 as u32, 8);
    }
    w.write(((finite_or_zero(input.turn).clamp(-3.2767, 3.2767) * 1e4).round() as i16) as u16 as u32, 16);
    w.bit(input.teleport.is_some());
    if let Some(t) = input.teleport {
        write_mm(w, t);
    }
}

fn read_input(r: &mut BitReader<'_>) -> Result<LocomotionInput, DecodeError> {
    let seq = r.read(16)? as u16;
    let dt = r.read(16)? as f32 / 1e6;
    // The encoder never writes −128 or −32768 (it clamps to ±1 and ±3.2767); read them
    // as the nearest value it does write, so every decoded input re-encodes identically.
    let axis = |v: u32| f32::from((v as u8 as i8).max(-127)) / 127.0;
    let x = axis(r.read(8)?);
    let y = axis(r.read(8)?);
    let turn = f32::from((r.read(16)? as u16 as i16).max(-32_767)) / 1e4;
    let teleport = if r.bit()? { Some(read_mm(r)?) } else { None };
    Ok(LocomotionInput { seq, dt, move_axis: Vec2::new(x, y), turn, teleport })
}

fn write_acks(w: &mut BitWriter, acks: &AckWindow) {
    w.bit(acks.latest().is_some());
    let (latest, bits) = acks.to_wire();
    if acks.latest().is_some() {
        w.write(u32::from(latest), 16);
        w.write(bits, 32);
    }
}

fn read_acks(r: &mut BitReader<'_>) -> Result<AckWindow, DecodeError> {
    if r.bit()? { Ok(AckWindow::from_wire(r.read(16)? as u16, r.read(32)?)) } else { Ok(AckWindow::new()) }
}

/// The fields of a [`Snapshot`] before its entries (after the kind byte).
pub(crate) fn write_snapshot_header(
    w: &mut BitWriter,
    seq: Seq,
    server_time_us: u64,
    pose_acks: &AckWindow,
    root: Option<(Seq, RootState)>,
    entries: usize,
) {
    w.write(u32::from(seq), 16);
    write_u64(w, server_time_us);
    write_acks(w, pose_acks);
    w.bit(root.is_some());
    if let Some((seq, root)) = root {
        w.write(u32::from(seq), 16);
        write_mm(w, root.position);
        // A full turn is 65,536 steps; the value wraps, so every decoded yaw (in [0, 2π))
        // re-encodes to the same bits.
        let yaw = finite_or_zero(root.yaw).rem_euclid(std::f32::consts::TAU);
        w.write(((yaw / std::f32::consts::TAU) * 65_536.0).round() as u32 & 0xFFFF, 16);
    }
    w.write(entries.min(255) as u32, 8);
}

/// One [`SnapshotEntry`] whose avatar is already encoded (by [`pose_codec::encode`]).
pub(crate) fn write_snapshot_entry(w: &mut BitWriter, slot: u16, baseline_ago: u8, age: u16, avatar: &BitWriter) {
    w.write(u32::from(slot), 16);
    w.write(u32::from(baseline_ago), 8);
    w.write(u32::from(age), 16);
    w.append(avatar);
}

/// Encode `message`. Fails only when the result would exceed [`MAX_REALTIME_BYTES`] or a
/// voice payload exceeds [`MAX_VOICE_PAYLOAD`].
///
/// `baselines` must hold the states the message's deltas name (`own_slot`'s for a pose
/// update); [`crate::link`] does that bookkeeping.
pub fn encode(message: &Realtime, baselines: &History, own_slot: u16) -> Result<Vec<u8>, DecodeError> {
    let mut w = BitWriter::new();
    w.write(message.kind() as u32, 8);
    match message {
        Realtime::PoseUpdate(u) => {
            w.write(u32::from(u.seq), 16);
            w.write(u.captured_at, 32);
            write_acks(&mut w, &u.snapshot_acks);
            w.bit(u.baseline.is_some());
            if let Some(b) = u.baseline {
                w.write(u32::from(b), 16);
            }
            let inputs = &u.inputs[u.inputs.len().saturating_sub(MAX_INPUTS)..];
            w.write(inputs.len() as u32, 2);
            for input in inputs {
                write_input(&mut w, input);
            }
            let base = match u.baseline {
                Some(b) => Some(baselines.get(own_slot, b).ok_or(DecodeError::UnknownBaseline)?),
                None => None,
            };
            pose_codec::encode(&mut w, &u.avatar, base);
        }
        Realtime::Snapshot(s) => {
            write_snapshot_header(&mut w, s.seq, s.server_time_us, &s.pose_acks, s.root, s.entries.len());
            for e in s.entries.iter().take(255) {
                let base = if e.baseline_ago == 0 {
                    None
                } else {
                    let seq = s.seq.wrapping_sub(u16::from(e.baseline_ago));
                    Some(baselines.get(e.slot, seq).ok_or(DecodeError::UnknownBaseline)?)
                };
                let mut avatar = BitWriter::new();
                pose_codec::encode(&mut avatar, &e.avatar, base);
                write_snapshot_entry(&mut w, e.slot, e.baseline_ago, e.age, &avatar);
            }
        }
        Realtime::ClockPing(p) => write_u64(&mut w, p.client_time_us),
        Realtime::ClockPong(p) => {
            write_u64(&mut w, p.client_time_us);
            write_u64(&mut w, p.server_time_us);
        }
        Realtime::Event(e) => {
            w.write(u32::from(e.from), 16);
            match e.action {
                EventAction::Gesture { hand, gesture } => {
                    w.write(0, 8);
                    w.bit(hand == Side::Right);
                    w.write(gesture as u32, 8);
                }
                EventAction::Touch { target, hand, strength } => {
                    w.write(1, 8);
                    w.write(u32::from(target), 16);
                    w.bit(hand == Side::Right);
                    w.write(u32::from(strength), 8);
                }
                EventAction::Expression { emotion, intensity } => {
                    w.write(2, 8);
                    w.write(u32::from(emotion), 8);
                    w.write(u32::from(intensity), 8);
                }
            }
        }
        Realtime::Voice(v) => {
            if v.payload.len() > MAX_VOICE_PAYLOAD {
                return Err(DecodeError::Oversized { len: v.payload.len(), max: MAX_VOICE_PAYLOAD });
            }
            w.write(u32::from(v.from), 16);
            w.write(u32::from(v.seq), 16);
            w.write(v.timestamp, 32);
            w.write(v.payload.len() as u32, 16);
            w.bytes(&v.payload);
        }
    }
    let bytes = w.finish();
    if bytes.len() > MAX_REALTIME_BYTES {
        return Err(DecodeError::Oversized { len: bytes.len(), max: MAX_REALTIME_BYTES });
    }
    Ok(bytes)
}

/// Decode one message. `sender_slot` is the slot whose pose updates are looked up in
/// `baselines` (the server passes the sending client's slot; clients pass anything).
pub fn decode(bytes: &[u8], baselines: &History, sender_slot: u16) -> Result<Realtime, DecodeError> {
    if bytes.len() > MAX_REALTIME_BYTES {
        return Err(DecodeError::Oversized { len: bytes.len(), max: MAX_REALTIME_BYTES });
    }
    let (&kind, _) = bytes.split_first().ok_or(DecodeError::Empty)?;
    let kind = RealtimeKind::try_from(kind)?;
    let mut r = BitReader::new(bytes);
    r.read(8)?;
    let message = match kind {
        RealtimeKind::PoseUpdate => {
            let seq = r.read(16)? as u16;
            let captured_at = r.read(32)?;
            let snapshot_acks = read_acks(&mut r)?;
            let baseline = if r.bit()? { Some(r.read(16)? as u16) } else { None };
            let count = r.read(2)? as usize;
            let mut inputs = Vec::with_capacity(count);
            for _ in 0..count {
                inputs.push(read_input(&mut r)?);
            }
            let base = match baseline {
                Some(b) => Some(baselines.get(sender_slot, b).ok_or(DecodeError::UnknownBaseline)?),
                None => None,
            };
            let avatar = pose_codec::decode(&mut r, base)?;
            Realtime::PoseUpdate(PoseUpdate { seq, captured_at, snapshot_acks, baseline, inputs, avatar })
        }
        RealtimeKind::Snapshot => {
            let seq = r.read(16)? as u16;
            let server_time_us = read_u64(&mut r)?;
            let pose_acks = read_acks(&mut r)?;
            let root = if r.bit()? {
                let input = r.read(16)? as u16;
                let position = read_mm(&mut r)?;
                let yaw = r.read(16)? as f32 / 65_536.0 * std::f32::consts::TAU;
                Some((input, RootState { position, yaw }))
            } else {
                None
            };
            let count = r.read(8)? as usize;
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let slot = r.read(16)? as u16;
                let baseline_ago = r.read(8)? as u8;
                let age = r.read(16)? as u16;
                let base = if baseline_ago == 0 {
                    None
                } else {
                    let b = seq.wrapping_sub(u16::from(baseline_ago));
                    Some(baselines.get(slot, b).ok_or(DecodeError::UnknownBaseline)?)
                };
                let avatar = pose_codec::decode(&mut r, base)?;
                entries.push(SnapshotEntry { slot, baseline_ago, age, avatar });
            }
            Realtime::Snapshot(Snapshot { seq, server_time_us, pose_acks, root, entries })
        }
        RealtimeKind::ClockPing => Realtime::ClockPing(ClockPing { client_time_us: read_u64(&mut r)? }),
        RealtimeKind::ClockPong => {
            Realtime::ClockPong(ClockPong { client_time_us: read_u64(&mut r)?, server_time_us: read_u64(&mut r)? })
        }
        RealtimeKind::Event => {
            let from = r.read(16)? as u16;
            let side = |right: bool| if right { Side::Right } else { Side::Left };
            let action = match r.read(8)? {
                0 => {
                    let hand = side(r.bit()?);
                    let code = r.read(8)? as usize;
                    let gesture = *GestureCode::ALL.get(code).ok_or(DecodeError::Invalid("gesture code"))?;
                    EventAction::Gesture { hand, gesture }
                }
                1 => {
                    let target = r.read(16)? as u16;
                    let hand = side(r.bit()?);
                    EventAction::Touch { target, hand, strength: r.read(8)? as u8 }
                }
                2 => EventAction::Expression { emotion: r.read(8)? as u8, intensity: r.read(8)? as u8 },
                _ => return Err(DecodeError::Invalid("event action")),
            };
            Realtime::Event(RoomEvent { from, action })
        }
        RealtimeKind::Voice => {
            let from = r.read(16)? as u16;
            let seq = r.read(16)? as u16;
            let timestamp = r.read(32)?;
            let len = r.read(16)? as usize;
            if len > MAX_VOICE_PAYLOAD {
                return Err(DecodeError::Oversized { len, max: MAX_VOICE_PAYLOAD });
            }
            Realtime::Voice(VoiceFrame { from, seq, timestamp, payload: r.bytes(len)?.to_vec() })
        }
    };
    r.align();
    match r.remaining_bytes() {
        0 => Ok(message),
        n => Err(DecodeError::Trailing(n)),
    }
}
