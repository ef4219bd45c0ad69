//! The one door: `check_text(user, content)` — flood control → the caller's mode →
//! [`super::pipeline`] (pre-filter, URLs, classifier, thresholds) → incident and action,
//! and the answer the user is shown. Every path that takes user content calls it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::category::Category;
use super::incident::{self, ContentType};
use super::mode::ModerationMode;
use super::pipeline::Assessment;
use super::policy::Action;
use crate::error::AppError;
use crate::http::extract::AuthUser;
use crate::state::AppState;

/// Longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Where the community guidelines live.
pub const GUIDELINES_URL: &str = "/guidelines";

/// Text to check.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// What kind of content it is.
    pub content_type: ContentType,
    /// The text (1–10,000 characters).
    pub text: String,
}

/// The verdict as the user sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// `allow`, `warn` or `block`.
    #[schema(value_type = String)]
    pub action: Action,
    /// Categories that triggered it.
    #[schema(value_type = Vec<String>)]
    pub categories: Vec<Category>,
    /// The mode it was decided in.
    #[schema(value_type = String)]
    pub mode: ModerationMode,
    /// Why, in words.
    pub reason: Option<String>,
    /// The community guidelines.
    pub guidelines_url: Option<&'static str>,
    /// Incident to appeal, when one was recorded.
    pub appeal_incident_id: Option<Uuid>,
    /// What was done to the account (`WARNING`, `STRIKE`, `SUSPENSION_1D`, `BAN`).
    pub action_taken: Option<String>,
    /// Which detectors ran, e.g. `["prefilter", "urls", "local"]`.
    pub engines: Vec<&'static str>,
}

/// Checks `text` from `user` and applies the consequences.
pub async fn check_text(state: &AppState, user: &AuthUser, req: CheckRequest) -> Result<CheckResult, AppError> {
    let chars = req.text.chars().count();
    if req.text.trim().is_empty() {
        return Err(AppError::unprocessable("empty_content", "nothing to check"));
    }
    if chars > MAX_TEXT_CHARS {
        return Err(AppError::unprocessable("content_too_long", format!("at most {MAX_TEXT_CHARS} characters")));
    }
    admit(state, user, &req.text)?;
    let mode = super::service::status(state, user).await?.mode;
    let assessment = state.moderator.assess_text(mode, &req.text).await;
    conclude(state, user, mode, req.content_type, req.text.as_bytes(), assessment).await
}

/// Checks a reply the companion wrote for `user`, through the same pipeline and
/// thresholds as the user's own messages. A flagged reply is recorded as a
/// `COMPANION_REPLY` incident for review, but the user is not warned, struck or
/// suspended for what the model wrote (see [`incident::record`]); the caller withholds
/// a blocked reply.
pub async fn check_reply(state: &AppState, user: &AuthUser, text: &str) -> Result<CheckResult, AppError> {
    let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
    if text.trim().is_empty() {
        return Err(AppError::Internal("the companion's reply is empty".into()));
    }
    let mode = super::service::status(state, user).await?.mode;
    let assessment = state.moderator.assess_text(mode, &text).await;
    conclude(state, user, mode, ContentType::CompanionReply, text.as_bytes(), assessment).await
}

/// Checks an uploaded image (PNG, JPEG or WebP bytes) from `user`: PDQ hash list, then the
/// remote image classifier when one is configured; consequences as for text.
pub async fn check_image(state: &AppState, user: &AuthUser, bytes: &[u8], mime: &str) -> Result<CheckResult, AppError> {
    use sha2::Digest as _;
    // Repeated uploads of one file count like repeated messages.
    admit(state, user, &hex::encode(sha2::Sha256::digest(bytes)))?;
    let mode = super::service::status(state, user).await?.mode;
    let assessment = state.moderator.assess_image(mode, bytes, mime).await?;
    conclude(state, user, mode, ContentType::Image, bytes, assessment).await
}

fn admit(state: &AppState, user: &AuthUser, key: &str) -> Result<(), AppError> {
    state.flood_guard.admit(user.user_id, key).map_err(|verdict| {
        let (code, message) = match verdict {
            super::flood::FloodVerdict::Flood => ("message_flood", "too many messages; slow down"),
            super::flood::FloodVerdict::Repeated => ("repeated_message", "the same message was sent too often"),
        };
        AppError::TooManyRequests { code, message: message.into(), retry_after_secs: 10 }
    })
}

/// Records the incident and action of a decision and words the answer.
async fn conclude(
    state: &AppState,
    user: &AuthUser,
    mode: ModerationMode,
    content_type: ContentType,
    content: &[u8],
    assessment: Assessment,
) -> Result<CheckResult, AppError> {
    let (decision, scores) = (assessment.decision, assessment.scores);
    if let Some(why) = &assessment.unavailable {
        // Fail closed, but this is our failure, not the user's: no incident, no strike.
        tracing::error!(error = %why, "no classifier answered; content held");
        return Ok(CheckResult {
            action: Action::Block,
            categories: Vec::new(),
            mode,
            reason: Some("Moderation is unavailable right now; your message was not sent. Try again shortly.".into()),
            guidelines_url: None,
            appeal_incident_id: None,
            action_taken: None,
            engines: assessment.engines,
        });
    }
    use sea_orm::TransactionTrait as _;
    let txn = state.db.conn().begin().await?;
    let outcome = incident::record(&txn, user.user_id, mode, content_type, content, &decision, &scores).await?;
    txn.commit().await?;
    let names = decision.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let reason = match decision.action {
        Action::Block => Some(format!("Content blocked: {names}")),
        Action::Warn => Some(format!("Allowed with a warning: {names}")),
        Action::Allow => None,
    };
    Ok(CheckResult {
        action: decision.action,
        guidelines_url: reason.as_ref().map(|_| GUIDELINES_URL),
        categories: decision.categories,
        mode,
        reason,
        appeal_incident_id: outcome.incident,
        action_taken: outcome.action_taken,
        engines: assessment.engines,
    })
}
