//! Companion profiles and memories as the API sees them: create, edit, share, adopt a
//! copy, evolve, delete; list, edit and forget memories. Profile text goes through the moderation door
//! (it enters every prompt and is shown to others when shared).

use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::emotion::EmotionalState;
use super::memory::{self, Memory};
use super::profile::{self, Appearance, Companion, GeneticProfile, Personality, Voice};
use super::store;
use crate::error::AppError;
use crate::http::extract::AuthUser;
use crate::moderation::check::{self, CheckRequest};
use crate::moderation::incident::ContentType;
use crate::moderation::policy::Action;
use crate::state::AppState;

/// Most companions one user may have.
pub const MAX_COMPANIONS: usize = 20;

/// A new companion.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompanion {
    /// 1–100 characters.
    pub name: String,
    /// Defaults to a neutral look.
    #[serde(default)]
    pub appearance: Appearance,
    /// Defaults to warm and curious.
    #[serde(default)]
    pub personality: Personality,
    /// Defaults to espeak-ng `en-us`.
    #[serde(default)]
    pub voice: Voice,
    /// Up to 2,000 characters.
    pub backstory: Option<String>,
    /// Seed of the genetic profile (random when absent).
    pub genetic_seed: Option<u64>,
    /// Share with everyone.
    #[serde(default)]
    pub is_public: bool,
}

/// Changes to a companion; absent fields stay.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanion {
    /// New name.
    pub name: Option<String>,
    /// New look.
    pub appearance: Option<Appearance>,
    /// New personality.
    pub personality: Option<Personality>,
    /// New voice.
    pub voice: Option<Voice>,
    /// New story (empty string clears it).
    pub backstory: Option<String>,
    /// Share or stop sharing.
    pub is_public: Option<bool>,
    /// Stop (true) or resume (false) evolution.
    pub traits_frozen: Option<bool>,
}

async fn moderate_profile(state: &AppState, user: &AuthUser, companion: &Companion) -> Result<(), AppError> {
    let text = profile::moderated_text(&companion.name, &companion.personality, companion.backstory.as_deref());
    let verdict = check::check_text(state, user, CheckRequest { content_type: ContentType::Text, text }).await?;
    if verdict.action == Action::Block {
        return Err(AppError::unprocessable(
            "content_blocked",
            verdict.reason.unwrap_or_else(|| "the profile was blocked by moderation".into()),
        ));
    }
    Ok(())
}

fn validate(c: &Companion) -> Result<(), AppError> {
    profile::validate_name(&c.name)?;
    profile::validate_parts(&c.appearance, &c.personality, &c.voice, c.backstory.as_deref())
}

/// Creates a companion for `user`.
pub async fn create(state: &AppState, user: &AuthUser, req: CreateCompanion) -> Result<Companion, AppError> {
    let now = Utc::now();
    let seed = match req.genetic_seed {
        Some(seed) => seed,
        None => {
            let bytes = crate::secrets::random_bytes(8).map_err(|e| AppError::Internal(e.to_string()))?;
            u64::from_le_bytes(bytes.try_into().unwrap_or_default())
        }
    };
    let companion = Companion {
        id: Uuid::now_v7(),
        owner_id: user.user_id,
        name: req.name.trim().to_owned(),
        appearance: req.appearance,
        personality: req.personality,
        voice: req.voice,
        backstory: req.backstory.filter(|b| !b.trim().is_empty()),
        genetic_profile: GeneticProfile::from_seed(seed),
        emotional_state: EmotionalState::default(),
        traits_frozen: false,
        is_public: req.is_public,
        created_at: now,
        last_evolution_date: None,
        updated_at: now,
    };
    admit(state, user, companion).await
}

/// Adopts a copy of companion `id` — a shared one, or one of the caller's own: the same
/// name, look, personality, voice, backstory and temperament (as it has evolved), as a new
/// private companion of the caller's that starts afresh: its own emotional state, no
/// memories and no conversation (those stay with the original's owner). Its profile
/// goes through moderation in the caller's own mode.
pub async fn adopt(state: &AppState, user: &AuthUser, id: Uuid) -> Result<Companion, AppError> {
    let original = get(state, user, id).await?;
    let now = Utc::now();
    let copy = Companion {
        id: Uuid::now_v7(),
        owner_id: user.user_id,
        emotional_state: EmotionalState::default(),
        traits_frozen: false,
        is_public: false,
        created_at: now,
        last_evolution_date: None,
        updated_at: now,
        ..original
    };
    admit(state, user, copy).await
}

/// Checks a new companion of `user`'s (fields, the per-user limit, moderation), gives it
/// the resting state of its temperament and stores it.
async fn admit(state: &AppState, user: &AuthUser, mut companion: Companion) -> Result<Companion, AppError> {
    companion.emotional_state = EmotionalState::with_temperament(companion.temperament());
    validate(&companion)?;
    if store::list_owned(state.db.conn(), user.user_id).await?.len() >= MAX_COMPANIONS {
        return Err(AppError::conflict("too_many_companions", format!("at most {MAX_COMPANIONS} companions")));
    }
    moderate_profile(state, user, &companion).await?;
    store::insert(state.db.conn(), &companion).await?;
    Ok(companion)
}

/// A companion the caller may see: their own, or a shared one.
pub async fn get(state: &AppState, user: &AuthUser, id: Uuid) -> Result<Companion, AppError> {
    match store::find(state.db.conn(), id).await? {
        Some(c) if c.owner_id == user.user_id || c.is_public => Ok(c),
        _ => Err(AppError::missing("companion")),
    }
}

/// Applies `req` to the caller's companion `id`.
pub async fn update(state: &AppState, user: &AuthUser, id: Uuid, req: UpdateCompanion) -> Result<Companion, AppError> {
    let mut c = store::owned(state.db.conn(), user.user_id, id).await?;
    let text_changed = req.name.is_some() || req.personality.is_some() || req.backstory.is_some();
    if let Some(name) = req.name {
        c.name = name.trim().to_owned();
    }
    if let Some(appearance) = req.appearance {
        c.appearance = appearance;
    }
    if let Some(personality) = req.personality {
        c.personality = personality;
        c.emotional_state.temperament = c.temperament();
    }
    if let Some(voice) = req.voice {
        c.voice = voice;
    }
    if let Some(story) = req.backstory {
        c.backstory = Some(story).filter(|b| !b.trim().is_empty());
    }
    if let Some(public) = req.is_public {
        c.is_public = public;
    }
    if let Some(frozen) = req.traits_frozen {
        c.traits_frozen = frozen;
    }
    validate(&c)?;
    if text_changed || req.is_public == Some(true) {
        moderate_profile(state, user, &c).await?;
    }
    c.updated_at = Utc::now();
    store::update(state.db.conn(), &c).await?;
    Ok(c)
}

/// Runs one evolution step on the caller's companion `id` now.
pub async fn evolve(state: &AppState, user: &AuthUser, id: Uuid) -> Result<(Companion, bool), AppError> {
    let mut c = store::owned(state.db.conn(), user.user_id, id).await?;
    let now = Utc::now();
    let changed = profile::evolve(&mut c, now);
    if changed {
        c.emotional_state.temperament = c.temperament();
        c.updated_at = now;
        store::update(state.db.conn(), &c).await?;
    }
    Ok((c, changed))
}

/// The caller's memories with companion `id`.
pub async fn memories(state: &AppState, user: &AuthUser, id: Uuid) -> Result<Vec<Memory>, AppError> {
    store::owned(state.db.conn(), user.user_id, id).await?;
    let kept = memory::all(state.db.conn(), &state.keys.content_key, id, user.user_id).await?;
    Ok(kept.into_iter().map(|(m, _)| m).collect())
}

/// Rewrites one memory (moderated like any message the user writes).
pub async fn edit_memory(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    memory_id: Uuid,
    content: String,
) -> Result<Memory, AppError> {
    store::owned(state.db.conn(), user.user_id, id).await?;
    let content = content.trim().to_owned();
    if content.is_empty() || content.chars().count() > memory::MAX_MEMORY_CHARS {
        return Err(AppError::invalid_field("content", format!("1–{} characters", memory::MAX_MEMORY_CHARS)));
    }
    let verdict =
        check::check_text(state, user, CheckRequest { content_type: ContentType::Text, text: content.clone() }).await?;
    if verdict.action == Action::Block {
        return Err(AppError::unprocessable("content_blocked", verdict.reason.unwrap_or_default()));
    }
    let vector = match &state.companions.embedder {
        Some(embedder) => memory::embed(embedder, vec![content.clone()]).await?.remove(0),
        None => Vec::new(),
    };
    let key = &state.keys.content_key;
    memory::edit(state.db.conn(), key, id, user.user_id, memory_id, &content, &vector, Utc::now()).await?;
    memory::all(state.db.conn(), key, id, user.user_id)
        .await?
        .into_iter()
        .map(|(m, _)| m)
        .find(|m| m.id == memory_id)
        .ok_or_else(|| AppError::missing("memory"))
}

/// Forgets one memory.
pub async fn forget_memory(state: &AppState, user: &AuthUser, id: Uuid, memory_id: Uuid) -> Result<(), AppError> {
    store::owned(state.db.conn(), user.user_id, id).await?;
    memory::forget(state.db.conn(), id, user.user_id, memory_id).await
}
