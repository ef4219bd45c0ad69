//! espeak-ng synthesis with its phoneme timeline, from one run of the small C program
//! `native/espeak_timeline.c` (feature `espeak`; `build.rs` compiles it against
//! libespeak-ng). A separate program because the espeak-ng command line reports no
//! phoneme timings without mbrola, this crate forbids `unsafe` (no FFI here), and
//! espeak-ng is GPL-3: run as a separate process it stays out of our binaries.
//!
//! The program takes the text on stdin, writes 16-bit mono WAV to a file and prints one
//! JSON object per event on stdout (`{"type":"phoneme","ms":196,"phoneme":"oU"}`, word,
//! sentence and clause-end events, then `done` with the sample count). [`synthesize`]
//! runs it and returns a [`Speech`]: the audio for the companion's voice and the
//! phonemes for its lips, from the same synthesis.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::phonemes::{Language, PhonemeEvent, track_from_phonemes};
use super::{TrackError, VisemeTrack};

/// The timeline program `build.rs` compiled.
pub const BUILT_PROGRAM: &str = env!("NEXUS_ESPEAK_TIMELINE");
/// Environment variable that overrides [`BUILT_PROGRAM`] at run time (an installed copy).
pub const PROGRAM_ENV: &str = "NEXUS_ESPEAK_TIMELINE";
/// The longest text the program reads, bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Which espeak-ng voice speaks, how fast and how high.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceSettings {
    /// espeak-ng voice name, optionally with a variant: `"en-us"`, `"fr"`, `"en+f3"`.
    /// Default `"en-us"`.
    pub voice: String,
    /// Words per minute, 80–450. Default 175 (espeak-ng's normal).
    pub rate_wpm: u16,
    /// Base pitch, 0–100. Default 50.
    pub pitch: u8,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self { voice: Language::English.espeak_voice().to_owned(), rate_wpm: 175, pitch: 50 }
    }
}

/// A word event: where a word of the text starts in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WordEvent {
    /// Start, seconds from the start of the audio.
    pub start_s: f32,
    /// Position of the word in the text, in characters from 1 (espeak-ng's count).
    pub text_position: u32,
    /// Length of the word, in characters.
    pub length: u32,
}

/// One synthesis: the audio and its timeline on the same clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// The espeak-ng voice that spoke.
    pub voice: String,
    /// Sample rate of `samples`, Hz (22 050 for espeak-ng's voices).
    pub sample_rate: u32,
    /// 16-bit mono PCM.
    pub samples: Vec<i16>,
    /// Phonemes in time order, pauses included.
    pub phonemes: Vec<PhonemeEvent>,
    /// Words in time order.
    pub words: Vec<WordEvent>,
    /// Length of the audio, seconds.
    pub duration_s: f32,
}

impl Speech {
    /// The language of [`Self::voice`], if we map its phonemes.
    #[must_use]
    pub fn language(&self) -> Option<Language> {
        Language::from_voice(&self.voice)
    }

    /// The visemes of the phoneme timeline. Voices of languages without their own table
    /// use the English one (espeak-ng's mnemonics are mostly shared).
    ///
    /// # Errors
    /// [`TrackError`] if the timeline is out of order (a bug in the program).
    pub fn viseme_track(&self) -> Result<VisemeTrack, TrackError> {
        track_from_phonemes(&self.phonemes, self.language().unwrap_or(Language::English), self.duration_s)
    }
}

/// Why a synthesis failed.
#[derive(Debug, Error)]
pub enum EspeakError {
    /// The timeline program is not where we looked.
    #[error(
        "espeak timeline program not found at {path} (build with feature `espeak` and libespeak-ng-dev, \
         or set NEXUS_ESPEAK_TIMELINE)",
        path = .path.display()
    )]
    ProgramMissing {
        /// Where we looked.
        path: PathBuf,
    },
    /// The program could not be started or talked to.
    #[error("cannot run {path}: {source}", path = .path.display())]
    Spawn {
        /// The program.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The program ran and failed (unknown voice, espeak-ng data missing…).
    #[error("espeak-ng failed (exit code {code:?}): {stderr}")]
    Failed {
        /// Its exit code (2 usage, 3 init, 4 unknown voice, 5 I/O, 6 synthesis).
        code: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Text longer than [`MAX_TEXT_BYTES`].
    #[error("text of {len} bytes is longer than {max}")]
    TextTooLong {
        /// The text's length.
        len: usize,
        /// [`MAX_TEXT_BYTES`].
        max: usize,
    },
    /// Rate or pitch out of espeak-ng's range.
    #[error("rate {rate_wpm} wpm or pitch {pitch} out of range (80–450, 0–100)")]
    BadSettings {
        /// The rate asked for.
        rate_wpm: u16,
        /// The pitch asked for.
        pitch: u8,
    },
    /// The program's timeline or WAV file did not make sense.
    #[error("bad output from the espeak timeline program: {0}")]
    BadOutput(String),
    /// The WAV file could not be read.
    #[error("cannot read {path}: {source}", path = .path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// The program to run: [`PROGRAM_ENV`] if set, else [`BUILT_PROGRAM`].
#[must_use]
pub fn program() -> PathBuf {
    std::env::var_os(PROGRAM_ENV).map_or_else(|| PathBuf::from(BUILT_PROGRAM), PathBuf::from)
}

/// Synthesises `text` with [`program`].
///
/// # Errors
/// See [`EspeakError`].
pub fn synthesize(text: &str, settings: &VoiceSettings) -> Result<Speech, EspeakError> {
    synthesize_with(&program(), text, settings)
}

/// Synthesises `text` with the timeline program at `program`.
///
/// # Errors
/// See [`EspeakError`].
pub fn synthesize_with(program: &Path, text: &str, settings: &VoiceSettings) -> Result<Speech, EspeakError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(EspeakError::TextTooLong { len: text.len(), max: MAX_TEXT_BYTES });
    }
    if !(80..=450).contains(&settings.rate_wpm) || settings.pitch > 100 {
        return Err(EspeakError::BadSettings { rate_wpm: settings.rate_wpm, pitch: settings.pitch });
    }
    if !program.is_file() {
        return Err(EspeakError::ProgramMissing { path: program.to_owned() });
    }
    let wav = TempWav::new();
    let spawn_error = |source| EspeakError::Spawn { path: program.to_owned(), source };
    let mut child = Command::new(program)
        .arg(&settings.voice)
        .arg(settings.rate_wpm.to_string())
        .arg(settings.pitch.to_string())
        .arg(&wav.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // The program reads all of stdin before it writes anything, so this cannot deadlock.
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(text.as_bytes()) {
            // It exited early (bad arguments): its status and stderr say why, below.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            result => result.map_err(spawn_error)?,
        }
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(EspeakError::Failed { code: output.status.code(), stderr });
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| bad("timeline is not UTF-8"))?;
    let timeline = parse_timeline(&stdout)?;
    let bytes = std::fs::read(&wav.path).map_err(|source| EspeakError::Wav { path: wav.path.clone(), source })?;
    let (sample_rate, samples) = parse_wav(&bytes)?;
    if sample_rate != timeline.sample_rate || samples.len() as u64 != timeline.samples {
        return Err(bad("WAV file and timeline disagree"));
    }
    Ok(Speech {
        voice: settings.voice.clone(),
        sample_rate,
        duration_s: samples.len() as f32 / sample_rate as f32,
        samples,
        phonemes: timeline.phonemes,
        words: timeline.words,
    })
}

fn bad(what: impl Into<String>) -> EspeakError {
    EspeakError::BadOutput(what.into())
}

/// A path in the temp directory for the program's WAV, removed on drop.
struct TempWav {
    path: PathBuf,
}

impl TempWav {
    fn new() -> Self {
        // Unique per process, thread and instant; no global counter needed.
        let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("nexus-espeak-{}-{thread}-{nanos}.wav", std::process::id());
        Self { path: std::env::temp_dir().join(name) }
    }
}

impl Drop for TempWav {
    fn drop(&mut self) {
        // Best effort: the file may not exist if the program failed early.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One line of the program's output; fields we don't use are skipped.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Start { sample_rate: u32 },
    Sentence {},
    Word { ms: u32, text_position: u32, length: u32 },
    Phoneme { ms: u32, phoneme: String },
    End {},
    Done { samples: u64 },
}

/// The parsed stdout of one run.
#[derive(Debug, Default)]
struct Timeline {
    sample_rate: u32,
    samples: u64,
    phonemes: Vec<PhonemeEvent>,
    words: Vec<WordEvent>,
}

fn parse_timeline(stdout: &str) -> Result<Timeline, EspeakError> {
    let mut timeline = Timeline::default();
    let (mut started, mut done) = (false, false);
    for (number, line) in stdout.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let parsed: Line = serde_json::from_str(line).map_err(|e| bad(format!("line {}: {e}", number + 1)))?;
        match parsed {
            Line::Start { sample_rate } => {
                timeline.sample_rate = sample_rate;
                started = true;
            }
            Line::Phoneme { ms, phoneme } => {
                timeline.phonemes.push(PhonemeEvent { start_s: seconds(ms), phoneme });
            }
            Line::Word { ms, text_position, length } => {
                timeline.words.push(WordEvent { start_s: seconds(ms), text_position, length });
            }
            Line::Done { samples } => {
                timeline.samples = samples;
                done = true;
            }
            Line::Sentence {} | Line::End {} => {}
        }
    }
    if !started || !done || timeline.sample_rate == 0 {
        return Err(bad("timeline without start or done line"));
    }
    Ok(timeline)
}

fn seconds(ms: u32) -> f32 {
    (f64::from(ms) / 1000.0) as f32
}

/// (sample rate, samples) of a 16-bit mono PCM WAV file.
fn parse_wav(bytes: &[u8]) -> Result<(u32, Vec<i16>), EspeakError> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if bytes.get(0..4) != Some(b"RIFF".as_slice()) || bytes.get(8..12) != Some(b"WAVE".as_slice()) {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut sample_rate = None;
    let mut at = 12;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(at + 4)) {
        let size = size as usize;
        let body = at + 8;
        let Some(data) = bytes.get(body..body + size) else {
            return Err(bad("truncated WAV chunk"));
        };
        match id {
            b"fmt " => {
                let (format, channels, bits) = (u16_at(body), u16_at(body + 2), u16_at(body + 14));
                if format != Some(1) || channels != Some(1) || bits != Some(16) {
                    return Err(bad("WAV is not 16-bit mono PCM"));
                }
                sample_rate = u32_at(body + 4);
            }
            b"data" => {
                let rate = sample_rate.filter(|rate| *rate > 0).ok_or_else(|| bad("WAV data before its format"))?;
                let samples = data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                return Ok((rate, samples));
            }
            _ => {}
        }
        at = body + size + (size & 1);
    }
    Err(bad("WAV without data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lip_sync::{LipSync, Viseme};

    fn say(voice: &str, text: &str) -> Speech {
        synthesize(text, &VoiceSettings { voice: voice.to_owned(), ..VoiceSettings::default() }).unwrap()
    }

    fn names(speech: &Speech) -> Vec<&str> {
        speech.phonemes.iter().map(|p| p.phoneme.as_str()).collect()
    }

    #[test]
    fn english_phonemes_and_audio_come_from_one_synthesis() {
        let speech = say("en", "Hello world");
        assert_eq!(speech.sample_rate, 22_050);
        assert_eq!(names(&speech), ["h", "@", "l", "oU", "w", "3:", "l", "d", "_:", "_"]);
        assert!(speech.phonemes.windows(2).all(|w| w[0].start_s <= w[1].start_s));
        assert!((0.7..1.2).contains(&speech.duration_s), "{}", speech.duration_s);
        assert_eq!(speech.words.len(), 2);
        assert_eq!((speech.words[1].text_position, speech.words[1].length), (7, 5));
        // The vowel of "hello" is loud; the final pause is silent.
        let level = |from_s: f32, to_s: f32| {
            let range = (from_s * 22_050.0) as usize..(to_s * 22_050.0) as usize;
            speech.samples[range].iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0)
        };
        let o = &speech.phonemes[3];
        assert!(level(o.start_s, o.start_s + 0.05) > 3000);
        assert!(level(speech.phonemes[8].start_s + 0.02, speech.duration_s) < 100);
        assert_eq!(speech.language(), Some(Language::English));
        assert_eq!(speech.viseme_track().unwrap().viseme_at(o.start_s + 0.01), Viseme::Oh);
    }

    #[test]
    fn french_phonemes() {
        let speech = say("fr", "Bonjour");
        assert_eq!(names(&speech), ["b", "O~", "Z", "u", "r", "_:", "_"]);
        let track = speech.viseme_track().unwrap();
        let visemes: Vec<Viseme> = track.keys().iter().map(|k| k.viseme).collect();
        // The track starts with the first phoneme (b at 12 ms); before it, silence.
        assert_eq!(visemes, [Viseme::PP, Viseme::Oh, Viseme::CH, Viseme::Ou, Viseme::RR, Viseme::Sil]);
        assert_eq!(track.viseme_at(0.005), Viseme::Sil);
    }

    #[test]
    fn phoneme_to_blend_shape_delay_is_under_one_frame() {
        let speech = say("en-us", "Peter Piper picked a peck of pickled peppers.");
        let track = speech.viseme_track().unwrap();
        let sync = LipSync::default();
        for hz in [72.0_f32, 90.0] {
            let frame = 1.0 / hz;
            for key in track.keys().iter().filter(|k| k.duration_s() > frame + 0.001) {
                // The first frame displayed at or after the phoneme's start shows it.
                let mut first_frame = (key.start_s * hz).ceil() / hz;
                if first_frame < key.start_s {
                    first_frame += frame;
                }
                assert!(first_frame - key.start_s <= frame + 1e-6);
                assert_eq!(sync.mix(&track, first_frame).dominant(), key.viseme, "{key:?} at {hz} Hz");
                assert!(sync.sample(&track, first_frame).0.iter().all(|w| w.is_finite()));
            }
        }
    }

    #[test]
    fn failures_are_typed() {
        let settings = VoiceSettings::default();
        assert!(matches!(
            synthesize_with(Path::new("/nonexistent/espeak_timeline"), "hi", &settings),
            Err(EspeakError::ProgramMissing { .. })
        ));
        let unknown = VoiceSettings { voice: "xx-no-such-voice".to_owned(), ..settings.clone() };
        assert!(matches!(synthesize("hi", &unknown), Err(EspeakError::Failed { code: Some(4), .. })));
        let fast = VoiceSettings { rate_wpm: 1000, ..settings.clone() };
        assert!(matches!(synthesize("hi", &fast), Err(EspeakError::BadSettings { .. })));
        let long = "a".repeat(MAX_TEXT_BYTES + 1);
        assert!(matches!(synthesize(&long, &settings), Err(EspeakError::TextTooLong { .. })));
    }

    #[test]
    fn wav_and_timeline_parsers_reject_garbage() {
        let mut wav =
            b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x22\x56\0\0\x44\xac\0\0\x02\0\x10\0data\x04\0\0\0".to_vec();
        wav.extend_from_slice(&[0x01, 0x00, 0xff, 0xff]);
        assert_eq!(parse_wav(&wav).unwrap(), (22_050, vec![1, -1]));
        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(&wav[..wav.len() - 1]).is_err());
        let observed = "{\"type\":\"start\",\"sample_rate\":22050,\"voice\":\"fr\"}\n\
            {\"type\":\"sentence\",\"ms\":0,\"number\":1}\n\
            {\"type\":\"word\",\"ms\":0,\"text_position\":1,\"length\":7}\n\
            {\"type\":\"phoneme\",\"ms\":12,\"phoneme\":\"b\"}\n\
            {\"type\":\"phoneme\",\"ms\":27,\"phoneme\":\"O~\"}\n\
            {\"type\":\"end\",\"ms\":573}\n\
            {\"type\":\"done\",\"ms\":573,\"samples\":12636}\n";
        let timeline = parse_timeline(observed).unwrap();
        assert_eq!(timeline.phonemes[1], PhonemeEvent { start_s: 0.027, phoneme: "O~".to_owned() });
        assert_eq!(timeline.samples, 12_636);
        assert!(parse_timeline("{\"type\":\"phoneme\",\"ms\":1,\"phoneme\":\"b\"}").is_err());
        assert!(parse_timeline("not json").is_err());
    }
}
