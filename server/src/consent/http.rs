//! `/api/v1/consents/*` — sign, list, verify and revoke the caller's consents, and the
//! server's public key for offline verification.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, ConsentRecord, ConsentRequest};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, AuthUser, ClientMeta};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign, list))
        .routes(routes!(verify))
        .routes(routes!(revoke))
        .routes(routes!(public_key))
}

/// Signs a consent for the caller.
#[utoipa::path(post, path = "/api/v1/consents", tag = "consent", request_body = ConsentRequest,
    responses((status = 201, body = ConsentRecord), (status = 422, body = ErrorBody)))]
async fn sign(
    user: AuthUser,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentRecord>), AppError> {
    Ok((StatusCode::CREATED, Json(service::sign(&state, &user, req, &meta).await?)))
}

/// The caller's consents.
#[utoipa::path(get, path = "/api/v1/consents", tag = "consent", responses((status = 200, body = [ConsentRecord])))]
async fn list(user: AuthUser, State(state): State<AppState>) -> Result<Json<Vec<ConsentRecord>>, AppError> {
    Ok(Json(service::list(state.db.conn(), user.user_id).await?))
}

/// Result of a verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentVerification {
    /// Whether the stored record still matches its signature.
    pub valid: bool,
}

/// Verifies the signature of one of the caller's consents.
#[utoipa::path(get, path = "/api/v1/consents/{id}/verify", tag = "consent",
    params(("id" = Uuid, Path, description = "Consent id")),
    responses((status = 200, body = ConsentVerification), (status = 404, body = ErrorBody)))]
async fn verify(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ConsentVerification>, AppError> {
    Ok(Json(ConsentVerification { valid: service::verify(&state, user.user_id, id).await? }))
}

/// Revokes one of the caller's consents.
#[utoipa::path(post, path = "/api/v1/consents/{id}/revoke", tag = "consent",
    params(("id" = Uuid, Path, description = "Consent id")),
    responses((status = 200, body = ConsentRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke(
    user: AuthUser,
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ConsentRecord>, AppError> {
    Ok(Json(service::revoke(&state, user.user_id, id, &meta).await?))
}

/// The consent-signing public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: &'static str,
    /// Base64 of the 32-byte public key.
    pub public_key: String,
}

/// The key that verifies consent signatures.
#[utoipa::path(get, path = "/api/v1/consents/public-key", tag = "consent", responses((status = 200, body = PublicKey)))]
async fn public_key(State(state): State<AppState>) -> Json<PublicKey> {
    let key = state.keys.consent_signing_key.verifying_key().to_bytes();
    Json(PublicKey { algorithm: "ed25519", public_key: base64::engine::general_purpose::STANDARD.encode(key) })
}
