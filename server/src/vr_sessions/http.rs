//! `/api/v1/vr-sessions` — report a finished session, list one's own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use nexus_net::vr_session::VrSessionReport;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, VrSession};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, ApiQuery, AuthUser};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report, list))
}

/// Records a finished VR session of the caller (seed `vr_sessions`); the server derives
/// the duration.
#[utoipa::path(post, path = "/api/v1/vr-sessions", tag = "vr", request_body = VrSessionReport,
    responses((status = 201, body = VrSession), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn report(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(report): ApiJson<VrSessionReport>,
) -> Result<(StatusCode, Json<VrSession>), AppError> {
    Ok((StatusCode::CREATED, Json(service::record(&state, user.user_id, report).await?)))
}

/// Paging of the session list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// At most this many (1–200, default 50).
    limit: Option<u32>,
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/vr-sessions", tag = "vr", params(ListQuery),
    responses((status = 200, body = [VrSession]), (status = 401, body = ErrorBody)))]
async fn list(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<VrSession>>, AppError> {
    Ok(Json(service::list(&state, user.user_id, q.limit.unwrap_or(50)).await?))
}
