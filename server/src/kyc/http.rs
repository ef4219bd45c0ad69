//! `/api/v1/kyc/*` — submit and read one's verifications; the provider's signed webhook;
//! `/api/v1/admin/kyc/{id}/decision` for manual decisions.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, Decider, KycStatus, KycSubmission, KycVerification, ProviderEvent};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{Admin, ApiJson, ApiPath, AuthUser, RawBody};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(get_status))
        .routes(routes!(webhook))
        .routes(routes!(decide))
}

/// Starts a verification of the given level.
#[utoipa::path(post, path = "/api/v1/kyc/verifications", tag = "kyc", request_body = KycSubmission,
    responses((status = 201, body = KycVerification), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(sub): ApiJson<KycSubmission>,
) -> Result<(StatusCode, Json<KycVerification>), AppError> {
    Ok((StatusCode::CREATED, Json(service::submit(&state, user.user_id, sub).await?)))
}

/// The caller's KYC level and verifications.
#[utoipa::path(get, path = "/api/v1/kyc/status", tag = "kyc", responses((status = 200, body = KycStatus)))]
async fn get_status(user: AuthUser, State(state): State<AppState>) -> Result<Json<KycStatus>, AppError> {
    Ok(Json(service::status(&state, user.user_id).await?))
}

/// Webhook acknowledgement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookAck {
    /// Whether the event changed anything.
    pub applied: bool,
}

/// The KYC provider's webhook (HMAC-SHA256 of the raw body, hex, in `X-SHA2-Signature`).
#[utoipa::path(post, path = "/api/v1/kyc/webhook", tag = "kyc",
    responses((status = 200, body = WebhookAck), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WebhookAck>, AppError> {
    let signature = headers
        .get("x-sha2-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::bad_request("missing_signature", "X-SHA2-Signature header required"))?;
    service::verify_webhook_signature(&state.keys.kyc_webhook_secret, &body, signature)?;
    let event: ProviderEvent = serde_json::from_slice(&body)
        .map_err(|e| AppError::unprocessable("invalid_body", format!("webhook body: {e}")))?;
    Ok(Json(WebhookAck { applied: service::apply_provider_event(&state, event).await? }))
}

/// A manual decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (true) or reject (false).
    pub approve: bool,
}

/// Approves or rejects a pending verification by hand (ADMIN).
#[utoipa::path(post, path = "/api/v1/admin/kyc/{id}/decision", tag = "admin", request_body = Decision,
    params(("id" = Uuid, Path, description = "Verification id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn decide(
    Admin(admin): Admin,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<StatusCode, AppError> {
    service::decide(&state, id, d.approve, Decider::Admin(admin.user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
