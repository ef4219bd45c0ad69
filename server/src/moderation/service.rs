//! The moderation mode of a signed-in user, resolved from the account services (plan,
//! KYC, consent, incidents) and the user's stored preference. Choosing a mode is audited
//! as MODE_ACTIVATION.

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::mode::{ModeInputs, ModerationMode, resolve};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::consent::service::{ConsentType, signed_this_session};
use crate::db::{self, get};
use crate::error::AppError;
use crate::http::extract::{AuthUser, ClientMeta};
use crate::plans::Plan;
use crate::state::AppState;

/// How recent a violation must be to keep VIP+ out of OPTIONAL.
pub const RECENT_VIOLATION_WINDOW_DAYS: i64 = 30;

/// The resolved mode and everything it was resolved from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModeStatus {
    /// The mode in force.
    #[schema(value_type = String)]
    pub mode: ModerationMode,
    /// The mode the user asked for, if any.
    #[schema(value_type = Option<String>)]
    pub requested: Option<ModerationMode>,
    /// The effective plan.
    pub plan: Plan,
    /// Whether the plan is in force.
    pub plan_active: bool,
    /// KYC level 3 verified and unexpired.
    pub kyc3: bool,
    /// KYC level 3 verified less than 6 months ago.
    pub kyc3_recent: bool,
    /// Adult-content consent signed in this session.
    pub consent_this_session: bool,
    /// A confirmed or pending incident of MEDIUM or worse in the last 30 days.
    pub recent_violations: bool,
}

/// Gathers the inputs for `user` in their current session and resolves the mode.
pub async fn status(state: &AppState, user: &AuthUser) -> Result<ModeStatus, AppError> {
    let requested = preference(state, user.user_id).await?;
    resolve_with(state, user, requested).await
}

/// Resolves the mode of `user` as if they had asked for `requested`.
async fn resolve_with(
    state: &AppState,
    user: &AuthUser,
    requested: Option<ModerationMode>,
) -> Result<ModeStatus, AppError> {
    let conn = state.db.conn();
    let subscription = crate::plans::service::get_subscription(conn, user.user_id).await?;
    let kyc3 = crate::kyc::service::kyc3_verified_within(conn, user.user_id, Duration::days(36_500)).await?;
    let kyc3_recent = crate::kyc::service::kyc3_verified_within(conn, user.user_id, Duration::days(182)).await?;
    let consent_this_session =
        signed_this_session(state, user.user_id, user.session_id, ConsentType::UnmoderatedMode).await?;
    let recent_violations = db::one(
        conn,
        "SELECT id FROM moderation_incidents
         WHERE user_id = $1 AND created_at > $2 AND severity IN ('MEDIUM', 'HIGH', 'CRITICAL')
           AND (status IS NULL OR status <> 'FALSE_POSITIVE')",
        vec![user.user_id.into(), (Utc::now() - Duration::days(RECENT_VIOLATION_WINDOW_DAYS)).into()],
    )
    .await?
    .is_some();
    let inputs = ModeInputs {
        plan: subscription.effective_plan,
        plan_active: subscription.is_active,
        requested,
        kyc3,
        kyc3_recent,
        consent_this_session,
        recent_violations,
    };
    Ok(ModeStatus {
        mode: resolve(&inputs),
        requested,
        plan: inputs.plan,
        plan_active: inputs.plan_active,
        kyc3,
        kyc3_recent,
        consent_this_session,
        recent_violations,
    })
}

/// A mode request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeRequest {
    /// STRICT, LIGHT or OPTIONAL; null returns to the plan's default.
    #[schema(value_type = Option<String>)]
    pub requested: Option<ModerationMode>,
}

/// Stores the user's preference, resolves the mode and audits the activation.
pub async fn choose(
    state: &AppState,
    user: &AuthUser,
    req: ModeRequest,
    meta: &ClientMeta,
) -> Result<ModeStatus, AppError> {
    use sea_orm::TransactionTrait as _;
    let status = resolve_with(state, user, req.requested).await?;
    let txn = state.db.conn().begin().await?;
    db::exec(
        &txn,
        "UPDATE users SET moderation_preference = $2, updated_at = $3 WHERE id = $1",
        vec![user.user_id.into(), req.requested.map(ModerationMode::as_str).into(), Utc::now().into()],
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new(AuditAction::ModeActivation, Some(user.user_id), "USER")
            .resource(user.user_id)
            .client(meta)
            .meta(serde_json::json!({
                "requested": status.requested.map(ModerationMode::as_str),
                "mode": status.mode.as_str(),
                "plan": status.plan.as_str(),
                "session_id": user.session_id,
            })),
    )
    .await?;
    txn.commit().await?;
    Ok(status)
}

/// The stored preference of `user`.
pub async fn preference(state: &AppState, user: Uuid) -> Result<Option<ModerationMode>, AppError> {
    let row = db::one(state.db.conn(), "SELECT moderation_preference FROM users WHERE id = $1", vec![user.into()])
        .await?
        .ok_or_else(|| AppError::missing("user"))?;
    Ok(get::<Option<String>>(&row, "moderation_preference")?.as_deref().and_then(ModerationMode::parse))
}
