//! Input: where the [`TrackedRig`] comes from each frame, and recording it.
//!
//! Exactly one source writes the rig in [`RigSystems::Source`] (PreUpdate):
//! - [`xr`] — OpenXR actions and hand tracking, when a headset session runs;
//! - [`preview`] — mouse and keyboard in the desktop preview: mouse look, WASD (as the
//!   left thumbstick), Q/E (as the right thumbstick: snap or smooth turn), hands that
//!   follow the cursor at arm's length, left/right mouse = trigger/grip, F = pinch, and
//!   the cursor as the gaze;
//! - [`replay`] — a recorded tracking file, frame by frame.
//!
//! Locomotion and turning are not part of any source: they read the rig's thumbsticks in
//! [`crate::comfort`], so a replay moves the user exactly as the recording did.
//! [`crate::tracking_file::Recording`] systems write the rig after every frame when `--record` is given.

pub mod preview;
pub mod replay;
pub mod xr;

use bevy::prelude::*;

use crate::rig::{HandJoint, Pose, TrackedRig};

/// Ordering of the rig pipeline within `PreUpdate`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RigSystems {
    /// The input source writes [`TrackedRig`].
    Source,
    /// Comfort (locomotion, turning, height) turns the rig into world transforms.
    Apply,
}

/// Which source drives the rig in this run.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveSource {
    /// A headset through OpenXR.
    OpenXr,
    /// The desktop preview.
    Preview,
    /// A tracking file.
    Replay,
    /// Nothing moves the rig (headless captures without a replay).
    Still,
}

/// The time step of this frame's rig, when the source dictates it. A replay sets the
/// recording's own frame interval, so locomotion covers the same ground whatever the
/// machine's frame rate; live sources leave it `None` (the frame's real duration).
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub struct RigDelta(pub Option<f32>);

/// Sets up the rig resource and the ordering; each source adds its own plugin.
pub struct RigPlugin;

impl Plugin for RigPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TrackedRig>()
            .init_resource::<RigDelta>()
            .configure_sets(PreUpdate, (RigSystems::Source, RigSystems::Apply).chain());
    }
}

/// Pinch strength 0–1 from the thumb-tip to index-tip distance (touching ≤ 1.5 cm → 1,
/// apart ≥ 6 cm → 0).
#[must_use]
pub fn pinch_strength(joints: &[Pose; crate::rig::HAND_JOINTS]) -> f32 {
    let d = joints[HandJoint::ThumbTip as usize].position.distance(joints[HandJoint::IndexTip as usize].position);
    (1.0 - (d - 0.015) / (0.06 - 0.015)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::HAND_JOINTS;

    #[test]
    fn pinch_follows_thumb_index_distance() {
        let mut joints = [Pose::default(); HAND_JOINTS];
        joints[HandJoint::IndexTip as usize].position = Vec3::new(0.01, 0.0, 0.0);
        assert_eq!(pinch_strength(&joints), 1.0);
        joints[HandJoint::IndexTip as usize].position = Vec3::new(0.08, 0.0, 0.0);
        assert_eq!(pinch_strength(&joints), 0.0);
        joints[HandJoint::IndexTip as usize].position = Vec3::new(0.0375, 0.0, 0.0);
        assert!((pinch_strength(&joints) - 0.5).abs() < 1e-5);
    }
}
