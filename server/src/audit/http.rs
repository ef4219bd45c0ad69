//! `GET /api/v1/admin/audit` — the audit log for administrators, newest first.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::db::{self, Dialect as _, get};
use crate::error::{AppError, ErrorBody};
use crate::http::extract::{Admin, ApiQuery};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Filters of the audit listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this user.
    pub user_id: Option<Uuid>,
    /// Only this action (e.g. `LOGIN_FAILED`).
    pub action: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Entry id.
    pub id: Uuid,
    /// User concerned.
    pub user_id: Option<Uuid>,
    /// Action.
    pub action: String,
    /// Resource kind.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Extra facts.
    pub metadata: Option<serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Lists audit entries (ADMIN).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = [AuditRecord]), (status = 403, body = ErrorBody)))]
async fn list_audit(
    _admin: Admin,
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, AppError> {
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 200));
    let backend = state.db.backend();
    let sql = format!(
        "SELECT id, user_id, action, resource_type, resource_id, {} AS ip, metadata, created_at
         FROM audit_logs
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR action = $2)
         ORDER BY created_at DESC, id DESC LIMIT $3",
        backend.inet_text("ip_address")
    );
    let rows = db::all(state.db.conn(), &sql, vec![q.user_id.into(), q.action.into(), limit.into()]).await?;
    let records = rows
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: get(r, "id")?,
                user_id: get(r, "user_id")?,
                action: get(r, "action")?,
                resource_type: get(r, "resource_type")?,
                resource_id: get(r, "resource_id")?,
                ip_address: get(r, "ip")?,
                metadata: get(r, "metadata")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    Ok(Json(records))
}
