//! Extractors that turn every malformed request into an [`AppError`] with a stable code,
//! and that make a handler's signature say who may call it ([`AuthUser`], [`Moderator`],
//! [`Admin`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::accounts::Role;
use crate::db::{self, get};
use crate::error::AppError;
use crate::state::AppState;

/// A JSON body; rejections become `malformed_json` (400), `invalid_body` (422),
/// `unsupported_media_type` (415) or `payload_too_large` (413).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn bytes_rejection(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::bad_request("unreadable_body", text)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::unprocessable("invalid_body", e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(AppError::bad_request("malformed_json", e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::UnsupportedMediaType),
            Err(JsonRejection::BytesRejection(e)) => Err(bytes_rejection(e.status(), e.body_text())),
            Err(other) => Err(AppError::bad_request("malformed_json", other.body_text())),
        }
    }
}

/// The raw body (webhooks verify signatures over the exact bytes).
#[derive(Debug)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e: BytesRejection| bytes_rejection(e.status(), e.body_text()))
    }
}

/// Query parameters; a bad query is `invalid_query` (400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| AppError::bad_request("invalid_query", e.body_text()))
    }
}

/// Path parameters; a bad one (e.g. not a UUID) is `invalid_path` (400).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| AppError::bad_request("invalid_path", e.body_text()))
    }
}

/// Who is calling from where: the peer address and the user agent (cut to 512 bytes).
#[derive(Debug, Clone)]
pub struct ClientMeta {
    /// Peer IP address.
    pub ip: IpAddr,
    /// `User-Agent` header, if any.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

/// The `Idempotency-Key` header, required on token mutations (1–128 visible ASCII).
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get("idempotency-key")
            .ok_or_else(|| AppError::bad_request("missing_idempotency_key", "Idempotency-Key header required"))?;
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1–128 visible ASCII characters",
                )
            })?;
        Ok(Self(key.to_owned()))
    }
}

/// An authenticated caller: a valid access token whose session is live and whose
/// account is active. The role is read fresh from the database.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user.
    pub user_id: Uuid,
    /// The sign-in session.
    pub session_id: Uuid,
    /// The user's current role.
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, false).await
    }
}

/// An authenticated caller who may be temporarily suspended (to appeal the suspension).
#[derive(Debug, Clone)]
pub struct PossiblySuspended(pub AuthUser);

impl FromRequestParts<AppState> for PossiblySuspended {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, true).await.map(Self)
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState, allow_suspended: bool) -> Result<AuthUser, AppError> {
    if let Some(user) = parts.extensions.get::<AuthUser>() {
        return Ok(user.clone());
    }
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::unauthorized("missing_token", "Authorization header required"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::unauthorized("invalid_token", "expected a Bearer token"))?;
    let user = authenticate_token(state, token.trim(), allow_suspended).await?;
    if !allow_suspended {
        parts.extensions.insert(user.clone());
    }
    Ok(user)
}

/// Check an access token the way every request is checked: signature and expiry, a live
/// session, an active account, and (unless `allow_suspended`) no suspension in force.
/// The WebSocket handshake uses it for its `hello`.
pub async fn authenticate_token(state: &AppState, token: &str, allow_suspended: bool) -> Result<AuthUser, AppError> {
    let claims = state.tokens.verify(token)?;
    let row = db::one(
        state.db.conn(),
        "SELECT u.role, u.active, u.suspended_until, s.revoked_at IS NULL AS live
         FROM auth_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND u.id = $2",
        vec![claims.sid.into(), claims.sub.into()],
    )
    .await?
    .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown session"))?;
    if !get::<bool>(&row, "live")? {
        return Err(AppError::unauthorized("session_revoked", "this session has ended"));
    }
    if !get::<bool>(&row, "active")? {
        return Err(AppError::forbidden("account_disabled", "this account is disabled"));
    }
    if let Some(until) = get::<Option<chrono::DateTime<chrono::Utc>>>(&row, "suspended_until")?
        && until > chrono::Utc::now()
        && !allow_suspended
    {
        return Err(AppError::forbidden("account_suspended", format!("this account is suspended until {until}")));
    }
    let role = Role::parse(&get::<String>(&row, "role")?)
        .ok_or_else(|| AppError::Internal("unknown role in database".into()))?;
    Ok(AuthUser { user_id: claims.sub, session_id: claims.sid, role })
}

async fn require(parts: &mut Parts, state: &AppState, role: Role) -> Result<AuthUser, AppError> {
    let user = AuthUser::from_request_parts(parts, state).await?;
    if user.role < role {
        return Err(AppError::forbidden("insufficient_role", format!("requires role {}", role.as_str())));
    }
    Ok(user)
}

/// A caller with at least the MODERATOR role.
#[derive(Debug, Clone)]
pub struct Moderator(pub AuthUser);

impl FromRequestParts<AppState> for Moderator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        require(parts, state, Role::Moderator).await.map(Self)
    }
}

/// A caller with the ADMIN role.
#[derive(Debug, Clone)]
pub struct Admin(pub AuthUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        require(parts, state, Role::Admin).await.map(Self)
    }
}
