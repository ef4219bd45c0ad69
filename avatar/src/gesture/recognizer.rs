//! Per-hand gesture state over time: hysteresis on the classifier's confidences, the
//! wave detector, and the [`GestureEvent`]s they emit.

use std::collections::VecDeque;

use glam::Vec3;
use serde::{Deserialize, Serialize};

use super::{ClassifierConfig, Gesture, GestureScores, HandFeatures};
use crate::hand::{HandJoints, Handedness};

/// When a gesture starts and ends, in frames and confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HysteresisConfig {
    /// A gesture starts once its confidence stays at or above this for
    /// [`Self::enter_frames`] frames in a row. Default 0.7.
    pub enter_threshold: f32,
    /// An active gesture ends when its confidence falls below this. Default 0.4; the gap to
    /// the enter threshold is what stops a borderline hand from flickering.
    pub exit_threshold: f32,
    /// Consecutive confident frames before a start. Default 3 (33 ms at 90 Hz): enough to
    /// skip a one-frame tracking glitch, short enough that a grab still feels immediate.
    pub enter_frames: u32,
}

impl Default for HysteresisConfig {
    fn default() -> Self {
        Self { enter_threshold: 0.7, exit_threshold: 0.4, enter_frames: 3 }
    }
}

/// The wave detector: an open palm held up and swept side to side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaveConfig {
    /// Open-palm confidence the hand needs while waving. Default 0.5.
    pub min_open_palm: f32,
    /// Cosine between the fingers' direction and world up: "held up". Default 0.5 (within
    /// 60° of vertical, which also leaves the palm facing sideways or outwards).
    pub min_fingers_up: f32,
    /// How far the palm must come back from a turning point for it to count as a reversal,
    /// metres. Default 4 cm: jitter and drift stay far below, a wave sweeps 10–30 cm.
    pub min_amplitude: f32,
    /// Reversals needed within [`Self::window_s`] to start a wave. Default 2 (there and back).
    pub min_reversals: u32,
    /// Seconds a reversal counts for; the wave ends when none is left. Default 1.5 s.
    pub window_s: f32,
}

impl Default for WaveConfig {
    fn default() -> Self {
        Self { min_open_palm: 0.5, min_fingers_up: 0.5, min_amplitude: 0.04, min_reversals: 2, window_s: 1.5 }
    }
}

/// Everything a [`GestureRecognizer`] can be tuned by; part of the client's settings.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GestureConfig {
    /// Per-frame classification.
    pub classifier: ClassifierConfig,
    /// Start and end of static gestures.
    pub hysteresis: HysteresisConfig,
    /// The wave.
    pub wave: WaveConfig,
}

/// Whether a gesture began or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GestureEventKind {
    /// The gesture began.
    Started,
    /// The gesture finished (or tracking was lost).
    Ended,
}

/// A gesture beginning or finishing on one hand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GestureEvent {
    /// The hand that made it.
    pub hand: Handedness,
    /// Began or finished.
    pub kind: GestureEventKind,
    /// Which gesture.
    pub gesture: Gesture,
    /// The confidence in that frame (for an end, usually below the exit threshold).
    pub confidence: f32,
    /// The frame's time, seconds on the caller's clock.
    pub time_s: f64,
}

/// The gesture a hand is holding now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActiveGesture {
    /// Which gesture.
    pub gesture: Gesture,
    /// Its confidence in the latest frame.
    pub confidence: f32,
    /// When it started, seconds on the caller's clock.
    pub since_s: f64,
}

/// Turns one hand's frames into [`GestureEvent`]s: hysteresis over the static scores, plus
/// the wave detector. At most one static gesture is active at a time; a wave runs alongside
/// (it is an open palm in motion).
#[derive(Debug, Clone)]
pub struct GestureRecognizer {
    hand: Handedness,
    config: GestureConfig,
    active: Option<ActiveGesture>,
    candidate: Option<(Gesture, u32)>,
    scores: GestureScores,
    wave: WaveDetector,
}

impl GestureRecognizer {
    /// A recognizer for `hand` with nothing active.
    #[must_use]
    pub fn new(hand: Handedness, config: GestureConfig) -> Self {
        Self { hand, config, active: None, candidate: None, scores: GestureScores::ZERO, wave: WaveDetector::default() }
    }

    /// The hand this recognizer watches.
    #[must_use]
    pub fn hand(&self) -> Handedness {
        self.hand
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &GestureConfig {
        &self.config
    }

    /// The static gesture active now, if any.
    #[must_use]
    pub fn current(&self) -> Option<ActiveGesture> {
        self.active
    }

    /// Whether a wave is in progress.
    #[must_use]
    pub fn waving(&self) -> bool {
        self.wave.active
    }

    /// The latest frame's scores.
    #[must_use]
    pub fn scores(&self) -> &GestureScores {
        &self.scores
    }

    /// Feeds one tracked frame; `time_s` must not go backwards. Returns the events this
    /// frame caused (usually none).
    pub fn update(&mut self, joints: &HandJoints, time_s: f64) -> Vec<GestureEvent> {
        let features = HandFeatures::from_joints(joints);
        let scores = GestureScores::from_features(&features, &self.config.classifier);
        let mut events = self.update_scores(scores, time_s);
        let open_palm = scores.get(Gesture::OpenPalm);
        if let Some((kind, confidence)) = self.wave.update(&features, open_palm, time_s, &self.config.wave) {
            events.push(self.event(kind, Gesture::Wave, confidence, time_s));
        }
        events
    }

    /// Feeds one frame of scores from elsewhere (a controller, another classifier): the
    /// hysteresis alone, without the wave detector.
    pub fn update_scores(&mut self, scores: GestureScores, time_s: f64) -> Vec<GestureEvent> {
        let hysteresis = self.config.hysteresis;
        self.scores = scores;
        let mut events = Vec::new();
        if let Some(active) = self.active {
            let confidence = scores.get(active.gesture);
            if confidence < hysteresis.exit_threshold {
                self.active = None;
                events.push(self.event(GestureEventKind::Ended, active.gesture, confidence, time_s));
            } else {
                self.active = Some(ActiveGesture { confidence, ..active });
            }
        }
        let current = self.active.map(|active| active.gesture);
        match scores.best_except(current) {
            Some((gesture, confidence)) if confidence >= hysteresis.enter_threshold => {
                let frames = match self.candidate {
                    Some((previous, frames)) if previous == gesture => frames.saturating_add(1),
                    _ => 1,
                };
                self.candidate = Some((gesture, frames));
                // A confident newcomer replaces an active gesture only when it is stronger,
                // so two overlapping definitions cannot trade places every frame.
                let beats_active = self.active.is_none_or(|active| confidence > active.confidence);
                if frames >= hysteresis.enter_frames && beats_active {
                    if let Some(old) = self.active.take() {
                        events.push(self.event(GestureEventKind::Ended, old.gesture, old.confidence, time_s));
                    }
                    self.active = Some(ActiveGesture { gesture, confidence, since_s: time_s });
                    self.candidate = None;
                    events.push(self.event(GestureEventKind::Started, gesture, confidence, time_s));
                }
            }
            _ => self.candidate = None,
        }
        events
    }

    /// Tracking of this hand was lost: ends whatever was active (confidence 0) and forgets
    /// the wave's motion.
    pub fn lose_tracking(&mut self, time_s: f64) -> Vec<GestureEvent> {
        let mut events = Vec::new();
        if let Some(active) = self.active.take() {
            events.push(self.event(GestureEventKind::Ended, active.gesture, 0.0, time_s));
        }
        if self.wave.active {
            events.push(self.event(GestureEventKind::Ended, Gesture::Wave, 0.0, time_s));
        }
        self.candidate = None;
        self.scores = GestureScores::ZERO;
        self.wave = WaveDetector::default();
        events
    }

    fn event(&self, kind: GestureEventKind, gesture: Gesture, confidence: f32, time_s: f64) -> GestureEvent {
        GestureEvent { hand: self.hand, kind, gesture, confidence, time_s }
    }
}

/// Counts side-to-side reversals of the palm along a horizontal axis across the hand,
/// captured when the hand becomes ready (open palm held up).
#[derive(Debug, Clone, Default)]
struct WaveDetector {
    track: Option<WaveTrack>,
    /// Times of the turning points that still count.
    reversals: VecDeque<f64>,
    active: bool,
}

/// A zig-zag filter on the palm's position along one axis: a turning point counts once the
/// palm has come back from it by the minimum amplitude.
#[derive(Debug, Clone, Copy)]
struct WaveTrack {
    axis: Vec3,
    /// +1 moving along the axis, −1 against it, 0 not yet known.
    direction: i8,
    low: f32,
    high: f32,
    extreme: f32,
    extreme_s: f64,
}

impl WaveTrack {
    /// Advances by one sample; returns the time of a turning point confirmed by it.
    fn step(&mut self, x: f32, time_s: f64, amplitude: f32) -> Option<f64> {
        if self.direction == 0 {
            self.low = self.low.min(x);
            self.high = self.high.max(x);
            if x - self.low >= amplitude {
                self.direction = 1;
            } else if self.high - x >= amplitude {
                self.direction = -1;
            } else {
                return None;
            }
            self.extreme = x;
            self.extreme_s = time_s;
            return None;
        }
        let sign = f32::from(self.direction);
        if (x - self.extreme) * sign > 0.0 {
            self.extreme = x;
            self.extreme_s = time_s;
            None
        } else if (self.extreme - x) * sign >= amplitude {
            let turned_at = self.extreme_s;
            self.direction = -self.direction;
            self.extreme = x;
            self.extreme_s = time_s;
            Some(turned_at)
        } else {
            None
        }
    }
}

impl WaveDetector {
    fn update(
        &mut self,
        features: &HandFeatures,
        open_palm: f32,
        time_s: f64,
        config: &WaveConfig,
    ) -> Option<(GestureEventKind, f32)> {
        let ready =
            features.valid && open_palm >= config.min_open_palm && features.hand_forward.y >= config.min_fingers_up;
        if !ready {
            self.track = None;
            self.reversals.clear();
            return self.finish();
        }
        let track = match &mut self.track {
            Some(track) => track,
            empty => {
                let across = features.palm_normal.cross(features.hand_forward);
                let axis = Vec3::new(across.x, 0.0, across.z).try_normalize()?;
                let x = features.palm_position.dot(axis);
                empty.insert(WaveTrack { axis, direction: 0, low: x, high: x, extreme: x, extreme_s: time_s })
            }
        };
        let x = features.palm_position.dot(track.axis);
        if let Some(turned_at) = track.step(x, time_s, config.min_amplitude) {
            self.reversals.push_back(turned_at);
        }
        let window = f64::from(config.window_s);
        while self.reversals.front().is_some_and(|&turned_at| time_s - turned_at > window) {
            self.reversals.pop_front();
        }
        let reversals = u32::try_from(self.reversals.len()).unwrap_or(u32::MAX);
        if !self.active && reversals >= config.min_reversals.max(1) {
            self.active = true;
            return Some((GestureEventKind::Started, open_palm));
        }
        if self.reversals.is_empty() {
            return self.finish();
        }
        None
    }

    fn finish(&mut self) -> Option<(GestureEventKind, f32)> {
        if self.active {
            self.active = false;
            Some((GestureEventKind::Ended, 0.0))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f32::consts::FRAC_PI_2;

    use glam::Quat;

    use super::super::STATIC_GESTURES;
    use super::super::synth::HandShape;
    use super::*;
    use crate::pose::Pose;
    use crate::rng::SplitMix64;

    fn one_hot(gesture: Gesture, confidence: f32) -> GestureScores {
        let mut values = [0.0; STATIC_GESTURES];
        if let Some(i) = gesture.static_index() {
            values[i] = confidence;
        }
        GestureScores::from_values(values)
    }

    fn count(events: &[GestureEvent], kind: GestureEventKind) -> usize {
        events.iter().filter(|event| event.kind == kind).count()
    }

    #[test]
    fn hysteresis_does_not_flicker() {
        let mut recognizer = GestureRecognizer::new(Handedness::Right, GestureConfig::default());
        let mut events = Vec::new();
        let mut time_s = 0.0;
        let mut feed = |recognizer: &mut GestureRecognizer, confidence: f32, events: &mut Vec<GestureEvent>| {
            time_s += 1.0 / 90.0;
            events.extend(recognizer.update_scores(one_hot(Gesture::Fist, confidence), time_s));
        };
        // Flickering across the enter threshold never holds long enough to start.
        for frame in 0..30 {
            feed(&mut recognizer, if frame % 2 == 0 { 0.72 } else { 0.65 }, &mut events);
        }
        assert!(events.is_empty(), "{events:?}");
        // Held: one start. Flickering between the thresholds afterwards: no end.
        for frame in 0..40 {
            let confidence = if frame < 5 { 0.9 } else { [0.45, 0.75][frame % 2] };
            feed(&mut recognizer, confidence, &mut events);
        }
        assert_eq!((count(&events, GestureEventKind::Started), count(&events, GestureEventKind::Ended)), (1, 0));
        // Flickering across the exit threshold: one end, and no restart below the enter one.
        for frame in 0..30 {
            feed(&mut recognizer, if frame % 2 == 0 { 0.35 } else { 0.45 }, &mut events);
        }
        assert_eq!((count(&events, GestureEventKind::Started), count(&events, GestureEventKind::Ended)), (1, 1));
        assert!(events.iter().all(|event| event.gesture == Gesture::Fist && event.hand == Handedness::Right));
        assert_eq!(recognizer.current(), None);
    }

    #[test]
    fn a_stronger_gesture_takes_over() {
        let mut recognizer = GestureRecognizer::new(Handedness::Left, GestureConfig::default());
        let mut events = Vec::new();
        for frame in 0..5_u32 {
            events.extend(recognizer.update_scores(one_hot(Gesture::Pinch, 0.8), f64::from(frame)));
        }
        let both = GestureScores::from_values([0.6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95]);
        for frame in 5..10_u32 {
            events.extend(recognizer.update_scores(both, f64::from(frame)));
        }
        let sequence: Vec<_> = events.iter().map(|event| (event.kind, event.gesture)).collect();
        assert_eq!(
            sequence,
            [
                (GestureEventKind::Started, Gesture::Pinch),
                (GestureEventKind::Ended, Gesture::Pinch),
                (GestureEventKind::Started, Gesture::Ok),
            ]
        );
        assert_eq!(recognizer.lose_tracking(11.0).len(), 1);
        assert_eq!(recognizer.current(), None);
    }

    /// An open palm held up and facing away, swept side to side (±6 cm, 1.5 Hz, a little
    /// swing about the elbow) for `wave_s` seconds, then held still; 90 Hz, 2 mm jitter.
    fn run_palm(wave_s: f64) -> Vec<GestureEvent> {
        let shape = HandShape::for_gesture(Gesture::OpenPalm);
        let mut rng = SplitMix64::new(5);
        let mut recognizer = GestureRecognizer::new(Handedness::Right, GestureConfig::default());
        let mut events = Vec::new();
        for frame in 0..360_u32 {
            let time_s = f64::from(frame) / 90.0;
            let phase = if time_s < wave_s { (std::f64::consts::TAU * 1.5 * time_s).sin() as f32 } else { 0.0 };
            let swing = Quat::from_rotation_z(0.25 * phase) * Quat::from_rotation_x(FRAC_PI_2);
            let wrist = Pose::new(Vec3::new(0.2 + 0.06 * phase, 1.3, -0.4), swing);
            let mut joints = shape.joints(Handedness::Right, &wrist);
            for joint in &mut joints {
                joint.position += Vec3::new(rng.gaussian(), rng.gaussian(), rng.gaussian()) * 0.002;
            }
            events.extend(recognizer.update(&joints, time_s));
        }
        events
    }

    #[test]
    fn a_wave_is_reported_once() {
        let events = run_palm(2.0);
        let waves: Vec<_> = events.iter().filter(|event| event.gesture == Gesture::Wave).collect();
        assert_eq!(waves.iter().filter(|event| event.kind == GestureEventKind::Started).count(), 1, "{waves:?}");
        assert_eq!(waves.iter().filter(|event| event.kind == GestureEventKind::Ended).count(), 1, "{waves:?}");
        let palms = events.iter().filter(|e| e.gesture == Gesture::OpenPalm && e.kind == GestureEventKind::Started);
        assert_eq!(palms.count(), 1, "{events:?}");
    }

    #[test]
    fn a_still_open_palm_is_no_wave() {
        let events = run_palm(0.0);
        assert!(events.iter().all(|event| event.gesture != Gesture::Wave), "{events:?}");
        assert_eq!(events.len(), 1, "{events:?}");
    }
}
