//! `/api/v1/subscription` — read, downgrade and cancel the caller's subscription; plans
//! and prices. Upgrades and renewals are bought through `/api/v1/payments/checkout`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Plan;
use super::service::{self, Subscription};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{ApiJson, AuthUser};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(get_subscription))
        .routes(routes!(downgrade))
        .routes(routes!(cancel))
}

/// A plan and its price.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanInfo {
    /// The plan.
    pub plan: Plan,
    /// Monthly price in euro cents.
    pub monthly_price_cents: i64,
    /// Currency.
    pub currency: &'static str,
}

/// Lists the plans and their prices.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", responses((status = 200, body = [PlanInfo])))]
async fn list_plans() -> Json<Vec<PlanInfo>> {
    Json(
        Plan::ALL
            .into_iter()
            .map(|plan| PlanInfo { plan, monthly_price_cents: plan.monthly_price_cents(), currency: "EUR" })
            .collect(),
    )
}

/// The caller's subscription.
#[utoipa::path(get, path = "/api/v1/subscription", tag = "plans",
    responses((status = 200, body = Subscription), (status = 401, body = ErrorBody)))]
async fn get_subscription(user: AuthUser, State(state): State<AppState>) -> Result<Json<Subscription>, AppError> {
    Ok(Json(service::get_subscription(state.db.conn(), user.user_id).await?))
}

/// A downgrade request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DowngradeRequest {
    /// The cheaper plan.
    pub plan: Plan,
}

/// Moves the caller to a cheaper plan.
#[utoipa::path(post, path = "/api/v1/subscription/downgrade", tag = "plans", request_body = DowngradeRequest,
    responses((status = 200, body = Subscription), (status = 409, body = ErrorBody)))]
async fn downgrade(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DowngradeRequest>,
) -> Result<Json<Subscription>, AppError> {
    Ok(Json(service::downgrade(state.db.conn(), user.user_id, req.plan).await?))
}

/// Cancels auto-renewal of the caller's paid plan.
#[utoipa::path(post, path = "/api/v1/subscription/cancel", tag = "plans",
    responses((status = 200, body = Subscription), (status = 409, body = ErrorBody)))]
async fn cancel(user: AuthUser, State(state): State<AppState>) -> Result<Json<Subscription>, AppError> {
    Ok(Json(service::cancel(state.db.conn(), user.user_id).await?))
}
