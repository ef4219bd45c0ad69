//! The HTTP surface: one router per area merged here, the OpenAPI document generated from
//! the handlers' annotations, `/healthz`, `/metrics`, and the layers every request passes
//! (body limit, panic catcher, metrics, tracing). Unknown routes and methods answer with
//! the same `{"code", "message"}` body as every other error.

pub mod extract;
pub mod metrics;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "Nexus API",
    description = "Accounts, plans, KYC, consent, tokens, payments and audit of the Nexus VR companion platform."
))]
struct ApiDoc;

/// The routed API and its OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::accounts::http::router())
        .merge(crate::plans::http::router())
        .merge(crate::kyc::http::router())
        .merge(crate::consent::http::router())
        .merge(crate::tokens::http::router())
        .merge(crate::payments::http::router())
        .merge(crate::audit::http::router())
        .merge(crate::moderation::http::router())
        .merge(crate::vr_sessions::http::router())
        .merge(crate::companion::http::router())
        .split_for_parts()
}

/// The complete application router for `state`.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let openapi = std::sync::Arc::new(openapi);
    let max_body = state.config.max_body_bytes;
    api.route("/api/openapi.json", get(move || std::future::ready(Json(openapi.as_ref().clone()))))
        .route("/healthz", get(healthz))
        .route(crate::rooms::ws::WS_PATH, get(crate::rooms::ws::upgrade))
        .route("/metrics", get(metrics::endpoint))
        .fallback(|| async { AppError::not_found("not_found", "no such route") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(AppError::Internal("handler panicked".into()))
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Health report.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    crate::db::one(state.db.conn(), "SELECT 1 AS ok", vec![]).await?;
    let database = match state.db.backend() {
        sea_orm::DbBackend::Postgres => "postgres",
        _ => "sqlite",
    };
    Ok(Json(Health { status: "ok", database }))
}
