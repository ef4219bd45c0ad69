//! Scoring a viseme track against a reference, frame by frame.

use serde::{Deserialize, Serialize};

use crate::lip_sync::{VISEMES, Viseme, VisemeTrack};

/// Visemes that sound alike in one analysis window; [`agreement`] counts confusions
/// inside a group as agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AcousticGroup {
    /// [`Viseme::Sil`].
    Silence,
    /// [`Viseme::PP`]: closure, nasal murmur or burst.
    Bilabial,
    /// [`Viseme::FF`], [`Viseme::TH`]: weak, flat-spectrum frication.
    WeakFricative,
    /// [`Viseme::DD`], [`Viseme::Kk`]: bursts told apart only by formant transitions.
    Stop,
    /// [`Viseme::CH`].
    Postalveolar,
    /// [`Viseme::SS`].
    Sibilant,
    /// [`Viseme::Nn`].
    NasalLateral,
    /// [`Viseme::RR`].
    Rhotic,
    /// [`Viseme::Aa`], [`Viseme::E`]: open and mid unrounded vowels (and schwa).
    OpenVowel,
    /// [`Viseme::Ih`].
    CloseFrontVowel,
    /// [`Viseme::Oh`], [`Viseme::Ou`]: rounded vowels.
    RoundedVowel,
}

impl AcousticGroup {
    /// The group of `viseme`.
    #[must_use]
    pub const fn of(viseme: Viseme) -> Self {
        match viseme {
            Viseme::Sil => Self::Silence,
            Viseme::PP => Self::Bilabial,
            Viseme::FF | Viseme::TH => Self::WeakFricative,
            Viseme::DD | Viseme::Kk => Self::Stop,
            Viseme::CH => Self::Postalveolar,
            Viseme::SS => Self::Sibilant,
            Viseme::Nn => Self::NasalLateral,
            Viseme::RR => Self::Rhotic,
            Viseme::Aa | Viseme::E => Self::OpenVowel,
            Viseme::Ih => Self::CloseFrontVowel,
            Viseme::Oh | Viseme::Ou => Self::RoundedVowel,
        }
    }
}

/// Two tracks compared frame by frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Frames compared.
    pub frames: u32,
    /// Frames with the same viseme.
    pub same_viseme: u32,
    /// Frames with visemes of the same [`AcousticGroup`].
    pub same_group: u32,
    /// Frames where either track is not silent.
    pub speech_frames: u32,
    /// Of those, frames with visemes of the same group.
    pub speech_same_group: u32,
    /// `confusion[reference][other]`: frame counts by viseme index.
    pub confusion: [[u32; VISEMES]; VISEMES],
}

impl Comparison {
    /// Fraction of frames with the same viseme (1 when there are none).
    #[must_use]
    pub fn exact(&self) -> f32 {
        fraction(self.same_viseme, self.frames)
    }

    /// Fraction of frames with the same viseme or group (1 when there are none).
    #[must_use]
    pub fn grouped(&self) -> f32 {
        fraction(self.same_group, self.frames)
    }

    /// [`Self::grouped`] over the frames where either track speaks.
    #[must_use]
    pub fn speech_grouped(&self) -> f32 {
        fraction(self.speech_same_group, self.speech_frames)
    }
}

fn fraction(part: u32, whole: u32) -> f32 {
    if whole == 0 { 1.0 } else { part as f32 / whole as f32 }
}

/// Compares `other` with `reference` at the centres of `frame_s`-long frames spanning
/// both tracks (`frame_s` is at least 1 ms).
#[must_use]
pub fn compare(reference: &VisemeTrack, other: &VisemeTrack, frame_s: f32) -> Comparison {
    let frame_s = if frame_s.is_finite() { frame_s.max(0.001) } else { 0.01 };
    let mut comparison = Comparison {
        frames: 0,
        same_viseme: 0,
        same_group: 0,
        speech_frames: 0,
        speech_same_group: 0,
        confusion: [[0; VISEMES]; VISEMES],
    };
    let tracks = [reference, other].into_iter().filter(|t| !t.is_empty());
    let start = tracks.clone().map(VisemeTrack::start_s).fold(f32::INFINITY, f32::min);
    let end = tracks.map(VisemeTrack::end_s).fold(f32::NEG_INFINITY, f32::max);
    if !start.is_finite() || !end.is_finite() {
        return comparison;
    }
    // The tolerance keeps 0.5 s / 0.01 s at 50 frames despite f32 rounding.
    let count = ((end - start) / frame_s - 1e-4).ceil().max(0.0) as u32;
    for i in 0..count {
        let t = start + (i as f32 + 0.5) * frame_s;
        let (a, b) = (reference.viseme_at(t), other.viseme_at(t));
        let same_group = AcousticGroup::of(a) == AcousticGroup::of(b);
        comparison.frames += 1;
        comparison.same_viseme += u32::from(a == b);
        comparison.same_group += u32::from(same_group);
        if a != Viseme::Sil || b != Viseme::Sil {
            comparison.speech_frames += 1;
            comparison.speech_same_group += u32::from(same_group);
        }
        comparison.confusion[a.index()][b.index()] += 1;
    }
    comparison
}

/// The fraction of `frame_s`-long frames where the two tracks show the same viseme or
/// visemes of the same [`AcousticGroup`] (1 for two empty tracks).
#[must_use]
pub fn agreement(track_a: &VisemeTrack, track_b: &VisemeTrack, frame_s: f32) -> f32 {
    compare(track_a, track_b, frame_s).grouped()
}

/// espeak-ng voices and sentences (English and French) the audio model is trained on.
pub const TRAINING_SENTENCES: &[(&str, &str)] = &[
    ("en", "Hello world, the quick brown fox jumps over the lazy dog."),
    ("en", "Thank you very much, she chose the yellow shoes."),
    ("en", "Peter Piper picked a peck of pickled peppers."),
    ("en-us", "Good morning, how are you today? I am your companion."),
    ("en-us", "Would you like to watch a movie with me tonight?"),
    ("en", "Five big ships sailed through the thick fog."),
    ("fr", "Bonjour, je m'appelle Nexus et j'aime les chats."),
    ("fr", "Je voudrais un croissant et un café au lait, s'il vous plaît."),
    ("fr", "Le petit chat dort sur le canapé rouge."),
    ("fr", "Trois gros rats gris dans trois gros trous ronds."),
    ("fr", "Un bon vin blanc, le cœur, les feuilles, une fille heureuse."),
    ("fr", "Il fait beau aujourd'hui, allons nous promener au parc."),
];

/// Sentences kept out of training, for the agreement figures.
pub const HELD_OUT_SENTENCES: &[(&str, &str)] = &[
    ("en", "The cat sat on the mat and looked at the moon."),
    ("en-us", "Who knew that blue suits would look so cool?"),
    ("fr", "Je pense que c'est la meilleure chanson que j'ai jamais entendue."),
    ("fr", "Où est la bibliothèque, s'il vous plaît ?"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lip_sync::track::test_track as track;

    #[test]
    fn identical_tracks_agree() {
        let a = track(&[(0.0, 0.3, Viseme::Aa), (0.3, 0.5, Viseme::SS)]);
        let c = compare(&a, &a, 0.01);
        assert_eq!(c.frames, 50);
        assert_eq!((c.exact(), c.grouped(), c.speech_grouped()), (1.0, 1.0, 1.0));
        assert_eq!(c.confusion[Viseme::Aa.index()][Viseme::Aa.index()], 30);
    }

    #[test]
    fn groups_forgive_acoustic_confusions_only() {
        let oh = track(&[(0.0, 1.0, Viseme::Oh)]);
        let ou = track(&[(0.0, 1.0, Viseme::Ou)]);
        let ih = track(&[(0.0, 1.0, Viseme::Ih)]);
        assert_eq!(compare(&oh, &ou, 0.01).exact(), 0.0);
        assert_eq!(agreement(&oh, &ou, 0.01), 1.0);
        assert_eq!(agreement(&oh, &ih, 0.01), 0.0);
        for viseme in Viseme::ALL {
            assert_eq!(AcousticGroup::of(viseme) == AcousticGroup::Silence, viseme == Viseme::Sil);
        }
    }

    #[test]
    fn silence_outside_a_track_counts() {
        let long = track(&[(0.0, 1.0, Viseme::Aa)]);
        let short = track(&[(0.0, 0.5, Viseme::E)]);
        let c = compare(&long, &short, 0.01);
        assert_eq!(c.frames, 100);
        assert_eq!(c.same_group, 50);
        assert_eq!(c.speech_frames, 100);
        assert!((c.grouped() - 0.5).abs() < 1e-6);
        assert_eq!(c.confusion[Viseme::Aa.index()][Viseme::Sil.index()], 50);
    }

    #[test]
    fn degenerate_input_does_not_panic() {
        let empty = VisemeTrack::default();
        let c = compare(&empty, &empty, 0.01);
        assert_eq!((c.frames, c.grouped(), c.speech_grouped()), (0, 1.0, 1.0));
        let a = track(&[(0.0, 0.1, Viseme::Aa)]);
        assert_eq!(compare(&a, &empty, 0.0).frames, 100, "frames of at least 1 ms");
        assert_eq!(compare(&a, &a, f32::NAN).frames, 10);
        assert_eq!(agreement(&a, &empty, 0.01), 0.0);
    }
}
