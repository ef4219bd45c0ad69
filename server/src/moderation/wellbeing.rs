//! The wellbeing queue: alerts raised when someone writes about harming themselves (seed
//! §3.1: self-harm → wellbeing alert). An alert is metadata — the user, the mode, the
//! time, the incident when one was recorded — never what was said, so it is kept in
//! OPTIONAL mode too. MODERATORs list open alerts, oldest first, and acknowledge them once
//! someone has reached out.

use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{self, get};
use crate::error::AppError;
use crate::state::AppState;

/// An alert as the wellbeing team sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WellbeingAlert {
    /// Alert id.
    pub id: Uuid,
    /// The user to reach out to.
    pub user_id: Option<Uuid>,
    /// The incident, when the mode recorded one.
    pub incident_id: Option<Uuid>,
    /// STRICT, LIGHT or OPTIONAL.
    pub mode: String,
    /// OPEN or ACKNOWLEDGED.
    pub status: String,
    /// Who acknowledged it.
    pub acknowledged_by: Option<Uuid>,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, incident_id, mode, status, acknowledged_by, created_at";

fn from_row(row: &QueryResult) -> Result<WellbeingAlert, AppError> {
    Ok(WellbeingAlert {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        incident_id: get(row, "incident_id")?,
        mode: get(row, "mode")?,
        status: get(row, "status")?,
        acknowledged_by: get(row, "acknowledged_by")?,
        created_at: get(row, "created_at")?,
    })
}

/// Open alerts, oldest first.
pub async fn open(state: &AppState, limit: u32) -> Result<Vec<WellbeingAlert>, AppError> {
    let rows = db::all(
        state.db.conn(),
        &format!("SELECT {COLUMNS} FROM wellbeing_alerts WHERE status = 'OPEN' ORDER BY created_at, id LIMIT $1"),
        vec![i64::from(limit.clamp(1, 200)).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Marks an open alert as handled by `moderator`.
pub async fn acknowledge(state: &AppState, moderator: Uuid, id: Uuid) -> Result<WellbeingAlert, AppError> {
    let changed = db::exec(
        state.db.conn(),
        "UPDATE wellbeing_alerts SET status = 'ACKNOWLEDGED', acknowledged_by = $2, acknowledged_at = $3
         WHERE id = $1 AND status = 'OPEN'",
        vec![id.into(), moderator.into(), Utc::now().into()],
    )
    .await?;
    let row =
        db::one(state.db.conn(), &format!("SELECT {COLUMNS} FROM wellbeing_alerts WHERE id = $1"), vec![id.into()])
            .await?
            .ok_or_else(|| AppError::missing("wellbeing alert"))?;
    let alert = from_row(&row)?;
    if changed == 0 {
        return Err(AppError::conflict("already_acknowledged", "this alert was already acknowledged"));
    }
    Ok(alert)
}
