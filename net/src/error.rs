//! Typed errors at the protocol boundary. A peer that receives bad bytes learns *which*
//! rule they broke; nothing here panics on hostile input.

use serde::{Deserialize, Serialize};

use crate::control::SessionPhase;

/// Why a binary real-time message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended before a field did.
    #[error("message truncated")]
    Truncated,
    /// An empty datagram.
    #[error("empty message")]
    Empty,
    /// The first byte names no message kind.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// Larger than the plane allows.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field holds a value the format forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A delta names a baseline the receiver no longer (or never) had.
    #[error("delta against unknown baseline")]
    UnknownBaseline,
    /// Bytes left over after the message.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Why a peer's message was refused at the protocol level (the session state machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ProtocolError {
    /// The message is not legal in the session's current phase.
    #[error("{message} is not allowed while {phase:?}")]
    OutOfPhase {
        /// The message's kind.
        message: String,
        /// The phase the session was in.
        phase: SessionPhase,
    },
    /// A control message that is not valid JSON of a known shape.
    #[error("malformed control message: {detail}")]
    Malformed {
        /// The parser's complaint (no echo of the input).
        detail: String,
    },
    /// A control or real-time message over its plane's size limit.
    #[error("message of {len} bytes exceeds {max}")]
    Oversized {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A binary real-time message that failed to decode.
    #[error("bad real-time message: {detail}")]
    BadRealtime {
        /// The decoder's typed reason, as text.
        detail: String,
    },
}
