//! The companion's ears: speech-to-text with whisper.cpp (through whisper-rs) on two
//! Whisper models that `cargo xtask fetch-models` fetches in CTranslate2's format and
//! converts to ggml: tiny.en (`<models>/whisper-tiny-en/ggml-tiny.en.bin`), fast, for
//! English, and base (`<models>/whisper-base/ggml-base.bin`), multilingual, for French
//! and for speech whose language is not known.
//!
//! A clip comes with a language hint — the language of the companion's voice, the one
//! the user talks to it in (room voice is heard as English) — or none (a voice in a
//! language the product does not speak). English goes to tiny.en (about 1.1 s for a 5 s
//! clip on two cores, `cargo xtask bench companion`); French to base (2.6 s); with no
//! hint, base detects which of the product's languages ([`LANGUAGES`]) it is — an extra
//! pass of its encoder (4.5 s in all) — and transcribes in it. A clip is never transcribed as a language the product does not
//! speak, however Whisper's detector leans. The transcript says which language it was
//! heard in. The companion's name is given to the model as context, so it is spelled
//! as the user does rather than as the nearest common word.
//!
//! Audio arrives as a WAV file (16-bit PCM or 32-bit float, mono or stereo, any sample
//! rate); [`decode_wav`] reads it and brings it to what Whisper hears — mono f32 at
//! 16 kHz — and anything else is refused with a clear error. One clip is at most
//! [`MAX_AUDIO_S`] seconds (Whisper's window).
//!
//! Feature `stt` (on by default) builds whisper.cpp (cmake and a C++ compiler).

use std::sync::Arc;

use serde::Serialize;

use crate::error::AppError;

/// The English model: directory under the models cache, ggml file in it.
pub const ENGLISH_MODEL: (&str, &str) = ("whisper-tiny-en", "ggml-tiny.en.bin");
/// The multilingual model.
pub const MULTILINGUAL_MODEL: (&str, &str) = ("whisper-base", "ggml-base.bin");
/// The languages a clip is heard in (Whisper's codes), the first being the fallback.
pub const LANGUAGES: [&str; 2] = ["en", "fr"];
/// Whisper's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// Longest clip, seconds.
pub const MAX_AUDIO_S: f32 = 30.0;
/// Shortest clip worth transcribing, seconds.
pub const MIN_AUDIO_S: f32 = 0.1;

/// What was heard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Transcript {
    /// The words, trimmed.
    pub text: String,
    /// Timed pieces: `(start_s, end_s, text)`.
    pub segments: Vec<(f32, f32, String)>,
    /// Length of the audio, seconds.
    pub audio_s: f32,
    /// The language heard, one of [`LANGUAGES`].
    pub language: String,
}

/// The most likely of [`LANGUAGES`] given Whisper's probability per language id, with
/// `id_of` mapping a code to its id; the first language when none has a probability.
#[must_use]
pub fn pick_language(probabilities: &[f32], id_of: impl Fn(&str) -> Option<usize>) -> &'static str {
    LANGUAGES
        .iter()
        .filter_map(|&code| {
            let p = probabilities.get(id_of(code)?).copied().filter(|p| p.is_finite())?;
            Some((code, p))
        })
        .fold(None, |best: Option<(&'static str, f32)>, (code, p)| match best {
            Some((_, q)) if q >= p => best,
            _ => Some((code, p)),
        })
        .map_or(LANGUAGES[0], |(code, _)| code)
}

/// What is known of a clip before it is heard.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    /// The language it is probably in (a Whisper code); `None` to detect it. A language
    /// outside [`LANGUAGES`] counts as none.
    pub language: Option<String>,
    /// Words the speaker is likely to say that no model knows — the companion's name —
    /// given to the model as context so it spells them as the user does.
    pub names: String,
}

impl Hint {
    /// The hint for talking to a companion: its voice's language (`"fr"`, `"en-us+f3"`
    /// → `en`) and its name.
    #[must_use]
    pub fn for_companion(voice: &str, name: &str) -> Self {
        Self { language: Some(super::voice::language_of(voice)), names: name.to_owned() }
    }

    /// The hinted language if the product speaks it.
    #[must_use]
    pub fn language(&self) -> Option<&'static str> {
        let hinted = self.language.as_deref()?;
        LANGUAGES.iter().copied().find(|&l| l == hinted)
    }
}

/// A speech-to-text engine.
pub trait Transcribe: Send + Sync + std::fmt::Debug {
    /// Transcribes mono 16 kHz audio (blocking).
    fn transcribe(&self, samples: &[f32], hint: &Hint) -> Result<Transcript, String>;
}

/// Runs `engine` on the blocking pool.
pub async fn transcribe(engine: &Arc<dyn Transcribe>, samples: Vec<f32>, hint: Hint) -> Result<Transcript, AppError> {
    let engine = Arc::clone(engine);
    // Only letters, digits, spaces and light punctuation, at most 100 characters: the
    // context is a spelling hint, not a place for instructions.
    let names: String =
        hint.names.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'' | ',')).take(100).collect();
    let hint = Hint { names, ..hint };
    tokio::task::spawn_blocking(move || engine.transcribe(&samples, &hint))
        .await
        .map_err(|e| AppError::Internal(format!("speech-to-text task: {e}")))?
        .map_err(|e| AppError::Unavailable(format!("speech-to-text: {e}")))
}

fn bad_audio(why: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_audio", why)
}

/// Reads a WAV file into mono f32 samples at 16 kHz.
pub fn decode_wav(bytes: &[u8]) -> Result<Vec<f32>, AppError> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad_audio("expected a WAV (RIFF/WAVE) file"));
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = &bytes[at + 8..bytes.len().min(at + 8 + len)];
        match id {
            b"fmt " if body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                format = Some((u16_at(0), u16_at(2), rate, u16_at(14)));
            }
            b"data" => data = Some(body),
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    let (tag, channels, rate, bits) = format.ok_or_else(|| bad_audio("the WAV file has no fmt chunk"))?;
    let data = data.ok_or_else(|| bad_audio("the WAV file has no data chunk"))?;
    if channels == 0 || channels > 8 || !(8_000..=192_000).contains(&rate) {
        return Err(bad_audio(format!("unsupported layout: {channels} channels at {rate} Hz")));
    }
    // 1 = PCM, 3 = IEEE float, 0xFFFE = extensible (its sub-format follows the bit depth here).
    let frames: Vec<f32> = match (tag, bits) {
        (1 | 0xFFFE, 16) => {
            data.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0).collect()
        }
        (3 | 0xFFFE, 32) => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        _ => {
            return Err(bad_audio(format!(
                "unsupported sample format {tag} with {bits} bits (use 16-bit PCM or 32-bit float)"
            )));
        }
    };
    let channels = usize::from(channels);
    let mono: Vec<f32> = frames
        .chunks_exact(channels)
        .map(|f| f.iter().map(|s| if s.is_finite() { *s } else { 0.0 }).sum::<f32>() / channels as f32)
        .collect();
    #[allow(clippy::cast_precision_loss)] // seconds of audio
    let seconds = mono.len() as f32 / rate as f32;
    if seconds > MAX_AUDIO_S {
        return Err(AppError::unprocessable(
            "audio_too_long",
            format!("{seconds:.1} s; at most {MAX_AUDIO_S} s per clip"),
        ));
    }
    if seconds < MIN_AUDIO_S {
        return Err(bad_audio(format!("{seconds:.2} s of audio is too short")));
    }
    Ok(resample(&mono, rate, SAMPLE_RATE))
}

/// Linear-interpolation resampling, after a moving-average low-pass when shrinking (enough
/// for speech recognition; Whisper listens below 8 kHz).
#[must_use]
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    let smoothed: Vec<f32> = if ratio > 1.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a small window
        let width = ratio.ceil() as usize;
        let mut sum = 0.0f32;
        let mut out = Vec::with_capacity(samples.len());
        for (i, s) in samples.iter().enumerate() {
            sum += s;
            if i >= width {
                sum -= samples[i - width];
            }
            #[allow(clippy::cast_precision_loss)]
            out.push(sum / (i + 1).min(width) as f32);
        }
        out
    } else {
        samples.to_vec()
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let n = (samples.len() as f64 / ratio).floor() as usize;
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let x = i as f64 * ratio;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let j = x.floor() as usize;
            #[allow(clippy::cast_possible_truncation)]
            let frac = (x - x.floor()) as f32;
            let a = smoothed[j.min(smoothed.len() - 1)];
            let b = smoothed[(j + 1).min(smoothed.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// Whether a segment is only a bracketed annotation of non-speech (`[BLANK_AUDIO]`,
/// `(wind blowing)`, `*music*`), which Whisper writes where nobody spoke.
#[must_use]
pub fn is_annotation(text: &str) -> bool {
    let t = text.trim();
    [('[', ']'), ('(', ')'), ('*', '*')].iter().any(|&(open, close)| {
        t.len() >= 2 && t.starts_with(open) && t.ends_with(close) && !t[1..t.len() - 1].contains([open, close])
    })
}

/// One Whisper model in whisper.cpp.
#[cfg(feature = "stt")]
struct Whisper {
    ctx: whisper_rs::WhisperContext,
}

#[cfg(feature = "stt")]
impl Whisper {
    /// Loads `<models_dir>/<dir>/<file>`.
    fn load(models_dir: &std::path::Path, (dir, file): (&str, &str)) -> Result<Self, String> {
        let path = models_dir.join(dir).join(file);
        if !path.is_file() {
            return Err(format!("{} not found (run `cargo xtask fetch-models`)", path.display()));
        }
        // whisper.cpp logs every load and run to stderr; route it nowhere.
        whisper_rs::install_logging_hooks();
        let ctx = whisper_rs::WhisperContext::new_with_params(&path, whisper_rs::WhisperContextParameters::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { ctx })
    }

    /// Transcribes `samples` in `language`, or in the likeliest of [`LANGUAGES`] when
    /// `None` (a multilingual model only).
    fn run(&self, samples: &[f32], language: Option<&'static str>, names: &str) -> Result<Transcript, String> {
        use whisper_rs::{FullParams, SamplingStrategy};
        let mut state = self.ctx.create_state().map_err(|e| e.to_string())?;
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(4);
        let language = match language {
            Some(language) => language,
            None => {
                // One pass of the encoder over the clip's first 30 s, then the decoder's
                // first-token probabilities.
                state.pcm_to_mel(samples, threads).map_err(|e| e.to_string())?;
                let (_, probabilities) = state.lang_detect(0, threads).map_err(|e| e.to_string())?;
                pick_language(&probabilities, |code| {
                    whisper_rs::get_lang_id(code).and_then(|id| usize::try_from(id).ok())
                })
            }
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(threads).unwrap_or(2));
        params.set_language(Some(language));
        let prompt = format!("{}.", names.trim());
        if prompt.len() > 1 {
            params.set_initial_prompt(&prompt);
        }
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        state.full(params, samples).map_err(|e| e.to_string())?;
        let mut segments = Vec::new();
        for segment in state.as_iter() {
            let text = segment.to_str_lossy().map_err(|e| e.to_string())?.trim().to_owned();
            #[allow(clippy::cast_precision_loss)] // centiseconds of a 30 s clip
            let (start, end) = (segment.start_timestamp() as f32 / 100.0, segment.end_timestamp() as f32 / 100.0);
            // whisper.cpp marks non-speech as "[BLANK_AUDIO]", "(music)"…: not words.
            if !text.is_empty() && !is_annotation(&text) {
                segments.push((start, end, text));
            }
        }
        let text = segments.iter().map(|s| s.2.as_str()).collect::<Vec<_>>().join(" ");
        #[allow(clippy::cast_precision_loss)]
        let audio_s = samples.len() as f32 / SAMPLE_RATE as f32;
        Ok(Transcript { text, segments, audio_s, language: language.to_owned() })
    }
}

/// The fetched Whisper models: English and multilingual, either of which may be missing.
#[cfg(feature = "stt")]
pub struct Ears {
    english: Option<Whisper>,
    multilingual: Option<Whisper>,
}

#[cfg(feature = "stt")]
impl std::fmt::Debug for Ears {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Whisper")
            .field("tiny.en", &self.english.is_some())
            .field("base", &self.multilingual.is_some())
            .finish()
    }
}

#[cfg(feature = "stt")]
impl Transcribe for Ears {
    fn transcribe(&self, samples: &[f32], hint: &Hint) -> Result<Transcript, String> {
        let language = hint.language();
        match (&self.english, &self.multilingual, language) {
            (Some(english), _, Some("en")) | (Some(english), None, _) => english.run(samples, Some("en"), &hint.names),
            (_, Some(multilingual), language) => multilingual.run(samples, language, &hint.names),
            (None, None, _) => Err("no speech-to-text model is loaded".into()),
        }
    }
}

/// The fetched Whisper models, loaded once per models directory, or `None` when neither
/// is there (logged).
#[cfg(feature = "stt")]
#[must_use]
pub fn local_transcriber(models_dir: &std::path::Path) -> Option<Arc<dyn Transcribe>> {
    let load = || {
        let english = Whisper::load(models_dir, ENGLISH_MODEL);
        let multilingual = Whisper::load(models_dir, MULTILINGUAL_MODEL);
        match (english, multilingual) {
            (Err(a), Err(b)) => Err(format!("{a}; {b}")),
            (english, multilingual) => {
                if let Err(e) = &multilingual {
                    tracing::warn!(error = %e, "multilingual speech-to-text not loaded; every clip is heard as English");
                }
                if let Err(e) = &english {
                    tracing::warn!(error = %e, "English speech-to-text not loaded; the multilingual model hears English too");
                }
                Ok(Arc::new(Ears { english: english.ok(), multilingual: multilingual.ok() }))
            }
        }
    };
    match crate::models::load_once(models_dir.display().to_string(), load) {
        Ok(model) => Some(model),
        Err(e) => {
            tracing::error!(error = %e, "speech-to-text model not loaded; voice messages are refused");
            None
        }
    }
}

/// Built without the `stt` feature: no speech-to-text.
#[cfg(not(feature = "stt"))]
#[must_use]
pub fn local_transcriber(_models_dir: &std::path::Path) -> Option<Arc<dyn Transcribe>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::companion::voice::wav;

    #[test]
    fn a_companion_hints_its_voice_language_and_unknown_languages_are_detected() {
        assert_eq!(Hint::for_companion("en-us+f3", "Mira").language(), Some("en"));
        assert_eq!(Hint::for_companion("fr", "Léa").language(), Some("fr"));
        assert_eq!(Hint::for_companion("FR-fr", "Léa").language(), Some("fr"));
        assert_eq!(Hint::for_companion("de", "Mira").language(), None, "not spoken by the product: detect");
        assert_eq!(Hint::for_companion("piper-joe", "Mira").language(), Some("en"), "Piper's voice is English");
        assert_eq!(Hint::default().language(), None);
        assert_eq!(Hint::for_companion("fr", "Léa").names, "Léa");
    }

    #[test]
    fn the_language_is_the_likeliest_the_product_speaks() {
        // Whisper's ids: en 0, fr 6 (here, a made-up table for the test).
        let id_of = |code: &str| match code {
            "en" => Some(0),
            "fr" => Some(6),
            _ => None,
        };
        let mut p = vec![0.0; 10];
        p[0] = 0.2;
        p[6] = 0.5;
        p[3] = 0.9; // a language the product does not speak leans hardest: ignored
        assert_eq!(pick_language(&p, id_of), "fr");
        p[0] = 0.6;
        assert_eq!(pick_language(&p, id_of), "en");
        p[0] = f32::NAN;
        assert_eq!(pick_language(&p, id_of), "fr", "a broken probability is not a vote");
        assert_eq!(pick_language(&[], id_of), "en", "nothing known: the fallback");
        assert_eq!(pick_language(&p, |_| None), "en");
    }

    #[test]
    fn wav_files_are_read_mixed_and_resampled_and_bad_ones_refused() {
        // One second of a 440 Hz tone at 22.05 kHz comes out as one second at 16 kHz.
        let tone: Vec<i16> = (0..22_050)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 22_050.0).sin() * 8_000.0) as i16)
            .collect();
        let samples = decode_wav(&wav(&tone, 22_050)).unwrap();
        assert_eq!(samples.len(), 16_000);
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.2..0.3).contains(&peak), "{peak}");

        for (bytes, code) in [
            (b"not audio at all".to_vec(), "invalid_audio"),
            (wav(&[0; 100], 16_000), "invalid_audio"),
            (wav(&vec![0; 16_000 * 31], 16_000), "audio_too_long"),
            (wav(&tone, 22_050)[..40].to_vec(), "invalid_audio"),
        ] {
            assert_eq!(decode_wav(&bytes).unwrap_err().code(), code);
        }
        // 8-bit PCM is refused with a reason, not misread.
        let mut eight = wav(&tone, 22_050);
        eight[34] = 8;
        assert!(decode_wav(&eight).unwrap_err().to_string().contains("8 bits"));
    }

    #[test]
    fn annotations_of_silence_are_not_words() {
        for note in ["[BLANK_AUDIO]", "(wind blowing)", "*music*", " [ Silence ] "] {
            assert!(is_annotation(note), "{note}");
        }
        for words in ["Hello there.", "[laughs] Hello", "(a) and (b)", "*"] {
            assert!(!is_annotation(words), "{words}");
        }
    }

    #[test]
    fn resampling_keeps_duration_and_level() {
        let flat = vec![0.5f32; 48_000];
        let out = resample(&flat, 48_000, 16_000);
        assert_eq!(out.len(), 16_000);
        assert!(out[10..].iter().all(|s| (s - 0.5).abs() < 1e-6));
        assert_eq!(resample(&flat, 16_000, 16_000).len(), 48_000);
        assert!(resample(&[], 22_050, 16_000).is_empty());
    }
}
