//! Replaying and recording tracking files ([`crate::tracking_file`]) inside the app.
//!
//! Replay writes frame *n* of the file into the rig on update *n* — deterministic
//! whatever the frame rate; after the last frame the rig holds still and
//! [`ReplayState::finished`] turns true. Recording appends the rig as every source left
//! it, after the frame's updates, so a preview or headset session can be replayed later.

use bevy::prelude::*;

use crate::input::{RigDelta, RigSystems};
use crate::rig::{RigSource, TrackedRig};
use crate::tracking_file::{Recorder, Recording};

/// The recording being replayed and how far it got.
#[derive(Resource, Debug)]
pub struct ReplayState {
    recording: Recording,
    next: usize,
}

impl ReplayState {
    /// Starts at frame 0 of `recording`.
    #[must_use]
    pub fn new(recording: Recording) -> Self {
        Self { recording, next: 0 }
    }

    /// Frames applied so far.
    #[must_use]
    pub fn applied(&self) -> usize {
        self.next
    }

    /// Whether every frame has been applied.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.next >= self.recording.frames.len()
    }

    /// Frames in the file.
    #[must_use]
    pub fn len(&self) -> usize {
        self.recording.frames.len()
    }

    /// Whether the recording is empty (never true for a file that was read).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.recording.frames.is_empty()
    }
}

/// Drives the rig from a [`ReplayState`] resource.
pub struct ReplayPlugin;

impl Plugin for ReplayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PreUpdate, apply_frame.in_set(RigSystems::Source).run_if(resource_exists::<ReplayState>));
    }
}

fn apply_frame(mut state: ResMut<ReplayState>, mut rig: ResMut<TrackedRig>, mut delta: ResMut<RigDelta>) {
    let n = state.next;
    let frames = &state.recording.frames;
    if let Some(frame) = frames.get(n) {
        *rig = frame.rig.clone();
        let nominal = 1.0 / f64::from(state.recording.header.frame_hz.max(1.0));
        let dt = if n == 0 { nominal } else { frame.t - frames[n - 1].t };
        delta.0 = Some(dt.clamp(0.0, 0.25) as f32);
        state.next += 1;
    } else {
        delta.0 = Some(0.0); // the recording is over: nothing moves any more
    }
}

/// The open recorder (`--record PATH`).
#[derive(Resource)]
pub struct RecorderState {
    recorder: Recorder,
    started: Option<f64>,
}

impl RecorderState {
    /// Wraps an open recorder.
    #[must_use]
    pub fn new(recorder: Recorder) -> Self {
        Self { recorder, started: None }
    }
}

/// Appends the rig to a [`RecorderState`] resource after every frame.
pub struct RecordPlugin;

impl Plugin for RecordPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Last, record_frame.run_if(resource_exists::<RecorderState>));
    }
}

fn record_frame(mut state: ResMut<RecorderState>, rig: Res<TrackedRig>, time: Res<Time>, mut commands: Commands) {
    let now = time.elapsed_secs_f64();
    let t = now - *state.started.get_or_insert(now);
    let result = state.recorder.push(t, &rig).and_then(|()| {
        // Flush once a second so a crash loses at most a second of tracking.
        if state.recorder.frames().is_multiple_of(90) { state.recorder.flush() } else { Ok(()) }
    });
    if let Err(e) = result {
        error!("tracking recording stopped: {e}");
        commands.remove_resource::<RecorderState>();
    }
}

impl Drop for RecorderState {
    fn drop(&mut self) {
        if let Err(e) = self.recorder.flush() {
            error!("tracking recording: last frames not written: {e}");
        }
    }
}

/// The source label written in a recording's header.
#[must_use]
pub fn source_label(source: crate::input::ActiveSource) -> RigSource {
    match source {
        crate::input::ActiveSource::OpenXr => RigSource::OpenXr,
        crate::input::ActiveSource::Preview => RigSource::Preview,
        crate::input::ActiveSource::Replay | crate::input::ActiveSource::Still => RigSource::Replay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking_file::Frame;
    use bevy::time::TimeUpdateStrategy;
    use glam::{Quat, Vec3};
    use std::time::Duration;

    /// A synthetic session: the head walks and turns, the right hand reaches and pulls
    /// the trigger, the left stick pushes forward.
    fn synthetic(n: usize) -> Vec<TrackedRig> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 72.0;
                let mut rig = TrackedRig::default();
                rig.head.position = Vec3::new(0.3 * t.sin(), 1.62 + 0.02 * (3.0 * t).sin(), -0.2 * t);
                rig.head.rotation = Quat::from_rotation_y(0.4 * t.sin());
                rig.right.tracked = true;
                rig.right.grip.position = rig.head.position + Vec3::new(0.2, -0.3, -0.3 - 0.2 * t.sin().abs());
                rig.right.trigger = (t * 2.0).fract();
                rig.left.stick = [0.0, if i > n / 2 { 1.0 } else { 0.0 }];
                rig
            })
            .collect()
    }

    #[test]
    fn replay_drives_the_rig_frame_by_frame() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("walk.jsonl");
        let rigs = synthetic(120);
        let mut rec = Recorder::create(&path, RigSource::Preview, 72.0).expect("create");
        for (i, rig) in rigs.iter().enumerate() {
            rec.push(i as f64 / 72.0, rig).expect("push");
        }
        rec.flush().expect("flush");
        drop(rec);

        // Two runs, one with irregular frame times: the rig must match the file exactly
        // on every update of both, and locomotion (driven by the recorded sticks) must
        // take the user along exactly the same path.
        let mut paths: Vec<Vec<crate::comfort::PlayerOrigin>> = Vec::new();
        for irregular in [false, true] {
            let mut app = App::new();
            let start = crate::comfort::PlayerOrigin { position: Vec3::ZERO, yaw: 0.0, height_offset: 0.0 };
            app.add_plugins((MinimalPlugins, crate::input::RigPlugin, ReplayPlugin));
            app.add_plugins(crate::comfort::ComfortPlugin { comfort: crate::settings::Comfort::default(), start });
            app.insert_resource(ReplayState::new(Recording::read(&path).expect("read")));
            let mut path_taken = Vec::new();
            for (i, expected) in rigs.iter().enumerate() {
                let dt = if irregular && i % 3 == 0 { 40 } else { 11 };
                app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(dt)));
                app.update();
                assert_eq!(app.world().resource::<TrackedRig>(), expected, "frame {i} (irregular: {irregular})");
                path_taken.push(*app.world().resource::<crate::comfort::PlayerOrigin>());
            }
            let state = app.world().resource::<ReplayState>();
            assert!(state.finished() && state.applied() == rigs.len());
            app.update();
            assert_eq!(app.world().resource::<TrackedRig>(), rigs.last().expect("last"), "holds the last frame");
            paths.push(path_taken);
        }
        assert_eq!(paths[0], paths[1], "locomotion follows the recording's clock, not the machine's");
        // 59 frames at full stick, 1/72 s each, at walking speed.
        let walked = paths[0].last().expect("end").position.length();
        let expected = 59.0 / 72.0 * crate::comfort::WALK_SPEED;
        assert!((walked - expected).abs() < 0.02, "walked {walked} m, expected ≈ {expected} m");
    }

    #[test]
    fn recording_in_the_app_replays_to_the_same_rig() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rec.jsonl");
        let rigs = synthetic(30);
        {
            let mut app = App::new();
            app.add_plugins((MinimalPlugins, crate::input::RigPlugin, RecordPlugin));
            app.insert_resource(RecorderState::new(Recorder::create(&path, RigSource::Preview, 72.0).expect("create")));
            for rig in &rigs {
                app.insert_resource(rig.clone());
                app.update();
            }
        } // dropping the app flushes the recorder
        let read = Recording::read(&path).expect("read");
        assert_eq!(read.frames.iter().map(|f: &Frame| f.rig.clone()).collect::<Vec<_>>(), rigs);
    }
}
