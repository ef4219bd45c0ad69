//! The tracked rig: one description of the user's body that every input source fills —
//! OpenXR (headset), the preview's mouse and keyboard, or a recorded tracking file — and
//! everything else reads (camera, hands, gaze, the session record). Poses are in the
//! tracking space (metres, Y up, −Z forward), before the comfort turn and height offset
//! are applied by [`crate::comfort`].

use bevy::prelude::Resource;
use glam::Vec3;
use serde::{Deserialize, Serialize};

// The pose and hand-joint types are the avatar crate's: the rig feeds the IK and the
// gesture recogniser without conversion.
pub use nexus_avatar::hand::{HAND_JOINTS, HandJoint, Handedness};
pub use nexus_avatar::pose::Pose;

/// One hand: controller poses, buttons, and articulated joints when hand tracking runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hand {
    /// Whether the hand (controller or tracked hand) has a valid pose this frame.
    pub tracked: bool,
    /// Grip pose: where the palm holds an object.
    pub grip: Pose,
    /// Aim pose: the pointing ray.
    pub aim: Pose,
    /// Trigger, 0–1.
    pub trigger: f32,
    /// Squeeze / grip button, 0–1.
    pub squeeze: f32,
    /// Thumb–index pinch strength, 0–1 (from joints, or a key in the preview).
    pub pinch: f32,
    /// Thumbstick / trackpad, each axis −1–1.
    pub stick: [f32; 2],
    /// The primary face button held (X or A; the menu button on a Vive wand): talk.
    #[serde(default)]
    pub primary: bool,
    /// The 26 joints when articulated hand tracking is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joints: Option<Box<[Pose; HAND_JOINTS]>>,
}

impl Hand {
    /// An untracked hand at rest.
    #[must_use]
    pub fn untracked() -> Self {
        Self {
            tracked: false,
            grip: Pose::default(),
            aim: Pose::default(),
            trigger: 0.0,
            squeeze: 0.0,
            pinch: 0.0,
            stick: [0.0; 2],
            primary: false,
            joints: None,
        }
    }
}

/// A gaze ray: from the eyes (or the cursor in the preview) into the scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gaze {
    /// Ray origin.
    pub origin: Vec3,
    /// Unit direction.
    pub direction: Vec3,
}

/// Where the rig's data comes from this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RigSource {
    /// OpenXR actions and hand tracking.
    OpenXr,
    /// The desktop preview's mouse and keyboard.
    Preview,
    /// A recorded tracking file.
    Replay,
}

/// The whole rig for one frame.
#[derive(Debug, Clone, PartialEq, Resource, Serialize, Deserialize)]
pub struct TrackedRig {
    /// The head (between the eyes).
    pub head: Pose,
    /// Left hand.
    pub left: Hand,
    /// Right hand.
    pub right: Hand,
    /// Where the user looks.
    pub gaze: Gaze,
}

impl Default for TrackedRig {
    fn default() -> Self {
        let head = Pose::at(Vec3::new(0.0, 1.6, 0.0));
        Self {
            head,
            left: Hand::untracked(),
            right: Hand::untracked(),
            gaze: Gaze { origin: head.position, direction: Vec3::NEG_Z },
        }
    }
}

impl TrackedRig {
    /// The hand on `side`.
    #[must_use]
    pub fn hand(&self, side: Handedness) -> &Hand {
        match side {
            Handedness::Left => &self.left,
            Handedness::Right => &self.right,
        }
    }

    /// Whether articulated hand tracking drives either hand.
    #[must_use]
    pub fn hand_tracking(&self) -> bool {
        self.left.joints.is_some() || self.right.joints.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_survives_json_exactly() {
        let mut rig = TrackedRig::default();
        rig.head.rotation = glam::Quat::from_euler(glam::EulerRot::YXZ, 0.3, -0.2, 0.01);
        rig.left.joints = Some(Box::new([Pose::at(Vec3::new(0.1, 1.2, -0.3)); HAND_JOINTS]));
        rig.right.trigger = 0.123_456_79;
        let json = serde_json::to_string(&rig).expect("serialise");
        let back: TrackedRig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, rig, "f32 values round-trip bit for bit through JSON");
        assert!(back.hand_tracking());
    }
}
