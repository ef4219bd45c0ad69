//! `/api/v1/tokens/*` — wallet, history, spends and holds for the caller;
//! `/api/v1/admin/users/{id}/tokens` — audited adjustments by administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ledger::{self, Applied, HistoryPage, Hold, Mutation, TxKind, Wallet};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{Admin, ApiJson, ApiPath, ApiQuery, AuthUser, ClientMeta, IdempotencyKey};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(list_transactions))
        .routes(routes!(spend))
        .routes(routes!(create_hold))
        .routes(routes!(capture_hold))
        .routes(routes!(release_hold))
        .routes(routes!(adjust))
}

/// The caller's wallet.
#[utoipa::path(get, path = "/api/v1/tokens/wallet", tag = "tokens", responses((status = 200, body = Wallet), (status = 401, body = ErrorBody)))]
async fn get_wallet(user: AuthUser, State(state): State<AppState>) -> Result<Json<Wallet>, AppError> {
    Ok(Json(ledger::wallet(state.db.conn(), user.user_id).await?))
}

/// History paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// Entries older than this id (from `next_before`).
    pub before: Option<Uuid>,
}

/// The caller's ledger, newest first.
#[utoipa::path(get, path = "/api/v1/tokens/transactions", tag = "tokens", params(HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody)))]
async fn list_transactions(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, AppError> {
    Ok(Json(ledger::history(state.db.conn(), user.user_id, q.limit.unwrap_or(50), q.before).await?))
}

/// A spend.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    /// Tokens to spend.
    pub amount: i32,
    /// What for (shown in the history).
    pub description: Option<String>,
}

fn status_of(applied: &Applied) -> StatusCode {
    if applied.replayed { StatusCode::OK } else { StatusCode::CREATED }
}

/// Spends tokens; requires `Idempotency-Key`. A replay answers 200 with the first result.
#[utoipa::path(post, path = "/api/v1/tokens/spend", tag = "tokens", request_body = SpendRequest,
    params(("Idempotency-Key" = String, Header, description = "Unique per operation")),
    responses((status = 201, body = Applied), (status = 200, body = Applied), (status = 409, body = ErrorBody)))]
async fn spend(
    user: AuthUser,
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(req): ApiJson<SpendRequest>,
) -> Result<(StatusCode, Json<Applied>), AppError> {
    let mut m = Mutation::new(TxKind::Spend, req.amount, key);
    m.description = req.description;
    let applied = ledger::apply(&state.db, user.user_id, &m).await?;
    Ok((status_of(&applied), Json(applied)))
}

/// A hold request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Tokens to reserve.
    pub amount: i32,
    /// What for (e.g. `VIDEO_GENERATION`).
    pub reference_type: Option<String>,
}

/// Reserves tokens for a job; requires `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/tokens/holds", tag = "tokens", request_body = HoldRequest,
    params(("Idempotency-Key" = String, Header, description = "Unique per operation")),
    responses((status = 201, body = Hold), (status = 409, body = ErrorBody)))]
async fn create_hold(
    user: AuthUser,
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(req): ApiJson<HoldRequest>,
) -> Result<(StatusCode, Json<Hold>), AppError> {
    if req.reference_type.as_ref().is_some_and(|r| r.len() > 50) {
        return Err(AppError::invalid_field("reference_type", "at most 50 characters"));
    }
    let hold = ledger::hold(&state.db, user.user_id, req.amount, &key, req.reference_type).await?;
    Ok((StatusCode::CREATED, Json(hold)))
}

/// Keeps a held amount.
#[utoipa::path(post, path = "/api/v1/tokens/holds/{id}/capture", tag = "tokens",
    params(("id" = Uuid, Path, description = "Hold id")),
    responses((status = 200, body = Hold), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn capture_hold(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Hold>, AppError> {
    Ok(Json(ledger::capture(&state.db, user.user_id, id).await?))
}

/// Gives a held amount back.
#[utoipa::path(post, path = "/api/v1/tokens/holds/{id}/release", tag = "tokens",
    params(("id" = Uuid, Path, description = "Hold id")),
    responses((status = 200, body = Hold), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn release_hold(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Hold>, AppError> {
    Ok(Json(ledger::release(&state.db, user.user_id, id).await?))
}

/// An administrator's adjustment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// EARN (grant), REFUND or EXPIRE (remove).
    pub kind: TxKind,
    /// Magnitude.
    pub amount: i32,
    /// Why (kept in the ledger and the audit log).
    pub reason: String,
}

/// Adjusts a user's tokens (ADMIN; audited as TOKEN_ADJUSTMENT).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/tokens", tag = "admin", request_body = Adjustment,
    params(("id" = Uuid, Path, description = "User id"), ("Idempotency-Key" = String, Header, description = "Unique per operation")),
    responses((status = 201, body = Applied), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn adjust(
    Admin(admin): Admin,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiPath(id): ApiPath<Uuid>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(req): ApiJson<Adjustment>,
) -> Result<(StatusCode, Json<Applied>), AppError> {
    if !matches!(req.kind, TxKind::Earn | TxKind::Refund | TxKind::Expire) {
        return Err(AppError::invalid_field("kind", "adjustments are EARN, REFUND or EXPIRE"));
    }
    if req.reason.trim().is_empty() || req.reason.chars().count() > 500 {
        return Err(AppError::invalid_field("reason", "1–500 characters"));
    }
    let mut m = Mutation::new(req.kind, req.amount, format!("admin:{key}"));
    m.description = Some(req.reason.clone());
    use sea_orm::TransactionTrait as _;
    let txn = state.db.conn().begin().await?;
    let applied = ledger::apply_in(&txn, id, &m).await?;
    if !applied.replayed {
        audit::record(
            &txn,
            AuditEntry::new(AuditAction::TokenAdjustment, Some(id), "WALLET").resource(id).client(&meta).meta(
                serde_json::json!({ "by": admin.user_id, "kind": req.kind.as_str(), "amount": applied.entry.amount, "entry": applied.entry.id }),
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok((status_of(&applied), Json(applied)))
}
