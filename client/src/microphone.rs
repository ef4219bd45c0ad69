//! Push-to-talk: hold **V** — or, in the headset, the primary button of either
//! controller (X or A; the menu button on a Vive wand) — to speak to the companion. The
//! default input device is captured with cpal while it is held; on release the clip (mono, the device's own
//! rate) is wrapped as a WAV file and sent to the server, which transcribes it and answers
//! aloud (seed §6.1). `--say FILE.wav` sends a recorded clip the same way when the room
//! opens — for machines without a microphone, and for scripted runs.
//!
//! Clips shorter than [`MIN_CLIP_S`] are dropped (a tap of the key), longer ones are cut
//! at [`MAX_CLIP_S`] (what the server accepts).
//!
//! While other people are in the room ([`crate::presence`]), what the microphone hears
//! also goes to them as it is captured — 48 kHz Opus frames, every frame.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};

use crate::services::Services;
use crate::ui::chat::ChatState;

/// Shortest clip sent, seconds.
pub const MIN_CLIP_S: f32 = 0.3;
/// Longest clip sent, seconds (the server's limit).
pub const MAX_CLIP_S: f32 = 30.0;

/// A capture in progress: the stream (dropping it stops the device) and what it heard.
struct Capture {
    _stream: cpal::Stream,
    samples: Arc<Mutex<Vec<f32>>>,
    rate: u32,
}

/// The microphone, while a talk control is held (a non-send resource: cpal streams stay
/// on their thread on some platforms).
#[derive(Default)]
pub struct Microphone {
    capture: Option<Capture>,
    /// Samples of the capture already sent to the room.
    streamed: usize,
    /// Whether a talk control was held last frame.
    held: bool,
}

/// Whether the user holds a talk control: the V key (`key_v`), or the primary button of
/// either controller.
#[must_use]
pub fn talk_held(key_v: bool, rig: Option<&crate::rig::TrackedRig>) -> bool {
    key_v || rig.is_some_and(|r| r.left.primary || r.right.primary)
}

/// A clip given with `--say`, sent once when the room opens.
#[derive(Resource, Debug, Clone)]
pub struct SayOnEntry(pub Option<std::path::PathBuf>);

/// Why the microphone could not start.
#[derive(Debug, thiserror::Error)]
pub enum MicError {
    /// No input device.
    #[error("no microphone found")]
    NoDevice,
    /// The device refused.
    #[error("the microphone did not start: {0}")]
    Device(String),
}

/// Starts capturing from the default input device, mixed down to mono.
fn start() -> Result<Capture, MicError> {
    let device = cpal::default_host().default_input_device().ok_or(MicError::NoDevice)?;
    let supported = device.default_input_config().map_err(|e| MicError::Device(e.to_string()))?;
    let config = supported.config();
    let channels = usize::from(config.channels.max(1));
    let samples = Arc::new(Mutex::new(Vec::new()));
    // Cut at the server's limit, so a key held down forever cannot fill memory.
    let cap = (MAX_CLIP_S * config.sample_rate as f32) as usize;
    let sink = samples.clone();
    let push = move |mono: &mut dyn Iterator<Item = f32>| {
        if let Ok(mut s) = sink.lock() {
            let room = cap.saturating_sub(s.len());
            s.extend(mono.take(room));
        }
    };
    let on_error = |e: cpal::StreamError| warn!("microphone: {e}");
    let stream = match supported.sample_format() {
        cpal::SampleFormat::F32 => device.build_input_stream(
            &config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                push(&mut data.chunks(channels).map(|f| f.iter().sum::<f32>() / f.len() as f32));
            },
            on_error,
            None,
        ),
        cpal::SampleFormat::I16 => device.build_input_stream(
            &config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| {
                push(
                    &mut data
                        .chunks(channels)
                        .map(|f| f.iter().map(|&s| f32::from(s) / 32_768.0).sum::<f32>() / f.len() as f32),
                );
            },
            on_error,
            None,
        ),
        other => return Err(MicError::Device(format!("unsupported sample format {other}"))),
    }
    .map_err(|e| MicError::Device(e.to_string()))?;
    stream.play().map_err(|e| MicError::Device(e.to_string()))?;
    Ok(Capture { _stream: stream, samples, rate: config.sample_rate })
}

/// Captured samples at the device's `rate` as the 48 kHz 16-bit PCM voice frames carry.
#[must_use]
pub fn to_voice_pcm(samples: &[f32], rate: u32) -> Vec<i16> {
    let resampled = nexus_server::companion::listen::resample(samples, rate, nexus_net::voice::SAMPLE_RATE);
    // Clamped to [-1, 1] first, so the cast cannot overflow.
    resampled.iter().map(|s| (s.clamp(-1.0, 1.0) * 32_767.0) as i16).collect()
}

/// A mono clip as a 16-bit WAV file, or `None` when it is too short to be speech.
#[must_use]
pub fn clip_to_wav(samples: &[f32], rate: u32) -> Option<Vec<u8>> {
    if rate == 0 || (samples.len() as f32) < MIN_CLIP_S * rate as f32 {
        return None;
    }
    // Clamped to [-1, 1] first, so the cast cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let pcm: Vec<i16> = samples.iter().map(|s| (s.clamp(-1.0, 1.0) * 32_767.0) as i16).collect();
    Some(nexus_server::companion::voice::wav(&pcm, rate))
}

/// A talk control pressed → capture; released → send the clip.
pub fn push_to_talk(
    keys: Res<ButtonInput<KeyCode>>,
    rig: Option<Res<crate::rig::TrackedRig>>,
    mut mic: NonSendMut<Microphone>,
    mut chat: ResMut<ChatState>,
    services: Option<Res<Services>>,
    presence: Option<Res<crate::presence::Presence>>,
) {
    // While a message is typed, V is a letter; the controller button still talks.
    let held = talk_held(!chat.writing && keys.pressed(KeyCode::KeyV), rig.as_deref());
    let (pressed, released) = (held && !mic.held, !held && mic.held);
    mic.held = held;
    if pressed && mic.capture.is_none() {
        match start() {
            Ok(c) => {
                mic.capture = Some(c);
                mic.streamed = 0;
                chat.listening = true;
            }
            Err(e) => chat.push(format!("(voice: {e})")),
        }
    }
    // Live to the others in the room, while there are any.
    let Microphone { capture, streamed, .. } = &mut *mic;
    if let (Some(presence), Some(capture)) = (presence.as_deref(), capture.as_ref())
        && !presence.members.is_empty()
    {
        let fresh: Vec<f32> =
            capture.samples.lock().map(|s| s[(*streamed).min(s.len())..].to_vec()).unwrap_or_default();
        *streamed += fresh.len();
        if !fresh.is_empty() {
            presence.link.send_voice(to_voice_pcm(&fresh, capture.rate));
        }
    }
    if released && let Some(capture) = mic.capture.take() {
        chat.listening = false;
        let (samples, rate) = (capture.samples.lock().map(|s| s.clone()).unwrap_or_default(), capture.rate);
        drop(capture);
        send_clip(clip_to_wav(&samples, rate), services.as_deref(), &mut chat);
    }
}

/// Sends the `--say` clip once, when the room opens.
pub fn say_on_entry(say: Res<SayOnEntry>, services: Option<Res<Services>>, mut chat: ResMut<ChatState>) {
    let Some(path) = &say.0 else { return };
    match std::fs::read(path) {
        Ok(wav) => send_clip(Some(wav), services.as_deref(), &mut chat),
        Err(e) => chat.push(format!("(voice: cannot read {}: {e})", path.display())),
    }
}

fn send_clip(wav: Option<Vec<u8>>, services: Option<&Services>, chat: &mut ChatState) {
    match (wav, services) {
        (None, _) => chat.push("(voice: too short — hold V, or X/A, while you speak)".into()),
        (Some(_), None) => chat.push("(offline: speaking to the companion needs a server)".into()),
        (Some(wav), Some(s)) => {
            chat.sent += 1;
            chat.waiting = true;
            chat.push("you: (speaking…)".into());
            s.send_voice(wav);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_become_wav_files_unless_too_short() {
        assert_eq!(clip_to_wav(&[0.0; 100], 16_000), None);
        assert_eq!(clip_to_wav(&[0.0; 16_000], 0), None);
        let tone: Vec<f32> = (0..8_000).map(|i| (i as f32 * 0.1).sin() * 2.0).collect(); // clipped
        let wav = clip_to_wav(&tone, 16_000).expect("half a second is a clip");
        assert_eq!(wav.len(), 44 + 2 * 8_000);
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        let peak = wav[44..].chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs()).max();
        assert_eq!(peak, Some(32_767), "samples beyond ±1 are clamped, not wrapped");
    }

    /// One frame of push-to-talk with `key_v` down and the left controller's primary
    /// button `button` down.
    fn frame(app: &mut App, key_v: bool, button: bool) {
        let mut keys = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        keys.clear();
        if key_v {
            keys.press(KeyCode::KeyV)
        } else {
            keys.release(KeyCode::KeyV)
        }
        app.world_mut().resource_mut::<crate::rig::TrackedRig>().left.primary = button;
        app.update();
    }

    /// Whether the microphone reacted: it captures, or it said why it cannot (machines
    /// without a microphone, like CI).
    fn reacted(app: &App) -> bool {
        let chat = app.world().resource::<ChatState>();
        chat.listening || chat.lines.iter().any(|l| l.starts_with("(voice:"))
    }

    #[test]
    fn a_controller_button_talks_like_the_v_key_and_still_talks_while_a_message_is_typed() {
        let mut app = App::new();
        app.init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<crate::rig::TrackedRig>()
            .init_resource::<ChatState>()
            .init_non_send::<Microphone>()
            .add_systems(Update, push_to_talk);
        frame(&mut app, false, false);
        assert!(!reacted(&app), "nothing held, nothing happens");

        // The headset's button (X on the left Touch controller) starts the microphone…
        frame(&mut app, false, true);
        assert!(reacted(&app), "{:?}", app.world().resource::<ChatState>().lines);
        frame(&mut app, false, true);
        // …and letting go stops it.
        frame(&mut app, false, false);
        assert!(!app.world().resource::<ChatState>().listening);
        assert!(app.world().non_send::<Microphone>().capture.is_none());

        // While a message is typed, V is a letter, but the button still talks.
        app.insert_resource(ChatState { writing: true, ..ChatState::default() });
        frame(&mut app, true, false);
        assert!(!reacted(&app), "V typed into a message does not talk");
        frame(&mut app, true, true);
        assert!(reacted(&app));
        frame(&mut app, false, false);
        assert!(!app.world().resource::<ChatState>().listening);
    }
}
