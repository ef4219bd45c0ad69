//! The humanoid skeleton: the VRM 1.0 bone set ([`HumanBone`]), rest offsets built from
//! body proportions ([`Proportions`]), and forward kinematics.
//!
//! Conventions (those of glTF and VRM 1.0): model space is Y up, the avatar faces **+Z**,
//! so its left is **+X**. The rest pose is a T-pose in which every bone's rotation is the
//! identity: a bone's world rotation is then directly "how this bone is turned from the
//! T-pose", and a child's position is `parent.position + parent.rotation * offset`.

mod bones;

pub use bones::{BONES, HumanBone};

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

use crate::pose::Pose;

/// Body measurements the rest skeleton is built from, in metres.
///
/// [`Proportions::from_height`] fills them with anthropometric ratios of stature; a
/// calibration then adjusts the arms to a measured span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proportions {
    /// Standing height, floor to the top of the head.
    pub height: f32,
    /// Hip joint height above the floor.
    pub hip_height: f32,
    /// Half the distance between the hip joints.
    pub hip_half_width: f32,
    /// Hips to neck base, along the spine.
    pub spine_length: f32,
    /// Neck base to the head pivot (skull base).
    pub neck_length: f32,
    /// Head pivot to the eyes, vertically.
    pub eye_height_in_head: f32,
    /// Head pivot to the eyes, forwards.
    pub eye_depth_in_head: f32,
    /// Half the distance between the eyes.
    pub eye_half_spacing: f32,
    /// Half the distance between the shoulder joints.
    pub shoulder_half_width: f32,
    /// Upper arm (shoulder to elbow).
    pub upper_arm: f32,
    /// Forearm (elbow to wrist).
    pub forearm: f32,
    /// Wrist to the finger bases (metacarpal length).
    pub palm: f32,
    /// Thigh (hip to knee).
    pub thigh: f32,
    /// Shank (knee to ankle).
    pub shank: f32,
    /// Ankle height above the floor.
    pub ankle_height: f32,
    /// Ankle to the toe joint, forwards.
    pub foot_length: f32,
}

impl Proportions {
    /// Adult proportions for a standing height in metres: segment ratios of stature after
    /// Drillis & Contini, adjusted so the joints chain up (eyes at ~0.94 of height, arm
    /// span ~1.04, ankles ~0.04 above the floor).
    #[must_use]
    pub fn from_height(height: f32) -> Self {
        let h = height;
        Self {
            height: h,
            hip_height: 0.52 * h,
            hip_half_width: 0.052 * h,
            spine_length: 0.298 * h,
            neck_length: 0.055 * h,
            eye_height_in_head: 0.066 * h,
            eye_depth_in_head: 0.05 * h,
            eye_half_spacing: 0.019 * h,
            shoulder_half_width: 0.095 * h,
            upper_arm: 0.172 * h,
            forearm: 0.145 * h,
            palm: 0.045 * h,
            thigh: 0.232 * h,
            shank: 0.232 * h,
            ankle_height: 0.039 * h,
            foot_length: 0.11 * h,
        }
    }

    /// Scales the arms so the T-pose fingertip-to-fingertip span is `span` metres (a
    /// person's span is close to their height; measured from tracked hands it varies).
    #[must_use]
    pub fn with_arm_span(mut self, span: f32) -> Self {
        let current = self.arm_span();
        let arm = self.upper_arm + self.forearm + self.hand_length();
        if current > 0.0 && arm > 0.0 && span.is_finite() {
            let scale = ((span - current) / 2.0 + arm) / arm;
            let scale = scale.clamp(0.7, 1.4);
            self.upper_arm *= scale;
            self.forearm *= scale;
            self.palm *= scale;
        }
        self
    }

    /// Wrist to middle fingertip.
    #[must_use]
    pub fn hand_length(&self) -> f32 {
        self.palm + self.finger_segments(1).iter().sum::<f32>() + 0.008 * self.height
    }

    /// T-pose span from fingertip to fingertip.
    #[must_use]
    pub fn arm_span(&self) -> f32 {
        2.0 * (self.shoulder_half_width + self.upper_arm + self.forearm + self.hand_length())
    }

    /// Eye height above the floor when standing straight.
    #[must_use]
    pub fn eye_height(&self) -> f32 {
        self.head_height() + self.eye_height_in_head
    }

    /// Head pivot height above the floor when standing straight.
    #[must_use]
    pub fn head_height(&self) -> f32 {
        self.hip_height + self.spine_length + self.neck_length
    }

    /// Shoulder-to-wrist reach.
    #[must_use]
    pub fn arm_reach(&self) -> f32 {
        self.upper_arm + self.forearm
    }

    /// Hip-to-ankle length.
    #[must_use]
    pub fn leg_length(&self) -> f32 {
        self.thigh + self.shank
    }

    /// Segment lengths (proximal, intermediate, distal) of finger `finger`, 0 = thumb
    /// (metacarpal, proximal, distal) … 4 = little.
    #[must_use]
    pub fn finger_segments(&self, finger: usize) -> [f32; 3] {
        let h = self.height;
        let lengths = match finger {
            0 => [0.026, 0.019, 0.016],
            1 => [0.023, 0.0145, 0.0105],
            2 => [0.026, 0.0165, 0.011],
            3 => [0.0245, 0.016, 0.0105],
            _ => [0.019, 0.0115, 0.0095],
        };
        lengths.map(|l| l * h)
    }
}

/// A rest skeleton: each bone's offset from its parent in the T-pose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skeleton {
    /// The proportions the offsets were built from.
    pub proportions: Proportions,
    /// Offset of each bone's joint from its parent's, in model space (T-pose); the hips'
    /// entry is their position above the model origin (between the feet, on the floor).
    pub offsets: Vec<Vec3>,
}

impl Skeleton {
    /// The T-pose skeleton for `proportions`.
    #[must_use]
    pub fn new(proportions: Proportions) -> Self {
        use HumanBone as B;
        let p = &proportions;
        let h = p.height;
        let mut offsets = vec![Vec3::ZERO; BONES];
        let mut set = |bone: HumanBone, offset: Vec3| offsets[bone.index()] = offset;

        // Torso: the spine rises with a slight forward curve at the chest.
        set(B::Hips, Vec3::new(0.0, p.hip_height, 0.0));
        set(B::Spine, Vec3::new(0.0, 0.18 * p.spine_length, 0.0));
        set(B::Chest, Vec3::new(0.0, 0.27 * p.spine_length, 0.004 * h));
        set(B::UpperChest, Vec3::new(0.0, 0.25 * p.spine_length, 0.0));
        set(B::Neck, Vec3::new(0.0, 0.30 * p.spine_length, -0.004 * h));
        set(B::Head, Vec3::new(0.0, p.neck_length, 0.004 * h));
        set(B::LeftEye, Vec3::new(p.eye_half_spacing, p.eye_height_in_head, p.eye_depth_in_head));
        set(B::RightEye, Vec3::new(-p.eye_half_spacing, p.eye_height_in_head, p.eye_depth_in_head));
        set(B::Jaw, Vec3::new(0.0, 0.012 * h, 0.012 * h));

        for (side, x) in [(Side::Left, 1.0_f32), (Side::Right, -1.0)] {
            let b = |left: HumanBone, right: HumanBone| if side == Side::Left { left } else { right };
            set(b(B::LeftUpperLeg, B::RightUpperLeg), Vec3::new(x * p.hip_half_width, -0.02 * h, 0.0));
            set(b(B::LeftLowerLeg, B::RightLowerLeg), Vec3::new(0.0, -p.thigh, 0.0));
            set(b(B::LeftFoot, B::RightFoot), Vec3::new(0.0, -p.shank, 0.0));
            set(b(B::LeftToes, B::RightToes), Vec3::new(0.0, -p.ankle_height * 0.8, p.foot_length));

            let clavicle_start = Vec3::new(x * 0.012 * h, 0.2 * p.spine_length, 0.0);
            set(b(B::LeftShoulder, B::RightShoulder), clavicle_start);
            set(
                b(B::LeftUpperArm, B::RightUpperArm),
                Vec3::new(x * (p.shoulder_half_width - 0.012 * h), 0.01 * h, -0.005 * h),
            );
            set(b(B::LeftLowerArm, B::RightLowerArm), Vec3::new(x * p.upper_arm, 0.0, 0.0));
            set(b(B::LeftHand, B::RightHand), Vec3::new(x * p.forearm, 0.0, 0.0));

            // Fingers along ±X (palm down), thumb forwards (+Z) and inwards.
            let bases = [
                Vec3::new(x * 0.012 * h, -0.006 * h, 0.012 * h),
                Vec3::new(x * p.palm, 0.0, 0.013 * h),
                Vec3::new(x * p.palm * 1.02, 0.0, 0.002 * h),
                Vec3::new(x * p.palm * 0.97, 0.0, -0.009 * h),
                Vec3::new(x * p.palm * 0.9, -0.002 * h, -0.019 * h),
            ];
            for (finger, base) in bases.into_iter().enumerate() {
                let chain = finger_chain(side, finger);
                let dir = if finger == 0 { Vec3::new(x * 0.6, 0.0, 0.8).normalize() } else { Vec3::new(x, 0.0, 0.0) };
                let seg = p.finger_segments(finger);
                set(chain[0], base);
                set(chain[1], dir * seg[0]);
                set(chain[2], dir * seg[1]);
            }
        }
        Self { proportions, offsets }
    }

    /// A skeleton from a model's own rest offsets (a loaded glTF or VRM in T-pose), with
    /// proportions measured from them. Missing optional bones have a zero offset (they sit
    /// on their parent); a model without legs or a head is not a humanoid and gets `None`.
    #[must_use]
    pub fn from_offsets(offsets: [Vec3; BONES]) -> Option<Self> {
        use HumanBone as B;
        let rest = |bone: HumanBone| {
            let mut p = Vec3::ZERO;
            let mut b = Some(bone);
            while let Some(current) = b {
                p += offsets[current.index()];
                b = current.parent();
            }
            p
        };
        let head = rest(B::Head);
        let foot = rest(B::LeftFoot);
        let lower = offsets[B::LeftLowerLeg.index()].length();
        let feet = offsets[B::LeftFoot.index()].length();
        if !(head.y > 0.3 && lower > 0.05 && feet > 0.05 && offsets.iter().all(|o| o.is_finite())) {
            return None;
        }
        let reference = Proportions::from_height(1.0);
        let mut p = Proportions::from_height(head.y / reference.head_height());
        p.hip_height = offsets[B::Hips.index()].y;
        p.hip_half_width = offsets[B::LeftUpperLeg.index()].x.abs().max(0.02);
        p.spine_length = (rest(B::Neck) - rest(B::Hips)).length();
        p.neck_length = offsets[B::Head.index()].length();
        let eye = offsets[B::LeftEye.index()];
        if eye.length() > 0.0 {
            p.eye_height_in_head = eye.y;
            p.eye_depth_in_head = eye.z;
            p.eye_half_spacing = eye.x.abs();
        }
        p.shoulder_half_width = rest(B::LeftUpperArm).x.abs();
        p.upper_arm = offsets[B::LeftLowerArm.index()].length();
        p.forearm = offsets[B::LeftHand.index()].length();
        p.thigh = lower;
        p.shank = feet;
        p.ankle_height = foot.y.max(0.0);
        p.foot_length = offsets[B::LeftToes.index()].z.max(0.0);
        Some(Self { proportions: p, offsets: offsets.to_vec() })
    }

    /// The rest skeleton of an average adult of `height` metres.
    #[must_use]
    pub fn from_height(height: f32) -> Self {
        Self::new(Proportions::from_height(height))
    }

    /// The T-pose offset of `bone` from its parent.
    #[must_use]
    pub fn offset(&self, bone: HumanBone) -> Vec3 {
        self.offsets[bone.index()]
    }

    /// World poses of every bone given the root pose (model origin in the world) and each
    /// bone's *world* rotation: positions follow from the parents' rotations and the rest
    /// offsets, so bone lengths are preserved by construction.
    #[must_use]
    pub fn place(&self, root: &Pose, rotations: &[Quat; BONES]) -> [Pose; BONES] {
        let mut world = [Pose::IDENTITY; BONES];
        for bone in HumanBone::ALL {
            let i = bone.index();
            let position = match bone.parent() {
                None => root.transform_point(self.offsets[i]),
                Some(parent) => {
                    let parent = &world[parent.index()];
                    parent.position + parent.rotation * self.offsets[i]
                }
            };
            world[i] = Pose::new(position, rotations[i]);
        }
        world
    }

    /// Forward kinematics from *local* rotations (each relative to its parent's frame).
    #[must_use]
    pub fn forward(&self, root: &Pose, local: &[Quat; BONES]) -> [Pose; BONES] {
        let mut rotations = [Quat::IDENTITY; BONES];
        for bone in HumanBone::ALL {
            let parent = bone.parent().map_or(root.rotation, |p| rotations[p.index()]);
            rotations[bone.index()] = (parent * local[bone.index()]).normalize();
        }
        self.place(root, &rotations)
    }

    /// The T-pose in world space at `root`.
    #[must_use]
    pub fn rest(&self, root: &Pose) -> [Pose; BONES] {
        self.forward(root, &[Quat::IDENTITY; BONES])
    }

    /// Local rotations (relative to the parent) from world poses, for skinning.
    #[must_use]
    pub fn local_rotations(world: &[Pose; BONES], root: &Pose) -> [Quat; BONES] {
        let mut local = [Quat::IDENTITY; BONES];
        for bone in HumanBone::ALL {
            let parent = bone.parent().map_or(root.rotation, |p| world[p.index()].rotation);
            local[bone.index()] = (parent.inverse() * world[bone.index()].rotation).normalize();
        }
        local
    }
}

/// Left or right, for bone lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// The avatar's left (+X in model space).
    Left,
    /// The avatar's right (−X).
    Right,
}

impl Side {
    /// Both sides, left first.
    pub const BOTH: [Self; 2] = [Self::Left, Self::Right];

    /// +1 on the left (+X), −1 on the right.
    #[must_use]
    pub const fn x(self) -> f32 {
        match self {
            Self::Left => 1.0,
            Self::Right => -1.0,
        }
    }
}

/// The limb bones of one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limbs {
    /// Clavicle.
    pub shoulder: HumanBone,
    /// Upper arm.
    pub upper_arm: HumanBone,
    /// Forearm.
    pub lower_arm: HumanBone,
    /// Hand (wrist).
    pub hand: HumanBone,
    /// Thigh.
    pub upper_leg: HumanBone,
    /// Shank.
    pub lower_leg: HumanBone,
    /// Foot (ankle).
    pub foot: HumanBone,
    /// Toes.
    pub toes: HumanBone,
}

impl Side {
    /// This side's limb bones.
    #[must_use]
    pub const fn limbs(self) -> Limbs {
        use HumanBone as B;
        match self {
            Self::Left => Limbs {
                shoulder: B::LeftShoulder,
                upper_arm: B::LeftUpperArm,
                lower_arm: B::LeftLowerArm,
                hand: B::LeftHand,
                upper_leg: B::LeftUpperLeg,
                lower_leg: B::LeftLowerLeg,
                foot: B::LeftFoot,
                toes: B::LeftToes,
            },
            Self::Right => Limbs {
                shoulder: B::RightShoulder,
                upper_arm: B::RightUpperArm,
                lower_arm: B::RightLowerArm,
                hand: B::RightHand,
                upper_leg: B::RightUpperLeg,
                lower_leg: B::RightLowerLeg,
                foot: B::RightFoot,
                toes: B::RightToes,
            },
        }
    }
}

/// The three bones of finger `finger` (0 = thumb … 4 = little) on `side`, base first.
#[must_use]
pub const fn finger_chain(side: Side, finger: usize) -> [HumanBone; 3] {
    use HumanBone as B;
    match (side, finger) {
        (Side::Left, 0) => [B::LeftThumbMetacarpal, B::LeftThumbProximal, B::LeftThumbDistal],
        (Side::Left, 1) => [B::LeftIndexProximal, B::LeftIndexIntermediate, B::LeftIndexDistal],
        (Side::Left, 2) => [B::LeftMiddleProximal, B::LeftMiddleIntermediate, B::LeftMiddleDistal],
        (Side::Left, 3) => [B::LeftRingProximal, B::LeftRingIntermediate, B::LeftRingDistal],
        (Side::Left, _) => [B::LeftLittleProximal, B::LeftLittleIntermediate, B::LeftLittleDistal],
        (Side::Right, 0) => [B::RightThumbMetacarpal, B::RightThumbProximal, B::RightThumbDistal],
        (Side::Right, 1) => [B::RightIndexProximal, B::RightIndexIntermediate, B::RightIndexDistal],
        (Side::Right, 2) => [B::RightMiddleProximal, B::RightMiddleIntermediate, B::RightMiddleDistal],
        (Side::Right, 3) => [B::RightRingProximal, B::RightRingIntermediate, B::RightRingDistal],
        (Side::Right, _) => [B::RightLittleProximal, B::RightLittleIntermediate, B::RightLittleDistal],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_names_are_vrm() {
        for (i, bone) in HumanBone::ALL.into_iter().enumerate() {
            assert_eq!(bone.index(), i);
            if let Some(parent) = bone.parent() {
                assert!(parent.index() < i, "{} before its parent", bone.name());
            }
        }
        assert_eq!(HumanBone::LeftUpperArm.name(), "leftUpperArm");
        assert_eq!(HumanBone::ALL.len(), 55);
    }

    #[test]
    fn t_pose_has_believable_landmarks() {
        let skeleton = Skeleton::from_height(1.70);
        let rest = skeleton.rest(&Pose::IDENTITY);
        let at = |bone: HumanBone| rest[bone.index()].position;
        let eye = at(HumanBone::LeftEye);
        assert!((eye.y - 1.70 * 0.936).abs() < 0.04, "eye height {}", eye.y);
        assert!(at(HumanBone::LeftHand).x > 0.5, "left hand on +X");
        assert!(at(HumanBone::LeftFoot).y > 0.0 && at(HumanBone::LeftFoot).y < 0.1);
        let span = 2.0 * at(HumanBone::LeftMiddleDistal).x;
        assert!((span - 1.70).abs() < 0.12, "span {span}");
        let p = skeleton.proportions;
        assert!((p.eye_height() - eye.y).abs() < 0.02);
    }

    #[test]
    fn proportions_are_measured_back_from_offsets() {
        let s = Skeleton::from_height(1.7);
        let offsets: [Vec3; BONES] = s.offsets.clone().try_into().unwrap();
        let back = Skeleton::from_offsets(offsets).unwrap();
        assert!((back.proportions.height - 1.7).abs() < 0.01);
        assert!((back.proportions.eye_height() - s.proportions.eye_height()).abs() < 0.01);
        assert!((back.proportions.leg_length() - s.proportions.leg_length()).abs() < 1e-4);
        assert!(Skeleton::from_offsets([Vec3::ZERO; BONES]).is_none());
    }

    #[test]
    fn local_rotations_invert_forward() {
        let skeleton = Skeleton::from_height(1.6);
        let root = Pose::new(Vec3::new(1.0, 0.0, 2.0), Quat::from_rotation_y(0.5));
        let mut local = [Quat::IDENTITY; BONES];
        local[HumanBone::LeftUpperArm.index()] = Quat::from_rotation_z(-1.0);
        local[HumanBone::Spine.index()] = Quat::from_rotation_x(0.3);
        let world = skeleton.forward(&root, &local);
        let back = Skeleton::local_rotations(&world, &root);
        for (a, b) in local.iter().zip(back.iter()) {
            assert!(a.angle_between(*b) < 1e-3);
        }
    }
}
