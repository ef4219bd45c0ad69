//! Fingers: the 26 OpenXR hand joints mapped onto the skeleton's finger bones, or — for
//! controllers without hand tracking — a hand shape made from the grip, trigger and thumb
//! rest, through the same mapping.

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

use super::two_bone::aim;
use super::wrist_to_hand_bone;
use crate::gesture::synth::HandShape;
use crate::hand::{Finger, HandJoint, HandJoints, Handedness};
use crate::pose::Pose;
use crate::skeleton::{BONES, Side, Skeleton, finger_chain};

/// Where a hand's finger poses come from this frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum FingerInput {
    /// Nothing tracked: a relaxed hand.
    #[default]
    None,
    /// Articulated hand tracking: the 26 joints in tracking space.
    Joints(Box<HandJoints>),
    /// A controller's analogue inputs.
    Controller {
        /// Grip (middle, ring, little fingers), 0–1.
        grip: f32,
        /// Trigger (index finger), 0–1.
        trigger: f32,
        /// Thumb resting on a button or the stick.
        thumb_touch: bool,
    },
}

/// The OpenXR joints that drive each finger's three bones, base first.
const fn driving_joints(finger: Finger) -> [HandJoint; 3] {
    use HandJoint as J;
    match finger {
        Finger::Thumb => [J::ThumbMetacarpal, J::ThumbProximal, J::ThumbDistal],
        Finger::Index => [J::IndexProximal, J::IndexIntermediate, J::IndexDistal],
        Finger::Middle => [J::MiddleProximal, J::MiddleIntermediate, J::MiddleDistal],
        Finger::Ring => [J::RingProximal, J::RingIntermediate, J::RingDistal],
        Finger::Little => [J::LittleProximal, J::LittleIntermediate, J::LittleDistal],
    }
}

/// Sets the world rotations of `side`'s finger bones. `hand` is the solved hand bone's
/// world pose; joint frames (−Z along the finger, +Y out of the back) are matched to
/// each bone's rest direction and the back of the hand (+Y in the T-pose).
pub fn pose(skeleton: &Skeleton, side: Side, hand: &Pose, input: &FingerInput, rotations: &mut [Quat; BONES]) {
    let handedness = match side {
        Side::Left => Handedness::Left,
        Side::Right => Handedness::Right,
    };
    let synthetic;
    let joints: &HandJoints = match input {
        FingerInput::Joints(joints) => joints,
        FingerInput::Controller { grip, trigger, thumb_touch } => {
            let wrist = Pose::new(hand.position, hand.rotation * wrist_to_hand_bone(side).inverse());
            synthetic = HandShape::from_controller(*grip, *trigger, *thumb_touch).joints(handedness, &wrist);
            &synthetic
        }
        FingerInput::None => {
            let wrist = Pose::new(hand.position, hand.rotation * wrist_to_hand_bone(side).inverse());
            synthetic = HandShape::from_controller(0.15, 0.1, false).joints(handedness, &wrist);
            &synthetic
        }
    };
    for (n, finger) in Finger::ALL.into_iter().enumerate() {
        let bones = finger_chain(side, n);
        let drivers = driving_joints(finger);
        for (k, bone) in bones.into_iter().enumerate() {
            let rest_dir = if k + 1 < bones.len() { skeleton.offset(bones[k + 1]) } else { skeleton.offset(bones[k]) };
            let rest_dir = rest_dir.try_normalize().unwrap_or(Vec3::X * side.x());
            let joint = &joints[drivers[k].index()];
            if !joint.position.is_finite() || !joint.rotation.is_finite() {
                rotations[bone.index()] = hand.rotation;
                continue;
            }
            let rotation = aim(rest_dir, Vec3::Y, joint.rotation * Vec3::NEG_Z, joint.rotation * Vec3::Y);
            rotations[bone.index()] = rotation;
        }
    }
}
