//! One room's authoritative state and its per-tick work, without I/O or locks: members
//! and their slots, each member's real-time link, the latest avatar of each, locomotion
//! roots, mutes and bans, interest-managed snapshot fan-out, and event/voice relay.
//! [`super::room`] wraps it in a lock, a tick task and the members' connections; the
//! benchmarks drive it directly.

use std::collections::{BTreeMap, HashSet};

use nexus_net::control::{MemberAction, MemberInfo, Slot};
use nexus_net::error::DecodeError;
use nexus_net::link::{Inbound, ServerLink};
use nexus_net::pose_codec::QuantizedAvatar;
use nexus_net::realtime::{self, ClockPong, Realtime, VoiceFrame};
use nexus_net::state::Pose;
use nexus_net::sync::interest::{self, Candidate, InterestPolicy};
use nexus_net::sync::prediction::{LocomotionRules, RootState, step};
use uuid::Uuid;

/// A member as the room keeps them.
#[derive(Debug)]
pub struct MemberCore {
    /// Their account.
    pub user: Uuid,
    /// Display name.
    pub name: String,
    /// Muted by a moderator: their voice is not relayed.
    pub muted: bool,
    /// `None` for a member connected to another node (their state arrives over NATS).
    link: Option<ServerLink>,
    latest: Option<(QuantizedAvatar, u64)>,
    root: RootState,
}

impl MemberCore {
    /// Their latest avatar and its capture time (server clock, µs).
    #[must_use]
    pub const fn latest(&self) -> Option<&(QuantizedAvatar, u64)> {
        self.latest.as_ref()
    }

    /// Whether they are connected to this node.
    #[must_use]
    pub const fn is_local(&self) -> bool {
        self.link.is_some()
    }
}

/// Why someone cannot join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// At capacity.
    #[error("the room is full")]
    Full,
    /// Banned from this room.
    #[error("banned from this room")]
    Banned,
    /// The room emptied and closed.
    #[error("the room has closed")]
    Closed,
}

/// Something a member's message makes the room send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    /// Bytes for one member on the unreliable path.
    To(Slot, Vec<u8>),
    /// Bytes for every member but the sender, on the reliable path.
    ReliableToOthers(Slot, Vec<u8>),
    /// A voice frame: its bytes for every member but the sender, on the unreliable
    /// path, and the frame itself (for the server's own listener).
    Voice(Slot, Vec<u8>, VoiceFrame),
}

/// The room.
#[derive(Debug)]
pub struct RoomCore {
    capacity: u16,
    members: BTreeMap<Slot, MemberCore>,
    banned: HashSet<Uuid>,
    policy: InterestPolicy,
    rules: LocomotionRules,
    tick: u64,
    scratch: Vec<u32>,
}

impl RoomCore {
    /// An empty room for up to `capacity` members.
    #[must_use]
    pub fn new(capacity: u16) -> Self {
        Self {
            capacity,
            members: BTreeMap::new(),
            banned: HashSet::new(),
            policy: InterestPolicy::default(),
            rules: LocomotionRules::default(),
            tick: 0,
            scratch: Vec::new(),
        }
    }

    /// Add a member; returns their slot (the lowest free one).
    pub fn join(&mut self, user: Uuid, name: &str) -> Result<Slot, JoinError> {
        if self.banned.contains(&user) {
            return Err(JoinError::Banned);
        }
        if self.members.len() >= usize::from(self.capacity) {
            return Err(JoinError::Full);
        }
        let slot = (0..=Slot::MAX).find(|s| !self.members.contains_key(s)).ok_or(JoinError::Full)?;
        let spawn = RootState { position: glam::Vec3::new(f32::from(slot % 8) * 0.8 - 2.8, 0.0, 0.0), yaw: 0.0 };
        self.members.insert(
            slot,
            MemberCore {
                user,
                name: name.to_owned(),
                muted: false,
                link: Some(ServerLink::new(slot)),
                latest: None,
                root: spawn,
            },
        );
        Ok(slot)
    }

    /// Add a member who is connected to another node; their state comes from
    /// [`RoomCore::set_remote`].
    pub fn join_remote(&mut self, user: Uuid, name: &str) -> Result<Slot, JoinError> {
        if self.banned.contains(&user) {
            return Err(JoinError::Banned);
        }
        if self.members.len() >= usize::from(self.capacity) {
            return Err(JoinError::Full);
        }
        let slot = (0..=Slot::MAX).find(|s| !self.members.contains_key(s)).ok_or(JoinError::Full)?;
        let member = MemberCore {
            user,
            name: name.to_owned(),
            muted: false,
            link: None,
            latest: None,
            root: RootState::default(),
        };
        self.members.insert(slot, member);
        Ok(slot)
    }

    /// A remote member's latest state as their node published it; returns whether their
    /// mute changed.
    pub fn set_remote(&mut self, slot: Slot, avatar: Option<(QuantizedAvatar, u64)>, muted: bool) -> bool {
        let Some(m) = self.members.get_mut(&slot).filter(|m| m.link.is_none()) else { return false };
        if avatar.is_some() {
            m.latest = avatar;
        }
        let changed = m.muted != muted;
        m.muted = muted;
        changed
    }

    /// Refuse `user` from now on (a ban decided here or on another node).
    pub fn ban(&mut self, user: Uuid) {
        self.banned.insert(user);
    }

    /// Accounts banned from the room.
    pub fn banned(&self) -> impl Iterator<Item = &Uuid> {
        self.banned.iter()
    }

    /// Members connected to this node.
    #[must_use]
    pub fn local_count(&self) -> usize {
        self.members.values().filter(|m| m.link.is_some()).count()
    }

    /// Give a resuming member a fresh link (their client starts from scratch too).
    pub fn reset_link(&mut self, slot: Slot) {
        if let Some(m) = self.members.get_mut(&slot).filter(|m| m.link.is_some()) {
            m.link = Some(ServerLink::new(slot));
        }
    }

    /// Remove a member; returns whether they were there.
    pub fn leave(&mut self, slot: Slot) -> bool {
        self.members.remove(&slot).is_some()
    }

    /// Apply a moderator's action. Returns false when no such member.
    pub fn moderate(&mut self, slot: Slot, action: MemberAction) -> bool {
        let Some(member) = self.members.get_mut(&slot) else { return false };
        match action {
            MemberAction::Mute => member.muted = true,
            MemberAction::Unmute => member.muted = false,
            MemberAction::Kick => {
                self.members.remove(&slot);
            }
            MemberAction::Ban => {
                self.banned.insert(member.user);
                self.members.remove(&slot);
            }
        }
        true
    }

    /// A member by slot.
    #[must_use]
    pub fn member(&self, slot: Slot) -> Option<&MemberCore> {
        self.members.get(&slot)
    }

    /// Everyone present, as the protocol shows them.
    #[must_use]
    pub fn members(&self) -> Vec<MemberInfo> {
        self.members.iter().map(|(&slot, m)| MemberInfo { slot, name: m.name.clone(), muted: m.muted }).collect()
    }

    /// Members present (here and on other nodes).
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Capacity.
    #[must_use]
    pub const fn capacity(&self) -> u16 {
        self.capacity
    }

    /// Take one real-time message from `slot`, arrived at `now_us` (server clock).
    pub fn receive(&mut self, slot: Slot, bytes: &[u8], now_us: u64) -> Result<Option<Relay>, DecodeError> {
        let Some(member) = self.members.get_mut(&slot) else { return Ok(None) };
        let Some(link) = member.link.as_mut() else { return Ok(None) };
        match link.receive(bytes, now_us)? {
            Inbound::Pose { avatar, captured_at, inputs } => {
                for input in &inputs {
                    member.root = step(member.root, input, &self.rules);
                }
                member.latest = Some((avatar, captured_at));
                Ok(None)
            }
            Inbound::Stale => Ok(None),
            Inbound::Other(Realtime::ClockPing(p)) => {
                let pong = Realtime::ClockPong(ClockPong { client_time_us: p.client_time_us, server_time_us: now_us });
                Ok(Some(Relay::To(slot, realtime::encode(&pong, &nexus_net::baseline::History::new(), slot)?)))
            }
            Inbound::Other(Realtime::Event(mut e)) => {
                e.from = slot; // never trust the sender's claim
                let bytes = realtime::encode(&Realtime::Event(e), &nexus_net::baseline::History::new(), slot)?;
                Ok(Some(Relay::ReliableToOthers(slot, bytes)))
            }
            Inbound::Other(Realtime::Voice(mut v)) => {
                if member.muted {
                    return Ok(None);
                }
                v.from = slot;
                let bytes = realtime::encode(&Realtime::Voice(v.clone()), &nexus_net::baseline::History::new(), slot)?;
                Ok(Some(Relay::Voice(slot, bytes, v)))
            }
            Inbound::Other(_) => Ok(None),
        }
    }

    /// One tick: every member's snapshot datagrams (the avatars their interest policy
    /// selects, nearest first, and their own authoritative root).
    pub fn tick(&mut self, now_us: u64, out: &mut Vec<(Slot, Vec<Vec<u8>>)>) {
        self.tick += 1;
        let avatars: Vec<(Slot, QuantizedAvatar, u64, Pose)> = self
            .members
            .iter()
            .filter_map(|(&s, m)| m.latest.as_ref().map(|(q, at)| (s, q.clone(), *at, q.head.to_pose())))
            .collect();
        let candidates: Vec<Candidate> =
            avatars.iter().map(|(s, _, _, head)| Candidate { id: u32::from(*s), position: head.position }).collect();
        for (&slot, member) in &mut self.members {
            let Some(link) = member.link.as_mut() else { continue };
            let viewer = avatars
                .iter()
                .find(|a| a.0 == slot)
                .map_or(Pose::new(member.root.position + glam::Vec3::Y * 1.6, glam::Quat::IDENTITY), |a| a.3);
            let others: Vec<Candidate> = candidates.iter().filter(|c| c.id != u32::from(slot)).copied().collect();
            interest::select(&self.policy, &viewer, &others, self.tick, &mut self.scratch);
            let chosen: Vec<(Slot, &QuantizedAvatar, u64)> = self
                .scratch
                .iter()
                .filter_map(|&id| avatars.iter().find(|a| u32::from(a.0) == id))
                .map(|(s, q, at, _)| (*s, q, *at))
                .collect();
            match link.snapshot(now_us, &chosen, Some(member.root)) {
                Ok(datagrams) => out.push((slot, datagrams)),
                Err(e) => tracing::warn!(slot, error = %e, "snapshot not encodable"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_net::link::ClientLink;
    use nexus_net::scripted;

    #[test]
    fn members_see_each_other_and_not_themselves() {
        let mut room = RoomCore::new(4);
        let a = room.join(Uuid::new_v4(), "a").unwrap();
        let b = room.join(Uuid::new_v4(), "b").unwrap();
        let mut ca = ClientLink::new(a);
        let mut cb = ClientLink::new(b);
        for (slot, link, who) in [(a, &mut ca, 0), (b, &mut cb, 1)] {
            let bytes = link.pose_update(&scripted::avatar(who, 0.0, glam::Vec3::X * who as f32), None, 0).unwrap();
            assert_eq!(room.receive(slot, &bytes, 1000).unwrap(), None);
        }
        // Someone behind the viewer is sent every other tick (interest management), so
        // look at two ticks.
        let mut seen: std::collections::HashMap<Slot, Vec<Slot>> = std::collections::HashMap::new();
        for tick in 0..2u64 {
            let mut out = Vec::new();
            room.tick(2000 + tick * 13_889, &mut out);
            assert_eq!(out.len(), 2, "one snapshot per member per tick");
            for (slot, datagrams) in out {
                let link = if slot == a { &mut ca } else { &mut cb };
                let Realtime::Snapshot(s) = link.receive(&datagrams[0]).unwrap() else { panic!("not a snapshot") };
                assert!(s.root.is_some());
                seen.entry(slot).or_default().extend(s.entries.iter().map(|e| e.slot));
            }
        }
        for (viewer, other) in [(a, b), (b, a)] {
            let slots = &seen[&viewer];
            assert!(slots.contains(&other), "{viewer} never saw {other}");
            assert!(!slots.contains(&viewer), "{viewer} was sent its own avatar");
        }
    }

    #[test]
    fn capacity_bans_and_mutes() {
        let mut room = RoomCore::new(2);
        let troll = Uuid::new_v4();
        let t = room.join(troll, "t").unwrap();
        let _ = room.join(Uuid::new_v4(), "x").unwrap();
        assert_eq!(room.join(Uuid::new_v4(), "y"), Err(JoinError::Full));
        assert!(room.moderate(t, MemberAction::Ban));
        assert_eq!(room.join(troll, "t"), Err(JoinError::Banned));
        let y = room.join(Uuid::new_v4(), "y").unwrap();
        assert!(room.moderate(y, MemberAction::Mute));
        let voice =
            Realtime::Voice(nexus_net::realtime::VoiceFrame { from: 9, seq: 0, timestamp: 0, payload: vec![1] });
        let bytes = realtime::encode(&voice, &nexus_net::baseline::History::new(), y).unwrap();
        assert_eq!(room.receive(y, &bytes, 0).unwrap(), None, "muted voice is not relayed");
        assert!(room.moderate(y, MemberAction::Unmute));
        assert!(matches!(room.receive(y, &bytes, 0).unwrap(), Some(Relay::Voice(s, _, _)) if s == y));
        assert!(!room.moderate(40, MemberAction::Kick));
    }

    #[test]
    fn locomotion_inputs_move_the_authoritative_root() {
        let mut room = RoomCore::new(2);
        let a = room.join(Uuid::new_v4(), "a").unwrap();
        let start = room.member(a).unwrap().root.position;
        let mut link = ClientLink::new(a);
        for seq in 0..72u16 {
            let input = nexus_net::sync::prediction::LocomotionInput {
                seq,
                dt: 1.0 / 72.0,
                move_axis: glam::Vec2::new(0.0, 1.0),
                turn: 0.0,
                teleport: None,
            };
            let bytes =
                link.pose_update(&scripted::avatar(0, 0.0, start), Some(input), u64::from(seq) * 13_889).unwrap();
            room.receive(a, &bytes, u64::from(seq) * 13_889 + 5000).unwrap();
        }
        let moved = room.member(a).unwrap().root.position.distance(start);
        assert!((moved - 2.0).abs() < 0.05, "one second of full stick at 2 m/s moved {moved} m");
    }
}
