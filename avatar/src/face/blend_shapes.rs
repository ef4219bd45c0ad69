//! The 52 ARKit face blend shapes (Apple's `ARFaceAnchor.BlendShapeLocation` names, the
//! de-facto standard that VRM, Ready Player Me and most face trackers share), and a
//! weight vector over them.

use serde::{Deserialize, Serialize};

/// Number of ARKit blend shapes.
pub const BLEND_SHAPES: usize = 52;

/// One ARKit blend shape. The discriminant indexes [`BlendShapeWeights`]; [`Self::name`]
/// is the ARKit name, used as the morph-target name in glTF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)] // the names are ARKit's
pub enum BlendShape {
    EyeBlinkLeft,
    EyeLookDownLeft,
    EyeLookInLeft,
    EyeLookOutLeft,
    EyeLookUpLeft,
    EyeSquintLeft,
    EyeWideLeft,
    EyeBlinkRight,
    EyeLookDownRight,
    EyeLookInRight,
    EyeLookOutRight,
    EyeLookUpRight,
    EyeSquintRight,
    EyeWideRight,
    JawForward,
    JawLeft,
    JawRight,
    JawOpen,
    MouthClose,
    MouthFunnel,
    MouthPucker,
    MouthLeft,
    MouthRight,
    MouthSmileLeft,
    MouthSmileRight,
    MouthFrownLeft,
    MouthFrownRight,
    MouthDimpleLeft,
    MouthDimpleRight,
    MouthStretchLeft,
    MouthStretchRight,
    MouthRollLower,
    MouthRollUpper,
    MouthShrugLower,
    MouthShrugUpper,
    MouthPressLeft,
    MouthPressRight,
    MouthLowerDownLeft,
    MouthLowerDownRight,
    MouthUpperUpLeft,
    MouthUpperUpRight,
    BrowDownLeft,
    BrowDownRight,
    BrowInnerUp,
    BrowOuterUpLeft,
    BrowOuterUpRight,
    CheekPuff,
    CheekSquintLeft,
    CheekSquintRight,
    NoseSneerLeft,
    NoseSneerRight,
    TongueOut,
}

impl BlendShape {
    /// Every blend shape, in index order.
    pub const ALL: [Self; BLEND_SHAPES] = [
        Self::EyeBlinkLeft,
        Self::EyeLookDownLeft,
        Self::EyeLookInLeft,
        Self::EyeLookOutLeft,
        Self::EyeLookUpLeft,
        Self::EyeSquintLeft,
        Self::EyeWideLeft,
        Self::EyeBlinkRight,
        Self::EyeLookDownRight,
        Self::EyeLookInRight,
        Self::EyeLookOutRight,
        Self::EyeLookUpRight,
        Self::EyeSquintRight,
        Self::EyeWideRight,
        Self::JawForward,
        Self::JawLeft,
        Self::JawRight,
        Self::JawOpen,
        Self::MouthClose,
        Self::MouthFunnel,
        Self::MouthPucker,
        Self::MouthLeft,
        Self::MouthRight,
        Self::MouthSmileLeft,
        Self::MouthSmileRight,
        Self::MouthFrownLeft,
        Self::MouthFrownRight,
        Self::MouthDimpleLeft,
        Self::MouthDimpleRight,
        Self::MouthStretchLeft,
        Self::MouthStretchRight,
        Self::MouthRollLower,
        Self::MouthRollUpper,
        Self::MouthShrugLower,
        Self::MouthShrugUpper,
        Self::MouthPressLeft,
        Self::MouthPressRight,
        Self::MouthLowerDownLeft,
        Self::MouthLowerDownRight,
        Self::MouthUpperUpLeft,
        Self::MouthUpperUpRight,
        Self::BrowDownLeft,
        Self::BrowDownRight,
        Self::BrowInnerUp,
        Self::BrowOuterUpLeft,
        Self::BrowOuterUpRight,
        Self::CheekPuff,
        Self::CheekSquintLeft,
        Self::CheekSquintRight,
        Self::NoseSneerLeft,
        Self::NoseSneerRight,
        Self::TongueOut,
    ];

    /// Index into a [`BlendShapeWeights`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The ARKit name (`"jawOpen"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::EyeBlinkLeft => "eyeBlinkLeft",
            Self::EyeLookDownLeft => "eyeLookDownLeft",
            Self::EyeLookInLeft => "eyeLookInLeft",
            Self::EyeLookOutLeft => "eyeLookOutLeft",
            Self::EyeLookUpLeft => "eyeLookUpLeft",
            Self::EyeSquintLeft => "eyeSquintLeft",
            Self::EyeWideLeft => "eyeWideLeft",
            Self::EyeBlinkRight => "eyeBlinkRight",
            Self::EyeLookDownRight => "eyeLookDownRight",
            Self::EyeLookInRight => "eyeLookInRight",
            Self::EyeLookOutRight => "eyeLookOutRight",
            Self::EyeLookUpRight => "eyeLookUpRight",
            Self::EyeSquintRight => "eyeSquintRight",
            Self::EyeWideRight => "eyeWideRight",
            Self::JawForward => "jawForward",
            Self::JawLeft => "jawLeft",
            Self::JawRight => "jawRight",
            Self::JawOpen => "jawOpen",
            Self::MouthClose => "mouthClose",
            Self::MouthFunnel => "mouthFunnel",
            Self::MouthPucker => "mouthPucker",
            Self::MouthLeft => "mouthLeft",
            Self::MouthRight => "mouthRight",
            Self::MouthSmileLeft => "mouthSmileLeft",
            Self::MouthSmileRight => "mouthSmileRight",
            Self::MouthFrownLeft => "mouthFrownLeft",
            Self::MouthFrownRight => "mouthFrownRight",
            Self::MouthDimpleLeft => "mouthDimpleLeft",
            Self::MouthDimpleRight => "mouthDimpleRight",
            Self::MouthStretchLeft => "mouthStretchLeft",
            Self::MouthStretchRight => "mouthStretchRight",
            Self::MouthRollLower => "mouthRollLower",
            Self::MouthRollUpper => "mouthRollUpper",
            Self::MouthShrugLower => "mouthShrugLower",
            Self::MouthShrugUpper => "mouthShrugUpper",
            Self::MouthPressLeft => "mouthPressLeft",
            Self::MouthPressRight => "mouthPressRight",
            Self::MouthLowerDownLeft => "mouthLowerDownLeft",
            Self::MouthLowerDownRight => "mouthLowerDownRight",
            Self::MouthUpperUpLeft => "mouthUpperUpLeft",
            Self::MouthUpperUpRight => "mouthUpperUpRight",
            Self::BrowDownLeft => "browDownLeft",
            Self::BrowDownRight => "browDownRight",
            Self::BrowInnerUp => "browInnerUp",
            Self::BrowOuterUpLeft => "browOuterUpLeft",
            Self::BrowOuterUpRight => "browOuterUpRight",
            Self::CheekPuff => "cheekPuff",
            Self::CheekSquintLeft => "cheekSquintLeft",
            Self::CheekSquintRight => "cheekSquintRight",
            Self::NoseSneerLeft => "noseSneerLeft",
            Self::NoseSneerRight => "noseSneerRight",
            Self::TongueOut => "tongueOut",
        }
    }

    /// The blend shape with ARKit name `name` (case-insensitive, as exporters vary).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|shape| shape.name().eq_ignore_ascii_case(name))
    }
}

/// A weight in [0, 1] per blend shape. Serialised as a list of 52 numbers in ARKit order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "Vec<f32>", try_from = "Vec<f32>")]
pub struct BlendShapeWeights(pub [f32; BLEND_SHAPES]);

impl From<BlendShapeWeights> for Vec<f32> {
    fn from(weights: BlendShapeWeights) -> Self {
        weights.0.to_vec()
    }
}

impl TryFrom<Vec<f32>> for BlendShapeWeights {
    type Error = String;

    fn try_from(values: Vec<f32>) -> Result<Self, Self::Error> {
        let len = values.len();
        let array: [f32; BLEND_SHAPES] =
            values.try_into().map_err(|_| format!("expected {BLEND_SHAPES} blend-shape weights, got {len}"))?;
        Ok(Self(array.map(clamp_weight)))
    }
}

impl Default for BlendShapeWeights {
    fn default() -> Self {
        Self::ZERO
    }
}

impl BlendShapeWeights {
    /// The neutral face.
    pub const ZERO: Self = Self([0.0; BLEND_SHAPES]);

    /// The weight of `shape`.
    #[must_use]
    pub fn get(&self, shape: BlendShape) -> f32 {
        self.0[shape.index()]
    }

    /// Sets the weight of `shape`, clamped to [0, 1] (NaN becomes 0).
    pub fn set(&mut self, shape: BlendShape, weight: f32) {
        self.0[shape.index()] = clamp_weight(weight);
    }

    /// Adds `weight` to `shape`, saturating at 1.
    pub fn add(&mut self, shape: BlendShape, weight: f32) {
        let i = shape.index();
        self.0[i] = clamp_weight(self.0[i] + weight);
    }

    /// `self + other * scale`, per shape, saturating at [0, 1].
    #[must_use]
    pub fn plus_scaled(mut self, other: &Self, scale: f32) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = clamp_weight(*a + b * scale);
        }
        self
    }

    /// Per-shape maximum: layers that drive the same shape don't add up past either.
    #[must_use]
    pub fn max(mut self, other: &Self) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.max(b);
        }
        self
    }

    /// Linear interpolation towards `other`, `t` in [0, 1].
    #[must_use]
    pub fn lerp(mut self, other: &Self, t: f32) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = clamp_weight(*a + (b - *a) * t);
        }
        self
    }

    /// Non-zero weights with their shapes.
    pub fn active(&self) -> impl Iterator<Item = (BlendShape, f32)> + '_ {
        BlendShape::ALL.into_iter().zip(self.0).filter(|(_, w)| *w > 0.0)
    }
}

fn clamp_weight(weight: f32) -> f32 {
    if weight.is_nan() { 0.0 } else { weight.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for shape in BlendShape::ALL {
            assert_eq!(BlendShape::from_name(shape.name()), Some(shape));
            assert!(seen.insert(shape.name()));
            assert_eq!(BlendShape::ALL[shape.index()], shape);
        }
        assert_eq!(seen.len(), 52);
        assert_eq!(BlendShape::from_name("JAWOPEN"), Some(BlendShape::JawOpen));
        assert_eq!(BlendShape::from_name("jaw"), None);
    }

    #[test]
    fn weights_stay_in_range() {
        let mut w = BlendShapeWeights::ZERO;
        w.set(BlendShape::JawOpen, 3.0);
        w.add(BlendShape::JawOpen, 1.0);
        w.set(BlendShape::MouthClose, f32::NAN);
        assert_eq!(w.get(BlendShape::JawOpen), 1.0);
        assert_eq!(w.get(BlendShape::MouthClose), 0.0);
        let half = BlendShapeWeights::ZERO.lerp(&w, 0.5);
        assert!((half.get(BlendShape::JawOpen) - 0.5).abs() < 1e-6);
    }
}
