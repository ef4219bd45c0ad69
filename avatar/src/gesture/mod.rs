//! # Hand gestures
//!
//! Seven static gestures — pinch, fist (grab), point, open palm, thumbs-up, victory (V sign),
//! OK — and one temporal gesture, the wave, recognised from the 26 OpenXR hand joints and
//! delivered as [`GestureEvent`]s that the client routes to grabbing, UI and the companion's
//! reactions.
//!
//! The pipeline, once per frame and hand:
//! 1. [`HandFeatures::from_joints`] expresses the joints in a hand frame built from the wrist
//!    and the knuckles, so what it measures does not depend on how the hand is held: curl per
//!    finger, the thumb–index tip distance, finger spread, thumb extension. Two features stay
//!    in world space on purpose — the thumb's direction (thumbs-up means *up*) and the palm's
//!    facing (a wave is an open palm held up).
//! 2. [`GestureScores::from_features`] turns them into a confidence in [0, 1] per static
//!    gesture with soft thresholds ([`SoftThreshold`]; the values and their reasons are on
//!    [`ClassifierConfig`]); [`GestureScores::best`] picks one gesture or none.
//! 3. [`GestureRecognizer`], one per hand, adds hysteresis (a gesture starts after a few
//!    confident frames and ends only well below that) and the wave detector, and emits
//!    [`GestureEvent`]s.
//!
//! [`synth`] generates hand poses from a handful of shape parameters: canonical gestures for
//! tests, a labelled noisy data set with an accuracy table, and finger poses for controllers
//! without hand tracking ([`synth::HandShape::from_controller`]).
//!
//! Not here: the OpenXR binding that fills [`HandJoints`], and what the client does with the
//! events.
//!
//! ```
//! use nexus_avatar::gesture::synth::HandShape;
//! use nexus_avatar::gesture::{Gesture, GestureConfig, GestureEventKind, GestureRecognizer};
//! use nexus_avatar::hand::Handedness;
//! use nexus_avatar::pose::Pose;
//!
//! let mut recognizer = GestureRecognizer::new(Handedness::Right, GestureConfig::default());
//! let fist = HandShape::for_gesture(Gesture::Fist).joints(Handedness::Right, &Pose::IDENTITY);
//! let mut events = Vec::new();
//! for frame in 0..5_u32 {
//!     events.extend(recognizer.update(&fist, f64::from(frame) / 90.0));
//! }
//! assert_eq!(events.len(), 1);
//! assert_eq!((events[0].kind, events[0].gesture), (GestureEventKind::Started, Gesture::Fist));
//! assert_eq!(recognizer.current().map(|active| active.gesture), Some(Gesture::Fist));
//! ```

mod recognizer;
pub mod synth;

pub use recognizer::{
    ActiveGesture, GestureConfig, GestureEvent, GestureEventKind, GestureRecognizer, HysteresisConfig, WaveConfig,
};

use std::fmt;

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::hand::{Finger, HandJoint, HandJoints};

/// Total flexion of a fully curled finger (MCP 85° + PIP 105° + DIP 70°), in radians: the
/// divisor that maps a finger's summed bend angles to a curl in [0, 1].
pub const FINGER_CURL_RANGE_RAD: f32 = 260.0 * std::f32::consts::PI / 180.0;

/// Total flexion of a fully curled thumb (MCP 60° + IP 80°), in radians.
pub const THUMB_CURL_RANGE_RAD: f32 = 140.0 * std::f32::consts::PI / 180.0;

/// Number of static gestures ([`Gesture::STATIC`]).
pub const STATIC_GESTURES: usize = 7;

/// A hand gesture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gesture {
    /// Thumb tip on the index tip, the other fingers not all straight: select, pick up.
    Pinch,
    /// All four fingers curled: grab. The thumb may be anywhere except straight and up.
    Fist,
    /// Index straight, middle, ring and little curled.
    Point,
    /// All four fingers straight. The thumb is not read: a tucked thumb is still a palm.
    OpenPalm,
    /// A fist with a straight thumb pointing up (world up).
    ThumbsUp,
    /// Index and middle straight and apart, ring and little curled (V sign).
    Victory,
    /// Thumb and index tips touching in a ring, middle, ring and little straight.
    Ok,
    /// An open palm held up, swept side to side. Temporal: it never gets a static score.
    Wave,
}

impl Gesture {
    /// The gestures a single frame can show, in [`GestureScores`] order.
    pub const STATIC: [Self; STATIC_GESTURES] =
        [Self::Pinch, Self::Fist, Self::Point, Self::OpenPalm, Self::ThumbsUp, Self::Victory, Self::Ok];

    /// Position in [`Self::STATIC`]; `None` for [`Self::Wave`].
    #[must_use]
    pub const fn static_index(self) -> Option<usize> {
        // The variants are declared in `STATIC` order, with the temporal one last.
        match self {
            Self::Wave => None,
            gesture => Some(gesture as usize),
        }
    }

    /// The gesture's name, as written in tables and logs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pinch => "Pinch",
            Self::Fist => "Fist",
            Self::Point => "Point",
            Self::OpenPalm => "OpenPalm",
            Self::ThumbsUp => "ThumbsUp",
            Self::Victory => "Victory",
            Self::Ok => "Ok",
            Self::Wave => "Wave",
        }
    }
}

impl fmt::Display for Gesture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the classifier reads from one hand pose. Everything but the world-space directions
/// and the palm position is measured in the hand's own frame, so it is the same however the
/// hand is turned, and the same for a left hand and its mirror image. The default, all
/// zero, is what input that is not a hand measures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HandFeatures {
    /// Whether the joints were finite and spread out enough to build a hand frame. When
    /// false every other field is zero.
    pub valid: bool,
    /// Curl per digit, thumb first ([`Finger::ALL`] order): the bend angles along the chain
    /// summed and divided by [`FINGER_CURL_RANGE_RAD`] (thumb: [`THUMB_CURL_RANGE_RAD`]),
    /// clamped to [0, 1]. Fingers sum *signed* flexion towards the palm, so tracking jitter
    /// averages out instead of reading as bend; the thumb, which flexes in its own plane,
    /// sums unsigned angles and reads a straight thumb as 0.1–0.2 under noise (the classifier
    /// uses [`Self::thumb_extension`] instead).
    pub curl: [f32; 5],
    /// Distance between the thumb tip and the index tip, metres.
    pub pinch_distance: f32,
    /// Angle between the index and middle fingers (knuckle to tip) in the palm plane, radians.
    pub index_middle_spread: f32,
    /// Angle between the index and little fingers in the palm plane, radians: overall spread.
    pub spread: f32,
    /// Thumb straightness: tip-to-base distance over the thumb's length, in [0, 1]; 1 is a
    /// straight thumb, about 0.6 one folded across the palm.
    pub thumb_extension: f32,
    /// World direction the thumb points (proximal joint to tip); unit.
    pub thumb_direction: Vec3,
    /// World direction from the wrist to the middle knuckle; unit.
    pub hand_forward: Vec3,
    /// World direction out of the palm; unit.
    pub palm_normal: Vec3,
    /// World position of the palm joint.
    pub palm_position: Vec3,
    /// Wrist-to-middle-knuckle distance, metres (an adult's is 8–9 cm).
    pub hand_size: f32,
}

impl HandFeatures {
    /// Measures one hand. Never panics and never returns NaN: joints that are not finite or
    /// do not span a hand give the (invalid) default.
    #[must_use]
    pub fn from_joints(joints: &HandJoints) -> Self {
        if joints.iter().any(|pose| !pose.position.is_finite()) {
            return Self::default();
        }
        let at = |joint: HandJoint| joints[joint.index()].position;
        let Some(frame) = HandFrame::new(joints) else {
            return Self::default();
        };
        let mut curl = [0.0; 5];
        for (slot, finger) in curl.iter_mut().zip(Finger::ALL) {
            *slot = frame.curl(joints, finger);
        }
        let planar = |finger: Finger| {
            let chain = finger.chain();
            let along = frame.to_local(at(finger.tip()) - at(chain[1]));
            Vec3::new(along.x, 0.0, along.z)
        };
        let thumb = Finger::Thumb.chain();
        let thumb_length: f32 = thumb.windows(2).map(|bone| at(bone[0]).distance(at(bone[1]))).sum();
        let thumb_reach = at(HandJoint::ThumbTip).distance(at(HandJoint::ThumbMetacarpal));
        let thumb_extension = if thumb_length > 1e-6 { (thumb_reach / thumb_length).clamp(0.0, 1.0) } else { 0.0 };
        Self {
            valid: true,
            curl,
            pinch_distance: at(HandJoint::ThumbTip).distance(at(HandJoint::IndexTip)),
            index_middle_spread: unsigned_angle(planar(Finger::Index), planar(Finger::Middle)),
            spread: unsigned_angle(planar(Finger::Index), planar(Finger::Little)),
            thumb_extension,
            thumb_direction: (at(HandJoint::ThumbTip) - at(HandJoint::ThumbProximal)).normalize_or_zero(),
            hand_forward: -frame.z,
            palm_normal: -frame.y,
            palm_position: at(HandJoint::Palm),
            hand_size: frame.size,
        }
    }
}

/// The hand's own frame, OpenXR style: −Z from the wrist towards the middle knuckle, +Y out
/// of the back of the hand.
struct HandFrame {
    x: Vec3,
    y: Vec3,
    z: Vec3,
    size: f32,
}

impl HandFrame {
    /// Built from the positions of the wrist and the index, middle and little knuckles, the
    /// same joints the features read, so a rigid motion of the hand moves frame and joints
    /// alike. Positions alone cannot tell a right hand's back from a left hand's palm, so the
    /// wrist joint's +Y — the back of the hand for either hand in OpenXR — settles the sign;
    /// only its sign is used, so a poorly tracked wrist orientation does not matter.
    fn new(joints: &HandJoints) -> Option<Self> {
        let at = |joint: HandJoint| joints[joint.index()].position;
        let wrist = at(HandJoint::Wrist);
        let knuckle = at(HandJoint::MiddleProximal);
        let forward = (knuckle - wrist).try_normalize()?;
        let across = at(HandJoint::IndexProximal) - at(HandJoint::LittleProximal);
        let across = (across - forward * across.dot(forward)).try_normalize()?;
        let mut back = forward.cross(across);
        if back.dot(joints[HandJoint::Wrist.index()].rotation * Vec3::Y) < 0.0 {
            back = -back;
        }
        let z = -forward;
        let x = back.cross(z);
        Some(Self { x, y: back, z, size: wrist.distance(knuckle) })
    }

    fn to_local(&self, v: Vec3) -> Vec3 {
        Vec3::new(v.dot(self.x), v.dot(self.y), v.dot(self.z))
    }

    fn curl(&self, joints: &HandJoints, finger: Finger) -> f32 {
        let bone =
            |from: HandJoint, to: HandJoint| self.to_local(joints[to.index()].position - joints[from.index()].position);
        let (bend, range): (fn(Vec3, Vec3) -> f32, f32) = match finger {
            Finger::Thumb => (unsigned_angle, THUMB_CURL_RANGE_RAD),
            _ => (flexion_angle, FINGER_CURL_RANGE_RAD),
        };
        let total: f32 = finger.chain().windows(3).map(|w| bend(bone(w[0], w[1]), bone(w[1], w[2]))).sum();
        (total / range).clamp(0.0, 1.0)
    }
}

/// Signed angle from `u` to `v` about the hand's −X axis (both in the hand frame), positive
/// when `v` bends towards the palm. Zero vectors give 0.
fn flexion_angle(u: Vec3, v: Vec3) -> f32 {
    (u.z * v.y - u.y * v.z).atan2(u.y * v.y + u.z * v.z)
}

/// Angle between two vectors in [0, π]; zero vectors give 0 (glam's `angle_between` gives NaN).
fn unsigned_angle(u: Vec3, v: Vec3) -> f32 {
    u.cross(v).length().atan2(u.dot(v))
}

/// A soft threshold: membership rises (or falls) along a smoothstep from 0 at `zero_at` to 1
/// at `one_at`. `one_at < zero_at` makes a falling ramp ("at most").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftThreshold {
    /// Value at which, and beyond which away from `one_at`, membership is 0.
    pub zero_at: f32,
    /// Value at which, and beyond which away from `zero_at`, membership is 1.
    pub one_at: f32,
}

impl SoftThreshold {
    /// A ramp from 0 at `zero_at` to 1 at `one_at`.
    #[must_use]
    pub const fn new(zero_at: f32, one_at: f32) -> Self {
        Self { zero_at, one_at }
    }

    /// Membership of `value` in [0, 1]; NaN gives 0, equal ends give a step up at `one_at`.
    #[must_use]
    pub fn membership(&self, value: f32) -> f32 {
        if value.is_nan() {
            return 0.0;
        }
        let span = self.one_at - self.zero_at;
        if span.abs() <= f32::EPSILON {
            return f32::from(value >= self.one_at);
        }
        let t = ((value - self.zero_at) / span).clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    }
}

/// The classifier's soft thresholds. Defaults are set from the synthetic hands in [`synth`]
/// and typical tracking noise (3 mm per axis); the reasons are on each field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifierConfig {
    /// "Finger straight", on curl. Default 1 at ≤ 0.22 (≈ 57° of total bend), 0 at ≥ 0.38:
    /// straight fingers measure 0–0.15 under noise, a relaxed hand rests at 0.4–0.55 and must
    /// not read as straight.
    pub extended: SoftThreshold,
    /// "Finger curled", on curl. Default 0 at ≤ 0.50, 1 at ≥ 0.65 (≈ 170°): fists measure
    /// 0.75–1, and the relaxed range stays below.
    pub curled: SoftThreshold,
    /// "Thumb and index touching", on the tip distance in metres. Default 1 at ≤ 1.5 cm, 0 at
    /// ≥ 3 cm: OpenXR tip joints sit at the fingertip ends, about 1 cm apart when the pads
    /// touch; a relaxed thumb rests 3 cm or more from the index tip.
    pub pinch_contact: SoftThreshold,
    /// "Index free to pinch", on index curl. Default 1 at ≤ 0.70, 0 at ≥ 0.85: a thumb
    /// resting on a fully tucked index is a fist, not a pinch.
    pub pinch_index_free: SoftThreshold,
    /// "Thumb straight", on thumb extension. Default 0 at ≤ 0.82, 1 at ≥ 0.92: a straight
    /// thumb measures 0.95–1, one folded over a fist 0.6–0.8.
    pub thumb_extended: SoftThreshold,
    /// "Thumb points up", on the cosine between the thumb and world up. Default 0 at ≤ 0.5
    /// (60° off vertical), 1 at ≥ 0.8 (37°): a thumbs-up is shown loosely.
    pub thumb_up: SoftThreshold,
    /// "Index and middle apart", radians. Default 0 at ≤ 8°, 1 at ≥ 14°: fingers held
    /// together measure 2–6°, a V sign 18–30°.
    pub victory_spread: SoftThreshold,
    /// The best gesture below this confidence is reported as none. Default 0.5, where a
    /// gesture is more likely than not.
    pub min_confidence: f32,
    /// Hands smaller than this (wrist to middle knuckle, metres) are tracking failures and
    /// score zero everywhere. Default 4 cm, half a small adult hand.
    pub min_hand_size: f32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            extended: SoftThreshold::new(0.38, 0.22),
            curled: SoftThreshold::new(0.50, 0.65),
            pinch_contact: SoftThreshold::new(0.030, 0.015),
            pinch_index_free: SoftThreshold::new(0.85, 0.70),
            thumb_extended: SoftThreshold::new(0.82, 0.92),
            thumb_up: SoftThreshold::new(0.5, 0.8),
            victory_spread: SoftThreshold::new(8_f32.to_radians(), 14_f32.to_radians()),
            min_confidence: 0.5,
            min_hand_size: 0.04,
        }
    }
}

/// A recognised gesture and how sure the classifier is of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GestureMatch {
    /// The gesture.
    pub gesture: Gesture,
    /// Confidence in [0, 1].
    pub confidence: f32,
}

/// One confidence in [0, 1] per static gesture, in [`Gesture::STATIC`] order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GestureScores {
    values: [f32; STATIC_GESTURES],
}

impl GestureScores {
    /// Every gesture at zero.
    pub const ZERO: Self = Self { values: [0.0; STATIC_GESTURES] };

    /// Scores given in [`Gesture::STATIC`] order (for callers with their own classifier);
    /// each is clamped to [0, 1], NaN becomes 0.
    #[must_use]
    pub fn from_values(values: [f32; STATIC_GESTURES]) -> Self {
        Self { values: values.map(|v| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }) }
    }

    /// Scores every static gesture. Each is a fuzzy AND (the minimum) of the memberships its
    /// definition needs, so a confidence names its weakest condition. Invalid or too small
    /// hands score zero everywhere.
    #[must_use]
    pub fn from_features(features: &HandFeatures, config: &ClassifierConfig) -> Self {
        if !features.valid || features.hand_size < config.min_hand_size {
            return Self::ZERO;
        }
        let straight = features.curl.map(|curl| config.extended.membership(curl));
        let curled = features.curl.map(|curl| config.curled.membership(curl));
        let [_, index_straight, middle_straight, ring_straight, little_straight] = straight;
        let [_, index_curled, middle_curled, ring_curled, little_curled] = curled;
        let contact = config.pinch_contact.membership(features.pinch_distance);
        let thumb_raised = config
            .thumb_extended
            .membership(features.thumb_extension)
            .min(config.thumb_up.membership(features.thumb_direction.y));
        let others_straight = middle_straight.min(ring_straight).min(little_straight);
        let four_curled = index_curled.min(middle_curled).min(ring_curled).min(little_curled);
        let apart = config.victory_spread.membership(features.index_middle_spread);

        // Pinch and OK differ only in the other three fingers, so they split that one
        // membership between them instead of both claiming a half-open hand.
        let pinch = contact.min(config.pinch_index_free.membership(features.curl[1])).min(1.0 - others_straight);
        let fist = four_curled.min(1.0 - thumb_raised);
        let point = index_straight.min(middle_curled).min(ring_curled).min(little_curled);
        let open_palm = index_straight.min(middle_straight).min(ring_straight).min(little_straight);
        let thumbs_up = four_curled.min(thumb_raised);
        let victory = index_straight.min(middle_straight).min(ring_curled).min(little_curled).min(apart);
        let ok = contact.min(others_straight);
        Self::from_values([pinch, fist, point, open_palm, thumbs_up, victory, ok])
    }

    /// The confidence of `gesture`; 0 for [`Gesture::Wave`].
    #[must_use]
    pub fn get(&self, gesture: Gesture) -> f32 {
        gesture.static_index().map_or(0.0, |i| self.values[i])
    }

    /// Every static gesture with its confidence.
    pub fn iter(&self) -> impl Iterator<Item = (Gesture, f32)> {
        Gesture::STATIC.into_iter().zip(self.values)
    }

    /// The most confident gesture if it reaches `min_confidence` (and is above 0); ties go
    /// to the earlier gesture in [`Gesture::STATIC`].
    #[must_use]
    pub fn best(&self, min_confidence: f32) -> Option<GestureMatch> {
        self.best_except(None)
            .filter(|&(_, confidence)| confidence > 0.0 && confidence >= min_confidence)
            .map(|(gesture, confidence)| GestureMatch { gesture, confidence })
    }

    fn best_except(&self, excluded: Option<Gesture>) -> Option<(Gesture, f32)> {
        let mut best: Option<(Gesture, f32)> = None;
        for (gesture, confidence) in self.iter() {
            if Some(gesture) != excluded && best.is_none_or(|(_, top)| confidence > top) {
                best = Some((gesture, confidence));
            }
        }
        best
    }
}

/// Classifies one frame without hysteresis: the best static gesture, or none.
#[must_use]
pub fn classify(joints: &HandJoints, config: &ClassifierConfig) -> Option<GestureMatch> {
    GestureScores::from_features(&HandFeatures::from_joints(joints), config).best(config.min_confidence)
}

#[cfg(test)]
mod tests {
    use super::synth::HandShape;
    use super::*;
    use crate::hand::Handedness;
    use crate::pose::Pose;

    // Recognition of synthetic hands — canonical shapes, invariance to wrist rotation and
    // handedness, accuracy on a noisy labelled set — is tested in `synth`.

    #[test]
    fn static_gestures_index_their_scores() {
        for (i, gesture) in Gesture::STATIC.into_iter().enumerate() {
            assert_eq!(gesture.static_index(), Some(i));
        }
        assert_eq!(Gesture::Wave.static_index(), None);
    }

    #[test]
    fn soft_thresholds_ramp_both_ways_and_ignore_nan() {
        let rising = SoftThreshold::new(1.0, 2.0);
        assert_eq!((rising.membership(0.5), rising.membership(1.5), rising.membership(3.0)), (0.0, 0.5, 1.0));
        let falling = SoftThreshold::new(2.0, 1.0);
        assert_eq!((falling.membership(0.5), falling.membership(1.5), falling.membership(3.0)), (1.0, 0.5, 0.0));
        assert_eq!(rising.membership(f32::NAN), 0.0);
        assert_eq!(SoftThreshold::new(1.0, 1.0).membership(1.0), 1.0);
    }

    #[test]
    fn degenerate_hands_give_no_nan_and_no_gesture() {
        let collapsed = [Pose::at(Vec3::splat(0.5)); crate::hand::HAND_JOINTS];
        let nan = [Pose::at(Vec3::NAN); crate::hand::HAND_JOINTS];
        for joints in [collapsed, nan] {
            let features = HandFeatures::from_joints(&joints);
            assert!(!features.valid);
            assert!(features.curl.iter().all(|c| c.is_finite()));
            assert_eq!(GestureScores::from_features(&features, &ClassifierConfig::default()), GestureScores::ZERO);
            let mut recognizer = GestureRecognizer::new(Handedness::Left, GestureConfig::default());
            for frame in 0..10_u32 {
                assert!(recognizer.update(&joints, f64::from(frame) * 0.01).is_empty());
            }
        }
        // A valid palm whose fingers collapsed onto the wrist: zero-length bones everywhere.
        let mut stubby = HandShape::RELAXED.joints(Handedness::Right, &Pose::IDENTITY);
        for finger in Finger::ALL {
            for joint in &finger.chain()[2..] {
                stubby[joint.index()] = Pose::IDENTITY;
            }
        }
        let features = HandFeatures::from_joints(&stubby);
        assert!(features.valid);
        assert!(features.curl.iter().chain([&features.spread, &features.thumb_extension]).all(|x| x.is_finite()));
        let scores = GestureScores::from_features(&features, &ClassifierConfig::default());
        assert!(scores.iter().all(|(_, confidence)| confidence.is_finite()));
    }
}
