//! `/api/v1/moderation/mode` — the caller's moderation mode, and choosing one.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::check::{CheckRequest, CheckResult, check_text};
use super::service::{self, ModeRequest, ModeStatus};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, AuthUser, ClientMeta};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_mode, put_mode)).routes(routes!(check))
}

/// The mode in force for the caller's session and why.
#[utoipa::path(get, path = "/api/v1/moderation/mode", tag = "moderation",
    responses((status = 200, body = ModeStatus), (status = 401, body = ErrorBody)))]
async fn get_mode(user: AuthUser, State(state): State<AppState>) -> Result<Json<ModeStatus>, AppError> {
    Ok(Json(service::status(&state, &user).await?))
}

/// Asks for a mode; the answer is the mode actually in force (audited).
#[utoipa::path(put, path = "/api/v1/moderation/mode", tag = "moderation", request_body = ModeRequest,
    responses((status = 200, body = ModeStatus), (status = 422, body = ErrorBody)))]
async fn put_mode(
    user: AuthUser,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(req): ApiJson<ModeRequest>,
) -> Result<Json<ModeStatus>, AppError> {
    Ok(Json(service::choose(&state, &user, req, &meta).await?))
}

/// Checks a text through the caller's moderation mode; blocked content records an
/// incident (hash only) and its action.
#[utoipa::path(post, path = "/api/v1/moderation/check", tag = "moderation", request_body = CheckRequest,
    responses((status = 200, body = CheckResult), (status = 422, body = ErrorBody)))]
async fn check(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<Json<CheckResult>, AppError> {
    Ok(Json(check_text(&state, &user, req).await?))
}
