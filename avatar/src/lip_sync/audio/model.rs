//! The softmax [`VisemeModel`] and its training.

use serde::{Deserialize, Serialize};

#[cfg(feature = "espeak")]
use super::samples_from_i16;
use super::{AudioError, DEFAULT_GATE_DB, FEATURES, Frame, MODEL_VERSION, analyze};
use crate::lip_sync::{VISEMES, VisemeMix, VisemeTrack};

/// A linear softmax from standardised features to the 15 visemes, with the energy gate
/// it was trained with. Read it from JSON with [`Self::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisemeModel {
    /// [`MODEL_VERSION`] of the feature layout.
    pub version: u32,
    /// Frames below this level (dB full scale) are silence.
    pub gate_db: f32,
    /// Feature means, subtracted first.
    pub mean: [f32; FEATURES],
    /// Feature scales (1 / standard deviation), applied second.
    pub scale: [f32; FEATURES],
    /// One weight row per viseme, in [`Viseme::index`](crate::lip_sync::Viseme::index) order.
    pub weights: [[f32; FEATURES]; VISEMES],
    /// One bias per viseme.
    pub bias: [f32; VISEMES],
    /// What it was trained on, for people.
    pub trained_on: String,
}

impl VisemeModel {
    /// A model from its JSON, checked with [`Self::validate`].
    ///
    /// # Errors
    /// [`AudioError::Json`] for JSON that does not parse into a model, else as
    /// [`Self::validate`].
    pub fn from_json(json: &str) -> Result<Self, AudioError> {
        let model: Self = serde_json::from_str(json).map_err(|e| AudioError::Json(e.to_string()))?;
        model.validate()?;
        Ok(model)
    }

    /// The model as JSON.
    ///
    /// # Errors
    /// [`AudioError::Json`] if serialisation fails.
    pub fn to_json(&self) -> Result<String, AudioError> {
        serde_json::to_string(self).map_err(|e| AudioError::Json(e.to_string()))
    }

    /// Checks the version and that every parameter is finite.
    ///
    /// # Errors
    /// [`AudioError::WrongVersion`] or [`AudioError::NotFinite`].
    pub fn validate(&self) -> Result<(), AudioError> {
        if self.version != MODEL_VERSION {
            return Err(AudioError::WrongVersion { found: self.version, expected: MODEL_VERSION });
        }
        let mut values = self.mean.iter().chain(&self.scale).chain(self.weights.iter().flatten()).chain(&self.bias);
        if !self.gate_db.is_finite() || !values.all(|v| v.is_finite()) {
            return Err(AudioError::NotFinite);
        }
        Ok(())
    }

    /// The viseme probabilities of one feature vector, ignoring the gate.
    #[must_use]
    pub fn probabilities(&self, features: &[f32; FEATURES]) -> VisemeMix {
        let mut standard = [0.0_f32; FEATURES];
        for (((z, x), mean), scale) in standard.iter_mut().zip(features).zip(&self.mean).zip(&self.scale) {
            *z = (x - mean) * scale;
        }
        let mut logits = [0.0_f32; VISEMES];
        for ((logit, row), bias) in logits.iter_mut().zip(&self.weights).zip(&self.bias) {
            *logit = bias + row.iter().zip(&standard).map(|(w, z)| w * z).sum::<f32>();
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        VisemeMix(logits.map(|l| (l - max).exp())).normalized()
    }

    /// The viseme mix of one frame: [`VisemeMix::SILENT`] when the gate is closed.
    #[must_use]
    pub fn classify(&self, frame: &Frame) -> VisemeMix {
        if frame.voiced { self.probabilities(&frame.features) } else { VisemeMix::SILENT }
    }
}

/// Training settings for [`train`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Full passes over the data. Default 150.
    pub epochs: u32,
    /// Gradient step. Default 0.5.
    pub learning_rate: f32,
    /// Momentum. Default 0.9.
    pub momentum: f32,
    /// L2 penalty on the weights. Default 1e−4.
    pub l2: f32,
    /// The energy gate of the model, dB full scale. Default [`DEFAULT_GATE_DB`].
    pub gate_db: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 150, learning_rate: 0.5, momentum: 0.9, l2: 1e-4, gate_db: DEFAULT_GATE_DB }
    }
}

/// A recording with the visemes it shows, for [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingUtterance {
    /// Samples in [−1, 1].
    pub samples: Vec<f32>,
    /// Their rate, Hz.
    pub sample_rate: u32,
    /// The visemes, on the samples' clock.
    pub track: VisemeTrack,
}

/// Fits a [`VisemeModel`]: every voiced frame, labelled with the track's viseme at the
/// window's centre, standardised, then full-batch gradient descent with momentum on the
/// softmax cross-entropy. Deterministic.
///
/// # Errors
/// [`AudioError::ZeroSampleRate`] for a rate of 0, [`AudioError::NoTrainingFrames`] when
/// nothing is voiced.
pub fn train(utterances: &[TrainingUtterance], config: &TrainConfig) -> Result<VisemeModel, AudioError> {
    let mut inputs: Vec<[f32; FEATURES]> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    for utterance in utterances {
        for frame in analyze(&utterance.samples, utterance.sample_rate, config.gate_db)? {
            if frame.voiced {
                inputs.push(frame.features);
                labels.push(utterance.track.viseme_at(frame.time_s).index());
            }
        }
    }
    if inputs.is_empty() {
        return Err(AudioError::NoTrainingFrames);
    }
    let n = inputs.len() as f64;
    let mut mean = [0.0_f64; FEATURES];
    let mut square = [0.0_f64; FEATURES];
    for x in &inputs {
        for ((m, s), &v) in mean.iter_mut().zip(&mut square).zip(x) {
            *m += f64::from(v) / n;
            *s += f64::from(v) * f64::from(v) / n;
        }
    }
    let mut scale = [0.0_f32; FEATURES];
    for ((inverse_std, m), s) in scale.iter_mut().zip(mean).zip(square) {
        // A floor on the deviation keeps a (nearly) constant feature from exploding.
        let deviation = (s - m * m).max(0.0).sqrt().max(1e-3);
        *inverse_std = (1.0 / deviation) as f32;
    }
    let mut model = VisemeModel {
        version: MODEL_VERSION,
        gate_db: config.gate_db,
        mean: mean.map(|m| m as f32),
        scale,
        weights: [[0.0; FEATURES]; VISEMES],
        bias: [0.0; VISEMES],
        trained_on: format!("{} recordings, {} voiced frames", utterances.len(), inputs.len()),
    };
    let standardised: Vec<[f32; FEATURES]> = inputs
        .iter()
        .map(|x| {
            let mut standard = [0.0; FEATURES];
            for (((z, x), m), s) in standard.iter_mut().zip(x).zip(&model.mean).zip(&model.scale) {
                *z = (x - m) * s;
            }
            standard
        })
        .collect();

    let (lr, momentum, l2) = (f64::from(config.learning_rate), f64::from(config.momentum), f64::from(config.l2));
    let mut weights = [[0.0_f64; FEATURES]; VISEMES];
    let mut bias = [0.0_f64; VISEMES];
    let mut velocity_w = [[0.0_f64; FEATURES]; VISEMES];
    let mut velocity_b = [0.0_f64; VISEMES];
    for _ in 0..config.epochs {
        let mut grad_w = [[0.0_f64; FEATURES]; VISEMES];
        let mut grad_b = [0.0_f64; VISEMES];
        for (z, &label) in standardised.iter().zip(&labels) {
            let mut logits = [0.0_f64; VISEMES];
            for ((logit, row), b) in logits.iter_mut().zip(&weights).zip(&bias) {
                *logit = b + row.iter().zip(z).map(|(w, &x)| w * f64::from(x)).sum::<f64>();
            }
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp = logits.map(|l| (l - max).exp());
            let total: f64 = exp.iter().sum();
            for (class, ((row, gb), e)) in grad_w.iter_mut().zip(&mut grad_b).zip(exp).enumerate() {
                let error = e / total - if class == label { 1.0 } else { 0.0 };
                *gb += error;
                for (g, &x) in row.iter_mut().zip(z) {
                    *g += error * f64::from(x);
                }
            }
        }
        for (((w_row, v_row), g_row), (b, (vb, gb))) in weights
            .iter_mut()
            .zip(&mut velocity_w)
            .zip(&grad_w)
            .zip(bias.iter_mut().zip(velocity_b.iter_mut().zip(&grad_b)))
        {
            for ((w, v), g) in w_row.iter_mut().zip(v_row.iter_mut()).zip(g_row) {
                *v = momentum * *v - lr * (g / n + l2 * *w);
                *w += *v;
            }
            *vb = momentum * *vb - lr * gb / n;
            *b += *vb;
        }
    }
    model.weights = weights.map(|row| row.map(|w| w as f32));
    model.bias = bias.map(|b| b as f32);
    model.validate()?;
    Ok(model)
}

/// [`train`] on espeak-ng syntheses, labelled by their phoneme timelines — a model of
/// espeak-ng's voices (see the module docs for what that means on real voices).
///
/// # Errors
/// As [`train`], and [`AudioError::Track`] for a timeline that does not validate.
#[cfg(feature = "espeak")]
pub fn train_on_speech(
    speech: &[crate::lip_sync::espeak::Speech],
    config: &TrainConfig,
) -> Result<VisemeModel, AudioError> {
    let utterances = speech
        .iter()
        .map(|s| {
            Ok(TrainingUtterance {
                samples: samples_from_i16(&s.samples),
                sample_rate: s.sample_rate,
                track: s.viseme_track()?,
            })
        })
        .collect::<Result<Vec<_>, AudioError>>()?;
    let mut model = train(&utterances, config)?;
    let mut voices: Vec<&str> = speech.iter().map(|s| s.voice.as_str()).collect();
    voices.sort_unstable();
    voices.dedup();
    model.trained_on = format!("espeak-ng voices {}: {}", voices.join(", "), model.trained_on);
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lip_sync::Viseme;

    fn uniform_model() -> VisemeModel {
        VisemeModel {
            version: MODEL_VERSION,
            gate_db: DEFAULT_GATE_DB,
            mean: [0.0; FEATURES],
            scale: [1.0; FEATURES],
            weights: [[0.0; FEATURES]; VISEMES],
            bias: [0.0; VISEMES],
            trained_on: "nothing".to_owned(),
        }
    }

    #[test]
    fn json_round_trips_and_is_validated() {
        let mut model = uniform_model();
        model.weights[Viseme::Aa.index()][3] = 0.25;
        model.bias[Viseme::Ou.index()] = -1.5;
        let json = model.to_json().unwrap();
        assert_eq!(VisemeModel::from_json(&json).unwrap(), model);

        let old = VisemeModel { version: 0, ..model.clone() };
        assert_eq!(
            VisemeModel::from_json(&old.to_json().unwrap()),
            Err(AudioError::WrongVersion { found: 0, expected: MODEL_VERSION })
        );
        let mut broken = model.clone();
        broken.scale[0] = f32::NAN;
        assert_eq!(broken.validate(), Err(AudioError::NotFinite));
        assert!(matches!(VisemeModel::from_json(&broken.to_json().unwrap()), Err(AudioError::Json(_))));
        assert!(matches!(VisemeModel::from_json(r#"{"version":1}"#), Err(AudioError::Json(_))));
    }

    #[test]
    fn probabilities_are_a_distribution_and_the_gate_means_silence() {
        let mut model = uniform_model();
        let uniform = model.probabilities(&[0.5; FEATURES]);
        assert!(uniform.0.iter().all(|p| (p - 1.0 / VISEMES as f32).abs() < 1e-6));
        model.weights[Viseme::SS.index()][0] = 10.0;
        let mix = model.probabilities(&[1.0; FEATURES]);
        assert_eq!(mix.dominant(), Viseme::SS);
        assert!((mix.0.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let nan = model.probabilities(&[f32::NAN; FEATURES]);
        assert_eq!(nan, VisemeMix::SILENT);
        let frame = Frame { time_s: 0.0, level_db: -80.0, voiced: false, features: [1.0; FEATURES] };
        assert_eq!(model.classify(&frame), VisemeMix::SILENT);
        assert_eq!(model.classify(&Frame { voiced: true, ..frame }).dominant(), Viseme::SS);
    }

    #[test]
    fn training_needs_voiced_frames() {
        let silent =
            TrainingUtterance { samples: vec![0.0; 16_000], sample_rate: 16_000, track: VisemeTrack::default() };
        assert_eq!(train(&[silent], &TrainConfig::default()), Err(AudioError::NoTrainingFrames));
        assert_eq!(train(&[], &TrainConfig::default()), Err(AudioError::NoTrainingFrames));
        let bad_rate = TrainingUtterance { samples: vec![0.1; 10], sample_rate: 0, track: VisemeTrack::default() };
        assert_eq!(train(&[bad_rate], &TrainConfig::default()), Err(AudioError::ZeroSampleRate));
        let config: TrainConfig = serde_json::from_str(r#"{"epochs":3}"#).unwrap();
        assert_eq!(config.learning_rate, TrainConfig::default().learning_rate);
    }
}
