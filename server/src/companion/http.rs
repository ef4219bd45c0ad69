//! `/api/v1/companions` — profiles, the conversation, memories.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::conversation::{self, TurnInput, TurnResult};
use super::listen::{self, Transcript};
use super::memory::Memory;
use super::profile::Companion;
use super::service::{self, CreateCompanion, UpdateCompanion};
use super::store::{self, LoggedMessage};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, RawBody};
use crate::moderation::check::MAX_TEXT_CHARS;
use crate::moderation::incident::ContentType;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(list_public))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(evolve))
        .routes(routes!(adopt))
        .routes(routes!(send, history))
        .routes(routes!(send_streamed))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(talk))
                .routes(routes!(talk_streamed))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_VOICE_BYTES)),
        )
        .routes(routes!(memories))
        .routes(routes!(edit_memory, forget_memory))
}

/// Creates a companion.
#[utoipa::path(post, path = "/api/v1/companions", tag = "companions", request_body = CreateCompanion,
    responses((status = 201, body = Companion), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateCompanion>,
) -> Result<(StatusCode, Json<Companion>), AppError> {
    Ok((StatusCode::CREATED, Json(service::create(&state, &user, req).await?)))
}

/// The caller's companions.
#[utoipa::path(get, path = "/api/v1/companions", tag = "companions",
    responses((status = 200, body = [Companion]), (status = 401, body = ErrorBody)))]
async fn list(user: AuthUser, State(state): State<AppState>) -> Result<Json<Vec<Companion>>, AppError> {
    Ok(Json(store::list_owned(state.db.conn(), user.user_id).await?))
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    /// At most this many (1–200, default 50).
    limit: Option<u32>,
}

/// Companions their owners shared, newest first.
#[utoipa::path(get, path = "/api/v1/companions/public", tag = "companions", params(LimitQuery),
    responses((status = 200, body = [Companion]), (status = 401, body = ErrorBody)))]
async fn list_public(
    _user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<Companion>>, AppError> {
    Ok(Json(store::list_public(state.db.conn(), q.limit.unwrap_or(50)).await?))
}

/// One of the caller's companions, or a shared one.
#[utoipa::path(get, path = "/api/v1/companions/{id}", tag = "companions",
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = Companion), (status = 404, body = ErrorBody)))]
async fn get_one(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Companion>, AppError> {
    Ok(Json(service::get(&state, &user, id).await?))
}

/// Edits, shares or freezes a companion.
#[utoipa::path(patch, path = "/api/v1/companions/{id}", tag = "companions", request_body = UpdateCompanion,
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = Companion), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateCompanion>,
) -> Result<Json<Companion>, AppError> {
    Ok(Json(service::update(&state, &user, id, req).await?))
}

/// Deletes a companion with its conversation and memories.
#[utoipa::path(delete, path = "/api/v1/companions/{id}", tag = "companions",
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, AppError> {
    store::delete(state.db.conn(), user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The result of an evolution step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Evolved {
    /// Whether anything changed (not when frozen or evolved less than a day ago).
    changed: bool,
    /// The companion after the step.
    companion: Companion,
}

/// Adopts a copy of a shared companion (or of one's own): same profile and temperament,
/// a fresh emotional state, no memories or conversation, private.
#[utoipa::path(post, path = "/api/v1/companions/{id}/adopt", tag = "companions",
    params(("id" = Uuid, Path, description = "Id of the companion to copy")),
    responses((status = 201, body = Companion), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn adopt(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<Companion>), AppError> {
    Ok((StatusCode::CREATED, Json(service::adopt(&state, &user, id).await?)))
}

/// Evolves a companion's temperament by the days since its last evolution.
#[utoipa::path(post, path = "/api/v1/companions/{id}/evolve", tag = "companions",
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = Evolved), (status = 404, body = ErrorBody)))]
async fn evolve(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Evolved>, AppError> {
    let (companion, changed) = service::evolve(&state, &user, id).await?;
    Ok(Json(Evolved { changed, companion }))
}

/// A message to the companion.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    /// 1–10,000 characters.
    text: String,
    /// Also speak the reply: WAV audio and a viseme track (default false).
    #[serde(default)]
    speak: bool,
}

impl SendMessage {
    /// The typed turn, or `422 content_too_long`.
    fn into_turn(self) -> Result<TurnInput, AppError> {
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return Err(AppError::unprocessable("content_too_long", format!("at most {MAX_TEXT_CHARS} characters")));
        }
        Ok(TurnInput { text: self.text, content_type: ContentType::Text, speak: self.speak })
    }
}

/// Says something to the companion and gets its reply (moderated both ways, remembered).
#[utoipa::path(post, path = "/api/v1/companions/{id}/messages", tag = "companions", request_body = SendMessage,
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = TurnResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn send(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SendMessage>,
) -> Result<Json<TurnResult>, AppError> {
    let input = req.into_turn()?;
    let (pieces, _ignored) = tokio::sync::mpsc::unbounded_channel();
    Ok(Json(conversation::turn(&state, &user, id, input, &pieces).await?))
}

/// Says something to the companion and streams the reply as server-sent events while it
/// is written: `piece` events carry the reply a finished sentence at a time
/// (`{"text": …}`, to append), each sentence moderated in the user's mode with the text
/// before it before it is sent ([`super::vetting`]); a `reset` event means "discard the
/// pieces so far" (a sentence was withheld, or the endpoint failed mid-reply and the local
/// model starts over), and the last event is `turn` with the same body as
/// `POST …/messages` (the moderated reply — which may differ from the pieces, and
/// includes the last sentence) or `error` with `{"code", "message", "status"}`.
#[utoipa::path(post, path = "/api/v1/companions/{id}/messages/stream", tag = "companions", request_body = SendMessage,
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, content_type = "text/event-stream", description = "piece / reset events, then turn or error"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn send_streamed(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SendMessage>,
) -> Result<TurnEvents, AppError> {
    // Refusals that need no model come back as plain HTTP errors, before the stream.
    let input = req.into_turn()?;
    store::owned(state.db.conn(), user.user_id, id).await?;
    let mode = crate::moderation::service::status(&state, &user).await?.mode;
    Ok(stream_turn(state, user, id, input, mode, None, None))
}

/// The events of a streamed turn.
type EventStream =
    futures_util::stream::BoxStream<'static, Result<axum::response::sse::Event, std::convert::Infallible>>;
/// A streamed turn's response: its events, with keep-alive comments between them.
type TurnEvents = axum::response::Sse<axum::response::sse::KeepAliveStream<EventStream>>;

/// Runs a turn on its own task and streams it: vetted `piece`s, `reset`s, and — when
/// `voice` is given — each vetted sentence spoken as an `audio` event
/// (`{"text", "speech"}`) as soon as it passes, the rest of the reply spoken once the turn
/// ends; then `turn` (or `error`). `first` goes out before anything else.
fn stream_turn(
    state: AppState,
    user: AuthUser,
    id: Uuid,
    input: TurnInput,
    mode: crate::moderation::mode::ModerationMode,
    voice: Option<(super::profile::Voice, super::emotion::VoiceModulation)>,
    first: Option<axum::response::sse::Event>,
) -> TurnEvents {
    use super::vetting::{self, Vetted, Vetting};
    use axum::response::sse::Event;
    let (events, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    if let Some(first) = first {
        let _ = events.send(first);
    }
    // The turn runs to its end even if the listener leaves: nothing is lost from the log.
    tokio::spawn(async move {
        let speaker = voice.map(|voice| Speaker::start(state.clone(), voice, events.clone()));
        let (pieces, mut raw) = tokio::sync::mpsc::unbounded_channel::<String>();
        let turn = conversation::turn(&state, &user, id, input, &pieces);
        tokio::pin!(turn);
        let mut vetting = Vetting::default();
        let result = loop {
            tokio::select! {
                result = &mut turn => break result,
                Some(piece) = raw.recv() => {
                    for sent in vetting::vet(&state, mode, &mut vetting, &piece).await {
                        let event = match sent {
                            Vetted::Reset => {
                                if let Some(speaker) = &speaker {
                                    speaker.reset();
                                }
                                Event::default().event("reset").data("{}")
                            }
                            Vetted::Piece(text) => {
                                if let Some(speaker) = &speaker {
                                    speaker.say(text.clone(), None);
                                }
                                Event::default().event("piece").json_data(serde_json::json!({"text": text})).unwrap_or_default()
                            }
                        };
                        let _ = events.send(event);
                    }
                }
            }
        };
        if let (Some(speaker), Ok(TurnResult { reply: Some(reply), .. })) = (&speaker, &result) {
            // What the pieces did not say: the last sentence — or, when the whole reply's
            // moderation changed it, all of it, after taking back what was said.
            let rest = match reply.text.strip_prefix(vetting.shown()) {
                Some(rest) => rest.trim().to_owned(),
                None => {
                    speaker.reset();
                    let _ = events.send(Event::default().event("reset").data("{}"));
                    reply.text.clone()
                }
            };
            if !rest.is_empty() {
                speaker.say(rest, Some(reply.voice));
            }
        }
        if let Some(speaker) = speaker {
            speaker.finish().await;
        }
        let last = match result {
            Ok(turn) => Event::default().event("turn").json_data(&turn),
            Err(e) => Event::default().event("error").json_data(error_body(&e)),
        };
        let _ = events.send(last.unwrap_or_default());
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    axum::response::Sse::new(Box::pin(stream) as EventStream).keep_alive(axum::response::sse::KeepAlive::default())
}

/// Speaks a streamed reply's sentences in order on its own task, sending each as an
/// `audio` event; a reset drops what was queued or being spoken before it.
struct Speaker {
    queue: tokio::sync::mpsc::UnboundedSender<(u64, String, Option<super::emotion::VoiceModulation>)>,
    epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Speaker {
    fn start(
        state: AppState,
        (voice, modulation): (super::profile::Voice, super::emotion::VoiceModulation),
        events: tokio::sync::mpsc::UnboundedSender<axum::response::sse::Event>,
    ) -> Self {
        use std::sync::atomic::Ordering;
        let epoch = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (queue, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(u64, String, Option<super::emotion::VoiceModulation>)>();
        let current = epoch.clone();
        let task = tokio::spawn(async move {
            while let Some((said_in, text, own)) = rx.recv().await {
                if said_in != current.load(Ordering::SeqCst) {
                    continue;
                }
                let spoken =
                    super::voice::speak(&state.companions.voices, &voice, own.unwrap_or(modulation), &text).await;
                // Taken back while it was being spoken: not sent.
                if said_in != current.load(Ordering::SeqCst) {
                    continue;
                }
                match spoken {
                    Ok(speech) => {
                        let body = serde_json::json!({"text": text, "speech": speech});
                        let _ = events.send(
                            axum::response::sse::Event::default().event("audio").json_data(body).unwrap_or_default(),
                        );
                    }
                    Err(e) => tracing::error!(error = %e, "a streamed sentence was not spoken"),
                }
            }
        });
        Self { queue, epoch, task }
    }

    /// Queues `text`, spoken with `modulation` or the one the speaker started with.
    fn say(&self, text: String, modulation: Option<super::emotion::VoiceModulation>) {
        let _ = self.queue.send((self.epoch.load(std::sync::atomic::Ordering::SeqCst), text, modulation));
    }

    /// Drops everything queued before now.
    fn reset(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until everything queued is spoken and sent.
    async fn finish(self) {
        drop(self.queue);
        let _ = self.task.await;
    }
}

/// An error as the stream's last event says it.
fn error_body(e: &AppError) -> serde_json::Value {
    let message = match e {
        AppError::Internal(_) => "internal error".to_owned(),
        AppError::Unavailable(_) => "service temporarily unavailable".to_owned(),
        other => other.to_string(),
    };
    if let AppError::Internal(detail) = e {
        tracing::error!(%detail, "internal error in a streamed turn");
    }
    serde_json::json!({"code": e.code(), "message": message, "status": e.status_code().as_u16()})
}

/// Largest voice clip accepted, bytes (30 s of 48 kHz stereo 16-bit is 5.8 MB).
pub const MAX_VOICE_BYTES: usize = 6 * 1024 * 1024;

/// A voice turn: what was heard, and the turn it led to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct VoiceTurn {
    /// The transcript of the clip.
    transcript: Transcript,
    /// The turn (the reply is spoken: audio and visemes).
    turn: TurnResult,
}

/// Speaks to the companion: a WAV clip (16-bit PCM or float, up to 30 s) is transcribed,
/// and the transcript takes the same path as a typed message; the reply comes back spoken
/// — the seed's §6.1 call loop.
#[utoipa::path(post, path = "/api/v1/companions/{id}/voice", tag = "companions",
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = VoiceTurn), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn talk(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: axum::http::HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Json<VoiceTurn>, AppError> {
    let (_, transcript) = hear(&state, &user, id, &headers, &bytes).await?;
    let (pieces, _ignored) = tokio::sync::mpsc::unbounded_channel();
    let input = TurnInput { text: transcript.text.clone(), content_type: ContentType::AudioTranscript, speak: true };
    let turn = conversation::turn(&state, &user, id, input, &pieces).await?;
    Ok(Json(VoiceTurn { transcript, turn }))
}

/// Speaks to the companion and streams the answer: the WAV clip is transcribed (a
/// `transcript` event, the body of [`Transcript`]), then the turn streams as on
/// `POST …/messages/stream` — `piece`s and `reset`s — with each vetted sentence also
/// spoken as soon as it passes: `audio` events `{"text", "speech"}` in order (the rest of
/// the reply is spoken when the turn ends, before the last event), so the first words
/// are heard while the model still writes. Audio sent before a `reset` is taken back.
/// The `turn` event's reply carries no speech of its own. Bad audio is refused before the
/// stream, as on `POST …/voice`.
#[utoipa::path(post, path = "/api/v1/companions/{id}/voice/stream", tag = "companions",
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, content_type = "text/event-stream", description = "transcript, then piece / audio / reset events, then turn or error"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn talk_streamed(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: axum::http::HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<TurnEvents, AppError> {
    let (companion, transcript) = hear(&state, &user, id, &headers, &bytes).await?;
    let mode = crate::moderation::service::status(&state, &user).await?.mode;
    let first = axum::response::sse::Event::default()
        .event("transcript")
        .json_data(&transcript)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let input = TurnInput { text: transcript.text, content_type: ContentType::AudioTranscript, speak: false };
    let voice = Some((companion.voice.clone(), companion.emotional_state.voice()));
    Ok(stream_turn(state, user, id, input, mode, voice, Some(first)))
}

/// The caller's companion `id` and what the WAV clip `bytes` says, or why not.
async fn hear(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<(Companion, Transcript), AppError> {
    let mime = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !matches!(mime.split(';').next().map(str::trim), Some("audio/wav" | "audio/x-wav" | "audio/wave")) {
        return Err(AppError::UnsupportedAudioType);
    }
    let companion = store::owned(state.db.conn(), user.user_id, id).await?;
    let samples = listen::decode_wav(bytes)?;
    let engine = state
        .companions
        .stt
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("speech-to-text is not available on this server".into()))?;
    let transcript =
        listen::transcribe(engine, samples, listen::Hint::for_companion(&companion.voice.voice, &companion.name))
            .await?;
    if transcript.text.trim().is_empty() {
        return Err(AppError::unprocessable("no_speech", "no words were heard in the clip"));
    }
    Ok((companion, transcript))
}

/// The conversation with a companion, oldest first (the latest `limit` messages).
#[utoipa::path(get, path = "/api/v1/companions/{id}/messages", tag = "companions", params(LimitQuery,
    ("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = [LoggedMessage]), (status = 404, body = ErrorBody)))]
async fn history(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<LoggedMessage>>, AppError> {
    store::owned(state.db.conn(), user.user_id, id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(store::recent(state.db.conn(), &state.keys.content_key, id, user.user_id, limit).await?))
}

/// What the companion remembers about the caller.
#[utoipa::path(get, path = "/api/v1/companions/{id}/memories", tag = "companions",
    params(("id" = Uuid, Path, description = "Companion id")),
    responses((status = 200, body = [Memory]), (status = 404, body = ErrorBody)))]
async fn memories(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<Memory>>, AppError> {
    Ok(Json(service::memories(&state, &user, id).await?))
}

/// A memory's new wording.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EditMemory {
    /// 1–500 characters.
    content: String,
}

/// Rewrites a memory.
#[utoipa::path(patch, path = "/api/v1/companions/{id}/memories/{memory_id}", tag = "companions", request_body = EditMemory,
    params(("id" = Uuid, Path, description = "Companion id"), ("memory_id" = Uuid, Path, description = "Memory id")),
    responses((status = 200, body = Memory), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_memory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, memory_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<EditMemory>,
) -> Result<Json<Memory>, AppError> {
    Ok(Json(service::edit_memory(&state, &user, id, memory_id, req.content).await?))
}

/// Forgets a memory.
#[utoipa::path(delete, path = "/api/v1/companions/{id}/memories/{memory_id}", tag = "companions",
    params(("id" = Uuid, Path, description = "Companion id"), ("memory_id" = Uuid, Path, description = "Memory id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn forget_memory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, memory_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    service::forget_memory(&state, &user, id, memory_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
