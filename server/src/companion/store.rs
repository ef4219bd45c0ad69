//! Companion rows, the conversation log and memories in the database.
//!
//! Profiles are plain columns and JSON. Conversation text and memories are sealed
//! ([`crate::cipher`], the content key, the owner's id as associated data): the database
//! never holds what was said in the clear. JSON columns are JSONB on PostgreSQL and TEXT
//! on SQLite; both are written as JSON values and read back as text.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult};
use uuid::Uuid;

use super::emotion::EmotionalState;
use super::profile::{Appearance, Companion, GeneticProfile, Personality, Voice};
use crate::db::{self, get};
use crate::error::AppError;

const COLUMNS: &str = "id, user_id, name, CAST(appearance AS TEXT) AS appearance, \
    CAST(personality AS TEXT) AS personality, CAST(voice AS TEXT) AS voice, backstory, \
    CAST(genetic_profile AS TEXT) AS genetic_profile, CAST(emotional_state AS TEXT) AS emotional_state, \
    traits_frozen, is_public, created_at, last_evolution_date, updated_at";

fn json<T: serde::de::DeserializeOwned>(row: &QueryResult, col: &str) -> Result<T, AppError> {
    let text: String = get(row, col)?;
    serde_json::from_str(&text).map_err(|e| AppError::Internal(format!("companions.{col}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(format!("serialise: {e}")))
}

fn from_row(row: &QueryResult) -> Result<Companion, AppError> {
    let genetic: Option<String> = get(row, "genetic_profile")?;
    let id: Uuid = get(row, "id")?;
    Ok(Companion {
        id,
        owner_id: get(row, "user_id")?,
        name: get(row, "name")?,
        appearance: json::<Appearance>(row, "appearance")?,
        personality: json::<Personality>(row, "personality")?,
        voice: json::<Voice>(row, "voice")?,
        backstory: get(row, "backstory")?,
        genetic_profile: genetic.and_then(|g| serde_json::from_str(&g).ok()).unwrap_or_else(|| {
            GeneticProfile::from_seed(u64::from_le_bytes(id.as_bytes()[8..].try_into().unwrap_or_default()))
        }),
        emotional_state: json::<EmotionalState>(row, "emotional_state")?,
        traits_frozen: get(row, "traits_frozen")?,
        is_public: get(row, "is_public")?,
        created_at: get(row, "created_at")?,
        last_evolution_date: get(row, "last_evolution_date")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// Inserts a new companion.
pub async fn insert<C: ConnectionTrait>(c: &C, companion: &Companion) -> Result<(), AppError> {
    db::exec(
        c,
        "INSERT INTO companions (id, user_id, name, appearance, personality, voice, backstory, genetic_profile,
                                 emotional_state, traits_frozen, is_public, created_at, last_evolution_date, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        vec![
            companion.id.into(),
            companion.owner_id.into(),
            companion.name.clone().into(),
            to_json(&companion.appearance)?.into(),
            to_json(&companion.personality)?.into(),
            to_json(&companion.voice)?.into(),
            companion.backstory.clone().into(),
            to_json(&companion.genetic_profile)?.into(),
            to_json(&companion.emotional_state)?.into(),
            companion.traits_frozen.into(),
            companion.is_public.into(),
            companion.created_at.into(),
            companion.last_evolution_date.into(),
            companion.updated_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Writes every mutable field of `companion` back.
pub async fn update<C: ConnectionTrait>(c: &C, companion: &Companion) -> Result<(), AppError> {
    db::exec(
        c,
        "UPDATE companions SET name = $2, appearance = $3, personality = $4, voice = $5, backstory = $6,
                genetic_profile = $7, emotional_state = $8, traits_frozen = $9, is_public = $10,
                last_evolution_date = $11, updated_at = $12
         WHERE id = $1",
        vec![
            companion.id.into(),
            companion.name.clone().into(),
            to_json(&companion.appearance)?.into(),
            to_json(&companion.personality)?.into(),
            to_json(&companion.voice)?.into(),
            companion.backstory.clone().into(),
            to_json(&companion.genetic_profile)?.into(),
            to_json(&companion.emotional_state)?.into(),
            companion.traits_frozen.into(),
            companion.is_public.into(),
            companion.last_evolution_date.into(),
            companion.updated_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Saves only the emotional state (after each turn).
pub async fn save_emotion<C: ConnectionTrait>(
    c: &C,
    id: Uuid,
    state: &EmotionalState,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db::exec(
        c,
        "UPDATE companions SET emotional_state = $2, updated_at = $3 WHERE id = $1",
        vec![id.into(), to_json(state)?.into(), now.into()],
    )
    .await?;
    Ok(())
}

/// A companion by id, whoever owns it.
pub async fn find<C: ConnectionTrait>(c: &C, id: Uuid) -> Result<Option<Companion>, AppError> {
    db::one(c, &format!("SELECT {COLUMNS} FROM companions WHERE id = $1"), vec![id.into()])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// `owner`'s companion `id`, or not found (someone else's is not found either).
pub async fn owned<C: ConnectionTrait>(c: &C, owner: Uuid, id: Uuid) -> Result<Companion, AppError> {
    match find(c, id).await? {
        Some(companion) if companion.owner_id == owner => Ok(companion),
        _ => Err(AppError::missing("companion")),
    }
}

/// `owner`'s companions, oldest first.
pub async fn list_owned<C: ConnectionTrait>(c: &C, owner: Uuid) -> Result<Vec<Companion>, AppError> {
    let rows = db::all(
        c,
        &format!("SELECT {COLUMNS} FROM companions WHERE user_id = $1 ORDER BY created_at, id"),
        vec![owner.into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Shared companions, newest first.
pub async fn list_public<C: ConnectionTrait>(c: &C, limit: u32) -> Result<Vec<Companion>, AppError> {
    let rows = db::all(
        c,
        &format!("SELECT {COLUMNS} FROM companions WHERE is_public ORDER BY created_at DESC, id LIMIT $1"),
        vec![i64::from(limit.clamp(1, 200)).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes `owner`'s companion `id` (its log and memories go with it).
pub async fn delete<C: ConnectionTrait>(c: &C, owner: Uuid, id: Uuid) -> Result<(), AppError> {
    let n = db::exec(c, "DELETE FROM companions WHERE id = $1 AND user_id = $2", vec![id.into(), owner.into()]).await?;
    if n == 0 {
        return Err(AppError::missing("companion"));
    }
    Ok(())
}

/// One logged message, opened.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedMessage {
    /// Position in the conversation, from 1.
    pub seq: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
    /// The companion's emotion with this reply.
    pub emotion: Option<String>,
    /// The model that wrote this reply.
    pub model: Option<String>,
    /// Moderation's verdict: `allow` or `warn`.
    pub moderation: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A message to append to the log.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// `user` or `assistant`.
    pub role: &'a str,
    /// The text.
    pub content: &'a str,
    /// The companion's emotion (replies).
    pub emotion: Option<&'a str>,
    /// The model (replies).
    pub model: Option<&'a str>,
    /// `allow` or `warn`.
    pub moderation: &'a str,
}

/// Appends `message` to the conversation of `companion` with `user`, sealed; returns its
/// sequence number.
///
/// The number is taken in the insert itself (`MAX(seq) + 1`); two nodes appending to one
/// conversation at once collide on `UNIQUE (companion_id, seq)`, and the loser tries
/// again with the next number. Call it outside a transaction (a failed insert aborts a
/// PostgreSQL transaction).
pub async fn append<C: ConnectionTrait>(
    c: &C,
    key: &[u8; 32],
    companion: Uuid,
    user: Uuid,
    message: NewMessage<'_>,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    const ATTEMPTS: usize = 8;
    let sealed = crate::cipher::seal(key, user, message.content)?;
    for _ in 0..ATTEMPTS {
        let inserted = db::one(
            c,
            "INSERT INTO companion_messages (id, companion_id, user_id, seq, role, content_sealed, emotion, model, moderation, created_at)
             SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, $4, $5, $6, $7, $8, $9
             FROM companion_messages WHERE companion_id = $2
             RETURNING seq",
            vec![
                Uuid::now_v7().into(),
                companion.into(),
                user.into(),
                message.role.into(),
                sealed.clone().into(),
                message.emotion.map(str::to_owned).into(),
                message.model.map(str::to_owned).into(),
                message.moderation.into(),
                now.into(),
            ],
        )
        .await;
        match inserted {
            Ok(Some(row)) => return Ok(get::<i64>(&row, "seq")?),
            Ok(None) => return Err(AppError::Internal("the message insert returned no row".into())),
            Err(e) if db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable("the conversation is busy; try again".into()))
}

/// The last `limit` messages of the conversation, oldest first, opened.
pub async fn recent<C: ConnectionTrait>(
    c: &C,
    key: &[u8; 32],
    companion: Uuid,
    user: Uuid,
    limit: u32,
) -> Result<Vec<LoggedMessage>, AppError> {
    let rows = db::all(
        c,
        "SELECT seq, role, content_sealed, emotion, model, moderation, created_at FROM companion_messages
         WHERE companion_id = $1 AND user_id = $2 ORDER BY seq DESC LIMIT $3",
        vec![companion.into(), user.into(), i64::from(limit.clamp(1, 1000)).into()],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|row| {
            let sealed: Vec<u8> = get(row, "content_sealed")?;
            Ok(LoggedMessage {
                seq: get(row, "seq")?,
                role: get(row, "role")?,
                content: crate::cipher::open(key, user, &sealed)?,
                emotion: get(row, "emotion")?,
                model: get(row, "model")?,
                moderation: get(row, "moderation")?,
                created_at: get(row, "created_at")?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    out.reverse();
    Ok(out)
}
