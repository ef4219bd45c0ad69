//! # nexus-avatar — humanoid avatars
//!
//! Everything that moves a humanoid, as plain Rust on `glam` (no engine): the client
//! animates the local and remote avatars and the companion with it, and the server uses
//! the lip-sync half to turn speech into viseme tracks.
//!
//! - [`skeleton`]: the VRM 1.0 humanoid bone set, rest skeletons from body proportions,
//!   forward kinematics;
//! - [`ik`]: full-body IK from head + hands (+ hips/feet trackers): calibration, body yaw,
//!   pelvis estimation, spine, two-bone arms and legs, foot planting and stepping,
//!   fingers from hand joints or controller buttons;
//! - [`face`]: the 52 ARKit blend shapes, the seed's 12 emotions as expressions, blinks,
//!   saccades and look-at;
//! - [`lip_sync`]: 15 visemes from TTS phoneme timings (espeak-ng) or live audio, mapped
//!   to blend shapes with co-articulation;
//! - [`gesture`]: pinch, fist, point, open palm, thumbs up, V, OK and wave from the 26
//!   OpenXR hand joints, with hysteresis and confidence;
//! - [`vrm`]: humanoid bone maps and expression presets of user avatars (VRM 1.0, VRM
//!   0.x, or VRM-named glTF nodes);
//! - [`generate`]: the project's own rigged humanoid, written as glTF (a VRM 1.0 file);
//! - [`motion`]: synthetic full-body motion by forward kinematics, for tests, the IK
//!   accuracy evaluation and benchmarks.
//!
//! Not here: rendering, skinning and asset loading into an engine (the client's job), and
//! the network encoding of poses (nexus-net).
//!
//! ```
//! use glam::{Quat, Vec3};
//! use nexus_avatar::ik::{IkConfig, IkSolver, IkTargets};
//! use nexus_avatar::pose::Pose;
//! use nexus_avatar::skeleton::{HumanBone, Skeleton};
//!
//! let mut solver = IkSolver::new(Skeleton::from_height(1.70), IkConfig::default());
//! let head = Pose::at(Vec3::new(0.0, 1.60, 0.0));
//! let left = Pose::new(Vec3::new(-0.25, 1.1, -0.3), Quat::IDENTITY);
//! let right = Pose::new(Vec3::new(0.25, 1.1, -0.3), Quat::IDENTITY);
//! let body = solver.solve(&IkTargets::three_point(head, left, right), 1.0 / 90.0);
//! assert!((body.position(HumanBone::RightHand) - right.position).length() < 1e-3);
//! ```

pub mod face;
pub mod generate;
pub mod gesture;
pub mod hand;
pub mod ik;
pub mod lip_sync;
pub mod motion;
#[cfg(feature = "bevy")]
pub mod plugin;
pub mod pose;
pub mod rng;
pub mod skeleton;
pub mod vrm;

/// The types most users need.
pub mod prelude {
    pub use crate::face::blend_shapes::{BLEND_SHAPES, BlendShape, BlendShapeWeights};
    pub use crate::face::emotion::{Emotion, EmotionMix};
    pub use crate::face::{Face, FaceConfig, FaceFrame, FaceInput};
    pub use crate::hand::{HAND_JOINTS, HandJoint, HandJoints, Handedness};
    pub use crate::ik::{BodyPose, FingerInput, IkConfig, IkSolver, IkTargets};
    pub use crate::pose::Pose;
    pub use crate::skeleton::{BONES, HumanBone, Proportions, Side, Skeleton};
}
