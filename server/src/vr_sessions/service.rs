//! Validating and storing session reports; listing a user's sessions.

use chrono::{DateTime, Duration, Utc};
use nexus_net::vr_session::VrSessionReport;
use sea_orm::QueryResult;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{self, get};
use crate::error::AppError;
use crate::state::AppState;

/// Longest session a report may describe.
pub const MAX_SESSION: Duration = Duration::hours(24);
/// How far in the future `ended_at` may lie (clock skew between client and server).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Highest frame rate a report may claim (no headset refreshes faster).
pub const MAX_FPS: f64 = 1_000.0;
/// Highest latency a report may claim, in milliseconds.
pub const MAX_LATENCY_MS: f64 = 60_000.0;

/// A stored session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VrSession {
    /// Row id.
    pub id: Uuid,
    /// The companion met, if any.
    pub companion_id: Option<String>,
    /// e.g. `QUEST_3`, `DESKTOP_PREVIEW`.
    pub headset_type: String,
    /// `LOCAL` or `CLOUD_STREAM`.
    pub rendering_mode: String,
    /// `PERFORMANCE`, `BALANCED` or `ULTRA`.
    pub quality_preset: String,
    /// Entered the room.
    pub started_at: DateTime<Utc>,
    /// Left it.
    pub ended_at: Option<DateTime<Utc>>,
    /// Whole minutes, rounded.
    pub duration_minutes: Option<i32>,
    /// Mean frames per second.
    pub average_fps: Option<f64>,
    /// Lowest one-second frame rate.
    pub min_fps: Option<f64>,
    /// Mean latency in ms.
    pub latency_ms: Option<f64>,
    /// Deliberate interactions.
    pub interactions_count: Option<i32>,
    /// Hand tracking used.
    pub hand_tracking_used: Option<bool>,
    /// Haptics used.
    pub haptic_feedback_used: Option<bool>,
}

const COLUMNS: &str = "id, companion_id, headset_type, rendering_mode, quality_preset, started_at, ended_at, \
    duration_minutes, average_fps, min_fps, latency_ms, interactions_count, hand_tracking_used, haptic_feedback_used";

fn from_row(row: &QueryResult) -> Result<VrSession, AppError> {
    Ok(VrSession {
        id: get(row, "id")?,
        companion_id: get(row, "companion_id")?,
        headset_type: get(row, "headset_type")?,
        rendering_mode: get(row, "rendering_mode")?,
        quality_preset: get(row, "quality_preset")?,
        started_at: get(row, "started_at")?,
        ended_at: get(row, "ended_at")?,
        duration_minutes: get(row, "duration_minutes")?,
        average_fps: get(row, "average_fps")?,
        min_fps: get(row, "min_fps")?,
        latency_ms: get(row, "latency_ms")?,
        interactions_count: get(row, "interactions_count")?,
        hand_tracking_used: get(row, "hand_tracking_used")?,
        haptic_feedback_used: get(row, "haptic_feedback_used")?,
    })
}

/// Checks that a report describes a possible session, or names the first field that
/// does not.
pub fn validate(r: &VrSessionReport, now: DateTime<Utc>) -> Result<(), AppError> {
    if r.ended_at < r.started_at {
        return Err(AppError::invalid_field("ended_at", "is before started_at"));
    }
    if r.ended_at > now + CLOCK_SKEW {
        return Err(AppError::invalid_field("ended_at", "is in the future"));
    }
    if r.ended_at - r.started_at > MAX_SESSION {
        return Err(AppError::invalid_field("ended_at", "a session lasts at most 24 hours"));
    }
    let in_range = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
    if !in_range(r.average_fps, MAX_FPS) {
        return Err(AppError::invalid_field("average_fps", format_args!("must be within 0–{MAX_FPS}")));
    }
    if !in_range(r.min_fps, r.average_fps) {
        return Err(AppError::invalid_field("min_fps", "must be within 0 and average_fps"));
    }
    if !in_range(r.latency_ms, MAX_LATENCY_MS) {
        return Err(AppError::invalid_field("latency_ms", format_args!("must be within 0–{MAX_LATENCY_MS}")));
    }
    if r.interactions_count > i32::MAX as u32 {
        return Err(AppError::invalid_field("interactions_count", "is too large"));
    }
    if let Some(c) = &r.companion_id
        && (c.is_empty() || c.len() > 255)
    {
        return Err(AppError::invalid_field("companion_id", "must be 1–255 characters"));
    }
    Ok(())
}

/// Stores `report` as one of `user`'s sessions.
pub async fn record(state: &AppState, user: Uuid, report: VrSessionReport) -> Result<VrSession, AppError> {
    let now = Utc::now();
    validate(&report, now)?;
    let seconds = (report.ended_at - report.started_at).num_seconds();
    let minutes = i32::try_from((seconds + 30) / 60).map_err(|_| AppError::invalid_field("ended_at", "too long"))?;
    let id = Uuid::now_v7();
    db::exec(
        state.db.conn(),
        "INSERT INTO vr_sessions (id, user_id, companion_id, headset_type, rendering_mode, quality_preset,
             started_at, ended_at, duration_minutes, average_fps, min_fps, latency_ms, interactions_count,
             hand_tracking_used, haptic_feedback_used, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        vec![
            id.into(),
            user.into(),
            report.companion_id.into(),
            report.headset_type.as_str().into(),
            report.rendering_mode.as_str().into(),
            report.quality_preset.as_str().into(),
            report.started_at.into(),
            report.ended_at.into(),
            minutes.into(),
            report.average_fps.into(),
            report.min_fps.into(),
            report.latency_ms.into(),
            i32::try_from(report.interactions_count).unwrap_or(i32::MAX).into(),
            report.hand_tracking_used.into(),
            report.haptic_feedback_used.into(),
            now.into(),
        ],
    )
    .await?;
    let row = db::one(state.db.conn(), &format!("SELECT {COLUMNS} FROM vr_sessions WHERE id = $1"), vec![id.into()])
        .await?
        .ok_or_else(|| AppError::Internal("vr session vanished after insert".into()))?;
    from_row(&row)
}

/// `user`'s sessions, newest first.
pub async fn list(state: &AppState, user: Uuid, limit: u32) -> Result<Vec<VrSession>, AppError> {
    let rows = db::all(
        state.db.conn(),
        &format!("SELECT {COLUMNS} FROM vr_sessions WHERE user_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"),
        vec![user.into(), i64::from(limit.clamp(1, 200)).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_net::vr_session::{HeadsetType, QualityPreset, RenderingMode};

    fn report(now: DateTime<Utc>) -> VrSessionReport {
        VrSessionReport {
            companion_id: None,
            headset_type: HeadsetType::DesktopPreview,
            rendering_mode: RenderingMode::Local,
            quality_preset: QualityPreset::Balanced,
            started_at: now - Duration::minutes(20),
            ended_at: now,
            average_fps: 72.0,
            min_fps: 60.0,
            latency_ms: 20.0,
            interactions_count: 3,
            hand_tracking_used: false,
            haptic_feedback_used: false,
        }
    }

    #[test]
    fn impossible_reports_name_their_field() {
        let now = Utc::now();
        assert!(validate(&report(now), now).is_ok());
        type Breaker = fn(&mut VrSessionReport);
        let cases: [(&str, Breaker); 6] = [
            ("ended_at", |r| r.ended_at = r.started_at - Duration::seconds(1)),
            ("ended_at", |r| r.ended_at += Duration::hours(1)),
            ("ended_at", |r| r.started_at -= Duration::hours(25)),
            ("average_fps", |r| r.average_fps = f64::NAN),
            ("min_fps", |r| r.min_fps = r.average_fps + 1.0),
            ("latency_ms", |r| r.latency_ms = -1.0),
        ];
        for (field, break_it) in cases {
            let mut r = report(now);
            break_it(&mut r);
            let err = validate(&r, now).expect_err(field);
            assert!(err.to_string().contains(field) || format!("{err:?}").contains(field), "{field}: {err:?}");
        }
    }
}
