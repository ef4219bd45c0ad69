//! Synthetic full-body motion made by forward kinematics — walk, reach, crouch, sit and
//! turn — and the accuracy evaluation of the IK against it: the solver gets only what a
//! headset and two controllers would report (head and wrists), and its elbows, knees and
//! pelvis are compared with the motion's.
//!
//! These clips are plausible poses written by hand from joint-angle curves, not motion
//! capture: errors measured on them say how the solver's assumptions (spine, pelvis,
//! elbow hints, stepping) match ordinary movement, and are not comparable one-to-one with
//! figures measured on captured motion.

use glam::{Quat, Vec3};

use crate::ik::{BodyPose, IkConfig, IkSolver, IkTargets, OPENXR_TO_MODEL, calibrate, wrist_to_hand_bone};
use crate::pose::Pose;
use crate::skeleton::{BONES, HumanBone, Side, Skeleton};

/// A synthetic motion clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clip {
    /// Walking forwards at 1.1 m/s, arms swinging.
    Walk,
    /// Standing, the right arm reaching forwards, up, out and across; the left arm raised.
    Reach,
    /// Crouching down to a deep squat and back up.
    Crouch,
    /// Sitting down on a chair-height seat, hands on the thighs, and standing up.
    Sit,
    /// Turning on the spot by half a turn and back, the head leading.
    Turn,
}

impl Clip {
    /// Every clip.
    pub const ALL: [Self; 5] = [Self::Walk, Self::Reach, Self::Crouch, Self::Sit, Self::Turn];

    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Walk => "walk",
            Self::Reach => "reach",
            Self::Crouch => "crouch",
            Self::Sit => "sit",
            Self::Turn => "turn",
        }
    }

    /// Length in seconds.
    #[must_use]
    pub const fn duration(self) -> f32 {
        match self {
            Self::Walk => 4.4,
            Self::Reach | Self::Crouch | Self::Sit | Self::Turn => 5.0,
        }
    }

    /// The ground-truth pose at time `t`, feet on the floor (y = 0).
    #[must_use]
    pub fn pose(self, skeleton: &Skeleton, t: f32) -> BodyPose {
        let mut local = [Quat::IDENTITY; BONES];
        let mut root = Pose::IDENTITY;
        let set = |local: &mut [Quat; BONES], bone: HumanBone, q: Quat| local[bone.index()] = q;
        match self {
            Self::Walk => {
                let yaw = 0.4;
                root = Pose::new(Quat::from_rotation_y(yaw) * Vec3::Z * 1.1 * t, Quat::from_rotation_y(yaw));
                let phase = std::f32::consts::TAU * t / 1.1;
                let s = phase.sin();
                set(&mut local, HumanBone::Hips, Quat::from_rotation_y(0.08 * s));
                set(&mut local, HumanBone::Spine, Quat::from_rotation_y(-0.06 * s));
                set(&mut local, HumanBone::Chest, Quat::from_rotation_y(-0.04 * s));
                set(&mut local, HumanBone::Head, Quat::from_rotation_x(0.08));
                for (side, offset) in [(Side::Left, 0.0), (Side::Right, std::f32::consts::PI)] {
                    let s = (phase + offset).sin();
                    let knee = 0.12 + 0.6 * (phase + offset + 1.4).sin().max(0.0);
                    legs(&mut local, side, -0.42 * s, knee, 0.0);
                    arm_down(&mut local, side, -0.3 * s, 0.3 + 0.1 * s);
                }
            }
            Self::Reach => {
                // Right upper arm: down, forwards, up, out, across the body, down.
                let down = Quat::from_rotation_z(1.35);
                let keys = [
                    (down, 0.3, 0.0),
                    (Quat::from_rotation_x(-1.45) * down, 0.1, 0.3),
                    (Quat::from_rotation_x(-2.7) * down, 0.05, 0.05),
                    (Quat::from_rotation_y(0.3), 0.1, 0.0),
                    (Quat::from_rotation_y(2.0), 0.4, 0.1),
                    (down, 0.3, 0.0),
                ];
                let k = (t.clamp(0.0, 4.999) as usize).min(4);
                let f = smooth(t - k as f32);
                let (a, b) = (keys[k], keys[k + 1]);
                set(&mut local, HumanBone::RightUpperArm, a.0.slerp(b.0, f));
                set(&mut local, HumanBone::RightLowerArm, Quat::from_rotation_y(a.1 + (b.1 - a.1) * f));
                let lean = a.2 + (b.2 - a.2) * f;
                set(&mut local, HumanBone::Spine, Quat::from_rotation_x(lean));
                set(&mut local, HumanBone::Head, Quat::from_rotation_x(-0.5 * lean));
                let raise = 0.8 * (std::f32::consts::PI * t / 5.0).sin();
                arm_down(&mut local, Side::Left, raise, 0.3 + raise);
                legs(&mut local, Side::Left, 0.0, 0.05, 0.0);
                legs(&mut local, Side::Right, 0.0, 0.05, 0.0);
            }
            Self::Crouch => {
                let c = smooth((t / 1.5).clamp(0.0, 1.0)) * (1.0 - smooth(((t - 3.0) / 1.5).clamp(0.0, 1.0)));
                for side in Side::BOTH {
                    legs(&mut local, side, -1.7 * c, 2.2 * c, -0.5 * c);
                    arm_down(&mut local, side, 0.7 * c, 0.3 + 0.5 * c);
                }
                set(&mut local, HumanBone::Spine, Quat::from_rotation_x(0.35 * c));
                set(&mut local, HumanBone::Chest, Quat::from_rotation_x(0.2 * c));
                set(&mut local, HumanBone::Head, Quat::from_rotation_x(-0.45 * c));
            }
            Self::Sit => {
                let s = smooth(((t - 0.5) / 1.5).clamp(0.0, 1.0)) * (1.0 - smooth(((t - 3.5) / 1.5).clamp(0.0, 1.0)));
                let transit = (std::f32::consts::PI * s).sin();
                root.position = Vec3::new(0.0, 0.0, -0.25 * s);
                for side in Side::BOTH {
                    legs(&mut local, side, -1.45 * s, 1.45 * s, 0.0);
                    arm_down(&mut local, side, 0.75 * s, 0.3 + 0.7 * s);
                }
                set(&mut local, HumanBone::Spine, Quat::from_rotation_x(0.45 * transit - 0.08 * s));
                set(&mut local, HumanBone::Head, Quat::from_rotation_x(-0.3 * transit + 0.1 * s));
            }
            Self::Turn => {
                let turn = smooth(((t - 0.5) / 2.0).clamp(0.0, 1.0)) - smooth(((t - 2.8) / 2.0).clamp(0.0, 1.0));
                let yaw = std::f32::consts::PI * turn;
                root.rotation = Quat::from_rotation_y(yaw);
                let ahead = 0.5
                    * ((std::f32::consts::PI * (t - 0.5) / 2.0).sin().max(0.0) * f32::from(t < 2.5)
                        - (std::f32::consts::PI * (t - 2.8) / 2.0).sin().max(0.0) * f32::from(t > 2.8));
                set(&mut local, HumanBone::Neck, Quat::from_rotation_y(0.4 * ahead));
                set(&mut local, HumanBone::Head, Quat::from_rotation_y(0.6 * ahead));
                for side in Side::BOTH {
                    arm_down(&mut local, side, 0.1, 0.35);
                    legs(&mut local, side, 0.0, 0.05, 0.0);
                }
            }
        }
        let mut pose = BodyPose { bones: skeleton.forward(&root, &local), root };
        ground(&mut pose, skeleton);
        pose
    }
}

/// What a headset and two controllers would report for `pose`.
#[must_use]
pub fn three_point_targets(pose: &BodyPose) -> IkTargets {
    let eyes = (pose.position(HumanBone::LeftEye) + pose.position(HumanBone::RightEye)) * 0.5;
    let head = Pose::new(eyes, (pose.get(HumanBone::Head).rotation * OPENXR_TO_MODEL).normalize());
    let wrist = |side: Side| {
        let hand = pose.get(side.limbs().hand);
        Pose::new(hand.position, (hand.rotation * wrist_to_hand_bone(side).inverse()).normalize())
    };
    IkTargets::three_point(head, wrist(Side::Left), wrist(Side::Right))
}

/// Mean joint position errors over a clip, in centimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipErrors {
    /// Mean elbow error (both elbows).
    pub elbow_cm: f32,
    /// Mean knee error (both knees).
    pub knee_cm: f32,
    /// Mean pelvis (hips joint) error.
    pub pelvis_cm: f32,
    /// Mean wrist error (should be ~0: the wrists are targets).
    pub wrist_cm: f32,
    /// Frames evaluated.
    pub frames: usize,
}

/// Runs the solver over `clip` at `rate_hz` with three-point targets; the solver's
/// skeleton is calibrated from the motion's T-pose (eye height and wrist span).
#[must_use]
pub fn evaluate(clip: Clip, skeleton: &Skeleton, rate_hz: f32) -> ClipErrors {
    let rest = BodyPose { bones: skeleton.rest(&Pose::IDENTITY), root: Pose::IDENTITY };
    let t_pose = three_point_targets(&rest);
    let (Some(left), Some(right)) = (t_pose.left_hand, t_pose.right_hand) else {
        unreachable!("three_point_targets always sets both hands")
    };
    let proportions = calibrate(&t_pose.head, &left, &right, 0.0);
    let mut solver = IkSolver::new(Skeleton::new(proportions), IkConfig::default());
    let dt = 1.0 / rate_hz;
    let frames = (clip.duration() * rate_hz) as usize;
    let (mut elbow, mut knee, mut pelvis, mut wrist) = (0.0, 0.0, 0.0, 0.0);
    for frame in 0..frames {
        let truth = clip.pose(skeleton, frame as f32 * dt);
        let solved = solver.solve(&three_point_targets(&truth), dt);
        let err = |bone: HumanBone| truth.position(bone).distance(solved.position(bone));
        elbow += (err(HumanBone::LeftLowerArm) + err(HumanBone::RightLowerArm)) / 2.0;
        knee += (err(HumanBone::LeftLowerLeg) + err(HumanBone::RightLowerLeg)) / 2.0;
        wrist += (err(HumanBone::LeftHand) + err(HumanBone::RightHand)) / 2.0;
        pelvis += err(HumanBone::Hips);
    }
    let mean = |sum: f32| 100.0 * sum / frames.max(1) as f32;
    ClipErrors { elbow_cm: mean(elbow), knee_cm: mean(knee), pelvis_cm: mean(pelvis), wrist_cm: mean(wrist), frames }
}

fn smooth(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Arm hanging down, swung forwards by `swing` radians, elbow flexed by `flex`.
fn arm_down(local: &mut [Quat; BONES], side: Side, swing: f32, flex: f32) {
    let limbs = side.limbs();
    local[limbs.upper_arm.index()] = Quat::from_rotation_x(-swing) * Quat::from_rotation_z(-side.x() * 1.35);
    local[limbs.lower_arm.index()] = Quat::from_rotation_y(-side.x() * flex);
}

/// Thigh swung by `hip` radians about X (negative = forwards), knee flexed by `knee`,
/// ankle by `ankle`.
fn legs(local: &mut [Quat; BONES], side: Side, hip: f32, knee: f32, ankle: f32) {
    let limbs = side.limbs();
    local[limbs.upper_leg.index()] = Quat::from_rotation_x(hip);
    local[limbs.lower_leg.index()] = Quat::from_rotation_x(knee);
    local[limbs.foot.index()] = Quat::from_rotation_x(ankle);
}

/// Moves the pose vertically so the lower ankle is at ankle height.
fn ground(pose: &mut BodyPose, skeleton: &Skeleton) {
    let lowest = [HumanBone::LeftFoot, HumanBone::RightFoot]
        .map(|b| pose.position(b).y)
        .into_iter()
        .fold(f32::INFINITY, f32::min);
    let shift = skeleton.proportions.ankle_height - lowest;
    pose.root.position.y += shift;
    for bone in &mut pose.bones {
        bone.position.y += shift;
    }
}
