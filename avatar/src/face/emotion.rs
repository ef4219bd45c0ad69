//! The seed's 12 emotions (§5.2 `EmotionType`) and the facial expression each one makes,
//! as ARKit blend-shape recipes built from the FACS action units that characterise it
//! (Ekman's six basic emotions directly; love, jealousy, empathy, frustration, excitement
//! and contentment as blends of those units).

use serde::{Deserialize, Serialize};

use super::blend_shapes::{BlendShape as S, BlendShapeWeights};

/// The 12 emotion types of the companion model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)] // the seed's names
pub enum Emotion {
    Joy,
    Sadness,
    Anger,
    Fear,
    Surprise,
    Disgust,
    Love,
    Jealousy,
    Empathy,
    Frustration,
    Excitement,
    Contentment,
}

impl Emotion {
    /// All twelve, in the seed's order.
    pub const ALL: [Self; 12] = [
        Self::Joy,
        Self::Sadness,
        Self::Anger,
        Self::Fear,
        Self::Surprise,
        Self::Disgust,
        Self::Love,
        Self::Jealousy,
        Self::Empathy,
        Self::Frustration,
        Self::Excitement,
        Self::Contentment,
    ];

    /// The seed's name (`"JOY"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Joy => "JOY",
            Self::Sadness => "SADNESS",
            Self::Anger => "ANGER",
            Self::Fear => "FEAR",
            Self::Surprise => "SURPRISE",
            Self::Disgust => "DISGUST",
            Self::Love => "LOVE",
            Self::Jealousy => "JEALOUSY",
            Self::Empathy => "EMPATHY",
            Self::Frustration => "FRUSTRATION",
            Self::Excitement => "EXCITEMENT",
            Self::Contentment => "CONTENTMENT",
        }
    }

    /// The emotion named `name` (case-insensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The full-intensity expression. Symmetric units set both sides.
    #[must_use]
    pub fn expression(self) -> BlendShapeWeights {
        let both = |units: &[(S, S, f32)], single: &[(S, f32)]| {
            let mut w = BlendShapeWeights::ZERO;
            for &(left, right, weight) in units {
                w.set(left, weight);
                w.set(right, weight);
            }
            for &(shape, weight) in single {
                w.set(shape, weight);
            }
            w
        };
        match self {
            // AU6 cheek raiser + AU12 lip corner puller (the Duchenne smile).
            Self::Joy => both(
                &[
                    (S::MouthSmileLeft, S::MouthSmileRight, 0.8),
                    (S::CheekSquintLeft, S::CheekSquintRight, 0.6),
                    (S::EyeSquintLeft, S::EyeSquintRight, 0.3),
                ],
                &[(S::JawOpen, 0.1)],
            ),
            // AU1 inner brow raiser + AU4 brow lowerer + AU15 lip corner depressor.
            Self::Sadness => both(
                &[
                    (S::MouthFrownLeft, S::MouthFrownRight, 0.6),
                    (S::BrowDownLeft, S::BrowDownRight, 0.25),
                    (S::EyeLookDownLeft, S::EyeLookDownRight, 0.2),
                ],
                &[(S::BrowInnerUp, 0.8), (S::MouthShrugLower, 0.3)],
            ),
            // AU4 + AU5/7 lid raiser/tightener + AU23/24 lip tightener/presser.
            Self::Anger => both(
                &[
                    (S::BrowDownLeft, S::BrowDownRight, 0.9),
                    (S::EyeSquintLeft, S::EyeSquintRight, 0.5),
                    (S::MouthPressLeft, S::MouthPressRight, 0.6),
                    (S::NoseSneerLeft, S::NoseSneerRight, 0.3),
                ],
                &[(S::JawForward, 0.1)],
            ),
            // AU1 + AU2 + AU4 + AU5 + AU20 lip stretcher + AU26 jaw drop.
            Self::Fear => both(
                &[
                    (S::BrowOuterUpLeft, S::BrowOuterUpRight, 0.5),
                    (S::EyeWideLeft, S::EyeWideRight, 0.8),
                    (S::MouthStretchLeft, S::MouthStretchRight, 0.6),
                ],
                &[(S::BrowInnerUp, 0.8), (S::JawOpen, 0.2)],
            ),
            // AU1 + AU2 + AU5 + AU26.
            Self::Surprise => both(
                &[(S::BrowOuterUpLeft, S::BrowOuterUpRight, 0.8), (S::EyeWideLeft, S::EyeWideRight, 0.9)],
                &[(S::BrowInnerUp, 0.8), (S::JawOpen, 0.5), (S::MouthFunnel, 0.1)],
            ),
            // AU9 nose wrinkler + AU10 upper lip raiser + AU15.
            Self::Disgust => both(
                &[
                    (S::NoseSneerLeft, S::NoseSneerRight, 0.8),
                    (S::MouthUpperUpLeft, S::MouthUpperUpRight, 0.6),
                    (S::BrowDownLeft, S::BrowDownRight, 0.4),
                    (S::CheekSquintLeft, S::CheekSquintRight, 0.4),
                    (S::MouthFrownLeft, S::MouthFrownRight, 0.3),
                ],
                &[],
            ),
            // A soft smile with relaxed lids.
            Self::Love => both(
                &[
                    (S::MouthSmileLeft, S::MouthSmileRight, 0.5),
                    (S::CheekSquintLeft, S::CheekSquintRight, 0.3),
                    (S::EyeSquintLeft, S::EyeSquintRight, 0.2),
                    (S::EyeBlinkLeft, S::EyeBlinkRight, 0.15),
                ],
                &[(S::BrowInnerUp, 0.15)],
            ),
            // Lowered brows, narrowed eyes, pressed and one-sided mouth.
            Self::Jealousy => both(
                &[
                    (S::BrowDownLeft, S::BrowDownRight, 0.5),
                    (S::EyeSquintLeft, S::EyeSquintRight, 0.4),
                    (S::MouthPressLeft, S::MouthPressRight, 0.4),
                    (S::MouthFrownLeft, S::MouthFrownRight, 0.3),
                ],
                &[(S::MouthLeft, 0.2)],
            ),
            // Concern (AU1) with a small, closed smile.
            Self::Empathy => both(
                &[(S::MouthSmileLeft, S::MouthSmileRight, 0.2), (S::MouthPressLeft, S::MouthPressRight, 0.2)],
                &[(S::BrowInnerUp, 0.6)],
            ),
            // AU4 + AU24 + lip roll.
            Self::Frustration => both(
                &[
                    (S::BrowDownLeft, S::BrowDownRight, 0.6),
                    (S::MouthPressLeft, S::MouthPressRight, 0.6),
                    (S::EyeSquintLeft, S::EyeSquintRight, 0.3),
                    (S::NoseSneerLeft, S::NoseSneerRight, 0.2),
                ],
                &[(S::MouthRollLower, 0.3)],
            ),
            // Joy with open mouth, wide eyes and raised brows.
            Self::Excitement => both(
                &[
                    (S::MouthSmileLeft, S::MouthSmileRight, 0.9),
                    (S::EyeWideLeft, S::EyeWideRight, 0.5),
                    (S::BrowOuterUpLeft, S::BrowOuterUpRight, 0.5),
                    (S::CheekSquintLeft, S::CheekSquintRight, 0.4),
                ],
                &[(S::JawOpen, 0.35)],
            ),
            // A slight smile, relaxed lids.
            Self::Contentment => both(
                &[
                    (S::MouthSmileLeft, S::MouthSmileRight, 0.35),
                    (S::EyeBlinkLeft, S::EyeBlinkRight, 0.2),
                    (S::CheekSquintLeft, S::CheekSquintRight, 0.15),
                ],
                &[],
            ),
        }
    }
}

/// Several emotions at once, each with an intensity in [0, 1]; the expression is their
/// intensity-weighted blend, saturating per shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmotionMix(pub Vec<(Emotion, f32)>);

impl EmotionMix {
    /// One emotion at `intensity`.
    #[must_use]
    pub fn single(emotion: Emotion, intensity: f32) -> Self {
        Self(vec![(emotion, intensity)])
    }

    /// The blended expression.
    #[must_use]
    pub fn expression(&self) -> BlendShapeWeights {
        self.0.iter().fold(BlendShapeWeights::ZERO, |acc, (emotion, intensity)| {
            let intensity = if intensity.is_finite() { intensity.clamp(0.0, 1.0) } else { 0.0 };
            acc.plus_scaled(&emotion.expression(), intensity)
        })
    }

    /// The strongest emotion, if any has an intensity above zero.
    #[must_use]
    pub fn dominant(&self) -> Option<(Emotion, f32)> {
        self.0.iter().copied().filter(|(_, i)| *i > 0.0).max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emotion_has_a_distinct_expression() {
        let expressions: Vec<_> = Emotion::ALL.iter().map(|e| e.expression()).collect();
        for (i, a) in expressions.iter().enumerate() {
            assert!(a.active().count() >= 2, "{:?} barely moves the face", Emotion::ALL[i]);
            for b in &expressions[i + 1..] {
                let distance: f32 = a.0.iter().zip(b.0).map(|(x, y)| (x - y).abs()).sum();
                assert!(distance > 0.3, "two emotions look alike");
            }
        }
    }

    #[test]
    fn joy_smiles_and_sadness_frowns() {
        let joy = Emotion::Joy.expression();
        let sad = Emotion::Sadness.expression();
        assert!(joy.get(S::MouthSmileLeft) > 0.5 && joy.get(S::MouthFrownLeft) == 0.0);
        assert!(sad.get(S::MouthFrownLeft) > 0.5 && sad.get(S::MouthSmileLeft) == 0.0);
        let half = EmotionMix::single(Emotion::Joy, 0.5).expression();
        assert!((half.get(S::MouthSmileLeft) - 0.4).abs() < 1e-6);
        assert_eq!(Emotion::from_name("joy"), Some(Emotion::Joy));
        assert_eq!(serde_json::to_string(&Emotion::Contentment).ok().as_deref(), Some("\"CONTENTMENT\""));
    }
}
