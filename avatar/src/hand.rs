//! The articulated hand as OpenXR reports it (`XR_EXT_hand_tracking`): 26 joint poses in
//! the extension's order. Gestures read it; the IK's finger stage maps it onto the
//! skeleton's finger bones.

use serde::{Deserialize, Serialize};

use crate::pose::Pose;

/// Number of hand joints in `XR_EXT_hand_tracking`.
pub const HAND_JOINTS: usize = 26;

/// The 26 joints of an OpenXR hand, in the extension's order (the discriminant is the
/// index into a [`HandJoints`] array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)] // the names are the extension's
pub enum HandJoint {
    Palm,
    Wrist,
    ThumbMetacarpal,
    ThumbProximal,
    ThumbDistal,
    ThumbTip,
    IndexMetacarpal,
    IndexProximal,
    IndexIntermediate,
    IndexDistal,
    IndexTip,
    MiddleMetacarpal,
    MiddleProximal,
    MiddleIntermediate,
    MiddleDistal,
    MiddleTip,
    RingMetacarpal,
    RingProximal,
    RingIntermediate,
    RingDistal,
    RingTip,
    LittleMetacarpal,
    LittleProximal,
    LittleIntermediate,
    LittleDistal,
    LittleTip,
}

impl HandJoint {
    /// Every joint, in the extension's order.
    pub const ALL: [Self; HAND_JOINTS] = [
        Self::Palm,
        Self::Wrist,
        Self::ThumbMetacarpal,
        Self::ThumbProximal,
        Self::ThumbDistal,
        Self::ThumbTip,
        Self::IndexMetacarpal,
        Self::IndexProximal,
        Self::IndexIntermediate,
        Self::IndexDistal,
        Self::IndexTip,
        Self::MiddleMetacarpal,
        Self::MiddleProximal,
        Self::MiddleIntermediate,
        Self::MiddleDistal,
        Self::MiddleTip,
        Self::RingMetacarpal,
        Self::RingProximal,
        Self::RingIntermediate,
        Self::RingDistal,
        Self::RingTip,
        Self::LittleMetacarpal,
        Self::LittleProximal,
        Self::LittleIntermediate,
        Self::LittleDistal,
        Self::LittleTip,
    ];

    /// Index into a [`HandJoints`] array.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The five digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Finger {
    Thumb,
    Index,
    Middle,
    Ring,
    Little,
}

impl Finger {
    /// All five, thumb first.
    pub const ALL: [Self; 5] = [Self::Thumb, Self::Index, Self::Middle, Self::Ring, Self::Little];

    /// The finger's joints from the base to the tip. The thumb has no intermediate joint,
    /// so its chain is four long (metacarpal, proximal, distal, tip); the others five.
    #[must_use]
    pub const fn chain(self) -> &'static [HandJoint] {
        use HandJoint as J;
        match self {
            Self::Thumb => &[J::ThumbMetacarpal, J::ThumbProximal, J::ThumbDistal, J::ThumbTip],
            Self::Index => &[J::IndexMetacarpal, J::IndexProximal, J::IndexIntermediate, J::IndexDistal, J::IndexTip],
            Self::Middle => {
                &[J::MiddleMetacarpal, J::MiddleProximal, J::MiddleIntermediate, J::MiddleDistal, J::MiddleTip]
            }
            Self::Ring => &[J::RingMetacarpal, J::RingProximal, J::RingIntermediate, J::RingDistal, J::RingTip],
            Self::Little => {
                &[J::LittleMetacarpal, J::LittleProximal, J::LittleIntermediate, J::LittleDistal, J::LittleTip]
            }
        }
    }

    /// The fingertip joint.
    #[must_use]
    pub const fn tip(self) -> HandJoint {
        let chain = self.chain();
        chain[chain.len() - 1]
    }
}

/// Which hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Handedness {
    /// Left.
    Left,
    /// Right.
    Right,
}

impl Handedness {
    /// +1 for the right hand, −1 for the left (mirror factor on the X axis).
    #[must_use]
    pub const fn sign(self) -> f32 {
        match self {
            Self::Left => -1.0,
            Self::Right => 1.0,
        }
    }
}

/// The 26 joint poses of one hand, in tracking space, indexed by [`HandJoint::index`].
/// OpenXR's joint frames: −Z points from the joint towards the fingertip, +Y out of the
/// back of the hand.
pub type HandJoints = [Pose; HAND_JOINTS];
