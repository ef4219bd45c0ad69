//! A headless room client: the protocol's client side over a real WebSocket
//! (tokio-tungstenite) and, once upgraded, WebRTC data channels. Tests, benchmarks and
//! load tools use it as a participant; the VR client drives the same type.
//!
//! ```no_run
//! # async fn demo(token: String) -> Result<(), nexus_net::transport::client::ClientError> {
//! use nexus_net::control::ClientMsg;
//! use nexus_net::transport::client::RoomClient;
//! let mut client = RoomClient::connect("ws://127.0.0.1:8080/v1/rt", &token, None).await?;
//! client.create_room("Café", 8).await?;
//! client.upgrade_rtc(&["127.0.0.1:0".to_owned()]).await?; // optional; the WebSocket works alone
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::rtc::{Channel, RtcEvent, RtcPeer, next_event as next_rtc};
use crate::control::{self, ClientMsg, HandshakeReject, MemberInfo, RoomId, ServerMsg, Slot};
use crate::error::DecodeError;
use crate::link::ClientLink;
use crate::realtime::{self, ClockPing, Realtime};
use crate::state::AvatarState;
use crate::sync::interpolation::{InterpolationBuffer, Sample};
use crate::sync::prediction::LocomotionInput;
use crate::sync::{ClockSync, Micros};

/// How long to wait for an expected server answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect or the connection broke.
    #[error("connection: {0}")]
    Connection(String),
    /// The server refused the handshake.
    #[error("rejected: {0}")]
    Rejected(HandshakeReject),
    /// The server answered a request with an error.
    #[error("server error {code:?}: {message}")]
    Server {
        /// Stable code.
        code: control::ErrorCode,
        /// Detail.
        message: String,
    },
    /// The server did not answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// WebRTC could not be set up.
    #[error("webrtc: {0}")]
    Rtc(#[from] super::rtc::RtcError),
    /// A real-time message could not be encoded.
    #[error("encode: {0}")]
    Encode(#[from] DecodeError),
    /// The call needs a room and there is none.
    #[error("not in a room")]
    NotInRoom,
}

/// What arrives from the server, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A control message.
    Control(ServerMsg),
    /// A real-time message (snapshots are also folded into the interpolation buffers).
    Realtime(Realtime),
    /// A real-time frame that failed to decode.
    BadRealtime(DecodeError),
    /// The connection closed.
    Closed,
}

enum Raw {
    Text(String),
    /// A binary WebSocket frame.
    Binary(Vec<u8>),
    /// A message on a WebRTC data channel.
    Rtc(Vec<u8>),
    Closed,
}

/// Which path real-time bytes took most recently (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathCounts {
    /// Frames received over WebRTC.
    pub rtc_in: u64,
    /// Binary frames received over the WebSocket.
    pub ws_in: u64,
}

/// A connected client.
pub struct RoomClient {
    ws_out: mpsc::Sender<Message>,
    raw_in: mpsc::Receiver<Raw>,
    rtc: Option<RtcPeer>,
    rtc_events: Option<mpsc::Receiver<RtcEvent>>,
    realtime_open: bool,
    events_open: bool,
    /// The `welcome` the server sent.
    pub welcome: ServerMsg,
    room: Option<(RoomId, Slot)>,
    link: ClientLink,
    members: HashMap<Slot, MemberInfo>,
    remote: HashMap<Slot, InterpolationBuffer<AvatarState>>,
    clock: ClockSync,
    epoch: Instant,
    pending: std::collections::VecDeque<ClientEvent>,
    /// Counts of frames per path.
    pub paths: PathCounts,
}

impl std::fmt::Debug for RoomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomClient").field("room", &self.room).field("rtc", &self.realtime_open).finish_non_exhaustive()
    }
}

impl RoomClient {
    /// Connect to `url` (`ws://host:port/v1/rt`), say `hello` with `token`, and wait for
    /// the `welcome` (with `resume`, the server puts us back in our room).
    pub async fn connect(url: &str, token: &str, resume: Option<String>) -> Result<Self, ClientError> {
        let (ws, _) =
            tokio_tungstenite::connect_async(url).await.map_err(|e| ClientError::Connection(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (ws_out, mut out_rx) = mpsc::channel::<Message>(1024);
        let (raw_tx, raw_in) = mpsc::channel::<Raw>(4096);
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tokio::spawn(async move {
            while let Some(m) = stream.next().await {
                let raw = match m {
                    Ok(Message::Text(t)) => Raw::Text(t.to_string()),
                    Ok(Message::Binary(b)) => Raw::Binary(b.to_vec()),
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                if raw_tx.send(raw).await.is_err() {
                    return;
                }
            }
            let _ = raw_tx.send(Raw::Closed).await;
        });
        let mut client = Self {
            ws_out,
            raw_in,
            rtc: None,
            rtc_events: None,
            realtime_open: false,
            events_open: false,
            welcome: ServerMsg::RoomLeft,
            room: None,
            link: ClientLink::new(0),
            members: HashMap::new(),
            remote: HashMap::new(),
            clock: ClockSync::new(),
            epoch: Instant::now(),
            pending: std::collections::VecDeque::new(),
            paths: PathCounts::default(),
        };
        client
            .send(&ClientMsg::Hello {
                magic: control::MAGIC.to_owned(),
                version: control::PROTOCOL_VERSION,
                token: token.to_owned(),
                resume,
            })
            .await?;
        let welcome = client
            .expect("welcome", |m| match m {
                ServerMsg::Welcome { .. } => Some(Ok(m.clone())),
                ServerMsg::Reject(r) => Some(Err(ClientError::Rejected(r.clone()))),
                _ => None,
            })
            .await?;
        client.welcome = welcome;
        Ok(client)
    }

    /// Microseconds on this client's clock.
    #[must_use]
    pub fn now_us(&self) -> Micros {
        self.epoch.elapsed().as_micros() as Micros
    }

    /// Send a control message.
    pub async fn send(&self, message: &ClientMsg) -> Result<(), ClientError> {
        let text = serde_json::to_string(message).map_err(|e| ClientError::Connection(e.to_string()))?;
        self.send_text(text).await
    }

    /// Send raw text (tests use it to send what a well-behaved client never would).
    pub async fn send_text(&self, text: String) -> Result<(), ClientError> {
        self.ws_out.send(Message::Text(text.into())).await.map_err(|_| ClientError::Connection("closed".into()))
    }

    /// Send raw bytes as a WebSocket binary frame.
    pub async fn send_binary(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.ws_out.send(Message::Binary(bytes.into())).await.map_err(|_| ClientError::Connection("closed".into()))
    }

    /// Send real-time bytes on the best path: WebRTC when open, the WebSocket otherwise.
    async fn send_realtime(&self, bytes: Vec<u8>, reliable: bool) -> Result<(), ClientError> {
        let (open, channel) =
            if reliable { (self.events_open, Channel::Events) } else { (self.realtime_open, Channel::Realtime) };
        if open
            && let Some(peer) = &self.rtc
            && peer.send(channel, &bytes).await.is_ok()
        {
            return Ok(());
        }
        self.send_binary(bytes).await
    }

    /// Create a room and wait until we are in it.
    pub async fn create_room(&mut self, name: &str, capacity: u16) -> Result<(RoomId, Slot), ClientError> {
        self.send(&ClientMsg::CreateRoom { name: name.to_owned(), capacity }).await?;
        self.await_joined().await
    }

    /// Join a room and wait until we are in it.
    pub async fn join_room(&mut self, room: &RoomId) -> Result<(RoomId, Slot), ClientError> {
        self.send(&ClientMsg::JoinRoom { room: room.clone() }).await?;
        self.await_joined().await
    }

    /// Wait for `room_joined` (after a create, a join, or a resuming `hello`).
    pub async fn await_joined(&mut self) -> Result<(RoomId, Slot), ClientError> {
        self.expect("room_joined", |m| match m {
            ServerMsg::RoomJoined { room, slot, .. } => Some(Ok((room.clone(), *slot))),
            ServerMsg::Error { code, message } => {
                Some(Err(ClientError::Server { code: *code, message: message.clone() }))
            }
            _ => None,
        })
        .await
    }

    /// Offer WebRTC and wait until both data channels are open. On failure the client
    /// keeps using the WebSocket. Candidates are gathered on `udp` and from the STUN/TURN
    /// servers the server named in its `welcome`.
    pub async fn upgrade_rtc(&mut self, udp: &[String]) -> Result<(), ClientError> {
        let ice = match &self.welcome {
            ServerMsg::Welcome { ice_servers, .. } => ice_servers.clone(),
            _ => Vec::new(),
        };
        let (pending, offer) = RtcPeer::offer(udp, &ice).await?;
        self.send(&ClientMsg::RtcOffer { sdp: offer }).await?;
        let answer = self
            .expect("rtc_answer", |m| match m {
                ServerMsg::RtcAnswer { sdp } => Some(Ok(sdp.clone())),
                ServerMsg::Error { code, message } => {
                    Some(Err(ClientError::Server { code: *code, message: message.clone() }))
                }
                _ => None,
            })
            .await?;
        let (peer, mut events) = pending.accept(&answer).await?;
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        while !(self.realtime_open && self.events_open) {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(RtcEvent::Open(Channel::Realtime))) => self.realtime_open = true,
                Ok(Some(RtcEvent::Open(Channel::Events))) => self.events_open = true,
                Ok(Some(RtcEvent::Message(_, bytes))) => {
                    let e = self.decode(&bytes);
                    self.pending.push_back(e);
                }
                Ok(Some(RtcEvent::Closed) | None) => return Err(ClientError::Connection("webrtc closed".into())),
                Err(_) => return Err(ClientError::Timeout("data channels to open")),
            }
        }
        self.rtc = Some(peer);
        self.rtc_events = Some(events);
        Ok(())
    }

    /// Whether real-time messages travel over WebRTC.
    #[must_use]
    pub const fn on_rtc(&self) -> bool {
        self.realtime_open
    }

    /// Send our avatar (and locomotion input), captured now.
    pub async fn send_pose(&mut self, state: &AvatarState, input: Option<LocomotionInput>) -> Result<(), ClientError> {
        if self.room.is_none() {
            return Err(ClientError::NotInRoom);
        }
        let bytes = self.link.pose_update(state, input, self.now_us())?;
        self.send_realtime(bytes, false).await
    }

    /// Send any real-time message (events go on the reliable path).
    pub async fn send_message(&mut self, message: &Realtime) -> Result<(), ClientError> {
        let bytes = realtime::encode(message, &crate::baseline::History::new(), self.link.slot())?;
        self.send_realtime(bytes, message.kind().reliable()).await
    }

    /// Send a clock-sync ping.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        let ping = Realtime::ClockPing(ClockPing { client_time_us: self.now_us() });
        self.send_message(&ping).await
    }

    /// The next thing from the server (control or real-time, decoded), or `None` after
    /// `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<ClientEvent> {
        if let Some(e) = self.pending.pop_front() {
            return Some(e);
        }
        let raw = tokio::time::timeout(timeout, async {
            loop {
                tokio::select! {
                    raw = self.raw_in.recv() => return raw.unwrap_or(Raw::Closed),
                    event = next_rtc(&mut self.rtc_events) => match event {
                        Some(RtcEvent::Message(_, bytes)) => return Raw::Rtc(bytes),
                        Some(RtcEvent::Open(_)) => {}
                        Some(RtcEvent::Closed) | None => {
                            self.realtime_open = false;
                            self.events_open = false;
                            self.rtc_events = None;
                        }
                    },
                }
            }
        })
        .await
        .ok()?;
        Some(match raw {
            Raw::Text(t) => match serde_json::from_str::<ServerMsg>(&t) {
                Ok(m) => {
                    self.observe(&m);
                    ClientEvent::Control(m)
                }
                Err(e) => ClientEvent::BadRealtime(DecodeError::Invalid(if e.is_data() {
                    "control shape"
                } else {
                    "control json"
                })),
            },
            Raw::Binary(b) => {
                self.paths.ws_in += 1;
                self.decode(&b)
            }
            Raw::Rtc(b) => {
                self.paths.rtc_in += 1;
                self.decode(&b)
            }
            Raw::Closed => ClientEvent::Closed,
        })
    }

    fn decode(&mut self, bytes: &[u8]) -> ClientEvent {
        match self.link.receive(bytes) {
            Ok(message) => {
                let now = self.now_us();
                match &message {
                    Realtime::Snapshot(s) => {
                        for e in &s.entries {
                            let at = s.server_time_us.saturating_sub(u64::from(e.age) * 100);
                            self.remote.entry(e.slot).or_default().push(at, now, e.avatar.to_state());
                        }
                    }
                    Realtime::ClockPong(p) => {
                        self.clock.add_sample(p.client_time_us, p.server_time_us, now);
                        if let Some(rtt) = self.clock.rtt() {
                            for b in self.remote.values_mut() {
                                b.set_base_latency(rtt / 2);
                            }
                        }
                    }
                    _ => {}
                }
                ClientEvent::Realtime(message)
            }
            Err(e) => ClientEvent::BadRealtime(e),
        }
    }

    fn observe(&mut self, m: &ServerMsg) {
        match m {
            ServerMsg::RoomJoined { room, slot, members, .. } => {
                self.room = Some((room.clone(), *slot));
                self.link = ClientLink::new(*slot);
                self.members = members.iter().map(|m| (m.slot, m.clone())).collect();
                self.remote.clear();
            }
            ServerMsg::MemberJoined(info) => {
                self.members.insert(info.slot, info.clone());
            }
            ServerMsg::MemberLeft { slot } => {
                self.members.remove(slot);
                self.remote.remove(slot);
                self.link.forget(*slot);
            }
            ServerMsg::RoomLeft | ServerMsg::Removed { .. } => {
                self.room = None;
                self.members.clear();
                self.remote.clear();
            }
            _ => {}
        }
    }

    async fn expect<T>(
        &mut self,
        what: &'static str,
        mut pick: impl FnMut(&ServerMsg) -> Option<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut skipped = Vec::new();
        let result = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                None => break Err(ClientError::Timeout(what)),
                Some(ClientEvent::Closed) => break Err(ClientError::Connection("closed".into())),
                Some(ClientEvent::Control(m)) => match pick(&m) {
                    Some(r) => break r,
                    None => skipped.push(ClientEvent::Control(m)),
                },
                Some(other) => skipped.push(other),
            }
        };
        // Keep what arrived meanwhile for the caller's next `next_event`.
        for e in skipped.into_iter().rev() {
            self.pending.push_front(e);
        }
        result
    }

    /// Our room and slot.
    #[must_use]
    pub fn room(&self) -> Option<&(RoomId, Slot)> {
        self.room.as_ref()
    }

    /// Other members, by slot.
    #[must_use]
    pub const fn members(&self) -> &HashMap<Slot, MemberInfo> {
        &self.members
    }

    /// Remote member `slot`'s avatar to draw now (interpolated on the server clock).
    pub fn sample(&mut self, slot: Slot) -> Option<Sample<AvatarState>> {
        let local = self.now_us();
        let server_now = self.clock.server_time(local).unwrap_or(local);
        self.remote.get_mut(&slot)?.sample(server_now)
    }

    /// The clock-sync state.
    #[must_use]
    pub const fn clock(&self) -> &ClockSync {
        &self.clock
    }

    /// Close: say `bye` and drop the connections.
    pub async fn close(self) {
        let _ = self.send(&ClientMsg::Bye).await;
        if let Some(peer) = &self.rtc {
            peer.close().await;
        }
    }

    /// Drop the connection abruptly, as a crash or network loss would (no `bye`).
    pub fn abort(self) {
        drop(self);
    }
}
