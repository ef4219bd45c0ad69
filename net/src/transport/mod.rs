//! Transports for the two planes (feature `transport`): the WebRTC peer that carries the
//! real-time plane ([`rtc`]). The WebSocket client and the headless room client build on
//! it.

pub mod rtc;
