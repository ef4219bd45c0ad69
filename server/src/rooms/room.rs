//! A live room: [`RoomCore`] behind a lock, the members' outbound queues, dropped members
//! waiting to resume, and the tick task that fans snapshots out at the configured rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nexus_net::control::{MemberAction, MemberInfo, RoomId, ServerMsg, Slot};
use nexus_net::error::DecodeError;
use tokio::sync::mpsc;
use uuid::Uuid;

use nexus_net::cluster::{NodeBatch, NodeMember, NodeOrder, NodeRelay};
use nexus_net::realtime::{self, Realtime, VoiceFrame};

use super::core::{JoinError, Relay, RoomCore};
use super::hub::HubClock;

/// What a connection's writer sends.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A control message (WebSocket text).
    Control(ServerMsg),
    /// A real-time message for the unreliable path (WebRTC `nexus-rt`, else WebSocket).
    Realtime(Vec<u8>),
    /// A real-time message for the reliable path (WebRTC `nexus-events`, else WebSocket).
    Reliable(Vec<u8>),
}

/// Depth of each member's outbound queue; a member who cannot keep up loses real-time
/// messages (never control ones — those close the connection when the queue is full).
pub const OUTBOUND_QUEUE: usize = 512;

#[derive(Debug)]
struct Connection {
    out: Option<mpsc::Sender<Outbound>>,
    ticket: u64,
    dropped_at: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    core: RoomCore,
    conns: HashMap<Slot, Connection>,
    next_ticket: u64,
    /// Emptied and its tick loop ended; nobody may join any more.
    closed: bool,
    /// Members on other nodes: (node, their id there) → slot here.
    remote: HashMap<(String, u64), Slot>,
    /// When each other node last published this room's state.
    nodes_seen: HashMap<String, Instant>,
    /// Events and voice from local members, for the other nodes; `None` when this node
    /// is not part of a cluster (nothing would ever drain it).
    outbox: Option<Vec<NodeRelay>>,
    /// Moderators' actions for the other nodes (`None` outside a cluster, as above).
    orders: Option<Vec<NodeOrder>>,
}

/// How long another node may stay silent before its members are dropped (it died).
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A room on this node.
#[derive(Debug)]
pub struct Room {
    /// Its id.
    pub id: RoomId,
    /// Its name.
    pub name: String,
    /// Who created it (may moderate it).
    pub owner: Uuid,
    inner: Mutex<Inner>,
}

/// A member's claim on their slot: a kicked member's stale connection cannot act for
/// whoever gets the slot next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// Their slot.
    pub slot: Slot,
    /// Which join this is.
    pub ticket: u64,
}

impl Room {
    /// An empty room.
    #[must_use]
    /// `clustered`: whether other nodes may share it (then relays are queued for them).
    pub fn new(id: RoomId, name: String, owner: Uuid, capacity: u16, clustered: bool) -> Self {
        Self {
            id,
            name,
            owner,
            inner: Mutex::new(Inner {
                core: RoomCore::new(capacity),
                conns: HashMap::new(),
                next_ticket: 1,
                closed: false,
                remote: HashMap::new(),
                nodes_seen: HashMap::new(),
                outbox: clustered.then(Vec::new),
                orders: clustered.then(Vec::new),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the room usable: its state is plain data.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Members now and capacity.
    #[must_use]
    pub fn occupancy(&self) -> (u16, u16) {
        let inner = self.lock();
        (inner.core.len() as u16, inner.core.capacity())
    }

    /// Join: returns the membership and everyone else present; the others are told.
    pub fn join(
        &self,
        user: Uuid,
        name: &str,
        out: mpsc::Sender<Outbound>,
    ) -> Result<(Membership, Vec<MemberInfo>, u16), JoinError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(JoinError::Closed);
        }
        let slot = inner.core.join(user, name)?;
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        inner.conns.insert(slot, Connection { out: Some(out), ticket, dropped_at: None });
        let me = MemberInfo { slot, name: name.to_owned(), muted: false };
        broadcast(&inner, Some(slot), &ServerMsg::MemberJoined(me));
        let others = inner.core.members().into_iter().filter(|m| m.slot != slot).collect();
        Ok((Membership { slot, ticket }, others, inner.core.capacity()))
    }

    /// Reattach a dropped member's new connection (session resume). Returns the new
    /// membership and the others present, or `None` when the slot is gone or not theirs.
    pub fn resume(
        &self,
        slot: Slot,
        user: Uuid,
        out: mpsc::Sender<Outbound>,
    ) -> Option<(Membership, Vec<MemberInfo>, u16)> {
        let mut inner = self.lock();
        if inner.core.member(slot).is_none_or(|m| m.user != user) {
            return None;
        }
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        inner.conns.insert(slot, Connection { out: Some(out), ticket, dropped_at: None });
        inner.core.reset_link(slot);
        let others = inner.core.members().into_iter().filter(|m| m.slot != slot).collect();
        Some((Membership { slot, ticket }, others, inner.core.capacity()))
    }

    /// Leave now (the member asked).
    pub fn leave(&self, m: Membership) {
        let mut inner = self.lock();
        if current(&inner, m) {
            inner.core.leave(m.slot);
            inner.conns.remove(&m.slot);
            broadcast(&inner, None, &ServerMsg::MemberLeft { slot: m.slot });
        }
    }

    /// The connection dropped: keep the slot for a while so the member can resume.
    pub fn dropped(&self, m: Membership) {
        let mut inner = self.lock();
        if current(&inner, m)
            && let Some(c) = inner.conns.get_mut(&m.slot)
        {
            c.out = None;
            c.dropped_at = Some(Instant::now());
        }
    }

    /// Whether the room closed here (its tick loop ended).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether `m` still holds its slot.
    #[must_use]
    pub fn holds(&self, m: Membership) -> bool {
        current(&self.lock(), m)
    }

    /// A moderator's action on `slot`. Returns false when there is no such member.
    ///
    /// A member connected to another node is moderated there: the order goes to their
    /// home node, whose next batch shows the result here. A ban is also recorded on
    /// every node, so the user cannot come back through another one.
    pub fn moderate(&self, slot: Slot, action: MemberAction) -> bool {
        let mut inner = self.lock();
        let Some(user) = inner.core.member(slot).map(|m| m.user) else { return false };
        if let Some((home, member)) = inner.remote.iter().find(|(_, s)| **s == slot).map(|(k, _)| k.clone()) {
            if action == MemberAction::Ban {
                inner.core.ban(user);
            }
            if let Some(orders) = &mut inner.orders {
                orders.push(NodeOrder { node: String::new(), home, member, user: user.as_u128(), action });
            }
            return true;
        }
        let ticket = inner.conns.get(&slot).map(|c| c.ticket);
        if action == MemberAction::Ban
            && let (Some(orders), Some(member)) = (&mut inner.orders, ticket)
        {
            orders.push(NodeOrder { node: String::new(), home: String::new(), member, user: user.as_u128(), action });
        }
        moderate_local(&mut inner, slot, action)
    }

    /// Refuse `user` from now on.
    pub fn ban(&self, user: Uuid) {
        self.lock().core.ban(user);
    }

    /// Accounts banned from the room.
    #[must_use]
    pub fn banned(&self) -> Vec<Uuid> {
        self.lock().core.banned().copied().collect()
    }

    /// A moderator's action decided on another node: remember a ban, and carry the
    /// action out when the member is connected here (`node` is this node's name).
    pub fn apply_order(&self, order: &NodeOrder, node: &str) {
        let mut inner = self.lock();
        let user = Uuid::from_u128(order.user);
        if order.action == MemberAction::Ban {
            inner.core.ban(user);
        }
        if order.home != node {
            return;
        }
        let slot = inner
            .conns
            .iter()
            .find(|(s, c)| c.ticket == order.member && inner.core.member(**s).is_some_and(|m| m.user == user))
            .map(|(&s, _)| s);
        if let Some(slot) = slot {
            moderate_local(&mut inner, slot, order.action);
        }
    }

    /// A real-time message from member `m`. Returns their voice frame when it was one
    /// (and they are not muted), for the server's listener.
    pub fn receive(&self, m: Membership, bytes: &[u8], now_us: u64) -> Result<Option<VoiceFrame>, DecodeError> {
        let mut inner = self.lock();
        if !current(&inner, m) {
            return Ok(None);
        }
        match inner.core.receive(m.slot, bytes, now_us)? {
            None => {}
            Some(Relay::To(slot, b)) => send(&inner, slot, Outbound::Realtime(b)),
            Some(Relay::Voice(from, b, frame)) => {
                for &slot in inner.conns.keys().filter(|&&s| s != from) {
                    send(&inner, slot, Outbound::Realtime(b.clone()));
                }
                if let Some(outbox) = &mut inner.outbox {
                    outbox.push(NodeRelay { node: String::new(), member: m.ticket, reliable: false, message: b });
                }
                return Ok(Some(frame));
            }
            Some(Relay::ReliableToOthers(from, b)) => {
                for &slot in inner.conns.keys().filter(|&&s| s != from) {
                    send(&inner, slot, Outbound::Reliable(b.clone()));
                }
                if let Some(outbox) = &mut inner.outbox {
                    outbox.push(NodeRelay { node: String::new(), member: m.ticket, reliable: true, message: b });
                }
            }
        }
        Ok(None)
    }

    /// A control message for one member here.
    pub fn tell(&self, slot: Slot, message: ServerMsg) {
        send(&self.lock(), slot, Outbound::Control(message));
    }

    /// A control message for every member here.
    pub fn broadcast(&self, message: &ServerMsg) {
        broadcast(&self.lock(), None, message);
    }

    /// This node's members and their latest states, for the other nodes.
    #[must_use]
    pub fn local_batch(&self, node: &str, now_us: u64) -> NodeBatch {
        let inner = self.lock();
        let members = inner
            .conns
            .iter()
            .filter_map(|(&slot, c)| {
                let m = inner.core.member(slot)?;
                let avatar =
                    m.latest().map(|(q, at)| (q.clone(), now_us.saturating_sub(*at).min(u64::from(u32::MAX)) as u32));
                Some(NodeMember { id: c.ticket, user: m.user.as_u128(), name: m.name.clone(), muted: m.muted, avatar })
            })
            .collect();
        NodeBatch { node: node.to_owned(), members }
    }

    /// Moderators' actions queued for the other nodes since the last call.
    pub fn take_orders(&self, node: &str) -> Vec<NodeOrder> {
        let mut out = self.lock().orders.as_mut().map(std::mem::take).unwrap_or_default();
        for o in &mut out {
            node.clone_into(&mut o.node);
            if o.home.is_empty() {
                node.clone_into(&mut o.home);
            }
        }
        out
    }

    /// Events and voice queued for the other nodes since the last call.
    pub fn take_outbox(&self, node: &str) -> Vec<NodeRelay> {
        let mut out = self.lock().outbox.as_mut().map(std::mem::take).unwrap_or_default();
        for r in &mut out {
            node.clone_into(&mut r.node);
        }
        out
    }

    /// Another node's members of this room: add the new ones, update all, drop those it
    /// no longer lists. `now_us` is this node's clock.
    pub fn apply_batch(&self, batch: NodeBatch, now_us: u64) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        inner.nodes_seen.insert(batch.node.clone(), Instant::now());
        let listed: std::collections::HashSet<u64> = batch.members.iter().map(|m| m.id).collect();
        let gone: Vec<(String, u64)> =
            inner.remote.keys().filter(|(n, id)| *n == batch.node && !listed.contains(id)).cloned().collect();
        for key in gone {
            drop_remote(&mut inner, &key);
        }
        for m in batch.members {
            let key = (batch.node.clone(), m.id);
            let slot = match inner.remote.get(&key) {
                Some(&slot) => slot,
                None => match inner.core.join_remote(Uuid::from_u128(m.user), &m.name) {
                    Ok(slot) => {
                        inner.remote.insert(key, slot);
                        broadcast(
                            &inner,
                            None,
                            &ServerMsg::MemberJoined(MemberInfo { slot, name: m.name.clone(), muted: m.muted }),
                        );
                        slot
                    }
                    Err(_) => continue, // full or banned here: not shown on this node
                },
            };
            let avatar = m.avatar.map(|(q, age)| (q, now_us.saturating_sub(u64::from(age))));
            if inner.core.set_remote(slot, avatar, m.muted) {
                broadcast(&inner, None, &ServerMsg::MemberMuted { slot, muted: m.muted });
            }
        }
    }

    /// An event or voice packet from a member on another node, for the members here.
    pub fn apply_relay(&self, relay: &NodeRelay) {
        let inner = self.lock();
        let Some(&slot) = inner.remote.get(&(relay.node.clone(), relay.member)) else { return };
        if inner.core.member(slot).is_none_or(|m| m.muted) && !relay.reliable {
            return;
        }
        let history = nexus_net::baseline::History::new();
        let message = match realtime::decode(&relay.message, &history, slot) {
            Ok(Realtime::Event(mut e)) => {
                e.from = slot;
                Realtime::Event(e)
            }
            Ok(Realtime::Voice(mut v)) => {
                v.from = slot;
                Realtime::Voice(v)
            }
            _ => return,
        };
        let Ok(bytes) = realtime::encode(&message, &history, slot) else { return };
        for &to in inner.conns.keys() {
            let item =
                if relay.reliable { Outbound::Reliable(bytes.clone()) } else { Outbound::Realtime(bytes.clone()) };
            send(&inner, to, item);
        }
    }

    /// One tick: send snapshots, drop members whose resume window passed. Returns
    /// whether the room is now empty.
    pub fn tick(&self, now_us: u64, resume_window: Duration, scratch: &mut Vec<(Slot, Vec<Vec<u8>>)>) -> bool {
        let mut inner = self.lock();
        let expired: Vec<Slot> = inner
            .conns
            .iter()
            .filter(|(_, c)| c.dropped_at.is_some_and(|t| t.elapsed() > resume_window))
            .map(|(&s, _)| s)
            .collect();
        for slot in expired {
            inner.conns.remove(&slot);
            inner.core.leave(slot);
            broadcast(&inner, None, &ServerMsg::MemberLeft { slot });
        }
        let silent: Vec<String> =
            inner.nodes_seen.iter().filter(|(_, t)| t.elapsed() > NODE_TIMEOUT).map(|(n, _)| n.clone()).collect();
        for node in silent {
            tracing::warn!(room = %self.id.0, %node, "node went silent; dropping its members");
            inner.nodes_seen.remove(&node);
            let keys: Vec<(String, u64)> = inner.remote.keys().filter(|(n, _)| *n == node).cloned().collect();
            for key in keys {
                drop_remote(&mut inner, &key);
            }
        }
        scratch.clear();
        inner.core.tick(now_us, scratch);
        for (slot, datagrams) in scratch.drain(..) {
            for d in datagrams {
                send(&inner, slot, Outbound::Realtime(d));
            }
        }
        // Members on other nodes keep the room open there, not here.
        inner.closed = inner.core.local_count() == 0;
        inner.closed
    }
}

/// Carry out a moderator's action on a member connected to this node.
fn moderate_local(inner: &mut Inner, slot: Slot, action: MemberAction) -> bool {
    let target = inner.conns.get(&slot).and_then(|c| c.out.clone());
    if !inner.core.moderate(slot, action) {
        return false;
    }
    match action {
        MemberAction::Mute | MemberAction::Unmute => {
            let muted = action == MemberAction::Mute;
            broadcast(inner, None, &ServerMsg::MemberMuted { slot, muted });
        }
        MemberAction::Kick | MemberAction::Ban => {
            inner.conns.remove(&slot);
            if let Some(out) = target {
                let _ = out.try_send(Outbound::Control(ServerMsg::Removed { action }));
            }
            broadcast(inner, None, &ServerMsg::MemberLeft { slot });
        }
    }
    true
}

fn drop_remote(inner: &mut Inner, key: &(String, u64)) {
    if let Some(slot) = inner.remote.remove(key) {
        inner.core.leave(slot);
        broadcast(inner, None, &ServerMsg::MemberLeft { slot });
    }
}

fn current(inner: &Inner, m: Membership) -> bool {
    inner.conns.get(&m.slot).is_some_and(|c| c.ticket == m.ticket)
}

fn send(inner: &Inner, slot: Slot, message: Outbound) {
    if let Some(out) = inner.conns.get(&slot).and_then(|c| c.out.as_ref()) {
        // Full queue: the member is behind; real-time data is worthless late.
        let _ = out.try_send(message);
    }
}

fn broadcast(inner: &Inner, except: Option<Slot>, message: &ServerMsg) {
    for (&slot, c) in &inner.conns {
        if Some(slot) != except
            && let Some(out) = &c.out
        {
            let _ = out.try_send(Outbound::Control(message.clone()));
        }
    }
}

/// Run `room`'s tick loop at `hz` until no member here is left; then `on_empty` runs.
/// With a cluster, each tick also publishes this node's members and relays.
pub async fn run_ticks(
    room: Arc<Room>,
    clock: HubClock,
    hz: u16,
    resume_window: Duration,
    cluster: Option<super::cluster::Cluster>,
    on_empty: impl FnOnce(),
) {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(hz.max(1))));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut scratch = Vec::new();
    loop {
        interval.tick().await;
        let now = clock.now_us();
        let empty = room.tick(now, resume_window, &mut scratch);
        if let Some(cluster) = &cluster {
            cluster.publish_room(&room, now).await;
        }
        if empty {
            break;
        }
    }
    on_empty();
}
