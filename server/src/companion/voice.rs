//! The companion's voice out: its reply spoken by espeak-ng in the profile's voice, rate
//! and pitch — each scaled by how it feels ([`VoiceModulation`]) — with the phoneme
//! timeline of the same synthesis turned into a viseme track for the avatar's lips
//! (`nexus_avatar::lip_sync`). Audio and visemes share one clock, so the lips move with
//! the sound.
//!
//! A profile whose voice is [`PIPER_VOICE`] is spoken by the Piper neural voice instead
//! (`super::piper`, feature `piper`), its viseme track moved onto Piper's audio; when
//! that voice is not loaded, espeak-ng speaks in its language and the log says why.
//!
//! Feature `tts` (on by default) builds the avatar crate's espeak-ng timeline helper;
//! without it, replies come without audio.

use serde::Serialize;

use super::emotion::VoiceModulation;
use super::profile::Voice;
use crate::error::AppError;

/// A spoken reply.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Spoken {
    /// The profile's voice: an espeak-ng voice, or [`PIPER_VOICE`].
    pub voice: String,
    /// What synthesised it: `piper` or `espeak-ng`.
    pub engine: String,
    /// Words per minute actually used (after emotion).
    pub rate_wpm: u16,
    /// Pitch actually used (after emotion).
    pub pitch: u8,
    /// Samples per second of the audio.
    pub sample_rate: u32,
    /// Length of the audio, seconds.
    pub duration_s: f32,
    /// The audio: a 16-bit mono WAV file, base64.
    pub wav_base64: String,
    /// Mouth shapes on the audio's clock: `[{"start_s", "end_s", "viseme"}, …]`.
    #[schema(value_type = Vec<Object>)]
    pub visemes: serde_json::Value,
}

/// The profile voice that selects the Piper neural voice (US English, male).
pub const PIPER_VOICE: &str = "piper-joe";
/// The espeak-ng voice of Piper's language: its phonemes, and the fallback.
const PIPER_ESPEAK: &str = "en-us";
/// espeak-ng's own speaking rate, which Piper's natural rate stands for.
#[cfg_attr(not(feature = "piper"), allow(dead_code))]
const ESPEAK_DEFAULT_WPM: f32 = 175.0;

/// The language a profile voice speaks (a lowercase code: `"fr-fr+f3"` → `fr`).
#[must_use]
pub fn language_of(voice: &str) -> String {
    let espeak = if voice == PIPER_VOICE { PIPER_ESPEAK } else { voice };
    espeak.chars().take_while(char::is_ascii_alphabetic).collect::<String>().to_lowercase()
}

/// The neural voices loaded on this node.
#[derive(Debug, Clone, Default)]
pub struct Voices {
    /// Piper, when fetched and loadable.
    #[cfg(feature = "piper")]
    pub piper: Option<std::sync::Arc<super::piper::Piper>>,
}

impl Voices {
    /// The voices found under `models_dir`.
    #[must_use]
    pub fn load(models_dir: &std::path::Path) -> Self {
        #[cfg(feature = "piper")]
        return Self { piper: super::piper::local_voice(models_dir) };
        #[cfg(not(feature = "piper"))]
        {
            let _ = models_dir;
            Self {}
        }
    }
}

/// The voice settings a reply is spoken with: the profile's, scaled by emotion and kept
/// within espeak-ng's limits.
#[must_use]
pub fn settings(voice: &Voice, modulation: VoiceModulation) -> (String, u16, u8) {
    let scale = |v: f32, m: f32| if m.is_finite() { v * m.clamp(0.5, 2.0) } else { v };
    // Rounded and clamped into espeak-ng's ranges, so the casts cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rate = scale(f32::from(voice.rate_wpm), modulation.rate).round().clamp(80.0, 450.0) as u16;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pitch = scale(f32::from(voice.pitch), modulation.pitch).round().clamp(0.0, 99.0) as u8;
    (voice.voice.clone(), rate, pitch)
}

/// 16-bit mono PCM as a WAV file.
#[must_use]
pub fn wav(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len)).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Speaks `text` (on the blocking pool: espeak-ng runs as a separate process, Piper
/// on ONNX Runtime's threads).
#[cfg(feature = "tts")]
pub async fn speak(
    voices: &Voices,
    voice: &Voice,
    modulation: VoiceModulation,
    text: &str,
) -> Result<Spoken, AppError> {
    use base64::Engine as _;
    use nexus_avatar::lip_sync::espeak::{VoiceSettings, synthesize};
    let (voice, rate_wpm, pitch) = settings(voice, modulation);
    let text = text.to_owned();
    let espeak_voice = if voice == PIPER_VOICE { PIPER_ESPEAK.to_owned() } else { voice.clone() };
    #[cfg(feature = "piper")]
    let piper = voices.piper.clone().filter(|_| voice == PIPER_VOICE);
    #[cfg(not(feature = "piper"))]
    let (_, piper) = (voices, None::<()>);
    if voice == PIPER_VOICE && piper.is_none() {
        tracing::warn!("the {PIPER_VOICE} voice is not loaded on this node; espeak-ng speaks instead");
    }
    let settings = VoiceSettings { voice: espeak_voice, rate_wpm, pitch };
    let (samples, sample_rate, track, engine) = tokio::task::spawn_blocking(move || {
        let speech = synthesize(&text, &settings).map_err(|e| format!("text-to-speech: {e}"))?;
        let track = speech.viseme_track().map_err(|e| format!("viseme track: {e}"))?;
        #[cfg(feature = "piper")]
        if let Some(piper) = piper {
            let neural = piper.synthesize(&text, f32::from(rate_wpm) / ESPEAK_DEFAULT_WPM)?;
            let track =
                super::piper::retime(&track, &speech.samples, speech.sample_rate, &neural.samples, neural.sample_rate);
            return Ok((neural.samples, neural.sample_rate, track, "piper"));
        }
        Ok::<_, String>((speech.samples, speech.sample_rate, track, "espeak-ng"))
    })
    .await
    .map_err(|e| AppError::Internal(format!("speech task: {e}")))?
    .map_err(AppError::Unavailable)?;
    let visemes = serde_json::to_value(&track).map_err(|e| AppError::Internal(e.to_string()))?;
    #[allow(clippy::cast_precision_loss)] // samples of a spoken reply
    let duration_s = samples.len() as f32 / sample_rate.max(1) as f32;
    Ok(Spoken {
        voice,
        engine: engine.to_owned(),
        rate_wpm,
        pitch,
        sample_rate,
        duration_s,
        wav_base64: base64::engine::general_purpose::STANDARD.encode(wav(&samples, sample_rate)),
        visemes,
    })
}

/// Built without the `tts` feature: no voice.
#[cfg(not(feature = "tts"))]
pub async fn speak(
    _voices: &Voices,
    _voice: &Voice,
    _modulation: VoiceModulation,
    _text: &str,
) -> Result<Spoken, AppError> {
    Err(AppError::Unavailable("built without the tts feature".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emotion_scales_the_voice_within_espeak_limits() {
        let voice = Voice { voice: "en-us".into(), rate_wpm: 170, pitch: 50 };
        assert_eq!(settings(&voice, VoiceModulation { rate: 1.0, pitch: 1.0 }), ("en-us".into(), 170, 50));
        let excited = settings(&voice, VoiceModulation { rate: 1.2, pitch: 1.3 });
        assert_eq!((excited.1, excited.2), (204, 65));
        let extreme =
            settings(&Voice { rate_wpm: 440, pitch: 99, ..voice.clone() }, VoiceModulation { rate: 9.0, pitch: 9.0 });
        assert_eq!((extreme.1, extreme.2), (450, 99));
        let broken = settings(&voice, VoiceModulation { rate: f32::NAN, pitch: f32::INFINITY });
        assert_eq!((broken.1, broken.2), (170, 50));
    }

    #[test]
    fn wav_headers_describe_the_samples() {
        let bytes = wav(&[0, 1, -1, i16::MAX], 22_050);
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 22_050);
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
        assert_eq!(i16::from_le_bytes([bytes[50], bytes[51]]), i16::MAX);
    }
}
