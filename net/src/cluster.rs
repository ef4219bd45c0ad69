//! Messages between server nodes that share rooms over NATS (the scaled-out mode). Each
//! node publishes, every tick, the avatars of *its own* members of a room; the other
//! nodes show them to their members as if local. Events and voice are relayed the same
//! way. Subjects:
//!
//! | subject | payload |
//! |---|---|
//! | `nexus.room.<room>.state` | [`NodeBatch`] |
//! | `nexus.room.<room>.relay` | [`NodeRelay`] |
//! | `nexus.room.<room>.order` | [`NodeOrder`] |
//! | `nexus.rooms.lookup.<room>` | request: empty; reply: [`RoomAnnouncement`] JSON |
//!
//! A moderator's action follows the member to their home node: the node where the
//! moderator is publishes a [`NodeOrder`], the member's home node carries it out (its
//! batches then show the member muted, or no longer list them), and every node records a
//! ban so the user cannot rejoin the room anywhere.
//!
//! Avatars travel whole (NATS is reliable and ordered, and the nodes' network is fast);
//! capture times as an age at publication, since node clocks differ.

use serde::{Deserialize, Serialize};

use crate::bits::{BitReader, BitWriter};
use crate::control::MemberAction;
use crate::error::DecodeError;
use crate::pose_codec::{self, QuantizedAvatar};

/// Version byte of the binary inter-node messages.
pub const CLUSTER_VERSION: u8 = 2;

/// The NATS subject carrying `room`'s per-tick member states.
#[must_use]
pub fn state_subject(room: &str) -> String {
    format!("nexus.room.{room}.state")
}

/// The NATS subject carrying `room`'s relayed events and voice.
#[must_use]
pub fn relay_subject(room: &str) -> String {
    format!("nexus.room.{room}.relay")
}

/// The NATS subject carrying moderators' actions on `room`'s members.
#[must_use]
pub fn order_subject(room: &str) -> String {
    format!("nexus.room.{room}.order")
}

/// The NATS subject nodes answer room lookups on.
#[must_use]
pub fn lookup_subject(room: &str) -> String {
    format!("nexus.rooms.lookup.{room}")
}

/// What a node knows about a room it hosts, for another node about to host it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAnnouncement {
    /// Display name.
    pub name: String,
    /// Most members.
    pub capacity: u16,
    /// The creator's account id (may moderate).
    pub owner: String,
    /// Accounts banned from the room (ids), so that a new replica refuses them too.
    #[serde(default)]
    pub banned: Vec<String>,
}

/// One member as its home node publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMember {
    /// Unique on its home node (its join ticket).
    pub id: u64,
    /// Their account id (a UUID's 128 bits), for bans that hold on every node.
    pub user: u128,
    /// Display name.
    pub name: String,
    /// Muted on its home node.
    pub muted: bool,
    /// The latest avatar, once one arrived, and how long before publication it was
    /// captured (µs).
    pub avatar: Option<(QuantizedAvatar, u32)>,
}

/// A node's members of one room at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBatch {
    /// The publishing node.
    pub node: String,
    /// Its members of the room (all of them: absence means they left).
    pub members: Vec<NodeMember>,
}

/// An event or voice packet from a member, for the other nodes' members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRelay {
    /// The publishing node.
    pub node: String,
    /// The member's id on that node.
    pub member: u64,
    /// Whether it goes on the reliable path.
    pub reliable: bool,
    /// The real-time message as the member's node encoded it.
    pub message: Vec<u8>,
}

/// A moderator's action on a member, for the member's home node to carry out (and, for
/// a ban, for every node to remember).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOrder {
    /// The publishing node (where the moderator is).
    pub node: String,
    /// The member's home node.
    pub home: String,
    /// The member's id on their home node.
    pub member: u64,
    /// Their account id.
    pub user: u128,
    /// What to do.
    pub action: MemberAction,
}

const fn action_code(action: MemberAction) -> u32 {
    match action {
        MemberAction::Mute => 0,
        MemberAction::Unmute => 1,
        MemberAction::Kick => 2,
        MemberAction::Ban => 3,
    }
}

fn read_action(r: &mut BitReader<'_>) -> Result<MemberAction, DecodeError> {
    Ok(match r.read(8)? {
        0 => MemberAction::Mute,
        1 => MemberAction::Unmute,
        2 => MemberAction::Kick,
        3 => MemberAction::Ban,
        _ => return Err(DecodeError::Invalid("member action")),
    })
}

fn write_u64(w: &mut BitWriter, v: u64) {
    w.write(v as u32, 32);
    w.write((v >> 32) as u32, 32);
}

fn read_u64(r: &mut BitReader<'_>) -> Result<u64, DecodeError> {
    Ok(u64::from(r.read(32)?) | (u64::from(r.read(32)?) << 32))
}

fn write_u128(w: &mut BitWriter, v: u128) {
    write_u64(w, v as u64);
    write_u64(w, (v >> 64) as u64);
}

fn read_u128(r: &mut BitReader<'_>) -> Result<u128, DecodeError> {
    Ok(u128::from(read_u64(r)?) | (u128::from(read_u64(r)?) << 64))
}

fn finish<T>(r: &BitReader<'_>, value: T) -> Result<T, DecodeError> {
    match r.remaining_bytes() {
        0 => Ok(value),
        n => Err(DecodeError::Trailing(n)),
    }
}

const MAX_NAME: usize = 255;

fn write_str(w: &mut BitWriter, s: &str) {
    let s = truncate(s, MAX_NAME);
    w.write(s.len() as u32, 8);
    w.bytes(s.as_bytes());
}

fn read_str(r: &mut BitReader<'_>) -> Result<String, DecodeError> {
    let len = r.read(8)? as usize;
    String::from_utf8(r.bytes(len)?.to_vec()).map_err(|_| DecodeError::Invalid("utf-8 name"))
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn header(w: &mut BitWriter, tag: u8, node: &str) {
    w.write(u32::from(CLUSTER_VERSION), 8);
    w.write(u32::from(tag), 8);
    write_str(w, node);
}

fn check_header(r: &mut BitReader<'_>, tag: u8) -> Result<String, DecodeError> {
    if r.read(8)? as u8 != CLUSTER_VERSION {
        return Err(DecodeError::Invalid("cluster version"));
    }
    if r.read(8)? as u8 != tag {
        return Err(DecodeError::Invalid("cluster message tag"));
    }
    read_str(r)
}

impl NodeBatch {
    /// Encode.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        header(&mut w, 1, &self.node);
        w.write(self.members.len().min(u16::MAX as usize) as u32, 16);
        for m in self.members.iter().take(u16::MAX as usize) {
            write_u64(&mut w, m.id);
            write_u128(&mut w, m.user);
            write_str(&mut w, &m.name);
            w.bit(m.muted);
            w.bit(m.avatar.is_some());
            if let Some((avatar, age)) = &m.avatar {
                w.write(*age, 32);
                pose_codec::encode(&mut w, avatar, None);
            }
            w.align();
        }
        w.finish()
    }

    /// Decode.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = BitReader::new(bytes);
        let node = check_header(&mut r, 1)?;
        let count = r.read(16)? as usize;
        let mut members = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let id = read_u64(&mut r)?;
            let user = read_u128(&mut r)?;
            let name = read_str(&mut r)?;
            let muted = r.bit()?;
            let avatar = if r.bit()? {
                let age = r.read(32)?;
                Some((pose_codec::decode(&mut r, None)?, age))
            } else {
                None
            };
            r.align();
            members.push(NodeMember { id, user, name, muted, avatar });
        }
        finish(&r, Self { node, members })
    }
}

impl NodeRelay {
    /// Encode.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        header(&mut w, 2, &self.node);
        write_u64(&mut w, self.member);
        w.bit(self.reliable);
        w.write(self.message.len().min(u16::MAX as usize) as u32, 16);
        w.bytes(&self.message[..self.message.len().min(u16::MAX as usize)]);
        w.finish()
    }

    /// Decode.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = BitReader::new(bytes);
        let node = check_header(&mut r, 2)?;
        let member = read_u64(&mut r)?;
        let reliable = r.bit()?;
        let len = r.read(16)? as usize;
        let message = r.bytes(len)?.to_vec();
        finish(&r, Self { node, member, reliable, message })
    }
}

impl NodeOrder {
    /// Encode.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        header(&mut w, 3, &self.node);
        write_str(&mut w, &self.home);
        write_u64(&mut w, self.member);
        write_u128(&mut w, self.user);
        w.write(action_code(self.action), 8);
        w.finish()
    }

    /// Decode.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = BitReader::new(bytes);
        let node = check_header(&mut r, 3)?;
        let home = read_str(&mut r)?;
        let member = read_u64(&mut r)?;
        let user = read_u128(&mut r)?;
        let action = read_action(&mut r)?;
        finish(&r, Self { node, home, member, user, action })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted;

    #[test]
    fn batches_and_relays_round_trip_and_reject_garbage() {
        let q = QuantizedAvatar::from_state(&scripted::avatar(1, 0.5, glam::Vec3::ONE));
        let batch = NodeBatch {
            node: "node-é".into(),
            members: vec![
                NodeMember {
                    id: u64::MAX - 3,
                    user: u128::MAX - 5,
                    name: "Zoë".into(),
                    muted: true,
                    avatar: Some((q, 12_345)),
                },
                NodeMember { id: 7, user: 1 << 70, name: String::new(), muted: false, avatar: None },
            ],
        };
        assert_eq!(NodeBatch::decode(&batch.encode()), Ok(batch.clone()));
        let relay = NodeRelay { node: "b".into(), member: 9, reliable: true, message: vec![5, 0, 1, 2] };
        assert_eq!(NodeRelay::decode(&relay.encode()), Ok(relay.clone()));
        assert!(NodeBatch::decode(&relay.encode()).is_err(), "tags differ");
        for action in [MemberAction::Mute, MemberAction::Unmute, MemberAction::Kick, MemberAction::Ban] {
            let order = NodeOrder { node: "a".into(), home: "b".into(), member: u64::MAX, user: u128::MAX - 1, action };
            assert_eq!(NodeOrder::decode(&order.encode()), Ok(order.clone()));
            let mut bytes = order.encode();
            let last = bytes.len() - 1;
            bytes[last] = 9;
            assert_eq!(NodeOrder::decode(&bytes), Err(DecodeError::Invalid("member action")));
            assert!(NodeRelay::decode(&order.encode()).is_err(), "tags differ");
        }
        let mut bytes = batch.encode();
        bytes[0] = 99;
        assert_eq!(NodeBatch::decode(&bytes), Err(DecodeError::Invalid("cluster version")));
        for cut in 0..batch.encode().len() {
            assert!(NodeBatch::decode(&batch.encode()[..cut]).is_err());
        }
    }
}
