//! The bookkeeping of one real-time link, without any I/O: sequence numbers, what was
//! sent and acknowledged, which baseline each delta uses, and splitting a tick's
//! snapshot into datagrams. [`ClientLink`] is the client's end, [`ServerLink`] the
//! server's end for one client. Transports move the bytes these produce.

use std::collections::VecDeque;

use crate::baseline::{AckWindow, History};
use crate::bits::BitWriter;
use crate::error::DecodeError;
use crate::pose_codec::{self, QuantizedAvatar};
use crate::realtime::{self, MAX_INPUTS, MAX_REALTIME_BYTES, PoseUpdate, Realtime, RealtimeKind};
use crate::seq::Seq;
use crate::state::AvatarState;
use crate::sync::prediction::{LocomotionInput, RootState};

/// Bytes a snapshot datagram spends before its entries (kind, seq, time, acks, root,
/// count), rounded up.
const SNAPSHOT_HEADER_BYTES: usize = 32;

/// The client's end of the real-time plane.
#[derive(Debug)]
pub struct ClientLink {
    slot: u16,
    next_seq: Seq,
    sent: History,
    pose_acks: AckWindow,
    snapshot_acks: AckWindow,
    received: History,
    inputs: VecDeque<LocomotionInput>,
}

impl ClientLink {
    /// A link for the member in `slot`.
    #[must_use]
    pub fn new(slot: u16) -> Self {
        Self {
            slot,
            next_seq: 0,
            sent: History::new(),
            pose_acks: AckWindow::new(),
            snapshot_acks: AckWindow::new(),
            received: History::new(),
            inputs: VecDeque::new(),
        }
    }

    /// Encode this frame's avatar (and locomotion input, if any), captured at `now_us` on
    /// the client's clock, as a [`PoseUpdate`] delta-encoded against the newest update the
    /// server acknowledged.
    pub fn pose_update(
        &mut self,
        state: &AvatarState,
        input: Option<LocomotionInput>,
        now_us: u64,
    ) -> Result<Vec<u8>, DecodeError> {
        let avatar = QuantizedAvatar::from_state(state);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(input) = input {
            self.inputs.push_back(input);
            while self.inputs.len() > MAX_INPUTS {
                self.inputs.pop_front();
            }
        }
        let baseline = self.sent.newest_acked(self.slot, &self.pose_acks).map(|(s, _)| s);
        let update = PoseUpdate {
            seq,
            captured_at: now_us as u32,
            snapshot_acks: self.snapshot_acks,
            baseline,
            inputs: self.inputs.iter().copied().collect(),
            avatar: avatar.clone(),
        };
        let bytes = realtime::encode(&Realtime::PoseUpdate(update), &self.sent, self.slot)?;
        self.sent.insert(self.slot, seq, avatar);
        Ok(bytes)
    }

    /// Decode a message from the server, remembering snapshot entries as baselines.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Realtime, DecodeError> {
        let message = realtime::decode(bytes, &self.received, self.slot)?;
        if !message.kind().server_may_send() {
            return Err(DecodeError::Invalid("client-only message from the server"));
        }
        if let Realtime::Snapshot(s) = &message {
            self.snapshot_acks.record(s.seq);
            self.pose_acks.merge(&s.pose_acks);
            for e in &s.entries {
                self.received.insert(e.slot, s.seq, e.avatar.clone());
            }
        }
        Ok(message)
    }

    /// Forget a member who left.
    pub fn forget(&mut self, slot: u16) {
        self.received.remove(slot);
    }

    /// This link's slot.
    #[must_use]
    pub const fn slot(&self) -> u16 {
        self.slot
    }
}

/// The server's end of one client's real-time plane.
#[derive(Debug)]
pub struct ServerLink {
    slot: u16,
    received: History,
    pose_acks: AckWindow,
    snapshot_acks: AckWindow,
    sent: History,
    next_snapshot: Seq,
    last_input: Option<Seq>,
    clock: CaptureClock,
}

/// Maps a client's capture timestamps onto the server clock: the offset is the smallest
/// `arrival − captured_at` seen recently (the least-delayed update), so capture times keep
/// the client's spacing instead of the network's jitter.
#[derive(Debug, Default)]
struct CaptureClock {
    /// Client clock unwrapped to 64 bits.
    last_raw: Option<u32>,
    unwrapped: u64,
    /// Recent `arrival − capture` samples (µs, signed).
    window: VecDeque<i64>,
}

impl CaptureClock {
    const WINDOW: usize = 128;

    fn map(&mut self, captured_at: u32, arrival_us: u64) -> u64 {
        match self.last_raw {
            None => self.unwrapped = u64::from(captured_at),
            Some(prev) => {
                let step = captured_at.wrapping_sub(prev);
                // Reordered (older) updates step back rather than forward 71 minutes.
                if step < 0x8000_0000 {
                    self.unwrapped += u64::from(step);
                } else {
                    self.unwrapped = self.unwrapped.saturating_sub(u64::from(prev.wrapping_sub(captured_at)));
                }
            }
        }
        self.last_raw = Some(captured_at);
        self.window.push_back(arrival_us as i64 - self.unwrapped as i64);
        while self.window.len() > Self::WINDOW {
            self.window.pop_front();
        }
        let offset = self.window.iter().copied().min().unwrap_or(0);
        ((self.unwrapped as i64 + offset).max(0) as u64).min(arrival_us)
    }
}

/// What a [`ServerLink`] took from one client message.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A new avatar state (older, reordered updates are acknowledged but not returned).
    Pose {
        /// The state, on the wire grid (relayed to others as is).
        avatar: QuantizedAvatar,
        /// When it was captured, on the server clock (µs).
        captured_at: u64,
        /// Locomotion inputs not applied before, oldest first.
        inputs: Vec<LocomotionInput>,
    },
    /// Anything else the client may send.
    Other(Realtime),
    /// A duplicate or stale update; nothing to do.
    Stale,
}

impl ServerLink {
    /// A link for the client in `slot`.
    #[must_use]
    pub fn new(slot: u16) -> Self {
        Self {
            slot,
            received: History::new(),
            pose_acks: AckWindow::new(),
            snapshot_acks: AckWindow::new(),
            sent: History::new(),
            next_snapshot: 0,
            last_input: None,
            clock: CaptureClock::default(),
        }
    }

    /// Decode a client message that arrived at `now_us` (server clock); rejects kinds only
    /// the server may send.
    pub fn receive(&mut self, bytes: &[u8], now_us: u64) -> Result<Inbound, DecodeError> {
        let message = realtime::decode(bytes, &self.received, self.slot)?;
        if !message.kind().client_may_send() {
            return Err(DecodeError::Invalid("server-only message from a client"));
        }
        let Realtime::PoseUpdate(update) = message else { return Ok(Inbound::Other(message)) };
        let newest = self.pose_acks.latest().is_none_or(|l| crate::seq::seq_newer(update.seq, l));
        let fresh = self.pose_acks.record(update.seq);
        self.snapshot_acks.merge(&update.snapshot_acks);
        if !fresh {
            return Ok(Inbound::Stale);
        }
        self.received.insert(self.slot, update.seq, update.avatar.clone());
        let captured_at = self.clock.map(update.captured_at, now_us);
        if !newest {
            return Ok(Inbound::Stale);
        }
        let inputs: Vec<LocomotionInput> = update
            .inputs
            .into_iter()
            .filter(|i| self.last_input.is_none_or(|l| crate::seq::seq_newer(i.seq, l)))
            .collect();
        if let Some(last) = inputs.last() {
            self.last_input = Some(last.seq);
        }
        Ok(Inbound::Pose { avatar: update.avatar, captured_at, inputs })
    }

    /// The last locomotion input applied, for the snapshot's root acknowledgement.
    #[must_use]
    pub const fn last_input(&self) -> Option<Seq> {
        self.last_input
    }

    /// This tick's snapshot for this client as one or more datagrams of at most
    /// [`MAX_REALTIME_BYTES`]: `avatars` — (slot, state, capture time on the server clock)
    /// — in priority order (nearest first), each delta-encoded against the newest state
    /// of it this client acknowledged.
    pub fn snapshot(
        &mut self,
        server_time_us: u64,
        avatars: &[(u16, &QuantizedAvatar, u64)],
        root: Option<RootState>,
    ) -> Result<Vec<Vec<u8>>, DecodeError> {
        let root = root.map(|r| (self.last_input.unwrap_or(0), r));
        // Encode each avatar once, then pack the encodings greedily into datagrams.
        let mut datagrams = Vec::new();
        let mut group: Vec<PendingEntry<'_>> = Vec::new();
        let mut group_bytes = SNAPSHOT_HEADER_BYTES;
        let mut seq = self.next_snapshot;
        for &(slot, avatar, captured_at) in avatars {
            let age = (server_time_us.saturating_sub(captured_at) / 100).min(u64::from(u16::MAX)) as u16;
            // Leave headroom under the 8-bit distance for the datagrams this tick may add.
            let base = self
                .sent
                .newest_acked(slot, &self.snapshot_acks)
                .filter(|(s, _)| (1..=200).contains(&seq.wrapping_sub(*s)));
            let mut bits = BitWriter::new();
            pose_codec::encode(&mut bits, avatar, base.map(|(_, q)| q));
            let base = base.map(|(s, _)| s);
            let size = 5 + bits.bit_len().div_ceil(8);
            if !group.is_empty() && (group_bytes + size > MAX_REALTIME_BYTES || group.len() == 255) {
                datagrams.push(self.finish(seq, server_time_us, root, std::mem::take(&mut group))?);
                seq = seq.wrapping_add(1);
                group_bytes = SNAPSHOT_HEADER_BYTES;
            }
            group.push(PendingEntry { slot, base, age, bits, avatar });
            group_bytes += size;
        }
        datagrams.push(self.finish(seq, server_time_us, root, group)?);
        self.next_snapshot = seq.wrapping_add(1);
        Ok(datagrams)
    }

    fn finish(
        &mut self,
        seq: Seq,
        server_time_us: u64,
        root: Option<(Seq, RootState)>,
        entries: Vec<PendingEntry<'_>>,
    ) -> Result<Vec<u8>, DecodeError> {
        let mut w = BitWriter::new();
        w.write(RealtimeKind::Snapshot as u32, 8);
        realtime::write_snapshot_header(&mut w, seq, server_time_us, &self.pose_acks, root, entries.len());
        for e in &entries {
            let ago = e.base.map_or(0, |b| seq.wrapping_sub(b).min(255) as u8);
            realtime::write_snapshot_entry(&mut w, e.slot, ago, e.age, &e.bits);
        }
        let bytes = w.finish();
        if bytes.len() > MAX_REALTIME_BYTES {
            return Err(DecodeError::Oversized { len: bytes.len(), max: MAX_REALTIME_BYTES });
        }
        for e in entries {
            self.sent.insert(e.slot, seq, e.avatar.clone());
        }
        Ok(bytes)
    }

    /// This link's slot.
    #[must_use]
    pub const fn slot(&self) -> u16 {
        self.slot
    }
}

/// One avatar of a snapshot being packed: encoded once, placed in whichever datagram
/// it fits.
struct PendingEntry<'a> {
    slot: u16,
    base: Option<Seq>,
    age: u16,
    bits: BitWriter,
    avatar: &'a QuantizedAvatar,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted;

    #[test]
    fn a_crowded_snapshot_splits_into_datagrams_that_decode_to_the_same_avatars() {
        let mut server = ServerLink::new(0);
        let mut client = ClientLink::new(0);
        for round in 0..3u64 {
            let t = 0.3 + round as f32 / 72.0;
            let avatars: Vec<QuantizedAvatar> = (0..40)
                .map(|i| QuantizedAvatar::from_state(&scripted::avatar(i, t, glam::Vec3::X * i as f32)))
                .collect();
            let list: Vec<(u16, &QuantizedAvatar, u64)> =
                avatars.iter().enumerate().map(|(i, q)| (i as u16 + 1, q, 0)).collect();
            let datagrams = server.snapshot(round * 10_000, &list, None).unwrap();
            if round == 0 {
                assert!(datagrams.len() > 1, "40 whole avatars do not fit one datagram");
            }
            let mut seen = Vec::new();
            for d in &datagrams {
                assert!(d.len() <= MAX_REALTIME_BYTES);
                let Realtime::Snapshot(s) = client.receive(d).unwrap() else { panic!("not a snapshot") };
                seen.extend(s.entries.into_iter().map(|e| (e.slot, e.avatar, e.baseline_ago)));
            }
            assert_eq!(seen.len(), 40);
            for (slot, avatar, ago) in seen {
                assert_eq!(&avatar, list[usize::from(slot) - 1].1);
                // Round 0 goes whole; after the client acks, later rounds are deltas.
                assert_eq!(ago == 0, round == 0, "round {round}");
            }
            // The client's next pose update carries its snapshot acks to the server.
            let update = client.pose_update(&scripted::avatar(0, 0.0, glam::Vec3::ZERO), None, 0).unwrap();
            server.receive(&update, 0).unwrap();
        }
    }
}
