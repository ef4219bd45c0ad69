//! The face: 52 ARKit blend shapes driven by three layers, composed once per frame by
//! [`Face::update`]:
//!
//! 1. **Expression** ([`emotion`]): the blend of the current emotions, eased towards its
//!    target so changes of mood take a few hundred milliseconds, not one frame;
//! 2. **Speech**: the lip-sync weights (from [`crate::lip_sync`]) own the mouth while the
//!    avatar speaks — the expression's mouth shapes are damped under them so a smile
//!    doesn't fight an "oo";
//! 3. **Eyes** ([`eyes`]): blinks, saccades and look-at, as eye rotations and the eye-look
//!    shapes.
//!
//! The layers are applied with no look-ahead: what comes in on a frame is in that frame's
//! weights (the expression's easing applies to mood changes only, never to speech).

pub mod blend_shapes;
pub mod emotion;
pub mod eyes;

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::pose::Pose;
use blend_shapes::{BlendShape, BlendShapeWeights};
use emotion::EmotionMix;
use eyes::{EyeConfig, EyeOutput, Eyes};

/// Face parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceConfig {
    /// Eyes.
    pub eyes: EyeConfig,
    /// Rate (1/s) at which the expression approaches the emotions' target; 8/s settles
    /// 90 % of a change in ~0.3 s.
    pub expression_rate: f32,
    /// How much speech damps the expression's mouth shapes (0 = not at all, 1 = fully).
    pub speech_damping: f32,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self { eyes: EyeConfig::default(), expression_rate: 8.0, speech_damping: 0.7 }
    }
}

/// What drives the face this frame.
#[derive(Debug, Clone, Copy)]
pub struct FaceInput<'a> {
    /// Current emotions with intensities.
    pub emotions: &'a EmotionMix,
    /// Lip-sync weights while speaking.
    pub speech: Option<&'a BlendShapeWeights>,
    /// World point to look at (the user's eyes, say).
    pub look_at: Option<Vec3>,
    /// The head bone's world pose (+Z forward).
    pub head: Pose,
    /// The world point between the eyes.
    pub eye_centre: Vec3,
}

/// The face this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceFrame {
    /// All 52 weights.
    pub weights: BlendShapeWeights,
    /// Eye rotations and blink.
    pub eyes: EyeOutput,
}

/// One avatar's face state.
#[derive(Debug, Clone)]
pub struct Face {
    config: FaceConfig,
    eyes: Eyes,
    expression: BlendShapeWeights,
}

impl Face {
    /// A neutral face; `seed` varies blink and saccade timing between avatars.
    #[must_use]
    pub fn new(config: FaceConfig, seed: u64) -> Self {
        Self { config, eyes: Eyes::new(config.eyes, seed), expression: BlendShapeWeights::ZERO }
    }

    /// Advances by `dt` and composes the weights.
    pub fn update(&mut self, input: &FaceInput<'_>, dt: f32) -> FaceFrame {
        let dt = if dt.is_finite() { dt.clamp(0.0, 0.5) } else { 0.0 };
        let target = input.emotions.expression();
        let ease = 1.0 - (-self.config.expression_rate * dt).exp();
        self.expression = self.expression.lerp(&target, ease);

        let mut weights = self.expression;
        if let Some(speech) = input.speech {
            let speaking = MOUTH.iter().map(|s| speech.get(*s)).fold(0.0_f32, f32::max);
            let keep = 1.0 - self.config.speech_damping * speaking.min(1.0);
            for shape in MOUTH {
                let blended = (weights.get(shape) * keep).max(speech.get(shape));
                weights.set(shape, blended);
            }
        }
        let eyes = self.eyes.update(dt, input.head.rotation, input.eye_centre, input.look_at, &mut weights);
        FaceFrame { weights, eyes }
    }
}

/// The shapes speech owns.
const MOUTH: [BlendShape; 28] = [
    BlendShape::JawForward,
    BlendShape::JawLeft,
    BlendShape::JawRight,
    BlendShape::JawOpen,
    BlendShape::MouthClose,
    BlendShape::MouthFunnel,
    BlendShape::MouthPucker,
    BlendShape::MouthLeft,
    BlendShape::MouthRight,
    BlendShape::MouthSmileLeft,
    BlendShape::MouthSmileRight,
    BlendShape::MouthFrownLeft,
    BlendShape::MouthFrownRight,
    BlendShape::MouthDimpleLeft,
    BlendShape::MouthDimpleRight,
    BlendShape::MouthStretchLeft,
    BlendShape::MouthStretchRight,
    BlendShape::MouthRollLower,
    BlendShape::MouthRollUpper,
    BlendShape::MouthShrugLower,
    BlendShape::MouthShrugUpper,
    BlendShape::MouthPressLeft,
    BlendShape::MouthPressRight,
    BlendShape::MouthLowerDownLeft,
    BlendShape::MouthLowerDownRight,
    BlendShape::MouthUpperUpLeft,
    BlendShape::MouthUpperUpRight,
    BlendShape::TongueOut,
];

#[cfg(test)]
mod tests {
    use super::*;
    use emotion::Emotion;

    fn input<'a>(emotions: &'a EmotionMix, speech: Option<&'a BlendShapeWeights>) -> FaceInput<'a> {
        FaceInput { emotions, speech, look_at: None, head: Pose::IDENTITY, eye_centre: Vec3::ZERO }
    }

    #[test]
    fn expression_eases_in_and_speech_takes_the_mouth_at_once() {
        let mut face = Face::new(FaceConfig::default(), 3);
        let joy = EmotionMix::single(Emotion::Joy, 1.0);
        let first = face.update(&input(&joy, None), 1.0 / 90.0);
        let smile = first.weights.get(BlendShape::MouthSmileLeft);
        assert!(smile > 0.0 && smile < 0.2, "eases in ({smile})");
        for _ in 0..90 {
            face.update(&input(&joy, None), 1.0 / 90.0);
        }
        let settled = face.update(&input(&joy, None), 1.0 / 90.0).weights;
        assert!((settled.get(BlendShape::MouthSmileLeft) - 0.8).abs() < 0.01);

        let mut oo = BlendShapeWeights::ZERO;
        oo.set(BlendShape::MouthPucker, 0.9);
        oo.set(BlendShape::JawOpen, 0.3);
        let speaking = face.update(&input(&joy, Some(&oo)), 1.0 / 90.0).weights;
        assert_eq!(speaking.get(BlendShape::MouthPucker), 0.9, "speech lands in the same frame");
        assert!(speaking.get(BlendShape::MouthSmileLeft) < 0.8 * 0.5, "the smile gives way");
        assert!(speaking.get(BlendShape::CheekSquintLeft) > 0.5, "the rest of the face keeps smiling");
    }
}
