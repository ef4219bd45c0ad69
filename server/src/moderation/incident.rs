//! After a decision (seed §3.1, "actions post-modération"): the incident — SHA-256 of the
//! content, never the content — and the severity action:
//! - LOW: a warning;
//! - MEDIUM: a warning that counts toward suspension (3 in 30 days → a 1-day suspension);
//! - HIGH: a temporary suspension, 1 day the first time, doubling per prior HIGH
//!   incident in 90 days, at most 7 days;
//! - CRITICAL: permanent ban (account deactivated, sessions revoked) and an entry in the
//!   authority-report queue.
//!
//! In OPTIONAL mode only what is illegal is recorded, and its scores are reduced to the
//! triggered categories: no content analytics.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::mode::ModerationMode;
use super::policy::{Action, Alert, Decision, Severity};
use crate::db::{self, get};
use crate::error::AppError;

/// Kind of content checked (`moderation_incidents.content_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContentType {
    /// A chat message.
    Text,
    /// A voice transcript.
    AudioTranscript,
    /// An uploaded image.
    Image,
    /// An image-generation prompt.
    ImageGeneration,
    /// A video-generation prompt.
    VideoGeneration,
    /// A reply written by the companion.
    CompanionReply,
}

impl ContentType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::AudioTranscript => "AUDIO_TRANSCRIPT",
            Self::Image => "IMAGE",
            Self::ImageGeneration => "IMAGE_GENERATION",
            Self::VideoGeneration => "VIDEO_GENERATION",
            Self::CompanionReply => "COMPANION_REPLY",
        }
    }
}

/// What was done about a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The incident recorded, if any.
    pub incident: Option<Uuid>,
    /// The action taken (`WARNING`, `STRIKE`, `SUSPENSION_2D`, `BAN`), if any.
    pub action_taken: Option<String>,
    /// When a suspension ends.
    pub suspended_until: Option<DateTime<Utc>>,
}

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::None | Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

#[allow(clippy::too_many_arguments)] // one row's worth of columns
async fn insert_incident<C: ConnectionTrait>(
    c: &C,
    id: Uuid,
    user: Uuid,
    content_type: ContentType,
    hash: &str,
    incident_type: &str,
    severity: &str,
    confidence: f32,
    scores: serde_json::Map<String, serde_json::Value>,
    action_taken: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db::exec(
        c,
        "INSERT INTO moderation_incidents (id, user_id, content_type, content_hash, incident_type, severity, confidence,
                                           moderation_scores, status, automated, action_taken, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING', TRUE, $9, $10)",
        vec![
            id.into(),
            user.into(),
            content_type.as_str().into(),
            hash.into(),
            incident_type.into(),
            severity.into(),
            f64::from(confidence).into(),
            serde_json::Value::Object(scores).into(),
            action_taken.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

async fn count_since<C: ConnectionTrait>(c: &C, user: Uuid, severity: &str, days: i64) -> Result<i64, AppError> {
    let row = db::one(
        c,
        "SELECT COUNT(*) AS n FROM moderation_incidents
         WHERE user_id = $1 AND severity = $2 AND created_at > $3 AND (status IS NULL OR status <> 'FALSE_POSITIVE')
           AND content_type <> 'COMPANION_REPLY'",
        vec![user.into(), severity.into(), (Utc::now() - Duration::days(days)).into()],
    )
    .await?
    .ok_or_else(|| AppError::Internal("count returned no row".into()))?;
    Ok(get(&row, "n")?)
}

/// Records the incident for `decision` and applies its severity action, on `c` (the
/// caller's transaction). Allowed content without alerts records nothing.
pub async fn record<C: ConnectionTrait>(
    c: &C,
    user: Uuid,
    mode: ModerationMode,
    content_type: ContentType,
    content: &[u8],
    decision: &Decision,
    scores: &std::collections::BTreeMap<super::category::Category, f32>,
) -> Result<Outcome, AppError> {
    let nothing = Outcome { incident: None, action_taken: None, suspended_until: None };
    let flagged = decision.action != Action::Allow || !decision.alerts.is_empty();
    let now = Utc::now();
    let companion_reply = content_type == ContentType::CompanionReply;
    // An alert about the user's wellbeing needs the user's own words.
    let wellbeing = decision.alerts.contains(&Alert::Wellbeing) && !companion_reply;
    if !flagged || (mode == ModerationMode::Optional && decision.severity != Severity::Critical) {
        // OPTIONAL keeps no incident for legal content, but someone at risk is still
        // someone at risk: the alert holds who and when, nothing of what was said.
        if wellbeing {
            wellbeing_alert(c, user, None, mode, now).await?;
        }
        return Ok(nothing);
    }
    let id = Uuid::now_v7();
    let hash = hex::encode(Sha256::digest(content));
    let kept_scores: serde_json::Map<String, serde_json::Value> = scores
        .iter()
        .filter(|(c, _)| mode != ModerationMode::Optional || decision.categories.contains(c))
        .map(|(c, s)| (c.as_str().to_owned(), serde_json::json!(s)))
        .collect();
    let confidence = decision.categories.iter().filter_map(|c| scores.get(c)).fold(0.0f32, |a, &b| a.max(b));
    let incident_type = decision
        .categories
        .first()
        .map_or_else(|| "OTHER".to_owned(), |c| c.as_str().to_uppercase().replace(['/', '-'], "_"));
    let severity = severity_str(decision.severity);

    let (action_taken, suspended_until) = match decision.severity {
        // The model wrote it, not the user: kept for review, no action on the account.
        _ if companion_reply => ((decision.action == Action::Block).then(|| "REPLY_WITHHELD".to_owned()), None),
        Severity::None => (None, None),
        Severity::Low => (Some("WARNING".to_owned()), None),
        Severity::Medium => {
            let strikes = count_since(c, user, "MEDIUM", 30).await? + 1;
            if strikes >= 3 {
                (Some("SUSPENSION_1D".to_owned()), Some(now + Duration::days(1)))
            } else {
                (Some("STRIKE".to_owned()), None)
            }
        }
        Severity::High => {
            let prior = count_since(c, user, "HIGH", 90).await?;
            let days = (1i64 << prior.min(3)).min(7);
            (Some(format!("SUSPENSION_{days}D")), Some(now + Duration::days(days)))
        }
        Severity::Critical => (Some("BAN".to_owned()), None),
    };
    insert_incident(
        c,
        id,
        user,
        content_type,
        &hash,
        &incident_type,
        severity,
        confidence,
        kept_scores,
        action_taken.clone(),
        now,
    )
    .await?;
    if companion_reply {
        return Ok(Outcome { incident: Some(id), action_taken, suspended_until: None });
    }
    if matches!(decision.severity, Severity::Low | Severity::Medium) {
        db::exec(
            c,
            "INSERT INTO user_warnings (id, user_id, incident_id, warning_type, description, acknowledged, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)",
            vec![
                Uuid::now_v7().into(),
                user.into(),
                id.into(),
                (if decision.severity == Severity::Medium { "STRIKE" } else { "WARNING" }).into(),
                format!("content blocked or flagged: {}", decision.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")).into(),
                (now + Duration::days(30)).into(),
                now.into(),
            ],
        )
        .await?;
    }
    if wellbeing {
        wellbeing_alert(c, user, Some(id), mode, now).await?;
    }
    if let Some(until) = suspended_until {
        db::exec(
            c,
            "UPDATE users SET suspended_until = $2, updated_at = $3 WHERE id = $1",
            vec![user.into(), until.into(), now.into()],
        )
        .await?;
    }
    if decision.severity == Severity::Critical {
        db::exec(c, "UPDATE users SET active = FALSE, updated_at = $2 WHERE id = $1", vec![user.into(), now.into()])
            .await?;
        db::exec(
            c,
            "UPDATE auth_sessions SET revoked_at = $2, revoke_reason = 'banned' WHERE user_id = $1 AND revoked_at IS NULL",
            vec![user.into(), now.into()],
        )
        .await?;
        db::exec(
            c,
            "INSERT INTO authority_reports (id, incident_id, user_id, categories, content_hash, status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6)",
            vec![
                Uuid::now_v7().into(),
                id.into(),
                user.into(),
                decision
                    .categories
                    .iter()
                    .filter(|c| c.always_blocked())
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
                    .into(),
                hash.into(),
                now.into(),
            ],
        )
        .await?;
    }
    Ok(Outcome { incident: Some(id), action_taken, suspended_until })
}

async fn wellbeing_alert<C: ConnectionTrait>(
    c: &C,
    user: Uuid,
    incident: Option<Uuid>,
    mode: ModerationMode,
    now: chrono::DateTime<Utc>,
) -> Result<(), AppError> {
    db::exec(
        c,
        "INSERT INTO wellbeing_alerts (id, user_id, incident_id, mode, status, created_at)
         VALUES ($1, $2, $3, $4, 'OPEN', $5)",
        vec![Uuid::now_v7().into(), user.into(), incident.into(), mode.as_str().into(), now.into()],
    )
    .await?;
    Ok(())
}
