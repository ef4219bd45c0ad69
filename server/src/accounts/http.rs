//! Account routes: `/api/v1/auth/*`, `/api/v1/users/me`, `/api/v1/admin/users/{id}/role`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::Role;
use super::service::{self, Credentials, PasswordChange, Registration, TokenPair, UserProfile};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{Admin, ApiJson, ApiPath, ApiQuery, AuthUser, ClientMeta};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(me))
        .routes(routes!(set_role))
}

/// Creates an account (adults only) and sends the verification link.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Registration,
    responses((status = 201, body = UserProfile), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ApiJson(reg): ApiJson<Registration>,
) -> Result<(StatusCode, Json<UserProfile>), AppError> {
    Ok((StatusCode::CREATED, Json(service::register(&state, reg).await?)))
}

/// The verification link's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    /// Token from the mail.
    pub token: String,
}

/// Result of a verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verified {
    /// Always true on success.
    pub verified: bool,
}

/// Confirms an email address (the link in the verification mail).
#[utoipa::path(get, path = "/api/v1/auth/verify-email", tag = "auth", params(VerifyQuery),
    responses((status = 200, body = Verified), (status = 400, body = ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<Verified>, AppError> {
    service::verify_email(&state, &q.token).await?;
    Ok(Json(Verified { verified: true }))
}

/// Sends a new verification link.
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth",
    responses((status = 202), (status = 409, body = ErrorBody)))]
async fn resend_verification(user: AuthUser, State(state): State<AppState>) -> Result<StatusCode, AppError> {
    service::resend_verification(&state, user.user_id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Signs in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(creds): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, AppError> {
    Ok(Json(service::login(&state, creds, &meta).await?))
}

/// A refresh request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last pair.
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair (the old one becomes unusable).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, AppError> {
    Ok(Json(service::refresh(&state, &req.refresh_token).await?))
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(user: AuthUser, State(state): State<AppState>) -> Result<StatusCode, AppError> {
    service::logout(state.db.conn(), user.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; other sessions end.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(
    user: AuthUser,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, AppError> {
    service::change_password(&state, user.user_id, user.session_id, change, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", responses((status = 200, body = UserProfile), (status = 401, body = ErrorBody)))]
async fn me(user: AuthUser, State(state): State<AppState>) -> Result<Json<UserProfile>, AppError> {
    Ok(Json(service::profile(state.db.conn(), user.user_id).await?))
}

/// A role change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
}

/// Sets a user's role (ADMIN).
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "admin", request_body = RoleChange,
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = UserProfile), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_role(
    Admin(admin): Admin,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(change): ApiJson<RoleChange>,
) -> Result<Json<UserProfile>, AppError> {
    Ok(Json(service::set_role(&state, id, change.role, service::RoleChanger::Admin(admin.user_id, &meta)).await?))
}
