//! Room voice to text — the seed's call (§6.1) sends the user's voice to the server's
//! speech-to-text, and every path that takes user content goes through moderation
//! (§3.1). Each member's connection keeps a [`VoiceListener`]: their Opus frames are
//! decoded as they arrive (in order, losses recovered or concealed, a short window kept
//! for late packets). An utterance ends after [`PAUSE`] without frames — clients send
//! voice only while the user speaks (push-to-talk or their own voice detection) — or at
//! [`MAX_UTTERANCE`]. [`utterance`] then brings it to 16 kHz, transcribes it with the
//! companion's Whisper, and puts the words through the one moderation door as the
//! speaker's `AUDIO_TRANSCRIPT`:
//!
//! - allowed (or warned): the room sees a [`ServerMsg::Caption`] — live captions;
//! - warned: the speaker is also told ([`ServerMsg::Moderated`]);
//! - blocked: no caption, the speaker is muted in the room and told why; moderation's
//!   usual consequences (incident with the text's hash, warning count, suspension) apply.
//!
//! Room voice is heard as English ([`room_hint`]): nobody says which language a member
//! speaks, and detecting it costs Whisper base a second pass over each utterance (4.5 s
//! against tiny.en's 1.1 s for a 5 s clip, `cargo xtask bench companion`), too slow for
//! captions; a member's spoken language is not a setting yet.
//!
//! At most [`CONCURRENT`] utterances are transcribed at once on a node; more wait.
//! Without a speech-to-text model (feature `stt` off, or the model not fetched) the
//! listener is not created and voice is only relayed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nexus_net::control::{MemberAction, ServerMsg};
use nexus_net::realtime::VoiceFrame;
use nexus_net::voice::{self, JitterBuffer, MAX_DEPTH, VoiceError};

use super::room::{Membership, Room};
use crate::companion::listen::{self, Transcribe};
use crate::http::extract::AuthUser;
use crate::moderation::check::{CheckRequest, check_text};
use crate::moderation::incident::ContentType;
use crate::moderation::policy::Action;
use crate::state::AppState;

/// Silence that ends an utterance.
pub const PAUSE: Duration = Duration::from_millis(600);
/// The longest utterance; longer speech is cut into pieces this long.
pub const MAX_UTTERANCE: Duration = Duration::from_secs(15);
/// Utterances transcribed at once on one node.
pub const CONCURRENT: usize = 2;
/// Frames kept undecoded for late, reordered packets.
const REORDER_WINDOW: usize = MAX_DEPTH;

/// One member's voice, becoming an utterance.
pub struct VoiceListener {
    buffer: JitterBuffer,
    pcm: Vec<i16>,
    first: Option<Instant>,
    last: Option<Instant>,
    epoch: Instant,
}

impl std::fmt::Debug for VoiceListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceListener").field("samples", &self.pcm.len()).finish_non_exhaustive()
    }
}

impl VoiceListener {
    /// A listener with nothing heard.
    pub fn new() -> Result<Self, VoiceError> {
        Ok(Self { buffer: JitterBuffer::new()?, pcm: Vec::new(), first: None, last: None, epoch: Instant::now() })
    }

    /// A voice frame arrived at `now`.
    pub fn hear(&mut self, frame: VoiceFrame, now: Instant) -> Result<(), VoiceError> {
        let at = now.saturating_duration_since(self.epoch).as_micros() as u64;
        self.buffer.push(frame, at);
        self.first.get_or_insert(now);
        self.last = Some(now);
        let decoded = self.buffer.drain_to(REORDER_WINDOW)?;
        self.pcm.extend_from_slice(&decoded);
        Ok(())
    }

    /// When the utterance under way ends, if one is.
    #[must_use]
    pub fn ends_at(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + PAUSE).min(first + MAX_UTTERANCE))
    }

    /// The utterance heard so far as 48 kHz PCM; the listener starts afresh.
    pub fn take(&mut self) -> Result<Vec<i16>, VoiceError> {
        let rest = self.buffer.drain_to(0)?;
        self.pcm.extend_from_slice(&rest);
        self.first = None;
        self.last = None;
        Ok(std::mem::take(&mut self.pcm))
    }
}

/// Transcription slots shared by a node's rooms.
#[derive(Debug, Clone)]
pub struct Ears {
    engine: Arc<dyn Transcribe>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Ears {
    /// The node's ears, when it has a speech-to-text engine.
    #[must_use]
    pub fn new(engine: Option<Arc<dyn Transcribe>>) -> Option<Self> {
        Some(Self { engine: engine?, slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT)) })
    }
}

/// What room voice is heard as: English, on the fast English model.
fn room_hint() -> listen::Hint {
    listen::Hint { language: Some("en".to_owned()), names: String::new() }
}

/// Transcribe and moderate one utterance of `speaker` (`pcm`: 48 kHz mono), then
/// caption it to the room or mute the speaker. Runs as its own task; failures are
/// logged, never sent to the room.
pub async fn utterance(
    state: AppState,
    ears: Ears,
    room: Arc<Room>,
    speaker: Membership,
    user: AuthUser,
    pcm: Vec<i16>,
) {
    let seconds = pcm.len() as f32 / voice::SAMPLE_RATE as f32;
    if seconds < listen::MIN_AUDIO_S {
        return;
    }
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let samples = listen::resample(&samples, voice::SAMPLE_RATE, listen::SAMPLE_RATE);
    let Ok(_slot) = ears.slots.acquire().await else { return };
    let transcript = match listen::transcribe(&ears.engine, samples, room_hint()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(room = %room.id.0, error = %e, "room speech-to-text failed");
            return;
        }
    };
    let text = transcript.text.trim();
    if text.is_empty() || listen::is_annotation(text) {
        return;
    }
    let request = CheckRequest { content_type: ContentType::AudioTranscript, text: text.to_owned() };
    let verdict = match check_text(&state, &user, request).await {
        Ok(v) => v,
        Err(e) => {
            // Flooding, a suspended account: nothing reaches the room.
            tracing::info!(room = %room.id.0, code = e.code(), "room speech not captioned");
            return;
        }
    };
    if !room.holds(speaker) {
        return; // left or removed meanwhile
    }
    let notice = ServerMsg::Moderated {
        action: verdict.action.as_str().to_owned(),
        categories: verdict.categories.iter().map(|c| c.as_str().to_owned()).collect(),
        message: verdict.reason.clone().unwrap_or_default(),
    };
    match verdict.action {
        Action::Block => {
            room.tell(speaker.slot, notice);
            room.moderate(speaker.slot, MemberAction::Mute);
            tracing::info!(room = %room.id.0, slot = speaker.slot, "speech blocked by moderation; member muted");
        }
        Action::Warn => {
            room.tell(speaker.slot, notice);
            room.broadcast(&ServerMsg::Caption { slot: speaker.slot, text: text.to_owned() });
        }
        Action::Allow => room.broadcast(&ServerMsg::Caption { slot: speaker.slot, text: text.to_owned() }),
    }
}
