//! # Lip sync: visemes from speech, blend shapes once per frame
//!
//! A mouth shape per frame from one of two sources:
//!
//! 1. **The companion's own speech (TTS).** espeak-ng synthesises the audio and reports
//!    when each phoneme starts (module `espeak`, behind the `espeak` feature, runs the small C
//!    program `native/espeak_timeline.c`). [`phonemes`] maps espeak-ng's phoneme names to
//!    the 15 [`Viseme`]s for English and French, giving a [`VisemeTrack`]: visemes with
//!    start and end times. Each frame, [`LipSync::sample`] turns the track and the playback
//!    time into ARKit [`BlendShapeWeights`].
//! 2. **A user's live voice.** [`audio`] cuts the microphone signal into 20 ms windows
//!    every 10 ms, computes MFCCs, gates silence by energy and classifies each window with
//!    a small softmax model (trained on espeak-ng voices, loadable from JSON) into a
//!    [`VisemeMix`]. Each frame, [`LipSync::push`] smooths the latest mix into blend
//!    shapes.
//!
//! ```text
//! text ─ espeak_timeline ─┬─ audio ────────────────────────────▶ speaker
//!                         └─ phoneme events ─ phonemes ─ VisemeTrack ─┐
//!                                                                     ├ LipSync ─ BlendShapeWeights
//! microphone ─ audio::AudioVisemeStream (MFCC + gate + model) ─ VisemeMix ┘
//! ```
//!
//! ## Timing: at most one frame from phoneme to mouth
//! Co-articulation looks *ahead*, never behind: a viseme starts moving the mouth up to
//! [`LipSyncConfig::attack_s`] before its start, reaching at most
//! [`LipSyncConfig::anticipation`] (< ½) there, and takes over at its start with at least
//! 1 − anticipation, so the viseme that started last always dominates — sampling at a
//! frame's display time shows the phoneme that is sounding, with no smoothing lag. The
//! live path smooths with a time constant of 10 ms: a new viseme dominates after
//! τ·ln 2 ≈ 7 ms, within one frame at 72–90 Hz (on top of the analysis window's own
//! 10 ms, half of the 20 ms window, see [`audio::AudioVisemeStream::latency_s`]).
//!
//! Bilabials ([`Viseme::PP`]) and labiodentals ([`Viseme::FF`]) keep closure dominance:
//! while one is current or coming up, the neighbours' mouth-opening shapes (jaw, lip
//! raise/lower, funnel, tongue) are suppressed, so "p", "b", "m" close the lips even
//! between open vowels, while lip rounding may still anticipate ("pu").
//!
//! ## Not here
//! Playing the TTS audio and the microphone capture (the client's audio layer), applying
//! weights to a mesh's morph targets (the Bevy layer in `src/plugin/`), mixing lip sync
//! with emotions and blinks (the face module), and fetching or training the shipped
//! audio model (a `cargo xtask` job; see [`audio::train`]).

pub mod audio;
mod coarticulation;
#[cfg(feature = "espeak")]
pub mod espeak;
pub mod phonemes;
mod track;

pub use coarticulation::{LipSync, LipSyncConfig};
pub use track::{TrackError, VisemeKey, VisemeTrack};

use serde::{Deserialize, Serialize};

use crate::face::blend_shapes::{BLEND_SHAPES, BlendShape, BlendShapeWeights};

/// Number of visemes.
pub const VISEMES: usize = 15;

/// The 15 Oculus/Meta visemes (also Ready Player Me's `viseme_*` morph targets): mouth
/// shapes that cover the sounds of speech. The discriminant indexes a [`VisemeMix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)] // Meta's viseme names
pub enum Viseme {
    /// Silence: the neutral, closed mouth.
    Sil,
    /// Bilabials p, b, m: lips pressed together.
    PP,
    /// Labiodentals f, v: lower lip against the upper teeth.
    FF,
    /// Dentals θ, ð ("think", "this"): tongue tip between the teeth.
    TH,
    /// Alveolar stops t, d: teeth nearly together, jaw slightly open.
    DD,
    /// Velars and glottals k, g, h: jaw a little open, lips relaxed.
    Kk,
    /// Postalveolars tʃ, dʒ, ʃ, ʒ: lips pushed forward and slightly open.
    CH,
    /// Sibilants s, z: teeth together, lips spread.
    SS,
    /// Nasals and laterals n, ŋ, l: jaw slightly open, tongue up.
    Nn,
    /// Rhotics r, ɹ, ʁ: lips slightly rounded.
    RR,
    /// Open vowels a, ɑ, æ, ʌ: jaw wide open.
    Aa,
    /// Mid front and central vowels e, ɛ, ə: jaw half open, lips slightly spread.
    E,
    /// Close front vowels i, ɪ and j: lips spread, jaw nearly closed.
    Ih,
    /// Mid rounded vowels o, ɔ, ø, œ: lips rounded, jaw half open.
    Oh,
    /// Close rounded vowels u, ʊ, y and w: lips pursed.
    Ou,
}

impl Viseme {
    /// Every viseme, in index order.
    pub const ALL: [Self; VISEMES] = [
        Self::Sil,
        Self::PP,
        Self::FF,
        Self::TH,
        Self::DD,
        Self::Kk,
        Self::CH,
        Self::SS,
        Self::Nn,
        Self::RR,
        Self::Aa,
        Self::E,
        Self::Ih,
        Self::Oh,
        Self::Ou,
    ];

    /// Index into a [`VisemeMix`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Meta's name (`"sil"`, `"PP"`, …, `"kk"`, `"nn"`, `"aa"`, `"E"`, `"I"`, `"O"`, `"U"`),
    /// the morph-target name after the `viseme_` prefix in Ready Player Me avatars.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sil => "sil",
            Self::PP => "PP",
            Self::FF => "FF",
            Self::TH => "TH",
            Self::DD => "DD",
            Self::Kk => "kk",
            Self::CH => "CH",
            Self::SS => "SS",
            Self::Nn => "nn",
            Self::RR => "RR",
            Self::Aa => "aa",
            Self::E => "E",
            Self::Ih => "I",
            Self::Oh => "O",
            Self::Ou => "U",
        }
    }

    /// The viseme named `name`, case-insensitive, with or without the `viseme_` prefix.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let bare = name
            .get(..7)
            .zip(name.get(7..))
            .filter(|(prefix, _)| prefix.eq_ignore_ascii_case("viseme_"))
            .map_or(name, |(_, rest)| rest);
        Self::ALL.into_iter().find(|viseme| viseme.name().eq_ignore_ascii_case(bare))
    }

    /// Whether this viseme closes the lips (bilabial or labiodental).
    #[must_use]
    pub const fn is_closure(self) -> bool {
        matches!(self, Self::PP | Self::FF)
    }

    /// How strongly this viseme closes the lips against its neighbours (0 = not at all):
    /// 1 for bilabials, 0.8 for labiodentals (the jaw may stay a little open).
    #[must_use]
    pub const fn closure(self) -> f32 {
        match self {
            Self::PP => 1.0,
            Self::FF => 0.8,
            _ => 0.0,
        }
    }

    /// The blend-shape recipe: the ARKit shapes and weights that make this mouth shape
    /// on an ARKit-rigged face (symmetric shapes get the same weight on both sides).
    ///
    /// The values follow the visible articulation: jaw opening from the vowel chart
    /// (`aa` 0.6, `O` 0.4, `E` 0.35, `I` 0.2, `U` 0.15), rounding through funnel + pucker,
    /// spread lips through stretch + smile, closures through press + roll, teeth shown
    /// through upper-up / lower-down, the tongue for `TH`. A starting point for an
    /// artist, not measurements.
    #[must_use]
    pub fn shapes(self) -> BlendShapeWeights {
        let mut weights = BlendShapeWeights::ZERO;
        for ((shapes, _), weight) in RECIPE_COLUMNS.iter().zip(self.recipe()) {
            for &shape in *shapes {
                weights.set(shape, weight);
            }
        }
        weights
    }

    /// One row of the recipe table; columns as in [`RECIPE_COLUMNS`].
    const fn recipe(self) -> [f32; 12] {
        match self {
            //              jaw   close funnel pucker stretch smile press rollLo rollUp upUp lowDn tongue
            Self::Sil => [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Self::PP => [0.04, 0.04, 0.0, 0.0, 0.0, 0.0, 0.5, 0.25, 0.2, 0.0, 0.0, 0.0],
            Self::FF => [0.08, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.55, 0.0, 0.25, 0.0, 0.0],
            Self::TH => [0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.4],
            Self::DD => [0.18, 0.0, 0.0, 0.0, 0.15, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.0],
            Self::Kk => [0.25, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0],
            Self::CH => [0.15, 0.0, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.3, 0.0],
            Self::SS => [0.06, 0.0, 0.0, 0.0, 0.35, 0.2, 0.0, 0.0, 0.0, 0.15, 0.15, 0.0],
            Self::Nn => [0.18, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.08, 0.0, 0.0],
            Self::RR => [0.15, 0.0, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0],
            Self::Aa => [0.6, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.1, 0.25, 0.0],
            Self::E => [0.35, 0.0, 0.0, 0.0, 0.3, 0.2, 0.0, 0.0, 0.0, 0.1, 0.2, 0.0],
            Self::Ih => [0.2, 0.0, 0.0, 0.0, 0.35, 0.35, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0],
            Self::Oh => [0.4, 0.0, 0.6, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Self::Ou => [0.15, 0.0, 0.35, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    }
}

/// The columns of [`Viseme::recipe`]: the ARKit shapes each drives, and whether it opens
/// the mouth (a closure viseme suppresses its neighbours' opening columns).
const RECIPE_COLUMNS: [(&[BlendShape], bool); 12] = [
    (&[BlendShape::JawOpen], true),
    (&[BlendShape::MouthClose], false),
    (&[BlendShape::MouthFunnel], true),
    (&[BlendShape::MouthPucker], false),
    (&[BlendShape::MouthStretchLeft, BlendShape::MouthStretchRight], false),
    (&[BlendShape::MouthSmileLeft, BlendShape::MouthSmileRight], false),
    (&[BlendShape::MouthPressLeft, BlendShape::MouthPressRight], false),
    (&[BlendShape::MouthRollLower], false),
    (&[BlendShape::MouthRollUpper], false),
    (&[BlendShape::MouthUpperUpLeft, BlendShape::MouthUpperUpRight], true),
    (&[BlendShape::MouthLowerDownLeft, BlendShape::MouthLowerDownRight], true),
    (&[BlendShape::TongueOut], true),
];

/// A share per viseme, summing to 1: the mouth as a blend of visemes, or a classifier's
/// probabilities. Index with [`Viseme::index`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VisemeMix(pub [f32; VISEMES]);

impl Default for VisemeMix {
    fn default() -> Self {
        Self::SILENT
    }
}

impl From<Viseme> for VisemeMix {
    fn from(viseme: Viseme) -> Self {
        Self::one_hot(viseme)
    }
}

impl VisemeMix {
    /// All silence.
    pub const SILENT: Self = Self([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);

    /// All `viseme`.
    #[must_use]
    pub fn one_hot(viseme: Viseme) -> Self {
        let mut shares = [0.0; VISEMES];
        shares[viseme.index()] = 1.0;
        Self(shares)
    }

    /// The share of `viseme`.
    #[must_use]
    pub fn get(&self, viseme: Viseme) -> f32 {
        self.0[viseme.index()]
    }

    /// The viseme with the largest share (the first of equals).
    #[must_use]
    pub fn dominant(&self) -> Viseme {
        let mut best = Viseme::Sil;
        for viseme in Viseme::ALL {
            if self.get(viseme) > self.get(best) {
                best = viseme;
            }
        }
        best
    }

    /// Negative and NaN shares become 0 and the rest are scaled to sum to 1; a mix with
    /// nothing left is [`Self::SILENT`].
    #[must_use]
    pub fn normalized(self) -> Self {
        let mut shares = self.0.map(|s| if s.is_finite() && s > 0.0 { s } else { 0.0 });
        let sum: f32 = shares.iter().sum();
        if sum <= f32::EPSILON || !sum.is_finite() {
            return Self::SILENT;
        }
        for share in &mut shares {
            *share /= sum;
        }
        Self(shares)
    }

    /// Visemes with their shares, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (Viseme, f32)> + '_ {
        Viseme::ALL.into_iter().zip(self.0)
    }

    /// How much the closure visemes in this mix seal the lips: 1 once a bilabial holds
    /// `full_share` of the mix.
    pub(crate) fn closure(&self, full_share: f32) -> f32 {
        let sealed: f32 = [Viseme::PP, Viseme::FF]
            .into_iter()
            .map(|v| v.closure() * smoothstep(self.get(v) / full_share.max(f32::EPSILON)))
            .sum();
        sealed.min(1.0)
    }

    /// The blend shapes of this mix: each viseme's recipe weighted by its share, the
    /// opening columns of non-closure visemes scaled by `1 − closure`, times `intensity`.
    pub(crate) fn blend(&self, closure: f32, intensity: f32) -> BlendShapeWeights {
        let mut sum = [0.0_f32; BLEND_SHAPES];
        let open_scale = 1.0 - closure.clamp(0.0, 1.0);
        for (viseme, share) in self.iter().filter(|(_, s)| *s > 0.0) {
            for ((shapes, opening), weight) in RECIPE_COLUMNS.iter().zip(viseme.recipe()) {
                let scale = if *opening && !viseme.is_closure() { open_scale } else { 1.0 };
                for &shape in *shapes {
                    sum[shape.index()] += share * weight * scale;
                }
            }
        }
        let mut weights = BlendShapeWeights::ZERO;
        for shape in BlendShape::ALL {
            weights.set(shape, sum[shape.index()] * intensity);
        }
        weights
    }
}

/// `3x² − 2x³` on x clamped to [0, 1] (NaN counts as 0).
fn smoothstep(x: f32) -> f32 {
    let x = if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_match() {
        for viseme in Viseme::ALL {
            assert_eq!(Viseme::ALL[viseme.index()], viseme);
            assert_eq!(Viseme::from_name(viseme.name()), Some(viseme));
            assert_eq!(Viseme::from_name(&format!("viseme_{}", viseme.name())), Some(viseme));
        }
        assert_eq!(Viseme::from_name("KK"), Some(Viseme::Kk));
        assert_eq!(Viseme::from_name("viseme_"), None);
        assert_eq!(Viseme::from_name("é"), None);
    }

    #[test]
    fn recipes_are_plausible() {
        assert_eq!(Viseme::Sil.shapes(), BlendShapeWeights::ZERO);
        for viseme in Viseme::ALL.into_iter().skip(1) {
            assert!(viseme.shapes().active().count() > 0, "{viseme:?} moves the mouth");
            assert!(viseme.recipe().iter().all(|w| (0.0..=1.0).contains(w)));
        }
        let jaw = |v: Viseme| v.shapes().get(BlendShape::JawOpen);
        assert!(jaw(Viseme::Aa) > jaw(Viseme::E) && jaw(Viseme::E) > jaw(Viseme::Ih));
        assert!(jaw(Viseme::PP) < 0.05);
        assert!(Viseme::Ou.shapes().get(BlendShape::MouthPucker) > 0.5);
        let pp = Viseme::PP.shapes();
        assert_eq!(pp.get(BlendShape::MouthPressLeft), pp.get(BlendShape::MouthPressRight));
        assert!(pp.get(BlendShape::MouthPressLeft) > 0.3);
        assert!(Viseme::TH.shapes().get(BlendShape::TongueOut) > 0.3);
    }

    #[test]
    fn mix_normalizes_and_finds_the_dominant_viseme() {
        let mut raw = [0.0; VISEMES];
        raw[Viseme::E.index()] = 3.0;
        raw[Viseme::Aa.index()] = 1.0;
        raw[Viseme::Oh.index()] = -2.0;
        raw[Viseme::Ou.index()] = f32::NAN;
        let mix = VisemeMix(raw).normalized();
        assert!((mix.get(Viseme::E) - 0.75).abs() < 1e-6);
        assert_eq!(mix.get(Viseme::Oh), 0.0);
        assert_eq!(mix.get(Viseme::Ou), 0.0);
        assert_eq!(mix.dominant(), Viseme::E);
        assert_eq!(VisemeMix([0.0; VISEMES]).normalized(), VisemeMix::SILENT);
        assert_eq!(VisemeMix::from(Viseme::RR).dominant(), Viseme::RR);
        assert_eq!(VisemeMix::default().dominant(), Viseme::Sil);
    }

    #[test]
    fn a_closure_suppresses_only_its_neighbours_opening() {
        let mut raw = [0.0; VISEMES];
        raw[Viseme::PP.index()] = 0.6;
        raw[Viseme::Aa.index()] = 0.4;
        let mix = VisemeMix(raw);
        let sealed = mix.blend(1.0, 1.0);
        assert!((sealed.get(BlendShape::JawOpen) - 0.6 * 0.04).abs() < 1e-6, "only PP's own jaw");
        assert!((sealed.get(BlendShape::MouthStretchLeft) - 0.4 * 0.1).abs() < 1e-6, "stretch stays");
        let open = mix.blend(0.0, 1.0);
        assert!(open.get(BlendShape::JawOpen) > 0.25);
        assert!((mix.closure(0.55) - 1.0).abs() < 1e-6);
        assert_eq!(VisemeMix::SILENT.closure(0.55), 0.0);
    }
}
