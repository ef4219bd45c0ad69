//! The authenticated WebSocket at [`WS_PATH`]: one [`Session`] per connection runs the
//! protocol's state machine — `hello` (magic, version, token, optional resume), the lobby
//! (list, create, join), the room (real-time frames, WebRTC signalling, moderation) —
//! and a writer task sends the session's [`Outbound`] queue on WebRTC when its channels
//! are open and on the WebSocket otherwise.
//!
//! Hostile input never takes the connection down: bad JSON, out-of-phase messages,
//! oversized or undecodable frames each get an `error` with a stable code, rate-limited;
//! only a failed handshake closes the connection (after a typed `reject`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use nexus_net::control::{
    self, ClientMsg, ErrorCode, HandshakeReject, MAX_CONTROL_BYTES, MemberAction, PROTOCOL_VERSION, ServerMsg,
    SessionPhase,
};
use nexus_net::error::ProtocolError;
use nexus_net::realtime::MAX_REALTIME_BYTES;
use nexus_net::transport::rtc::{Channel, RtcEvent, RtcPeer, next_event as next_rtc};
use tokio::sync::mpsc;

use super::core::JoinError;
use super::hub::RoomHub;
use super::listen::{self, VoiceListener};
use super::room::{Membership, OUTBOUND_QUEUE, Outbound, Room};
use crate::accounts::Role;
use crate::http::extract::{AuthUser, authenticate_token};
use crate::state::AppState;

pub use nexus_net::control::WS_PATH;

/// How long a client has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long answering a WebRTC offer may take.
const RTC_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /v1/rt`: upgrade to the protocol.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_CONTROL_BYTES)
        .max_frame_size(MAX_CONTROL_BYTES)
        .on_upgrade(move |socket| async move { Session::run(state, socket).await })
}

/// Where the writer sends real-time messages.
#[derive(Default)]
struct RtcRoute {
    peer: tokio::sync::RwLock<Option<Arc<RtcPeer>>>,
    realtime_open: AtomicBool,
    events_open: AtomicBool,
}

/// A token bucket: `rate` per second, bursts of `burst`.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    last_complaint: Option<Instant>,
}

impl Budget {
    fn new(rate: f64, burst: f64) -> Self {
        Self { tokens: burst, rate, burst, last: Instant::now(), last_complaint: None }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether to tell the peer about a problem now (at most once a second).
    fn complain(&mut self) -> bool {
        let now = Instant::now();
        if self.last_complaint.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return false;
        }
        self.last_complaint = Some(now);
        true
    }
}

/// One client connection.
struct Session {
    state: AppState,
    hub: RoomHub,
    phase: SessionPhase,
    user: Option<AuthUser>,
    name: String,
    resume_token: String,
    room: Option<(Arc<Room>, Membership)>,
    out: mpsc::Sender<Outbound>,
    rtc: Arc<RtcRoute>,
    rtc_events: Option<mpsc::Receiver<RtcEvent>>,
    control_budget: Budget,
    realtime_budget: Budget,
    /// The member's voice becoming an utterance, when the node listens.
    listener: Option<VoiceListener>,
}

/// What the reader loop does after a message.
enum Next {
    Continue,
    Close,
}

impl Session {
    async fn run(state: AppState, socket: WebSocket) {
        let (sink, mut stream) = socket.split();
        let (out, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let rtc = Arc::new(RtcRoute::default());
        let writer = tokio::spawn(write(sink, rx, Arc::clone(&rtc)));
        let hub = state.rooms.clone();
        let mut session = Self {
            state,
            hub,
            phase: SessionPhase::AwaitingHello,
            user: None,
            name: String::new(),
            resume_token: random_token(),
            room: None,
            out,
            rtc,
            rtc_events: None,
            control_budget: Budget::new(20.0, 40.0),
            realtime_budget: Budget::new(600.0, 1200.0),
            listener: None,
        };
        let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        loop {
            let utterance_end = session.listener.as_ref().and_then(VoiceListener::ends_at);
            let utterance_deadline =
                utterance_end.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
            let next = tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => session.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(bytes))) => session.on_binary(&bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Next::Continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => Next::Close,
                },
                event = next_rtc(&mut session.rtc_events) => session.on_rtc(event),
                () = tokio::time::sleep_until(utterance_deadline), if utterance_end.is_some() => session.end_utterance(),
                () = tokio::time::sleep_until(hello_deadline), if session.phase == SessionPhase::AwaitingHello => {
                    tracing::debug!("no hello in time");
                    Next::Close
                }
            };
            if matches!(next, Next::Close) {
                break;
            }
        }
        session.finish().await;
        drop(session);
        let _ = writer.await;
    }

    fn send(&self, message: ServerMsg) {
        // A full queue for control messages means the client stopped reading.
        let _ = self.out.try_send(Outbound::Control(message));
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) {
        self.send(ServerMsg::Error { code, message: message.into() });
    }

    async fn on_text(&mut self, text: &str) -> Next {
        if !self.control_budget.take() {
            if self.control_budget.complain() {
                self.error(ErrorCode::RateLimited, "too many control messages");
            }
            return Next::Continue;
        }
        let message = match ClientMsg::parse(text) {
            Ok(m) => m,
            Err(e) => {
                self.send(ServerMsg::from_protocol_error(&e));
                return if self.phase == SessionPhase::AwaitingHello { Next::Close } else { Next::Continue };
            }
        };
        self.notice_removal();
        if let Err(e) = message.verify(self.phase) {
            self.send(ServerMsg::from_protocol_error(&e));
            return if self.phase == SessionPhase::AwaitingHello { Next::Close } else { Next::Continue };
        }
        match message {
            ClientMsg::Hello { magic, version, token, resume } => self.hello(&magic, version, &token, resume).await,
            ClientMsg::ListRooms => {
                self.send(ServerMsg::Rooms { rooms: self.hub.list() });
                Next::Continue
            }
            ClientMsg::CreateRoom { name, capacity } => {
                self.create(&name, capacity);
                Next::Continue
            }
            ClientMsg::JoinRoom { room } => {
                self.join(&room).await;
                Next::Continue
            }
            ClientMsg::LeaveRoom => {
                if let Some((room, m)) = self.room.take() {
                    room.leave(m);
                    self.hub.forget(&self.resume_token);
                }
                self.phase = SessionPhase::Lobby;
                self.send(ServerMsg::RoomLeft);
                Next::Continue
            }
            ClientMsg::RtcOffer { sdp } => {
                self.rtc_offer(&sdp).await;
                Next::Continue
            }
            ClientMsg::Moderate { slot, action } => {
                self.moderate(slot, action);
                Next::Continue
            }
            ClientMsg::Bye => {
                // A goodbye leaves the room now; only a dropped connection waits to resume.
                if let Some((room, m)) = self.room.take() {
                    room.leave(m);
                    self.hub.forget(&self.resume_token);
                }
                Next::Close
            }
        }
    }

    /// A kicked or banned member's session learns it here and goes back to the lobby.
    fn notice_removal(&mut self) {
        if let Some((room, m)) = &self.room
            && !room.holds(*m)
        {
            self.room = None;
            self.phase = SessionPhase::Lobby;
        }
    }

    async fn hello(&mut self, magic: &str, version: u32, token: &str, resume: Option<String>) -> Next {
        if let Err(reject) = control::check_hello(magic, version) {
            self.send(ServerMsg::Reject(reject));
            return Next::Close;
        }
        let user = match authenticate_token(&self.state, token.trim(), false).await {
            Ok(u) => u,
            Err(e) => {
                let reject = if e.code() == "account_suspended" || e.code() == "account_disabled" {
                    HandshakeReject::Suspended
                } else {
                    HandshakeReject::Unauthenticated
                };
                self.send(ServerMsg::Reject(reject));
                return Next::Close;
            }
        };
        self.name = display_name(&self.state, user.user_id).await;
        let resumed = resume.and_then(|t| self.hub.resumable(&t, user.user_id));
        self.user = Some(user.clone());
        self.phase = SessionPhase::Lobby;
        let mut joined = None;
        if let Some((room, slot)) = resumed
            && let Some(j) = room.resume(slot, user.user_id, self.out.clone())
        {
            joined = Some((room, j));
        }
        self.send(ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            resume_token: self.resume_token.clone(),
            resumed: joined.is_some(),
            server_time_us: self.hub.clock().now_us(),
            tick_hz: self.hub.settings.tick_hz,
            node: self.hub.settings.node.clone(),
            ice_servers: self.hub.settings.ice_servers.clone(),
        });
        if let Some((room, (m, members, capacity))) = joined {
            self.entered(&room, m, members, capacity);
        }
        Next::Continue
    }

    fn create(&mut self, name: &str, capacity: u16) {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return self.error(ErrorCode::InvalidInput, "a room name is 1–64 printable characters");
        }
        if !(2..=64).contains(&capacity) {
            return self.error(ErrorCode::InvalidInput, "capacity must be 2–64");
        }
        let Some(user) = self.user.clone() else { return };
        let out = self.out.clone();
        let me = self.name.clone();
        let (room, joined) =
            self.hub.create(user.user_id, name.to_owned(), capacity, |room| room.join(user.user_id, &me, out));
        match joined {
            Ok((m, members, capacity)) => self.entered(&room, m, members, capacity),
            Err(e) => self.join_failed(e),
        }
    }

    async fn join(&mut self, id: &control::RoomId) {
        let Some(user) = self.user.clone() else { return };
        let (out, name) = (self.out.clone(), self.name.clone());
        match self.hub.join_or_replicate(id, |room| room.join(user.user_id, &name, out)).await {
            Some((room, Ok((m, members, capacity)))) => self.entered(&room, m, members, capacity),
            Some((_, Err(e))) => self.join_failed(e),
            None => self.error(ErrorCode::RoomNotFound, "no such room"),
        }
    }

    fn join_failed(&self, e: JoinError) {
        let code = match e {
            JoinError::Full => ErrorCode::RoomFull,
            JoinError::Banned => ErrorCode::BannedFromRoom,
            JoinError::Closed => ErrorCode::RoomNotFound,
        };
        self.error(code, e.to_string());
    }

    fn entered(&mut self, room: &Arc<Room>, m: Membership, members: Vec<control::MemberInfo>, capacity: u16) {
        if let Some(user) = &self.user {
            self.hub.remember(&self.resume_token, user.user_id, room.id.clone(), m.slot);
        }
        self.send(ServerMsg::RoomJoined { room: room.id.clone(), slot: m.slot, members, capacity });
        self.room = Some((Arc::clone(room), m));
        self.phase = SessionPhase::InRoom;
        self.listener = None;
    }

    async fn rtc_offer(&mut self, sdp: &str) {
        if let Some(old) = self.rtc.peer.write().await.take() {
            self.rtc.realtime_open.store(false, Ordering::Release);
            self.rtc.events_open.store(false, Ordering::Release);
            old.close().await;
        }
        let settings = &self.hub.settings;
        match tokio::time::timeout(RTC_TIMEOUT, RtcPeer::answer(sdp, &settings.rtc_udp, &settings.ice_servers)).await {
            Ok(Ok((peer, events, answer))) => {
                *self.rtc.peer.write().await = Some(Arc::new(peer));
                self.rtc_events = Some(events);
                self.send(ServerMsg::RtcAnswer { sdp: answer });
            }
            Ok(Err(e)) => self.error(ErrorCode::RtcFailed, e.to_string()),
            Err(_) => self.error(ErrorCode::RtcFailed, "answering the offer timed out"),
        }
    }

    fn moderate(&mut self, slot: control::Slot, action: MemberAction) {
        let (Some((room, m)), Some(user)) = (&self.room, &self.user) else { return };
        if room.owner != user.user_id && user.role < Role::Moderator {
            return self.error(ErrorCode::Forbidden, "only the room's owner or a moderator may do that");
        }
        if slot == m.slot {
            return self.error(ErrorCode::InvalidInput, "not on yourself");
        }
        if !room.moderate(slot, action) {
            self.error(ErrorCode::MemberNotFound, "no such member");
        } else {
            tracing::info!(room = %room.id.0, slot, ?action, by = %user.user_id, "member moderated");
        }
    }

    fn on_binary(&mut self, bytes: &[u8]) -> Next {
        if !self.realtime_budget.take() {
            if self.realtime_budget.complain() {
                self.error(ErrorCode::RateLimited, "too many real-time messages");
            }
            return Next::Continue;
        }
        self.notice_removal();
        let Some((room, m)) = &self.room else {
            if self.phase == SessionPhase::AwaitingHello {
                self.send(ServerMsg::from_protocol_error(&ProtocolError::OutOfPhase {
                    message: "realtime".into(),
                    phase: self.phase,
                }));
                return Next::Close;
            }
            if self.realtime_budget.complain() {
                self.send(ServerMsg::from_protocol_error(&ProtocolError::OutOfPhase {
                    message: "realtime".into(),
                    phase: self.phase,
                }));
            }
            return Next::Continue;
        };
        if bytes.len() > MAX_REALTIME_BYTES {
            if self.realtime_budget.complain() {
                self.send(ServerMsg::from_protocol_error(&ProtocolError::Oversized {
                    len: bytes.len(),
                    max: MAX_REALTIME_BYTES,
                }));
            }
            return Next::Continue;
        }
        match room.receive(*m, bytes, self.hub.clock().now_us()) {
            Ok(Some(frame)) if self.hub.ears.is_some() => self.hear(frame),
            Ok(_) => {}
            Err(e) => {
                if self.realtime_budget.complain() {
                    self.send(ServerMsg::from_protocol_error(&ProtocolError::BadRealtime { detail: e.to_string() }));
                }
            }
        }
        Next::Continue
    }

    /// A voice frame of this member's, for the node's speech-to-text.
    fn hear(&mut self, frame: nexus_net::realtime::VoiceFrame) {
        if self.listener.is_none() {
            match VoiceListener::new() {
                Ok(l) => self.listener = Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen to room voice");
                    return;
                }
            }
        }
        if let Some(listener) = &mut self.listener
            && let Err(e) = listener.hear(frame, Instant::now())
        {
            tracing::debug!(error = %e, "undecodable voice frame");
        }
    }

    /// The member stopped talking: transcribe and moderate what they said, in the
    /// background.
    fn end_utterance(&mut self) -> Next {
        let Some(listener) = &mut self.listener else { return Next::Continue };
        let pcm = match listener.take() {
            Ok(pcm) => pcm,
            Err(e) => {
                tracing::debug!(error = %e, "undecodable utterance");
                return Next::Continue;
            }
        };
        if let (Some(ears), Some((room, m)), Some(user)) = (&self.hub.ears, &self.room, &self.user) {
            let task = listen::utterance(self.state.clone(), ears.clone(), Arc::clone(room), *m, user.clone(), pcm);
            tokio::spawn(task);
        }
        Next::Continue
    }

    fn on_rtc(&mut self, event: Option<RtcEvent>) -> Next {
        match event {
            Some(RtcEvent::Open(Channel::Realtime)) => self.rtc.realtime_open.store(true, Ordering::Release),
            Some(RtcEvent::Open(Channel::Events)) => self.rtc.events_open.store(true, Ordering::Release),
            Some(RtcEvent::Message(_, bytes)) => return self.on_binary(&bytes),
            Some(RtcEvent::Closed) | None => {
                // Back to the WebSocket for everything.
                self.rtc.realtime_open.store(false, Ordering::Release);
                self.rtc.events_open.store(false, Ordering::Release);
                self.rtc_events = None;
            }
        }
        Next::Continue
    }

    async fn finish(&mut self) {
        if let Some((room, m)) = self.room.take() {
            room.dropped(m);
        }
        if let Some(peer) = self.rtc.peer.write().await.take() {
            peer.close().await;
        }
    }
}

/// The writer: the session's queue onto WebRTC or the WebSocket.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    rtc: Arc<RtcRoute>,
) {
    while let Some(item) = rx.recv().await {
        let sent = match item {
            Outbound::Control(message) => {
                let reject = matches!(message, ServerMsg::Reject(_));
                let r = sink.send(Message::Text(message.to_json().into())).await;
                if reject {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame { code: 1008, reason: "handshake rejected".into() })))
                        .await;
                    break;
                }
                r
            }
            Outbound::Realtime(bytes) => {
                if rtc.realtime_open.load(Ordering::Acquire) && send_rtc(&rtc, Channel::Realtime, &bytes).await {
                    Ok(())
                } else {
                    sink.send(Message::Binary(bytes.into())).await
                }
            }
            Outbound::Reliable(bytes) => {
                if rtc.events_open.load(Ordering::Acquire) && send_rtc(&rtc, Channel::Events, &bytes).await {
                    Ok(())
                } else {
                    sink.send(Message::Binary(bytes.into())).await
                }
            }
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

async fn send_rtc(rtc: &RtcRoute, channel: Channel, bytes: &[u8]) -> bool {
    let peer = rtc.peer.read().await.clone();
    match peer {
        Some(peer) => peer.send(channel, bytes).await.is_ok(),
        None => false,
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    // getrandom failing means no OS entropy at all; a time-based token is still unique
    // per session and is only ever checked together with the user's own access token.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..16].copy_from_slice(&uuid::Uuid::now_v7().into_bytes());
    }
    hex::encode(bytes)
}

async fn display_name(state: &AppState, user: uuid::Uuid) -> String {
    crate::db::one(state.db.conn(), "SELECT username FROM users WHERE id = $1", vec![user.into()])
        .await
        .ok()
        .flatten()
        .and_then(|row| crate::db::get::<String>(&row, "username").ok())
        .unwrap_or_else(|| "guest".to_owned())
}
