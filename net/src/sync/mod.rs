//! State sync: the pure-logic core of the seed's Sync Coordinator and §1.2.2 Network
//! Prediction. Presence is server-authoritative; these pieces decide *what* is sent and
//! *how* what arrives is shown. No I/O, no wall clock: every function takes times as
//! [`Micros`], so tests drive time explicitly and client and server share the code.
//!
//! - [`clock`] — [`ClockSync`]: the client's NTP-style estimate of the server clock from
//!   ping/pong exchanges (min-RTT filter, slewed). Everything below runs on server time.
//! - [`interpolation`] — [`InterpolationBuffer`]: each remote avatar's snapshots, played
//!   back a little in the past (about 100 ms, adapted to the measured jitter and snapshot
//!   interval, changed only by time-stretching) so motion is interpolated between two
//!   real snapshots instead of guessed; briefly extrapolated when snapshots run out.
//! - [`prediction`] — the deterministic locomotion [`step`] both sides run, and the
//!   client's [`Predictor`]: it applies its own inputs at once, and when the server's
//!   authoritative root arrives with the last input it processed, replays the newer inputs
//!   on top and hides the difference with a decaying visual offset.
//! - [`interest`] — [`select`]: which avatars the server sends to one viewer this tick —
//!   by distance band, at a lower cadence outside the view cone, nearest first, capped.
//!
//! **Server**, every tick: apply each client's queued [`LocomotionInput`]s with [`step`]
//! and the room's [`LocomotionRules`], stamp the state with the server time, then per
//! viewer run [`select`] and send those avatars' states with the last input sequence
//! processed for that viewer's own avatar. It answers pings with its clock.
//!
//! **Client**, every frame: feed pongs to [`ClockSync`]; run the local stick through
//! [`Predictor::apply`] and send the input; on each server update call
//! [`Predictor::reconcile`] for the own avatar and [`InterpolationBuffer::push`] for
//! every remote one; [`Predictor::decay`] by the frame time; render
//! [`Predictor::rendered`] and, for remote avatars,
//! [`InterpolationBuffer::sample`] at [`ClockSync::server_time`] of now.
//!
//! ```
//! use nexus_net::state::Pose;
//! use nexus_net::sync::{ClockSync, InterpolationBuffer};
//! use glam::{Quat, Vec3};
//!
//! let mut clock = ClockSync::new();
//! clock.add_sample(1_000, 501_000, 21_000); // local send, server time, local receive
//! let server_now = clock.server_time(100_000).unwrap_or(0);
//!
//! let mut remote = InterpolationBuffer::new();
//! for i in 0..10u64 {
//!     let pose = Pose::new(Vec3::new(i as f32, 0.0, 0.0), Quat::IDENTITY);
//!     remote.push(server_now - 200_000 + i * 20_000, 100_000, pose);
//! }
//! let shown = remote.sample(server_now).expect("snapshots were pushed");
//! assert!(shown.render_time < server_now);
//! ```

pub mod clock;
pub mod interest;
pub mod interpolation;
pub mod prediction;

pub use clock::ClockSync;
pub use interest::{Candidate, InterestPolicy, select};
pub use interpolation::{Interpolate, InterpolationBuffer, Sample};
pub use prediction::{LocomotionInput, LocomotionRules, Predictor, RootState, seq_newer, step};

/// Microseconds, on the server's clock or the local one as each function documents.
pub type Micros = u64;

/// Deterministic randomness for the tests of every sync module.
#[cfg(test)]
pub(crate) mod test_support {
    /// A tiny xorshift64 generator: reproducible, no dependency.
    pub(crate) struct XorShift(u64);

    impl XorShift {
        /// A generator from a seed (0 is replaced, xorshift would stay at 0).
        pub(crate) fn new(seed: u64) -> Self {
            Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
        }

        /// The next raw value.
        pub(crate) fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A value in `0..n` (`n > 0`).
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }
}
