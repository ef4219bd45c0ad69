//! The state one participant's avatar sends every frame, before any compression: the
//! head, the tracked parts (hands, and hips and feet when trackers are worn), the two
//! hands' finger curls and the 52 ARKit blend-shape weights.
//!
//! Positions are in the room's frame (metres, Y up), rotations are unit quaternions. What
//! the wire keeps of them is [`crate::pose_codec`]'s business.

use serde::{Deserialize, Serialize};

use crate::hand::HandCurls;

/// Number of ARKit blend shapes a face carries.
pub const BLEND_SHAPES: usize = 52;

/// A position and an orientation in the room's frame: the avatar crate's rigid pose,
/// so that what arrives feeds the IK without conversion.
pub use nexus_avatar::pose::Pose;

/// Tracked parts besides the head, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackedPart {
    /// Left controller grip or hand-tracking wrist.
    LeftHand,
    /// Right controller grip or hand-tracking wrist.
    RightHand,
    /// A hip tracker.
    Hips,
    /// A left-foot tracker.
    LeftFoot,
    /// A right-foot tracker.
    RightFoot,
}

impl TrackedPart {
    /// Every part, in wire order (the discriminant is the index into [`AvatarState::parts`]).
    pub const ALL: [Self; 5] = [Self::LeftHand, Self::RightHand, Self::Hips, Self::LeftFoot, Self::RightFoot];
}

/// One avatar's full state at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvatarState {
    /// The headset.
    pub head: Pose,
    /// Hands, hips and feet, indexed by [`TrackedPart`]; `None` when not tracked.
    pub parts: [Option<Pose>; 5],
    /// Left and right finger curls; `None` when the hand is not articulated.
    pub fingers: [Option<HandCurls>; 2],
    /// The 52 ARKit weights in [0, 1], in ARKit order; `None` without face tracking or an
    /// expression to show.
    #[serde(with = "face_weights")]
    pub face: Option<[f32; BLEND_SHAPES]>,
}

/// serde for the 52 weights as a JSON array (serde derives stop at 32 elements).
mod face_weights {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::BLEND_SHAPES;

    pub fn serialize<S: Serializer>(face: &Option<[f32; BLEND_SHAPES]>, s: S) -> Result<S::Ok, S::Error> {
        face.as_ref().map(|w| w.as_slice()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f32; BLEND_SHAPES]>, D::Error> {
        let Some(v) = Option::<Vec<f32>>::deserialize(d)? else { return Ok(None) };
        let len = v.len();
        <[f32; BLEND_SHAPES]>::try_from(v)
            .map(Some)
            .map_err(|_| serde::de::Error::invalid_length(len, &"52 blend-shape weights"))
    }
}

impl AvatarState {
    /// A head-only state (no hands, fingers or face).
    #[must_use]
    pub const fn head_only(head: Pose) -> Self {
        Self { head, parts: [None; 5], fingers: [None; 2], face: None }
    }

    /// The pose of one tracked part, if tracked.
    #[must_use]
    pub const fn part(&self, part: TrackedPart) -> Option<Pose> {
        self.parts[part as usize]
    }

    /// Blend towards `other` by `t`: poses as [`Pose::lerp`], curls and weights linearly.
    /// A part present in only one of the two snaps to `other` past halfway.
    #[must_use]
    pub fn lerp(&self, other: &Self, t: f32) -> Self {
        let pick = |a: Option<Pose>, b: Option<Pose>| match (a, b) {
            (Some(a), Some(b)) => Some(a.lerp(&b, t)),
            _ if t < 0.5 => a,
            _ => b,
        };
        let mut parts = [None; 5];
        for (i, slot) in parts.iter_mut().enumerate() {
            *slot = pick(self.parts[i], other.parts[i]);
        }
        let mut fingers = [None; 2];
        for (i, slot) in fingers.iter_mut().enumerate() {
            *slot = match (self.fingers[i], other.fingers[i]) {
                (Some(a), Some(b)) => Some(a.lerp(&b, t)),
                (a, b) => {
                    if t < 0.5 {
                        a
                    } else {
                        b
                    }
                }
            };
        }
        let face = match (self.face, other.face) {
            (Some(a), Some(b)) => Some(std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t)),
            (a, b) => {
                if t < 0.5 {
                    a
                } else {
                    b
                }
            }
        };
        Self { head: self.head.lerp(&other.head, t), parts, fingers, face }
    }
}
