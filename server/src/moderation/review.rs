//! Human review (seed §3.1 step 4): the queue of incidents for MODERATORs (oldest first,
//! with their age against the 24-hour target), claiming one, deciding CONFIRMED or
//! FALSE_POSITIVE with notes — a false positive lifts the action it caused — and appeals
//! by the user concerned, which put a decided incident back in the queue.

use chrono::{DateTime, Utc};
use sea_orm::{QueryResult, TransactionTrait as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{self, get};
use crate::error::AppError;
use crate::state::AppState;

/// Hours within which an incident should be reviewed.
pub const REVIEW_TARGET_HOURS: i64 = 24;

/// An incident as moderators see it (no content: there is none to see).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuedIncident {
    /// Incident id.
    pub id: Uuid,
    /// User concerned.
    pub user_id: Option<Uuid>,
    /// TEXT, IMAGE, …
    pub content_type: String,
    /// SHA-256 of the content.
    pub content_hash: Option<String>,
    /// Main category.
    pub incident_type: String,
    /// LOW … CRITICAL.
    pub severity: String,
    /// Scores kept.
    pub moderation_scores: Option<serde_json::Value>,
    /// PENDING, UNDER_REVIEW, CONFIRMED, FALSE_POSITIVE.
    pub status: String,
    /// Action applied automatically.
    pub action_taken: Option<String>,
    /// Moderator who claimed or decided it.
    pub reviewed_by: Option<Uuid>,
    /// Moderator notes.
    pub notes: Option<String>,
    /// When the user appealed.
    pub appealed_at: Option<DateTime<Utc>>,
    /// The user's appeal.
    pub appeal_message: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Hours since then.
    pub age_hours: i64,
    /// Older than the 24-hour review target and not decided.
    pub overdue: bool,
}

const COLUMNS: &str = "id, user_id, content_type, content_hash, incident_type, severity, moderation_scores, status,
                       action_taken, reviewed_by, notes, appealed_at, appeal_message, created_at";

fn from_row(row: &QueryResult) -> Result<QueuedIncident, AppError> {
    let created_at: DateTime<Utc> = get(row, "created_at")?;
    let status: String = get::<Option<String>>(row, "status")?.unwrap_or_else(|| "PENDING".into());
    let age_hours = (Utc::now() - created_at).num_hours();
    Ok(QueuedIncident {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        content_type: get(row, "content_type")?,
        content_hash: get(row, "content_hash")?,
        incident_type: get(row, "incident_type")?,
        severity: get(row, "severity")?,
        moderation_scores: get(row, "moderation_scores")?,
        overdue: age_hours >= REVIEW_TARGET_HOURS && matches!(status.as_str(), "PENDING" | "UNDER_REVIEW"),
        status,
        action_taken: get(row, "action_taken")?,
        reviewed_by: get(row, "reviewed_by")?,
        notes: get(row, "notes")?,
        appealed_at: get(row, "appealed_at")?,
        appeal_message: get(row, "appeal_message")?,
        created_at,
        age_hours,
    })
}

async fn find(state: &AppState, id: Uuid) -> Result<QueuedIncident, AppError> {
    let row =
        db::one(state.db.conn(), &format!("SELECT {COLUMNS} FROM moderation_incidents WHERE id = $1"), vec![id.into()])
            .await?
            .ok_or_else(|| AppError::missing("incident"))?;
    from_row(&row)
}

/// The open queue (PENDING and UNDER_REVIEW), oldest first.
pub async fn queue(state: &AppState, limit: u32) -> Result<Vec<QueuedIncident>, AppError> {
    let rows = db::all(
        state.db.conn(),
        &format!(
            "SELECT {COLUMNS} FROM moderation_incidents WHERE status IN ('PENDING', 'UNDER_REVIEW')
             ORDER BY created_at, id LIMIT $1"
        ),
        vec![i64::from(limit.clamp(1, 200)).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims a PENDING incident for `moderator`.
pub async fn claim(state: &AppState, moderator: Uuid, id: Uuid) -> Result<QueuedIncident, AppError> {
    let changed = db::exec(
        state.db.conn(),
        "UPDATE moderation_incidents SET status = 'UNDER_REVIEW', reviewed_by = $2 WHERE id = $1 AND status = 'PENDING'",
        vec![id.into(), moderator.into()],
    )
    .await?;
    let incident = find(state, id).await?;
    if changed == 0 {
        return Err(AppError::conflict("not_pending", format!("incident is {}", incident.status)));
    }
    Ok(incident)
}

/// A moderator's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The automated decision stands.
    Confirmed,
    /// It was wrong: the action is lifted.
    FalsePositive,
}

/// A decision on a claimed incident.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// The verdict.
    pub verdict: Verdict,
    /// Notes (≤ 2,000 characters).
    pub notes: Option<String>,
}

/// Decides an incident the moderator claimed; a false positive lifts its action.
pub async fn decide(
    state: &AppState,
    moderator: Uuid,
    id: Uuid,
    d: ReviewDecision,
) -> Result<QueuedIncident, AppError> {
    if d.notes.as_ref().is_some_and(|n| n.chars().count() > 2_000) {
        return Err(AppError::invalid_field("notes", "at most 2,000 characters"));
    }
    let status = match d.verdict {
        Verdict::Confirmed => "CONFIRMED",
        Verdict::FalsePositive => "FALSE_POSITIVE",
    };
    let now = Utc::now();
    let txn = state.db.conn().begin().await?;
    let row = db::one(
        &txn,
        "UPDATE moderation_incidents SET status = $3, notes = $4, reviewed_at = $5
         WHERE id = $1 AND status = 'UNDER_REVIEW' AND reviewed_by = $2 RETURNING user_id, action_taken",
        vec![id.into(), moderator.into(), status.into(), d.notes.into(), now.into()],
    )
    .await?
    .ok_or_else(|| AppError::conflict("not_claimed", "claim the incident before deciding it"))?;
    if d.verdict == Verdict::FalsePositive {
        let user: Option<Uuid> = get(&row, "user_id")?;
        let action: Option<String> = get(&row, "action_taken")?;
        if let Some(user) = user {
            match action.as_deref() {
                Some(a) if a.starts_with("SUSPENSION") => {
                    db::exec(
                        &txn,
                        "UPDATE users SET suspended_until = NULL, updated_at = $2 WHERE id = $1",
                        vec![user.into(), now.into()],
                    )
                    .await?;
                }
                Some("BAN") => {
                    db::exec(
                        &txn,
                        "UPDATE users SET active = TRUE, updated_at = $2 WHERE id = $1",
                        vec![user.into(), now.into()],
                    )
                    .await?;
                }
                _ => {}
            }
            db::exec(&txn, "DELETE FROM user_warnings WHERE incident_id = $1", vec![id.into()]).await?;
        }
    }
    txn.commit().await?;
    find(state, id).await
}

/// An appeal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Appeal {
    /// Why the decision was wrong (1–1,000 characters).
    pub message: String,
}

/// The user concerned appeals an incident; a decided one goes back to the queue.
pub async fn appeal(state: &AppState, user: Uuid, id: Uuid, appeal: Appeal) -> Result<QueuedIncident, AppError> {
    let n = appeal.message.trim().chars().count();
    if n == 0 || n > 1_000 {
        return Err(AppError::invalid_field("message", "1–1,000 characters"));
    }
    let changed = db::exec(
        state.db.conn(),
        "UPDATE moderation_incidents SET appealed_at = $3, appeal_message = $4,
                status = CASE WHEN status = 'CONFIRMED' THEN 'PENDING' ELSE status END,
                reviewed_by = CASE WHEN status = 'CONFIRMED' THEN NULL ELSE reviewed_by END
         WHERE id = $1 AND user_id = $2 AND appealed_at IS NULL",
        vec![id.into(), user.into(), Utc::now().into(), appeal.message.trim().to_owned().into()],
    )
    .await?;
    let incident = find(state, id).await?;
    if incident.user_id != Some(user) {
        return Err(AppError::missing("incident"));
    }
    if changed == 0 {
        return Err(AppError::conflict("already_appealed", "this incident was already appealed"));
    }
    Ok(incident)
}
