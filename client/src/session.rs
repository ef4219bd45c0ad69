//! The session record: frame-rate statistics while the user is in the room, and the
//! seed's `vr_sessions` row sent to the server when the app exits. Also the per-frame
//! CPU timings `cargo xtask bench client` reads (`--bench-report`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use chrono::{DateTime, Utc};
use nexus_net::vr_session::{HeadsetType, QualityPreset, RenderingMode, VrSessionReport};

use crate::app::AppState;
use crate::rig::TrackedRig;
use crate::services::Services;

/// Statistics of the time spent in the room.
#[derive(Resource, Debug, Clone)]
pub struct SessionStats {
    /// When the room was entered.
    pub started_at: Option<DateTime<Utc>>,
    /// Frames rendered in the room.
    pub frames: u64,
    /// Seconds in the room (sum of frame times).
    pub seconds: f64,
    /// Lowest one-second frame rate seen.
    pub min_fps: Option<f64>,
    second_frames: u32,
    second_time: f64,
    /// Deliberate interactions (trigger presses, messages).
    pub interactions: u32,
    /// Whether articulated hand tracking drove a hand.
    pub hand_tracking_used: bool,
    triggers_down: [bool; 2],
    /// The device.
    pub headset: HeadsetType,
    /// The preset.
    pub quality: QualityPreset,
}

impl SessionStats {
    /// Empty statistics for `headset` at `quality`.
    #[must_use]
    pub fn new(headset: HeadsetType, quality: QualityPreset) -> Self {
        Self {
            started_at: None,
            frames: 0,
            seconds: 0.0,
            min_fps: None,
            second_frames: 0,
            second_time: 0.0,
            interactions: 0,
            hand_tracking_used: false,
            triggers_down: [false; 2],
            headset,
            quality,
        }
    }

    /// Counts one frame of `dt` seconds.
    pub fn frame(&mut self, dt: f64) {
        self.frames += 1;
        self.seconds += dt;
        self.second_frames += 1;
        self.second_time += dt;
        if self.second_time >= 1.0 {
            let fps = f64::from(self.second_frames) / self.second_time;
            self.min_fps = Some(self.min_fps.map_or(fps, |m| m.min(fps)));
            self.second_frames = 0;
            self.second_time = 0.0;
        }
    }

    /// Mean frames per second so far.
    #[must_use]
    pub fn average_fps(&self) -> f64 {
        if self.seconds > 0.0 { self.frames as f64 / self.seconds } else { 0.0 }
    }

    /// The record for a session ending `now` with `chat_messages` sent.
    #[must_use]
    pub fn report(&self, now: DateTime<Utc>, chat_messages: u32) -> Option<VrSessionReport> {
        let started_at = self.started_at?;
        let average = self.average_fps();
        // Sessions shorter than a second have no complete one-second window.
        let min = self.min_fps.unwrap_or(average).min(average);
        Some(VrSessionReport {
            companion_id: None,
            headset_type: self.headset,
            rendering_mode: RenderingMode::Local,
            quality_preset: self.quality,
            started_at,
            ended_at: now.max(started_at),
            average_fps: average,
            min_fps: min,
            // Input is sampled at the start of a frame and shown at its end: one frame.
            latency_ms: if average > 0.0 { 1000.0 / average } else { 0.0 },
            interactions_count: self.interactions + chat_messages,
            hand_tracking_used: self.hand_tracking_used,
            haptic_feedback_used: false,
        })
    }
}

/// Counts frames and interactions while in the room.
pub fn track(time: Res<Time>, rig: Res<TrackedRig>, mut stats: ResMut<SessionStats>) {
    if stats.started_at.is_none() {
        stats.started_at = Some(Utc::now());
    }
    stats.frame(f64::from(time.delta_secs()));
    stats.hand_tracking_used |= rig.hand_tracking();
    for (i, hand) in [&rig.left, &rig.right].into_iter().enumerate() {
        let down = hand.trigger > 0.7;
        if down && !stats.triggers_down[i] {
            stats.interactions += 1;
        }
        stats.triggers_down[i] = down;
    }
}

/// Sends the session record when the app exits.
pub fn report_on_exit(
    mut exits: MessageReader<AppExit>,
    stats: Res<SessionStats>,
    chat: Option<Res<crate::ui::chat::ChatState>>,
    services: Option<Res<Services>>,
    state: Res<State<AppState>>,
) {
    if exits.read().next().is_none() || *state.get() != AppState::Room {
        return;
    }
    let Some(report) = stats.report(Utc::now(), chat.map_or(0, |c| c.sent)) else { return };
    match services {
        Some(s) => match s.report_session_blocking(&report, Duration::from_secs(3)) {
            Ok(()) => info!(
                frames = stats.frames,
                average_fps = format!("{:.1}", report.average_fps),
                "session recorded on the server"
            ),
            Err(e) => warn!("the session record was not stored: {e}"),
        },
        None => info!("offline: the session record was not stored"),
    }
}

/// Per-frame CPU time of the main-world update (First → Last), in the room.
#[derive(Resource, Debug, Default)]
pub struct FrameTimings {
    start: Option<Instant>,
    last_end: Option<Instant>,
    /// Main-world update times, ms.
    pub update_ms: Vec<f64>,
    /// Wall time between consecutive frame ends (includes rendering), ms.
    pub frame_ms: Vec<f64>,
    /// Where to write them at exit.
    pub report: Option<PathBuf>,
}

impl FrameTimings {
    /// Empty timings, written to `report` at exit when given.
    #[must_use]
    pub fn new(report: Option<PathBuf>) -> Self {
        Self { report, ..Self::default() }
    }
}

/// Marks the start of the main-world update.
pub fn timing_start(mut t: ResMut<FrameTimings>) {
    t.start = Some(Instant::now());
}

/// Marks its end.
pub fn timing_end(mut t: ResMut<FrameTimings>, state: Res<State<AppState>>) {
    let now = Instant::now();
    if *state.get() == AppState::Room
        && let Some(s) = t.start
    {
        t.update_ms.push(now.duration_since(s).as_secs_f64() * 1e3);
        if let Some(prev) = t.last_end {
            t.frame_ms.push(now.duration_since(prev).as_secs_f64() * 1e3);
        }
    }
    t.last_end = Some(now);
}

/// Writes the timings as JSON at exit.
pub fn write_timings(mut exits: MessageReader<AppExit>, t: Res<FrameTimings>) {
    if exits.read().next().is_none() {
        return;
    }
    if let Some(path) = &t.report {
        let json = serde_json::json!({"update_ms": t.update_ms, "frame_ms": t.frame_ms});
        if let Err(e) = std::fs::write(path, json.to_string()) {
            error!("cannot write {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_make_a_valid_report() {
        let mut s = SessionStats::new(HeadsetType::DesktopPreview, QualityPreset::Balanced);
        assert!(s.report(Utc::now(), 0).is_none(), "no report before the room");
        s.started_at = Some(Utc::now() - chrono::Duration::seconds(3));
        for i in 0..180 {
            s.frame(if i < 90 { 1.0 / 90.0 } else { 1.0 / 45.0 });
        }
        let r = s.report(Utc::now(), 2).expect("report");
        assert!((r.min_fps - 45.0).abs() < 0.5, "{}", r.min_fps);
        assert!(r.average_fps > r.min_fps && r.average_fps < 90.0);
        assert_eq!(r.interactions_count, 2);
        nexus_server::vr_sessions::service::validate(&r, Utc::now()).expect("the server accepts it");
    }
}
