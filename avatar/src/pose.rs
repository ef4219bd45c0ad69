//! Rigid poses: a position and a unit rotation, the unit every module here trades in.

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

/// A rigid pose in metres, Y up, −Z forward (OpenXR's convention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Position in metres.
    pub position: Vec3,
    /// Orientation (unit quaternion).
    pub rotation: Quat,
}

impl Pose {
    /// The identity pose.
    pub const IDENTITY: Self = Self { position: Vec3::ZERO, rotation: Quat::IDENTITY };

    /// A pose from its parts; `rotation` must be unit length.
    #[must_use]
    pub const fn new(position: Vec3, rotation: Quat) -> Self {
        Self { position, rotation }
    }

    /// The identity rotation at `position`.
    #[must_use]
    pub const fn at(position: Vec3) -> Self {
        Self { position, rotation: Quat::IDENTITY }
    }

    /// The pose's forward direction (−Z).
    #[must_use]
    pub fn forward(&self) -> Vec3 {
        self.rotation * Vec3::NEG_Z
    }

    /// `self ∘ child`: `child` expressed in this pose's frame, taken to the parent frame.
    #[must_use]
    pub fn mul_pose(&self, child: &Self) -> Self {
        Self {
            position: self.position + self.rotation * child.position,
            rotation: (self.rotation * child.rotation).normalize(),
        }
    }

    /// The inverse transform.
    #[must_use]
    pub fn inverse(&self) -> Self {
        let rotation = self.rotation.inverse();
        Self { position: rotation * -self.position, rotation }
    }

    /// A point given in this pose's frame, in the parent frame.
    #[must_use]
    pub fn transform_point(&self, point: Vec3) -> Vec3 {
        self.position + self.rotation * point
    }

    /// Interpolates positions linearly and rotations spherically; `t` in [0, 1].
    #[must_use]
    pub fn lerp(&self, other: &Self, t: f32) -> Self {
        Self {
            position: self.position.lerp(other.position, t),
            rotation: self.rotation.slerp(other.rotation, t).normalize(),
        }
    }
}

impl Default for Pose {
    fn default() -> Self {
        Self::IDENTITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_the_pose() {
        let pose = Pose::new(Vec3::new(1.0, 2.0, 3.0), Quat::from_rotation_y(0.7));
        let back = pose.mul_pose(&pose.inverse());
        assert!(back.position.length() < 1e-5);
        assert!(back.rotation.angle_between(Quat::IDENTITY) < 1e-4);
        let p = Vec3::new(0.3, -0.2, 0.5);
        assert!((pose.inverse().transform_point(pose.transform_point(p)) - p).length() < 1e-5);
    }
}
