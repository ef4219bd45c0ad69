//! Client-side prediction of the own avatar's locomotion, with server reconciliation.
//!
//! The server is authoritative for the play-space root (position and yaw); head and hands
//! come from tracking and are not predicted. Client and server run the same deterministic
//! [`step`]: the client applies each input at once and remembers it; when the server's
//! root arrives with the last input sequence it processed, the client replays the inputs
//! the server has not seen yet on top of it. Any difference is hidden by a visual offset
//! that decays over about 100 ms, unless it is large enough that snapping is better.

use std::collections::VecDeque;
use std::f32::consts::{FRAC_PI_4, PI, TAU};

use glam::{Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};

/// Inputs kept for replay; older unacknowledged inputs are forgotten.
pub const INPUT_HISTORY: usize = 256;
/// The longest time one input may cover, in seconds; longer `dt`s are cut to it.
pub const MAX_STEP_DT: f32 = 0.25;
/// A position error above this (metres) snaps the rendered root instead of smoothing.
pub const SNAP_DISTANCE: f32 = 1.0;
/// A yaw error above this (radians) snaps the rendered root instead of smoothing.
pub const SNAP_YAW: f32 = FRAC_PI_4;
/// Time constant (seconds) of the exponential decay of the visual offset.
pub const SMOOTHING_TIME: f32 = 0.1;

/// One frame of locomotion input, as the client sends it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocomotionInput {
    /// Sequence number, wrapping; compare with [`seq_newer`].
    pub seq: u16,
    /// Seconds this input covers (the frame time), cut to [`MAX_STEP_DT`].
    pub dt: f32,
    /// Thumbstick: x strafes right, y moves forward; its length is clamped to 1.
    pub move_axis: Vec2,
    /// Yaw change this step in radians (snap or smooth turn), counter-clockwise from above.
    pub turn: f32,
    /// Teleport target; replaces this step's movement.
    pub teleport: Option<Vec3>,
}

/// The server-authoritative part of an avatar: its play-space root.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RootState {
    /// Room frame, metres.
    pub position: Vec3,
    /// Radians about +Y in [−π, π); 0 faces −Z.
    pub yaw: f32,
}

impl RootState {
    /// This state with non-finite parts replaced by zero and the yaw wrapped to [−π, π)
    /// (a finite, wrapped state comes back bit-identical).
    #[must_use]
    pub fn sanitized(self) -> Self {
        let position = if self.position.is_finite() { self.position } else { Vec3::ZERO };
        Self { position, yaw: wrap_angle(self.yaw) }
    }
}

/// What locomotion the room allows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocomotionRules {
    /// Top speed in m/s at full stick.
    pub max_speed: f32,
    /// Lowest corner of the walkable box.
    pub bounds_min: Vec3,
    /// Highest corner of the walkable box.
    pub bounds_max: Vec3,
}

impl Default for LocomotionRules {
    /// 2 m/s; ±20 m in X and Z, ±10 m in Y.
    fn default() -> Self {
        Self { max_speed: 2.0, bounds_min: Vec3::new(-20.0, -10.0, -20.0), bounds_max: Vec3::new(20.0, 10.0, 20.0) }
    }
}

pub use crate::seq::seq_newer;

/// Advance a root by one input. Deterministic; both client and server run it.
///
/// The turn applies first, then the stick moves the root in the new heading at up to
/// `max_speed`, or a teleport sets the position; the position is then clamped into the
/// bounds. Non-finite numbers in the input, the state or the speed count as zero and a
/// non-finite teleport as none, so nothing non-finite comes out of finite bounds.
#[must_use]
pub fn step(state: RootState, input: &LocomotionInput, rules: &LocomotionRules) -> RootState {
    let state = state.sanitized();
    let yaw = wrap_angle(state.yaw + finite_or_zero(input.turn));
    let (low, high) = (rules.bounds_min, rules.bounds_max);
    let moved = match input.teleport.filter(|target| target.is_finite()) {
        Some(target) => target,
        None => {
            let axis = if input.move_axis.is_finite() { input.move_axis.clamp_length_max(1.0) } else { Vec2::ZERO };
            let speed = finite_or_zero(rules.max_speed).max(0.0);
            let dt = finite_or_zero(input.dt).clamp(0.0, MAX_STEP_DT);
            let direction = Quat::from_rotation_y(yaw) * Vec3::new(axis.x, 0.0, -axis.y);
            state.position + direction * (speed * dt)
        }
    };
    let clamped = Vec3::new(
        clamp_axis(moved.x, low.x, high.x),
        clamp_axis(moved.y, low.y, high.y),
        clamp_axis(moved.z, low.z, high.z),
    );
    let position = if clamped.is_finite() { clamped } else { state.position };
    RootState { position, yaw }
}

/// The last reconciliation's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Correction {
    /// Replayed minus previously predicted position.
    pub position: Vec3,
    /// Replayed minus previously predicted yaw, wrapped to [−π, π).
    pub yaw: f32,
    /// Whether the rendered root snapped instead of smoothing.
    pub snapped: bool,
}

/// Predicts the own root from local inputs and reconciles it with the server's.
#[derive(Debug, Clone)]
pub struct Predictor {
    rules: LocomotionRules,
    predicted: RootState,
    history: VecDeque<LocomotionInput>,
    last_acked: Option<u16>,
    offset_position: Vec3,
    offset_yaw: f32,
    last_correction: Correction,
}

impl Predictor {
    /// A predictor starting at `start` (the root the server spawned the avatar at).
    #[must_use]
    pub fn new(start: RootState, rules: LocomotionRules) -> Self {
        Self {
            rules,
            predicted: start.sanitized(),
            history: VecDeque::with_capacity(INPUT_HISTORY),
            last_acked: None,
            offset_position: Vec3::ZERO,
            offset_yaw: 0.0,
            last_correction: Correction::default(),
        }
    }

    /// Predict one input and remember it for replay; returns the new predicted root.
    /// Past [`INPUT_HISTORY`] unacknowledged inputs the oldest is forgotten.
    pub fn apply(&mut self, input: LocomotionInput) -> RootState {
        self.predicted = step(self.predicted, &input, &self.rules);
        self.history.push_back(input);
        while self.history.len() > INPUT_HISTORY {
            self.history.pop_front();
        }
        self.predicted
    }

    /// Take the server's root after it processed inputs up to `acked_seq`: forget those,
    /// replay the rest on top, and return the new predicted root.
    ///
    /// The rendered root keeps its place (the difference becomes a decaying offset)
    /// unless the offset exceeds [`SNAP_DISTANCE`] or [`SNAP_YAW`]. An ack older than one
    /// already processed (reordered on the way) is ignored.
    pub fn reconcile(&mut self, acked_seq: u16, server_state: RootState) -> RootState {
        if self.last_acked.is_some_and(|last| seq_newer(last, acked_seq)) {
            return self.predicted;
        }
        self.last_acked = Some(acked_seq);
        while self.history.front().is_some_and(|input| !seq_newer(input.seq, acked_seq)) {
            self.history.pop_front();
        }
        let replayed =
            self.history.iter().fold(server_state.sanitized(), |state, input| step(state, input, &self.rules));
        let position = replayed.position - self.predicted.position;
        let yaw = wrap_angle(replayed.yaw - self.predicted.yaw);
        self.predicted = replayed;
        self.offset_position -= position;
        self.offset_yaw = wrap_angle(self.offset_yaw - yaw);
        let snapped = self.offset_position.length() > SNAP_DISTANCE || self.offset_yaw.abs() > SNAP_YAW;
        if snapped {
            self.offset_position = Vec3::ZERO;
            self.offset_yaw = 0.0;
        }
        self.last_correction = Correction { position, yaw, snapped };
        self.predicted
    }

    /// Shrink the visual offset by `dt` seconds of exponential decay.
    pub fn decay(&mut self, dt: f32) {
        if !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let keep = (-dt / SMOOTHING_TIME).exp();
        self.offset_position *= keep;
        self.offset_yaw *= keep;
        if self.offset_position.length_squared() < 1e-12 {
            self.offset_position = Vec3::ZERO;
        }
        if self.offset_yaw.abs() < 1e-6 {
            self.offset_yaw = 0.0;
        }
    }

    /// The root to draw: the prediction plus the decaying offset.
    #[must_use]
    pub fn rendered(&self) -> RootState {
        RootState {
            position: self.predicted.position + self.offset_position,
            yaw: wrap_angle(self.predicted.yaw + self.offset_yaw),
        }
    }

    /// The predicted root, without visual smoothing.
    #[must_use]
    pub fn predicted(&self) -> RootState {
        self.predicted
    }

    /// Inputs not yet acknowledged by the server.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.history.len()
    }

    /// What the last [`reconcile`](Self::reconcile) corrected.
    #[must_use]
    pub fn last_correction(&self) -> Correction {
        self.last_correction
    }

    /// The rules predictions use.
    #[must_use]
    pub fn rules(&self) -> &LocomotionRules {
        &self.rules
    }

    /// Change the rules (the room sent new ones); applies from the next step or replay.
    pub fn set_rules(&mut self, rules: LocomotionRules) {
        self.rules = rules;
    }
}

/// `value`, or 0 when it is NaN or infinite.
fn finite_or_zero(value: f32) -> f32 {
    if value.is_finite() { value } else { 0.0 }
}

/// An angle wrapped to [−π, π); already-wrapped angles come back bit-identical (so
/// client and server replays agree), non-finite ones as 0.
fn wrap_angle(angle: f32) -> f32 {
    if (-PI..PI).contains(&angle) {
        return angle;
    }
    if !angle.is_finite() {
        return 0.0;
    }
    let wrapped = (angle + PI).rem_euclid(TAU) - PI;
    // `rem_euclid` may round up to TAU itself.
    if wrapped >= PI { -PI } else { wrapped }
}

/// Clamp one coordinate; NaN bounds are ignored (`f32::max`/`min` skip NaN).
fn clamp_axis(value: f32, low: f32, high: f32) -> f32 {
    value.max(low).min(high)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DT: f32 = 1.0 / 72.0;

    fn input(seq: u16, move_axis: Vec2, turn: f32) -> LocomotionInput {
        LocomotionInput { seq, dt: DT, move_axis, turn, teleport: None }
    }

    /// Plays `ticks` inputs through a client predictor and a server that sees each input
    /// `lag` ticks late and whose ack takes `lag` more; `server_view` is what the server
    /// makes of an input. Returns the predictor, the server root and every correction.
    fn play(
        ticks: u16,
        first_seq: u16,
        lag: usize,
        server_rules: LocomotionRules,
        mut make_input: impl FnMut(u16, u16) -> LocomotionInput,
        server_view: impl Fn(LocomotionInput) -> LocomotionInput,
    ) -> (Predictor, RootState, Vec<Correction>) {
        let mut client = Predictor::new(RootState::default(), LocomotionRules::default());
        let mut server = RootState::default();
        let mut sent = Vec::new();
        let mut acks: Vec<(usize, u16, RootState)> = Vec::new();
        let mut corrections = Vec::new();
        for tick in 0..usize::from(ticks) + 3 * lag {
            if tick < usize::from(ticks) {
                let seq = first_seq.wrapping_add(tick as u16);
                let input = make_input(tick as u16, seq);
                client.apply(input);
                sent.push(input);
            }
            if tick >= lag && tick - lag < sent.len() {
                let input = server_view(sent[tick - lag]);
                server = step(server, &input, &server_rules);
                acks.push((tick + lag, input.seq, server));
            }
            for (_, seq, state) in acks.iter().filter(|(due, _, _)| *due == tick) {
                client.reconcile(*seq, *state);
                corrections.push(client.last_correction());
            }
            client.decay(DT);
        }
        (client, server, corrections)
    }

    fn wander(tick: u16, seq: u16) -> LocomotionInput {
        let t = f32::from(tick);
        input(
            seq,
            Vec2::new((t * 0.13).sin(), (t * 0.07).cos() * 1.3),
            if tick.is_multiple_of(50) { FRAC_PI_4 } else { 0.01 },
        )
    }

    #[test]
    fn same_step_on_both_sides_means_no_correction_across_wraparound() {
        let (client, server, corrections) = play(400, 65_400, 4, LocomotionRules::default(), wander, |i| i);
        assert_eq!(corrections.len(), 400);
        for c in &corrections {
            assert_eq!(*c, Correction::default());
        }
        assert_eq!(client.predicted(), server);
        assert_eq!(client.rendered(), server);
        assert_eq!(client.pending(), 0);
    }

    #[test]
    fn bounds_the_client_did_not_know_converge_to_the_server() {
        let tight = LocomotionRules {
            bounds_min: Vec3::new(-5.0, -1.0, -5.0),
            bounds_max: Vec3::new(5.0, 1.0, 5.0),
            ..LocomotionRules::default()
        };
        // Walk forward for 5 s (10 m), then stand still.
        let forward = |tick: u16, seq| input(seq, if tick < 360 { Vec2::Y } else { Vec2::ZERO }, 0.0);
        let (client, server, corrections) = play(500, 0, 3, tight, forward, |i| i);
        assert_eq!(server.position.z, -5.0);
        assert!(corrections.iter().any(|c| c.position.length() > 0.0));
        assert!(corrections.iter().all(|c| !c.snapped), "small corrections smooth");
        assert_eq!(client.predicted(), server);
        assert!((client.rendered().position - server.position).length() < 1e-3);
    }

    #[test]
    fn rejected_teleport_snaps_back() {
        let teleport = |tick: u16, seq| LocomotionInput {
            teleport: (tick == 10).then_some(Vec3::new(10.0, 0.0, 10.0)),
            ..input(seq, Vec2::ZERO, 0.0)
        };
        let strip = |i: LocomotionInput| LocomotionInput { teleport: None, ..i };
        let (client, server, corrections) = play(40, 7, 2, LocomotionRules::default(), teleport, strip);
        let snap = corrections.iter().find(|c| c.snapped).expect("the rejected teleport snapped");
        assert!((snap.position - Vec3::new(-10.0, 0.0, -10.0)).length() < 1e-6);
        assert_eq!(client.rendered(), server);
        assert_eq!(server.position, Vec3::ZERO);
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert!(seq_newer(0, 65_535));
        assert!(!seq_newer(65_535, 0));
        assert!(seq_newer(100, 50) && !seq_newer(50, 100));
        assert!(!seq_newer(5, 5));
        assert!(!seq_newer(0x8000, 0) && !seq_newer(0, 0x8000));
        let mut client = Predictor::new(RootState::default(), LocomotionRules::default());
        for seq in [65_534, 65_535, 0, 1] {
            client.apply(input(seq, Vec2::X, 0.0));
        }
        client.reconcile(65_535, RootState::default());
        assert_eq!(client.pending(), 2);
        // A reordered, older ack changes nothing.
        let before = client.predicted();
        client.reconcile(65_534, RootState { position: Vec3::splat(3.0), yaw: 1.0 });
        assert_eq!(client.predicted(), before);
        client.reconcile(1, RootState::default());
        assert_eq!(client.pending(), 0);
    }

    #[test]
    fn stick_length_and_speed_are_clamped() {
        let rules = LocomotionRules::default();
        let moved =
            step(RootState::default(), &LocomotionInput { dt: 1.0, ..input(0, Vec2::new(5.0, 5.0), 0.0) }, &rules);
        // dt is cut to MAX_STEP_DT and the stick to unit length.
        assert!((moved.position.length() - rules.max_speed * MAX_STEP_DT).abs() < 1e-5);
        // A quarter turn counter-clockwise (seen from above) turns forward from −Z to −X.
        let turned = step(RootState::default(), &LocomotionInput { dt: 0.1, ..input(0, Vec2::Y, PI / 2.0) }, &rules);
        assert!((turned.position - Vec3::new(-0.2, 0.0, 0.0)).length() < 1e-5);
    }

    proptest! {
        #[test]
        fn garbage_never_escapes(
            dt in proptest::num::f32::ANY,
            x in proptest::num::f32::ANY,
            y in proptest::num::f32::ANY,
            turn in proptest::num::f32::ANY,
            tx in proptest::num::f32::ANY,
            speed in proptest::num::f32::ANY,
            px in proptest::num::f32::ANY,
            yaw in proptest::num::f32::ANY,
        ) {
            let rules = LocomotionRules { max_speed: speed, ..LocomotionRules::default() };
            let state = RootState { position: Vec3::new(px, 0.0, 1.0), yaw };
            let teleport = Some(Vec3::new(tx, 0.0, 2.0));
            let garbage = LocomotionInput { seq: 0, dt, move_axis: Vec2::new(x, y), turn, teleport };
            for teleport in [garbage.teleport, None] {
                let next = step(state, &LocomotionInput { teleport, ..garbage }, &rules);
                prop_assert!(next.position.is_finite() && next.yaw.is_finite());
                let (low, high) = (rules.bounds_min, rules.bounds_max);
                prop_assert!(next.position.cmpge(low).all() && next.position.cmple(high).all());
                prop_assert!((-PI..PI).contains(&next.yaw));
            }
            let mut client = Predictor::new(state, rules);
            client.apply(garbage);
            client.reconcile(0, RootState { position: Vec3::splat(px), yaw: turn });
            client.decay(dt);
            let shown = client.rendered();
            prop_assert!(shown.position.is_finite() && shown.yaw.is_finite());
        }
    }
}
