//! The Bevy layer of the engine (feature `bevy`).

pub mod capture;
