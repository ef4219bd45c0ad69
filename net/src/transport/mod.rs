//! Transports for the two planes (feature `transport`): the WebRTC peer that carries the
//! real-time plane ([`rtc`]) and the headless room client that speaks the whole protocol
//! over a WebSocket and WebRTC ([`client`]).

pub mod client;
pub mod rtc;
