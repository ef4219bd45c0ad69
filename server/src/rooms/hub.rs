//! The rooms of this node: create, list, find, and the resume tokens that let a dropped
//! client get its slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nexus_net::control::{RoomId, RoomSummary, Slot};
use uuid::Uuid;

use super::cluster::Cluster;
use super::room::{Room, run_ticks};

/// The node's real-time clock: microseconds since the hub started. Snapshots, clock
/// pongs and capture times all use it.
#[derive(Debug, Clone, Copy)]
pub struct HubClock {
    epoch: Instant,
}

impl HubClock {
    /// Now, µs.
    #[must_use]
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

#[derive(Debug, Clone)]
struct Resume {
    user: Uuid,
    room: RoomId,
    slot: Slot,
    issued: Instant,
}

/// Settings the hub runs with (from [`crate::config::Config`]).
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Snapshot rate, Hz.
    pub tick_hz: u16,
    /// How long a dropped member may resume.
    pub resume_window: Duration,
    /// Local UDP addresses for WebRTC.
    pub rtc_udp: Vec<String>,
    /// STUN/TURN servers (used here and named to clients).
    pub ice_servers: Vec<nexus_net::control::IceServer>,
    /// This node's name.
    pub node: String,
}

#[derive(Debug)]
struct Inner {
    rooms: HashMap<RoomId, Arc<Room>>,
    resumes: HashMap<String, Resume>,
}

/// The rooms of this node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RoomHub {
    inner: Arc<Mutex<Inner>>,
    clock: HubClock,
    /// Settings.
    pub settings: Arc<HubSettings>,
    cluster: Option<Cluster>,
    /// Speech-to-text for members' voice, when the node listens.
    pub ears: Option<super::listen::Ears>,
}

impl RoomHub {
    /// An empty hub.
    #[must_use]
    pub fn new(settings: HubSettings) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner { rooms: HashMap::new(), resumes: HashMap::new() })),
            clock: HubClock { epoch: Instant::now() },
            settings: Arc::new(settings),
            cluster: None,
            ears: None,
        }
    }

    /// Share rooms with the other nodes on `cluster` (and answer their lookups).
    #[must_use]
    pub fn with_cluster(mut self, cluster: Cluster) -> Self {
        self.cluster = Some(cluster.clone());
        tokio::spawn(cluster.serve_lookups(self.clone()));
        self
    }

    /// Transcribe and moderate members' voice with `ears`.
    #[must_use]
    pub fn with_ears(mut self, ears: super::listen::Ears) -> Self {
        self.ears = Some(ears);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The node clock.
    #[must_use]
    pub const fn clock(&self) -> HubClock {
        self.clock
    }

    /// Rooms open on this node.
    #[must_use]
    pub fn list(&self) -> Vec<RoomSummary> {
        let mut rooms: Vec<RoomSummary> = self
            .lock()
            .rooms
            .values()
            .map(|r| {
                let (members, capacity) = r.occupancy();
                RoomSummary { room: r.id.clone(), name: r.name.clone(), members, capacity }
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.room.cmp(&b.room)));
        rooms
    }

    /// A room by id.
    #[must_use]
    pub fn get(&self, id: &RoomId) -> Option<Arc<Room>> {
        self.lock().rooms.get(id).cloned()
    }

    /// Create a room. `first` joins it before its tick loop starts (so it is never
    /// empty at its first tick); it returns whatever the caller needs from the join.
    pub fn create<T>(
        &self,
        owner: Uuid,
        name: String,
        capacity: u16,
        first: impl FnOnce(&Arc<Room>) -> T,
    ) -> (Arc<Room>, T) {
        self.host(RoomId(Uuid::now_v7().to_string()), owner, name, capacity, first)
    }

    /// Join room `id` through `first`: here if this node hosts it, otherwise — in a
    /// cluster — as a replica of the room another node hosts. `None`: no such room.
    pub async fn join_or_replicate<T>(
        &self,
        id: &RoomId,
        first: impl FnOnce(&Arc<Room>) -> T,
    ) -> Option<(Arc<Room>, T)> {
        // A room whose last local member just left is closing: host a fresh replica.
        let open = |hub: &Self| hub.get(id).filter(|r| !r.is_closed() || hub.cluster.is_none());
        if let Some(room) = open(self) {
            let joined = first(&room);
            return Some((room, joined));
        }
        let announcement = self.cluster.as_ref()?.lookup(id).await?;
        if let Some(room) = open(self) {
            let joined = first(&room);
            return Some((room, joined));
        }
        let owner = announcement.owner.parse().unwrap_or(Uuid::nil());
        let capacity = announcement.capacity.clamp(2, 64);
        let banned: Vec<Uuid> = announcement.banned.iter().filter_map(|u| u.parse().ok()).collect();
        Some(self.host(id.clone(), owner, announcement.name, capacity, |room| {
            for user in banned {
                room.ban(user);
            }
            first(room)
        }))
    }

    fn host<T>(
        &self,
        id: RoomId,
        owner: Uuid,
        name: String,
        capacity: u16,
        first: impl FnOnce(&Arc<Room>) -> T,
    ) -> (Arc<Room>, T) {
        let room = Arc::new(Room::new(id.clone(), name, owner, capacity, self.cluster.is_some()));
        let joined = first(&room);
        self.lock().rooms.insert(id.clone(), Arc::clone(&room));
        let hub = self.clone();
        let settings = Arc::clone(&self.settings);
        if let Some(cluster) = &self.cluster {
            tokio::spawn(cluster.clone().follow(Arc::clone(&room), self.clock));
        }
        let cluster = self.cluster.clone();
        let closing = Arc::clone(&room);
        tokio::spawn(run_ticks(
            Arc::clone(&room),
            self.clock,
            settings.tick_hz,
            settings.resume_window,
            cluster,
            move || {
                let mut inner = hub.lock();
                // Unless a fresh replica has taken its place meanwhile.
                if inner.rooms.get(&id).is_some_and(|r| Arc::ptr_eq(r, &closing)) {
                    inner.rooms.remove(&id);
                    inner.resumes.retain(|_, r| r.room != id);
                }
                tracing::info!(room = %id.0, "room closed");
            },
        ));
        (room, joined)
    }

    /// Remember that `token` may resume `user`'s membership of `slot` in `room`.
    pub fn remember(&self, token: &str, user: Uuid, room: RoomId, slot: Slot) {
        let window = self.settings.resume_window;
        let mut inner = self.lock();
        inner.resumes.retain(|_, r| r.issued.elapsed() < window * 4);
        inner.resumes.insert(token.to_owned(), Resume { user, room, slot, issued: Instant::now() });
    }

    /// Forget a resume token (the member left on purpose).
    pub fn forget(&self, token: &str) {
        self.lock().resumes.remove(token);
    }

    /// The room and slot `token` resumes, if it is `user`'s and its room still exists.
    #[must_use]
    pub fn resumable(&self, token: &str, user: Uuid) -> Option<(Arc<Room>, Slot)> {
        let inner = self.lock();
        let r = inner.resumes.get(token).filter(|r| r.user == user)?;
        Some((inner.rooms.get(&r.room).cloned()?, r.slot))
    }
}
