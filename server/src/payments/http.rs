//! `/api/v1/payments/*` — checkout, the caller's payments, and the provider's webhook.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, CheckoutSession, PaymentRecord, Purchase, WebhookEvent, WebhookOutcome};
use super::signature;
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, AuthUser, RawBody};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(checkout)).routes(routes!(list)).routes(routes!(webhook))
}

/// Starts a checkout for a token pack or a month of a plan.
#[utoipa::path(post, path = "/api/v1/payments/checkout", tag = "payments", request_body = Purchase,
    responses((status = 201, body = CheckoutSession), (status = 422, body = ErrorBody)))]
async fn checkout(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(purchase): ApiJson<Purchase>,
) -> Result<(StatusCode, Json<CheckoutSession>), AppError> {
    Ok((StatusCode::CREATED, Json(service::create_checkout(&state, user.user_id, purchase).await?)))
}

/// The caller's payments.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", responses((status = 200, body = [PaymentRecord])))]
async fn list(user: AuthUser, State(state): State<AppState>) -> Result<Json<Vec<PaymentRecord>>, AppError> {
    Ok(Json(service::list(state.db.conn(), user.user_id).await?))
}

/// The payment provider's webhook (`Stripe-Signature` over `t.body`). A replayed event
/// id answers 409 `duplicate_event` and changes nothing.
#[utoipa::path(post, path = "/api/v1/payments/webhook", tag = "payments",
    responses((status = 200, body = WebhookOutcome), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WebhookOutcome>, AppError> {
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::bad_request("missing_signature", "Stripe-Signature header required"))?;
    signature::verify(
        &state.keys.stripe_webhook_secret,
        header,
        &body,
        chrono::Utc::now().timestamp(),
        state.config.webhook_tolerance_secs,
    )?;
    let event: WebhookEvent = serde_json::from_slice(&body)
        .map_err(|e| AppError::unprocessable("invalid_body", format!("webhook body: {e}")))?;
    Ok(Json(service::handle_event(&state, event).await?))
}
