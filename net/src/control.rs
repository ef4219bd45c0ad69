//! The control plane: JSON messages over the authenticated WebSocket — the handshake,
//! rooms, WebRTC signalling, moderation of members, and errors — and the session phases
//! that say which of them are legal when ([`ClientMsg::verify`]).
//!
//! ```text
//!  client                                   server
//!    │ hello{magic, version, token, resume?} │
//!    │──────────────────────────────────────>│  wrong magic/version, bad token
//!    │<───── welcome{session, resume_token} ─│  → reject{code, ...} and close
//!    │   (phase: Lobby)                      │
//!    │ create_room / join_room ─────────────>│
//!    │<──────────── room_joined{slot, members}│  (phase: InRoom)
//!    │ rtc_offer{sdp} ──────────────────────>│  WebRTC peer for the real-time plane;
//!    │<───────────────────── rtc_answer{sdp} │  binary WebSocket frames until it opens
//!    │ leave_room / bye                      │
//! ```

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;

/// Identifies the Nexus protocol in [`ClientMsg::Hello`].
pub const MAGIC: &str = "NEXUS-VR";
/// The protocol version this build speaks. Bump on any wire change; the golden files
/// under `net/tests/golden/` pin the current one.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest control message accepted, in bytes.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;
/// The WebSocket path the server serves the protocol on.
pub const WS_PATH: &str = "/v1/rt";

/// Where a connection is in its life; decides which messages are legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionPhase {
    /// Connected; only `hello` is legal.
    AwaitingHello,
    /// Authenticated, in no room.
    Lobby,
    /// In a room: real-time messages flow.
    InRoom,
    /// Closing; nothing more is read.
    Closed,
}

/// A room's identifier (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub String);

/// A member's slot in its room; real-time messages name members by it.
pub type Slot = u16;

/// What a moderator (the room's owner or a MODERATOR) can do to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberAction {
    /// Their voice is no longer forwarded.
    Mute,
    /// Undo a mute.
    Unmute,
    /// Removed from the room; may rejoin.
    Kick,
    /// Removed and may not rejoin this room.
    Ban,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first message: who we are and what we speak.
    Hello {
        /// Must equal [`MAGIC`].
        magic: String,
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
        /// A session bearer token from the HTTP API.
        token: String,
        /// A resume token from an earlier `welcome`, to get the same slot back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// List open rooms.
    ListRooms,
    /// Create a room and join it.
    CreateRoom {
        /// Shown in the room list (1–64 characters).
        name: String,
        /// Most members at once (2–64).
        capacity: u16,
    },
    /// Join an existing room.
    JoinRoom {
        /// Which.
        room: RoomId,
    },
    /// Leave the room (back to the lobby).
    LeaveRoom,
    /// A WebRTC offer for the real-time plane.
    RtcOffer {
        /// Session description.
        sdp: String,
    },
    /// Moderate a member (room owner or MODERATOR role only).
    Moderate {
        /// Whom.
        slot: Slot,
        /// What.
        action: MemberAction,
    },
    /// Close the session.
    Bye,
}

impl ClientMsg {
    /// The message's wire name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::ListRooms => "list_rooms",
            Self::CreateRoom { .. } => "create_room",
            Self::JoinRoom { .. } => "join_room",
            Self::LeaveRoom => "leave_room",
            Self::RtcOffer { .. } => "rtc_offer",
            Self::Moderate { .. } => "moderate",
            Self::Bye => "bye",
        }
    }

    /// Whether this message is legal in `phase` — the session state machine in one place.
    pub fn verify(&self, phase: SessionPhase) -> Result<(), ProtocolError> {
        use SessionPhase::{AwaitingHello, InRoom, Lobby};
        let legal = match self {
            Self::Hello { .. } => phase == AwaitingHello,
            Self::ListRooms | Self::CreateRoom { .. } | Self::JoinRoom { .. } => phase == Lobby,
            Self::LeaveRoom | Self::RtcOffer { .. } | Self::Moderate { .. } => phase == InRoom,
            Self::Bye => matches!(phase, Lobby | InRoom),
        };
        if legal { Ok(()) } else { Err(ProtocolError::OutOfPhase { message: self.name().to_owned(), phase }) }
    }

    /// Parse a control frame, enforcing [`MAX_CONTROL_BYTES`].
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > MAX_CONTROL_BYTES {
            return Err(ProtocolError::Oversized { len: text.len(), max: MAX_CONTROL_BYTES });
        }
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed { detail: classify(&e) })
    }
}

/// A serde error without the input echoed back (it could be anything the peer sent).
fn classify(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "io",
        Category::Syntax => "not JSON",
        Category::Data => "unknown message or wrong fields",
        Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Why a handshake was refused; the server closes the connection after sending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum HandshakeReject {
    /// The peer does not speak this protocol at all.
    #[error("wrong magic")]
    WrongMagic,
    /// The peer speaks another version.
    #[error("protocol version {theirs} is not {ours}")]
    WrongVersion {
        /// The server's [`PROTOCOL_VERSION`].
        ours: u32,
        /// What the client sent.
        theirs: u32,
    },
    /// The token is missing, expired or revoked.
    #[error("not authenticated")]
    Unauthenticated,
    /// The account is suspended or banned.
    #[error("account suspended")]
    Suspended,
}

/// Stable error codes for refused control messages (the session stays open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// See [`ProtocolError::OutOfPhase`].
    OutOfPhase,
    /// Not JSON or not a known message.
    Malformed,
    /// Over a size limit.
    Oversized,
    /// A binary real-time frame that failed to decode.
    BadRealtime,
    /// No such room.
    RoomNotFound,
    /// The room is at capacity.
    RoomFull,
    /// Banned from this room.
    BannedFromRoom,
    /// A field out of range (name length, capacity…).
    InvalidInput,
    /// Not the room's owner or a moderator.
    Forbidden,
    /// No such member in the room.
    MemberNotFound,
    /// The WebRTC offer could not be answered.
    RtcFailed,
    /// Sending too fast.
    RateLimited,
}

impl From<&ProtocolError> for ErrorCode {
    fn from(e: &ProtocolError) -> Self {
        match e {
            ProtocolError::OutOfPhase { .. } => Self::OutOfPhase,
            ProtocolError::Malformed { .. } => Self::Malformed,
            ProtocolError::Oversized { .. } => Self::Oversized,
            ProtocolError::BadRealtime { .. } => Self::BadRealtime,
        }
    }
}

/// A STUN or TURN server for ICE, as in the W3C `RTCIceServer` (`stun:host:port`,
/// `turn:host:port?transport=udp` with a username and credential).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// Its URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}

impl IceServer {
    /// Check the URL schemes (`stun:`, `stuns:`, `turn:`, `turns:`) and that TURN has
    /// credentials.
    pub fn validate(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("an ICE server needs at least one URL".into());
        }
        for url in &self.urls {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            match scheme {
                "stun" | "stuns" => {}
                "turn" | "turns" if self.username.is_empty() || self.credential.is_empty() => {
                    return Err(format!("{url}: TURN needs a username and a credential"));
                }
                "turn" | "turns" => {}
                _ => return Err(format!("{url}: not a stun:, stuns:, turn: or turns: URL")),
            }
            if url.len() <= scheme.len() + 1 {
                return Err(format!("{url}: no host"));
            }
        }
        Ok(())
    }
}

/// A member as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Their slot.
    pub slot: Slot,
    /// Display name.
    pub name: String,
    /// Muted by a moderator.
    #[serde(default)]
    pub muted: bool,
}

/// A room in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// Its id.
    pub room: RoomId,
    /// Its name.
    pub name: String,
    /// Members now.
    pub members: u16,
    /// Most members.
    pub capacity: u16,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Handshake accepted.
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        version: u32,
        /// Present this in a later `hello` to resume this session after a disconnect.
        resume_token: String,
        /// Whether an earlier session was resumed (and the room rejoined).
        resumed: bool,
        /// Server clock, µs, for a first clock estimate.
        server_time_us: u64,
        /// Snapshot rate, Hz.
        tick_hz: u16,
        /// Which server node answered (for logs; scale-out).
        node: String,
        /// STUN/TURN servers to gather WebRTC candidates with (empty: host candidates).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// Handshake refused; the connection closes.
    Reject(HandshakeReject),
    /// Open rooms.
    Rooms {
        /// The list.
        rooms: Vec<RoomSummary>,
    },
    /// You are in a room.
    RoomJoined {
        /// Which.
        room: RoomId,
        /// Your slot.
        slot: Slot,
        /// Everyone else present.
        members: Vec<MemberInfo>,
        /// Most members.
        capacity: u16,
    },
    /// Someone joined your room.
    MemberJoined(MemberInfo),
    /// Someone left your room (or dropped).
    MemberLeft {
        /// Their slot.
        slot: Slot,
    },
    /// A member was muted or unmuted.
    MemberMuted {
        /// Whom.
        slot: Slot,
        /// Now muted?
        muted: bool,
    },
    /// You were removed from the room (back in the lobby).
    Removed {
        /// Kick or ban.
        action: MemberAction,
    },
    /// You left the room.
    RoomLeft,
    /// What a member just said, as the server's speech-to-text heard it (live captions;
    /// only speech that passed moderation).
    Caption {
        /// The speaker.
        slot: Slot,
        /// Their words.
        text: String,
    },
    /// Moderation acted on something you said (a warning, or a block that also muted
    /// you in this room).
    Moderated {
        /// `warn` or `block`.
        action: String,
        /// The categories that triggered it.
        categories: Vec<String>,
        /// Why, for the user.
        message: String,
    },
    /// Answer to [`ClientMsg::RtcOffer`].
    RtcAnswer {
        /// Session description.
        sdp: String,
    },
    /// A refused message; the session stays open.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

impl ServerMsg {
    /// The JSON text of this message.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| String::from(r#"{"type":"error","code":"malformed","message":"unserialisable"}"#))
    }

    /// An [`ServerMsg::Error`] for a protocol error.
    #[must_use]
    pub fn from_protocol_error(e: &ProtocolError) -> Self {
        Self::Error { code: ErrorCode::from(e), message: e.to_string() }
    }
}

/// Check a `hello` against this build: magic, then version.
pub fn check_hello(magic: &str, version: u32) -> Result<(), HandshakeReject> {
    if magic != MAGIC {
        return Err(HandshakeReject::WrongMagic);
    }
    if version != PROTOCOL_VERSION {
        return Err(HandshakeReject::WrongVersion { ours: PROTOCOL_VERSION, theirs: version });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_is_legal_in_exactly_the_phases_the_table_says() {
        use SessionPhase::*;
        let hello = ClientMsg::Hello { magic: MAGIC.into(), version: 1, token: "t".into(), resume: None };
        let table: [(ClientMsg, [bool; 4]); 8] = [
            (hello, [true, false, false, false]),
            (ClientMsg::ListRooms, [false, true, false, false]),
            (ClientMsg::CreateRoom { name: "a".into(), capacity: 4 }, [false, true, false, false]),
            (ClientMsg::JoinRoom { room: RoomId("r".into()) }, [false, true, false, false]),
            (ClientMsg::LeaveRoom, [false, false, true, false]),
            (ClientMsg::RtcOffer { sdp: String::new() }, [false, false, true, false]),
            (ClientMsg::Moderate { slot: 1, action: MemberAction::Mute }, [false, false, true, false]),
            (ClientMsg::Bye, [false, true, true, false]),
        ];
        for (msg, legal) in table {
            for (phase, ok) in [AwaitingHello, Lobby, InRoom, Closed].into_iter().zip(legal) {
                assert_eq!(msg.verify(phase).is_ok(), ok, "{} in {phase:?}", msg.name());
            }
        }
    }

    #[test]
    fn every_server_message_survives_its_json() {
        let ice = IceServer { urls: vec!["stun:stun.example.org:3478".into()], ..IceServer::default() };
        let turn = IceServer {
            urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            username: "u".into(),
            credential: "c".into(),
        };
        let member = MemberInfo { slot: 3, name: "Zoë".into(), muted: true };
        let all = [
            ServerMsg::Welcome {
                version: PROTOCOL_VERSION,
                resume_token: "r".into(),
                resumed: false,
                server_time_us: u64::MAX,
                tick_hz: 72,
                node: "node-a".into(),
                ice_servers: vec![ice, turn],
            },
            ServerMsg::Reject(HandshakeReject::WrongVersion { ours: 1, theirs: 7 }),
            ServerMsg::Rooms {
                rooms: vec![RoomSummary { room: RoomId("r".into()), name: "Café".into(), members: 2, capacity: 8 }],
            },
            ServerMsg::RoomJoined { room: RoomId("r".into()), slot: 1, members: vec![member.clone()], capacity: 8 },
            ServerMsg::MemberJoined(member),
            ServerMsg::MemberLeft { slot: 9 },
            ServerMsg::MemberMuted { slot: 9, muted: false },
            ServerMsg::Removed { action: MemberAction::Ban },
            ServerMsg::RoomLeft,
            ServerMsg::Caption { slot: 2, text: "hello \"there\" ☕".into() },
            ServerMsg::Moderated { action: "block".into(), categories: vec!["hate".into()], message: "m".into() },
            ServerMsg::RtcAnswer { sdp: "v=0\r\n".into() },
            ServerMsg::Error { code: ErrorCode::BannedFromRoom, message: "no".into() },
        ];
        for m in all {
            let json = m.to_json();
            assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), m, "{json}");
        }
        // An older server's welcome (no ICE servers) still reads.
        let old = r#"{"type":"welcome","version":1,"resume_token":"r","resumed":false,"server_time_us":1,"tick_hz":72,"node":"n"}"#;
        assert!(
            matches!(serde_json::from_str::<ServerMsg>(old), Ok(ServerMsg::Welcome { ice_servers, .. }) if ice_servers.is_empty())
        );
    }

    #[test]
    fn handshake_rejects_are_typed() {
        assert_eq!(check_hello("HTTP", 1), Err(HandshakeReject::WrongMagic));
        assert_eq!(check_hello(MAGIC, 9), Err(HandshakeReject::WrongVersion { ours: PROTOCOL_VERSION, theirs: 9 }));
        assert_eq!(check_hello(MAGIC, PROTOCOL_VERSION), Ok(()));
        let json = ServerMsg::Reject(HandshakeReject::WrongVersion { ours: 1, theirs: 9 }).to_json();
        assert_eq!(json, r#"{"type":"reject","code":"wrong_version","ours":1,"theirs":9}"#);
    }

    #[test]
    fn malformed_control_text_is_a_typed_error_without_echo() {
        let err = ClientMsg::parse(r#"{"type":"launch_missiles","secret":"hunter2"}"#).unwrap_err();
        assert!(matches!(&err, ProtocolError::Malformed { detail } if !detail.contains("hunter2")), "{err:?}");
        assert!(matches!(ClientMsg::parse("{"), Err(ProtocolError::Malformed { .. })));
        let huge = "x".repeat(MAX_CONTROL_BYTES + 1);
        assert!(matches!(ClientMsg::parse(&huge), Err(ProtocolError::Oversized { .. })));
    }
}
