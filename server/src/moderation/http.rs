//! `/api/v1/moderation/mode` — the caller's moderation mode, and choosing one.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, ModeRequest, ModeStatus};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, AuthUser, ClientMeta};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_mode, put_mode))
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
