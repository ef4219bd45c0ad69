//! Live-audio lip sync without a network: samples → 16 kHz → 16 ms windows every 2 ms →
//! log energy + 13 MFCCs + their deltas → an energy gate (silence is [`Viseme::Sil`](super::Viseme::Sil)) →
//! a softmax over the 15 visemes → a [`VisemeMix`] for [`super::LipSync::push`].
//!
//! - [`FeatureExtractor`] streams: a windowed-sinc resampler, pre-emphasis, a Hann window,
//!   a radix-2 [`Fft`] (512 points), 26 mel filters (60–7600 Hz), a DCT to c0…c12, the
//!   mean-square level as ln energy, and deltas over 20 ms (looking back only). The gate
//!   opens above [`VisemeModel::gate_db`] and 15 dB above the noise floor (the quietest
//!   level of the last 3 s).
//! - [`VisemeModel`] is a linear softmax over standardised features: a serde struct, read
//!   from JSON with [`VisemeModel::from_json`]. [`train`] fits one (full-batch gradient
//!   descent with momentum) from audio with known visemes; [`train_on_speech`] (feature
//!   `espeak`) takes espeak-ng synthesis with its phoneme timeline as the labels.
//! - [`AudioVisemeStream`] is the per-frame runtime; [`track_from_audio`] the offline form.
//! - [`compare`] / [`agreement`] score a track against a reference frame by frame.
//!
//! **Limitation:** a model trained with [`train_on_speech`] has heard espeak-ng's
//! synthetic voices only (formant synthesis, clean, no room). On real voices expect lower
//! accuracy, most of all for consonants; the energy gate and the vowels carry most of
//! the visible motion. Training on recorded speech with aligned phonemes fits the same
//! model.
//!
//! **Acoustic groups.** Some visemes sound alike in a 16 ms window (weak fricatives f/θ,
//! stop bursts t/k, open and mid vowels a/e, rounded o/u). The model still answers with
//! one of the 15 visemes, but [`agreement`] counts a confusion inside an
//! [`AcousticGroup`] as agreement; [`Comparison`] reports exact agreement too.
//!
//! **Latency:** the newest window ends at most one hop (2 ms) before the newest sample
//! and is centred half a window (8 ms) before its end, plus the resampler's look-ahead
//! (16 input samples, < 1 ms): at most 10.8 ms, under one frame at 90 Hz (11.1 ms)
//! ([`AudioVisemeStream::latency_s`]).

mod evaluation;
mod features;
mod model;

pub use evaluation::{AcousticGroup, Comparison, HELD_OUT_SENTENCES, TRAINING_SENTENCES, agreement, compare};
pub use features::{FeatureExtractor, Fft, Frame, analyze, samples_from_i16};
#[cfg(feature = "espeak")]
pub use model::train_on_speech;
pub use model::{TrainConfig, TrainingUtterance, VisemeModel, train};

use thiserror::Error;

use super::{TrackError, VisemeMix, VisemeTrack};

/// Sample rate of the analysis, Hz.
pub const ANALYSIS_RATE: u32 = 16_000;
/// Analysis window, samples at [`ANALYSIS_RATE`] (16 ms).
pub const WINDOW: usize = 256;
/// Hop between windows, samples at [`ANALYSIS_RATE`] (2 ms: short enough that the
/// newest analysis is less than a 90 Hz frame old).
pub const HOP: usize = 32;
/// Cepstral coefficients per window (c0…c12).
pub const CEPSTRA: usize = 13;
/// Length of a feature vector: ln energy and the cepstra, then their deltas.
pub const FEATURES: usize = 2 * STATIC;
/// Version of [`VisemeModel`]'s feature layout.
pub const MODEL_VERSION: u32 = 2;
/// Default energy gate, dB full scale (mean square).
pub const DEFAULT_GATE_DB: f32 = -40.0;

const STATIC: usize = 1 + CEPSTRA;
const DELTA_HOPS: usize = 10; // 20 ms
const FFT_LEN: usize = 512;
const MELS: usize = 26;
const PRE_EMPHASIS: f32 = 0.97;
const MEL_LOW_HZ: f64 = 60.0;
const MEL_HIGH_HZ: f64 = 7600.0;
const POWER_FLOOR: f64 = 1e-10;
const RESAMPLE_HALF_TAPS: usize = 16;
const NOISE_BLOCK_FRAMES: u32 = 250; // 0.5 s
const NOISE_BLOCKS: usize = 6; // 3 s
const NOISE_MARGIN_DB: f32 = 15.0;
const SILENCE_DB: f32 = -100.0;
const DB_PER_NEPER_POWER: f32 = 4.342_945; // 10 / ln 10

/// What went wrong in audio analysis or with a model.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AudioError {
    /// A sample rate of 0.
    #[error("sample rate must be positive")]
    ZeroSampleRate,
    /// [`Fft::forward`] got buffers of the wrong length.
    #[error("FFT of size {expected} given buffers of {re} and {im} values")]
    FftBuffer {
        /// The FFT's size.
        expected: usize,
        /// Length of the real buffer.
        re: usize,
        /// Length of the imaginary buffer.
        im: usize,
    },
    /// Training found no voiced frames.
    #[error("no voiced frames to train on")]
    NoTrainingFrames,
    /// A model for another feature layout.
    #[error("model version {found}, this build reads version {expected}")]
    WrongVersion {
        /// The model's version.
        found: u32,
        /// [`MODEL_VERSION`].
        expected: u32,
    },
    /// A model parameter is NaN or infinite.
    #[error("model has a non-finite parameter")]
    NotFinite,
    /// Model JSON that does not parse.
    #[error("model JSON: {0}")]
    Json(String),
    /// A training track that does not validate.
    #[error(transparent)]
    Track(#[from] TrackError),
}

/// Live audio → the viseme mix of the newest window, for [`super::LipSync::push`].
#[derive(Debug, Clone)]
pub struct AudioVisemeStream {
    extractor: FeatureExtractor,
    model: VisemeModel,
    latest: VisemeMix,
    frames: Vec<Frame>,
}

impl AudioVisemeStream {
    /// A stream of samples at `input_rate` Hz classified by `model`.
    ///
    /// # Errors
    /// [`AudioError::ZeroSampleRate`] for a rate of 0.
    pub fn new(model: VisemeModel, input_rate: u32) -> Result<Self, AudioError> {
        let extractor = FeatureExtractor::new(input_rate, model.gate_db)?;
        Ok(Self { extractor, model, latest: VisemeMix::SILENT, frames: Vec::new() })
    }

    /// Analyses the samples that arrived since the last call (values in [−1, 1]) and
    /// returns the mix of the newest complete window (unchanged if none completed).
    pub fn push(&mut self, samples: &[f32]) -> VisemeMix {
        self.frames.clear();
        self.extractor.push(samples, &mut self.frames);
        if let Some(frame) = self.frames.last() {
            self.latest = self.model.classify(frame);
        }
        self.latest
    }

    /// The mix of the newest complete window.
    #[must_use]
    pub fn mix(&self) -> VisemeMix {
        self.latest
    }

    /// See [`FeatureExtractor::latency_s`].
    #[must_use]
    pub fn latency_s(&self) -> f32 {
        self.extractor.latency_s()
    }
}

/// The visemes of a recording: one key per frame (a hop long, centred on the window).
///
/// # Errors
/// [`AudioError::ZeroSampleRate`] for a rate of 0.
pub fn track_from_audio(model: &VisemeModel, samples: &[f32], sample_rate: u32) -> Result<VisemeTrack, AudioError> {
    let frames = analyze(samples, sample_rate, model.gate_db)?;
    let half_hop = HOP as f32 / ANALYSIS_RATE as f32 / 2.0;
    let end_s = frames.last().map_or(0.0, |f| f.time_s + half_hop);
    let starts = frames.iter().map(|f| (f.time_s - half_hop, model.classify(f).dominant()));
    Ok(VisemeTrack::from_starts(starts, end_s)?)
}

/// Synthetic test signals, shared by the tests of this module's files.
#[cfg(test)]
mod signals {
    use super::ANALYSIS_RATE;

    /// Deterministic white noise in [−1, 1) (xorshift64*).
    pub(super) fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
                bits as f32 / (1 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// A sum of sines `(hz, amplitude)` at `rate` for `seconds`.
    pub(super) fn tone(parts: &[(f32, f32)], rate: u32, seconds: f32) -> Vec<f32> {
        let len = (rate as f32 * seconds) as usize;
        (0..len)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                parts.iter().map(|&(hz, a)| a * (std::f64::consts::TAU * f64::from(hz) * t).sin() as f32).sum()
            })
            .collect()
    }

    /// Vowel-, fricative- and silence-like stretches at 16 kHz, with their visemes.
    pub(super) fn sounds(order: &[super::super::Viseme], seed: u64) -> super::TrainingUtterance {
        use super::super::{Viseme, VisemeTrack};
        let mut samples = Vec::new();
        let mut starts = Vec::new();
        for (i, &viseme) in order.iter().enumerate() {
            starts.push((samples.len() as f32 / ANALYSIS_RATE as f32, viseme));
            let stretch = match viseme {
                Viseme::Aa => tone(&[(120.0, 0.1), (700.0, 0.3), (1200.0, 0.2)], ANALYSIS_RATE, 0.3),
                Viseme::Ih => tone(&[(120.0, 0.1), (300.0, 0.3), (2300.0, 0.15)], ANALYSIS_RATE, 0.3),
                Viseme::SS => {
                    let n = noise(4801, seed + i as u64);
                    n.windows(2).map(|w| 0.3 * (w[1] - w[0])).collect() // high-passed hiss
                }
                _ => vec![0.0; 3200],
            };
            samples.extend(stretch);
        }
        let end = samples.len() as f32 / ANALYSIS_RATE as f32;
        let track = VisemeTrack::from_starts(starts, end).expect("increasing starts");
        super::TrainingUtterance { samples, sample_rate: ANALYSIS_RATE, track }
    }
}

#[cfg(test)]
mod tests {
    use super::signals::{noise, sounds};
    use super::*;
    use crate::lip_sync::{LipSync, Viseme};

    #[test]
    fn a_model_learns_synthetic_sounds_and_streams_them() {
        use Viseme::{Aa, Ih, SS, Sil};
        let lesson = sounds(&[Sil, Aa, Sil, SS, Ih, Sil, Ih, Aa, SS, Sil], 1);
        let config = TrainConfig { epochs: 60, ..TrainConfig::default() };
        let model = train(&[lesson], &config).unwrap();
        assert_eq!(VisemeModel::from_json(&model.to_json().unwrap()).unwrap(), model);

        let exam = sounds(&[Sil, SS, Aa, Ih, Sil, Aa, SS, Ih, Sil], 2);
        let heard = track_from_audio(&model, &exam.samples, exam.sample_rate).unwrap();
        let score = compare(&exam.track, &heard, 0.005);
        assert!(score.exact() > 0.85, "exact agreement {}", score.exact());

        // Streamed in 11 ms chunks (90 Hz), each frame's mix ends up in the lip sync.
        let mut stream = AudioVisemeStream::new(model, ANALYSIS_RATE).unwrap();
        let mut lips = LipSync::default();
        let mut seen = Vec::new();
        for chunk in exam.samples.chunks(176) {
            lips.push(stream.push(chunk), 0.011);
            seen.push(lips.streaming_mix().dominant());
        }
        for viseme in [Sil, SS, Aa, Ih] {
            assert!(seen.contains(&viseme), "{viseme:?} never dominated");
        }
        assert!((0.008..0.015).contains(&stream.latency_s()));
    }

    #[test]
    fn silence_streams_as_silence() {
        let model = train(
            &[sounds(&[Viseme::Aa, Viseme::Sil, Viseme::SS], 3)],
            &TrainConfig { epochs: 5, ..TrainConfig::default() },
        )
        .unwrap();
        let mut stream = AudioVisemeStream::new(model.clone(), 48_000).unwrap();
        assert_eq!(stream.push(&[0.0; 4800]), VisemeMix::SILENT);
        assert_eq!(stream.mix(), VisemeMix::SILENT);
        let quiet: Vec<f32> = noise(48_000, 5).iter().map(|n| n * 0.001).collect(); // about −65 dB FS
        assert_eq!(stream.push(&quiet), VisemeMix::SILENT);
        assert!(matches!(AudioVisemeStream::new(model.clone(), 0), Err(AudioError::ZeroSampleRate)));
        let heard = track_from_audio(&model, &[0.0; 16_000], ANALYSIS_RATE).unwrap();
        assert!(heard.keys().iter().all(|k| k.viseme == Viseme::Sil));
    }
}

/// Agreement with espeak-ng's own phoneme timeline on sentences the model never heard.
#[cfg(all(test, feature = "espeak"))]
mod espeak_tests {
    use super::*;
    use crate::lip_sync::espeak::{Speech, VoiceSettings, synthesize};

    fn say(voice: &str, text: &str) -> Speech {
        synthesize(text, &VoiceSettings { voice: voice.to_owned(), ..VoiceSettings::default() })
            .expect("espeak-ng synthesis")
    }

    #[test]
    fn a_model_trained_on_espeak_agrees_with_espeak_on_new_sentences() {
        let lessons: Vec<Speech> = TRAINING_SENTENCES.iter().map(|(voice, text)| say(voice, text)).collect();
        let model = train_on_speech(&lessons, &TrainConfig { epochs: 60, ..TrainConfig::default() }).unwrap();
        assert!(model.trained_on.contains("espeak-ng voices en, en-us, fr"), "{}", model.trained_on);

        for (voice, text) in HELD_OUT_SENTENCES {
            let speech = say(voice, text);
            let reference = speech.viseme_track().unwrap();
            let heard = track_from_audio(&model, &samples_from_i16(&speech.samples), speech.sample_rate).unwrap();
            let score = compare(&reference, &heard, 0.01);
            // Python prototype of this pipeline: 0.73–0.84 grouped on these sentences.
            assert!(score.grouped() > 0.6, "{voice} {text:?}: grouped {} exact {}", score.grouped(), score.exact());
        }
    }
}
