//! The rooms of this node: create, list, find, and the resume tokens that let a dropped
//! client get its slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nexus_net::control::{RoomId, RoomSummary, Slot};
use uuid::Uuid;

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
}

impl RoomHub {
    /// An empty hub.
    #[must_use]
    pub fn new(settings: HubSettings) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner { rooms: HashMap::new(), resumes: HashMap::new() })),
            clock: HubClock { epoch: Instant::now() },
            settings: Arc::new(settings),
        }
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
        let id = RoomId(Uuid::now_v7().to_string());
        let room = Arc::new(Room::new(id.clone(), name, owner, capacity));
        let joined = first(&room);
        self.lock().rooms.insert(id.clone(), Arc::clone(&room));
        let hub = self.clone();
        let settings = Arc::clone(&self.settings);
        tokio::spawn(run_ticks(Arc::clone(&room), self.clock, settings.tick_hz, settings.resume_window, move || {
            let mut inner = hub.lock();
            inner.rooms.remove(&id);
            inner.resumes.retain(|_, r| r.room != id);
            tracing::info!(room = %id.0, "room closed");
        }));
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
