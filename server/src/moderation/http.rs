//! `/api/v1/moderation/mode` — the caller's moderation mode, and choosing one.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::check::{CheckRequest, CheckResult, check_image, check_text};
use super::image::MAX_IMAGE_BYTES;
use super::review::{self, Appeal, QueuedIncident, ReviewDecision};
use super::service::{self, ModeRequest, ModeStatus};
use super::wellbeing::{self, WellbeingAlert};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, ClientMeta, Moderator, PossiblySuspended, RawBody};
use crate::state::AppState;
use uuid::Uuid;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_mode, put_mode))
        .routes(routes!(check))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(check_image_upload))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_IMAGE_BYTES)),
        )
        .routes(routes!(list_queue))
        .routes(routes!(claim))
        .routes(routes!(decide))
        .routes(routes!(appeal))
        .routes(routes!(list_wellbeing))
        .routes(routes!(acknowledge_wellbeing))
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

/// Checks an uploaded image (the raw PNG, JPEG or WebP bytes, up to 8 MiB) through the
/// caller's moderation mode: known-image hash list (PDQ), then the remote image classifier
/// when one is configured.
#[utoipa::path(post, path = "/api/v1/moderation/check-image", tag = "moderation",
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = CheckResult), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn check_image_upload(
    user: AuthUser,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Json<CheckResult>, AppError> {
    let mime = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = match mime.split(';').next().map(str::trim) {
        Some(m @ ("image/png" | "image/jpeg" | "image/webp")) => m.to_owned(),
        _ => return Err(AppError::UnsupportedImageType),
    };
    Ok(Json(check_image(&state, &user, &bytes, &mime).await?))
}

/// Queue paging.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// The review queue, oldest first (MODERATOR).
#[utoipa::path(get, path = "/api/v1/moderation/incidents", tag = "moderation", params(QueueQuery),
    responses((status = 200, body = [QueuedIncident]), (status = 403, body = ErrorBody)))]
async fn list_queue(
    _m: Moderator,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<Vec<QueuedIncident>>, AppError> {
    Ok(Json(review::queue(&state, q.limit.unwrap_or(50)).await?))
}

/// Claims an incident for review (MODERATOR).
#[utoipa::path(post, path = "/api/v1/moderation/incidents/{id}/claim", tag = "moderation",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses((status = 200, body = QueuedIncident), (status = 409, body = ErrorBody)))]
async fn claim(
    Moderator(m): Moderator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<QueuedIncident>, AppError> {
    Ok(Json(review::claim(&state, m.user_id, id).await?))
}

/// Decides a claimed incident (MODERATOR); FALSE_POSITIVE lifts its action.
#[utoipa::path(post, path = "/api/v1/moderation/incidents/{id}/decision", tag = "moderation", request_body = ReviewDecision,
    params(("id" = Uuid, Path, description = "Incident id")),
    responses((status = 200, body = QueuedIncident), (status = 409, body = ErrorBody)))]
async fn decide(
    Moderator(m): Moderator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(d): ApiJson<ReviewDecision>,
) -> Result<Json<QueuedIncident>, AppError> {
    Ok(Json(review::decide(&state, m.user_id, id, d).await?))
}

/// Appeals one of the caller's incidents (allowed while suspended).
#[utoipa::path(post, path = "/api/v1/moderation/incidents/{id}/appeal", tag = "moderation", request_body = Appeal,
    params(("id" = Uuid, Path, description = "Incident id")),
    responses((status = 200, body = QueuedIncident), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn appeal(
    PossiblySuspended(user): PossiblySuspended,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(a): ApiJson<Appeal>,
) -> Result<Json<QueuedIncident>, AppError> {
    Ok(Json(review::appeal(&state, user.user_id, id, a).await?))
}

/// Open wellbeing alerts, oldest first (MODERATOR). Metadata only: who, when, which mode.
#[utoipa::path(get, path = "/api/v1/moderation/wellbeing", tag = "moderation", params(QueueQuery),
    responses((status = 200, body = [WellbeingAlert]), (status = 403, body = ErrorBody)))]
async fn list_wellbeing(
    _m: Moderator,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<Vec<WellbeingAlert>>, AppError> {
    Ok(Json(wellbeing::open(&state, q.limit.unwrap_or(50)).await?))
}

/// Acknowledges a wellbeing alert once someone has reached out (MODERATOR).
#[utoipa::path(post, path = "/api/v1/moderation/wellbeing/{id}/acknowledge", tag = "moderation",
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = WellbeingAlert), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn acknowledge_wellbeing(
    Moderator(m): Moderator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WellbeingAlert>, AppError> {
    Ok(Json(wellbeing::acknowledge(&state, m.user_id, id).await?))
}
