//! One conversation turn, the seed's §6.1 loop minus audio: the user's message →
//! moderation → memory (keep new facts, recall related ones) → the brain (endpoint or
//! local model) → moderation of the reply → emotion → the log.
//!
//! Nothing the user said is lost: their message is logged before the brain is asked, so
//! a failing or slow model costs the reply, never the message. When the configured
//! endpoint fails the local model answers and the companion says so in its reply.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use nexus_avatar::face::emotion::Emotion;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use super::emotion::{EmotionalState, Stimulus, VoiceModulation};
use super::llm::{Brain, ChatTurn, GenerateOptions, LlmError, Role};
use super::memory::{self, Embed};
use super::{persona, store};
use crate::error::AppError;
use crate::http::extract::AuthUser;
use crate::moderation::check::{self, CheckRequest, CheckResult};
use crate::moderation::incident::ContentType;
use crate::moderation::policy::Action;
use crate::state::AppState;

/// What the companion says when the configured endpoint failed and the local model
/// answers instead (said before the reply).
pub const FALLBACK_NOTICE: &str = "My usual mind is out of reach right now, so I'm answering with my simpler one.";
/// What the companion says when its own reply was withheld by moderation twice.
pub const WITHHELD_REPLY: &str = "Let's talk about something else.";
/// The notice when no model could answer at all.
pub const UNAVAILABLE_NOTICE: &str = "Your companion cannot answer right now; your message is kept.";
/// Longest pause the emotion machine is advanced over between turns, in seconds.
const MAX_IDLE_S: f32 = 3_600.0;

/// The companion's models and senses, shared by every turn on this node.
#[derive(Debug, Clone)]
pub struct CompanionRuntime {
    /// Chat models.
    pub brain: Brain,
    /// Sentence embeddings for memory.
    pub embedder: Option<Arc<dyn Embed>>,
    /// Speech-to-text.
    pub stt: Option<Arc<dyn super::listen::Transcribe>>,
    /// The neural voices.
    pub voices: super::voice::Voices,
    /// Generation settings.
    pub options: GenerateOptions,
    /// Earlier turns put into each prompt.
    pub history_turns: u32,
    /// Messages between two conversation summaries (0 = none).
    pub summary_every: u32,
    busy: Arc<Mutex<HashSet<Uuid>>>,
    summarising: Arc<Mutex<HashSet<Uuid>>>,
}

impl CompanionRuntime {
    /// The runtime from its parts.
    #[must_use]
    pub fn new(brain: Brain, embedder: Option<Arc<dyn Embed>>, options: GenerateOptions) -> Self {
        let history_turns = u32::try_from(persona::HISTORY_TURNS).unwrap_or(12);
        Self {
            brain,
            embedder,
            stt: None,
            voices: super::voice::Voices::default(),
            options,
            history_turns,
            summary_every: 0,
            busy: Arc::default(),
            summarising: Arc::default(),
        }
    }

    /// Builds the runtime the configuration asks for: the endpoint if one is set, the
    /// local models from the models directory.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let models = config.models_dir.clone().unwrap_or_else(crate::moderation::classifier::default_models_dir);
        let primary = config.llm_url.as_deref().and_then(|url| {
            let timeout = std::time::Duration::from_millis(config.llm_first_token_ms.max(1));
            match super::llm::openai::OpenAiChat::new(
                url,
                &config.llm_model,
                config.llm_api_key.clone(),
                timeout,
                timeout * 8,
            ) {
                Ok(chat) => Some(Arc::new(chat) as Arc<dyn super::llm::ChatModel>),
                Err(e) => {
                    tracing::error!(error = %e, "chat endpoint not usable; the local model answers");
                    None
                }
            }
        });
        let brain = Brain::new(primary, super::llm::local_model(&models));
        let options =
            GenerateOptions { max_tokens: config.llm_max_tokens.clamp(1, 1024), ..GenerateOptions::default() };
        let mut runtime = Self::new(brain, memory::local_embedder(&models), options);
        runtime.stt = super::listen::local_transcriber(&models);
        runtime.voices = super::voice::Voices::load(&models);
        runtime.history_turns = runtime.history_turns.min(config.llm_history_turns);
        runtime.summary_every = config.summary_every;
        runtime
    }

    /// Marks `companion` busy for the life of the guard, or says it already is.
    fn claim(&self, companion: Uuid) -> Result<BusyGuard, AppError> {
        BusyGuard::claim(&self.busy, companion).ok_or_else(|| {
            AppError::conflict("turn_in_progress", "the companion is still answering the previous message")
        })
    }
}

struct BusyGuard {
    busy: Arc<Mutex<HashSet<Uuid>>>,
    companion: Uuid,
}

impl BusyGuard {
    /// Puts `companion` in `set` for the life of the guard; `None` when it is there.
    fn claim(set: &Arc<Mutex<HashSet<Uuid>>>, companion: Uuid) -> Option<Self> {
        let mut busy = set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        busy.insert(companion).then(|| Self { busy: Arc::clone(set), companion })
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.companion);
    }
}

/// The companion's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reply {
    /// Its place in the log.
    pub seq: i64,
    /// What it says.
    pub text: String,
    /// How it feels after the turn (`JOY`, `EMPATHY`, …).
    pub emotion: String,
    /// How strongly, in [0, 1].
    pub intensity: f32,
    /// Every emotion above rest, for the avatar's face: `[["JOY", 0.6], …]`.
    pub expression: Vec<(String, f32)>,
    /// Rate and pitch factors for its voice.
    #[schema(value_type = Object)]
    pub voice: VoiceModulation,
    /// The model that wrote it.
    pub model: String,
    /// `allow`, `warn`, or `replaced` when moderation withheld what the model wrote.
    pub moderation: String,
    /// The reply spoken, with its viseme track, when asked for.
    pub speech: Option<super::voice::Spoken>,
}

/// The result of a turn.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TurnResult {
    /// Moderation's verdict on the user's message (when `block`, nothing else happened).
    pub moderation: CheckResult,
    /// The user's message's place in the log.
    pub message_seq: Option<i64>,
    /// The companion's answer, unless the message was blocked or no model could answer.
    pub reply: Option<Reply>,
    /// Facts kept from this message.
    pub remembered: Vec<String>,
    /// Memories put into the prompt.
    pub recalled: Vec<String>,
    /// Said when something did not go as usual (the endpoint failed, no model answered).
    pub notice: Option<String>,
}

/// What the user said, and how.
#[derive(Debug, Clone)]
pub struct TurnInput {
    /// The message (typed, or a voice transcript).
    pub text: String,
    /// `TEXT` or `AUDIO_TRANSCRIPT`, for moderation's records.
    pub content_type: ContentType,
    /// Speak the reply (audio and visemes).
    pub speak: bool,
}

/// Runs one turn: `input` from `user` to their companion `companion_id`. Pieces of the
/// reply are streamed to `pieces` as they are generated (a `\u{0}` piece means "discard
/// what you have": the endpoint failed mid-reply and the local model starts over).
pub async fn turn(
    state: &AppState,
    user: &AuthUser,
    companion_id: Uuid,
    input: TurnInput,
    pieces: &UnboundedSender<String>,
) -> Result<TurnResult, AppError> {
    let TurnInput { text, content_type, speak } = input;
    let runtime = &state.companions;
    let mut companion = store::owned(state.db.conn(), user.user_id, companion_id).await?;
    let _busy = runtime.claim(companion_id)?;
    let verdict = check::check_text(state, user, CheckRequest { content_type, text: text.clone() }).await?;
    let mut result = TurnResult {
        moderation: verdict,
        message_seq: None,
        reply: None,
        remembered: vec![],
        recalled: vec![],
        notice: None,
    };
    if result.moderation.action == Action::Block {
        return Ok(result);
    }
    let key = &state.keys.content_key;
    let now = Utc::now();
    let conn = state.db.conn();
    // The companion evolves over time: the first turn of a new day takes the step the
    // days since the last one call for (`profile::evolve`; not when frozen).
    let last_seen = companion.updated_at;
    if super::profile::evolve(&mut companion, now) {
        companion.emotional_state.temperament = companion.temperament();
        store::update(conn, &companion).await?;
    }
    let history = if runtime.history_turns == 0 {
        Vec::new()
    } else {
        store::recent(conn, key, companion_id, user.user_id, runtime.history_turns).await?
    };
    let user_seq = store::append(
        conn,
        key,
        companion_id,
        user.user_id,
        store::NewMessage {
            role: "user",
            content: &text,
            emotion: None,
            model: None,
            moderation: result.moderation.action.as_str(),
        },
        now,
    )
    .await?;
    result.message_seq = Some(user_seq);

    // Emotion: time has passed since the last turn, then the message is felt.
    let mut feeling = companion.emotional_state.clone();
    feeling.temperament = companion.temperament();
    #[allow(clippy::cast_precision_loss)] // clamped to an hour just below
    let idle = (now - last_seen).num_milliseconds().max(0) as f32 / 1000.0;
    feeling.advance(idle.min(MAX_IDLE_S));
    let sentiment = super::sentiment::read(&text);
    feeling.feel(Stimulus::Sentiment { valence: sentiment.valence, arousal: sentiment.arousal });

    // Memory: one embedding batch (the message, then its facts).
    let facts = memory::extract_facts(&text);
    let mut recalled = Vec::new();
    let mut last_summarised = 0;
    if let Some(embedder) = &runtime.embedder {
        let mut batch = vec![text.clone()];
        batch.extend(facts.iter().cloned());
        let vectors = memory::embed(embedder, batch).await?;
        for (fact, vector) in facts.iter().zip(&vectors[1..]) {
            memory::remember(conn, key, companion_id, user.user_id, "FACT", fact, vector, Some(user_seq), now).await?;
        }
        result.remembered = facts;
        let kept = memory::all(conn, key, companion_id, user.user_id).await?;
        last_summarised =
            kept.iter().filter(|(m, _)| m.kind == "SUMMARY").filter_map(|(m, _)| m.source_seq).max().unwrap_or(0);
        recalled = memory::recall(&vectors[0], &kept).into_iter().map(|m| m.content.clone()).collect();
    }
    result.recalled = recalled.clone();
    companion.emotional_state = feeling;

    // The brain.
    let history: Vec<ChatTurn> = history
        .into_iter()
        .map(|m| ChatTurn::new(if m.role == "user" { Role::User } else { Role::Assistant }, m.content))
        .collect();
    let memories: Vec<&str> = recalled.iter().map(String::as_str).collect();
    let prompt = persona::prompt(&companion, &memories, &history, &text);
    let generated = match runtime.brain.generate(&prompt, runtime.options, pieces).await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, companion = %companion_id, "no chat model answered");
            result.notice = Some(UNAVAILABLE_NOTICE.into());
            store::save_emotion(conn, companion_id, &companion.emotional_state, now).await?;
            return Ok(result);
        }
    };
    let (tag, mut said) = persona::split_tag(&generated.text);
    if said.is_empty() {
        // The model wrote only a tag or an aside: nothing to say, but not an error.
        said = "…".to_owned();
    }
    let mut reply_moderation = "allow";
    // The reply goes through the same door; a withheld reply is tried once more.
    let mut verdict = check::check_reply(state, user, &said).await?;
    if verdict.action == Action::Block {
        let retry = GenerateOptions { seed: runtime.options.seed ^ 0x5eed, temperature: 0.9, ..runtime.options };
        let (tx, _drop) = tokio::sync::mpsc::unbounded_channel();
        let again = runtime.brain.generate(&prompt, retry, &tx).await.map(|g| persona::split_tag(&g.text).1);
        said = match again {
            Ok(text) if !text.is_empty() => text,
            _ => WITHHELD_REPLY.to_owned(),
        };
        verdict = check::check_reply(state, user, &said).await?;
        if verdict.action == Action::Block {
            said = WITHHELD_REPLY.to_owned();
        }
        reply_moderation = "replaced";
    } else if verdict.action == Action::Warn {
        reply_moderation = "warn";
    }
    if let Some(e) = &generated.fell_back {
        result.notice = Some(match e {
            LlmError::Timeout(_) => "The chat service was too slow; the built-in model answered.".into(),
            _ => "The chat service did not answer; the built-in model answered.".into(),
        });
        said = format!("{FALLBACK_NOTICE} {said}");
    }
    if let Some(emotion) = tag {
        companion.emotional_state.feel(Stimulus::Tag { emotion, intensity: 0.6 });
    }
    let state_now = &companion.emotional_state;
    let emotion_name = state_now.current.name();
    let seq = store::append(
        conn,
        key,
        companion_id,
        user.user_id,
        store::NewMessage {
            role: "assistant",
            content: &said,
            emotion: Some(emotion_name),
            model: Some(&generated.model),
            moderation: if reply_moderation == "replaced" { "allow" } else { reply_moderation },
        },
        Utc::now(),
    )
    .await?;
    store::save_emotion(conn, companion_id, state_now, Utc::now()).await?;
    if runtime.embedder.is_some() && super::summary::due(seq, last_summarised, runtime.summary_every) {
        summarise_in_background(state, user, companion_id, seq, last_summarised);
    }
    let speech = if speak {
        match super::voice::speak(&runtime.voices, &companion.voice, state_now.voice(), &said).await {
            Ok(spoken) => Some(spoken),
            Err(e) => {
                tracing::error!(error = %e, "reply not spoken");
                result.notice.get_or_insert_with(|| "The reply could not be spoken; here it is in text.".into());
                None
            }
        }
    } else {
        None
    };
    result.reply = Some(Reply {
        seq,
        text: said,
        emotion: emotion_name.to_owned(),
        intensity: state_now.intensity,
        expression: expression(state_now),
        voice: state_now.voice(),
        model: generated.model,
        moderation: reply_moderation.to_owned(),
        speech,
    });
    Ok(result)
}

/// Starts a summary of the conversation up to `seq` unless one is being written.
fn summarise_in_background(state: &AppState, user: &AuthUser, companion_id: Uuid, seq: i64, last: i64) {
    let Some(guard) = BusyGuard::claim(&state.companions.summarising, companion_id) else { return };
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        let _guard = guard;
        match super::summary::summarise(&state, &user, companion_id, seq, last).await {
            Ok(Some(_)) => tracing::debug!(companion = %companion_id, upto = seq, "conversation summarised"),
            Ok(None) => tracing::debug!(companion = %companion_id, "no summary kept"),
            Err(e) => tracing::warn!(companion = %companion_id, error = %e, "conversation not summarised"),
        }
    });
}

fn expression(state: &EmotionalState) -> Vec<(String, f32)> {
    state.expression().0.into_iter().map(|(e, w): (Emotion, f32)| (e.name().to_owned(), w)).collect()
}
