//! Full-body IK from three-point tracking (head + both hands), with hips and feet
//! trackers used when present.
//!
//! One [`IkSolver`] per avatar, called once per frame with the tracked [`IkTargets`]:
//!
//! 1. **Head**: the HMD pose (eye centre, OpenXR convention) gives the head bone's pose.
//! 2. **Body yaw** follows the head's yaw with a lag and a limit, like shoulders that turn
//!    only when the head has turned far enough.
//! 3. **Pelvis estimation**: the hips hang a spine's length below the neck, drop with it
//!    when the user crouches (and slide back for balance), and stay over the feet when
//!    the user leans.
//! 4. **Spine**: the head's twist is spread over spine, chest, upper chest and neck; the
//!    chain bends towards the neck.
//! 5. **Arms**: the clavicle shrugs towards high or far targets; an analytic two-bone
//!    solve ([`two_bone`]) places the elbow, bending towards an elbow hint (down, back,
//!    out); the hand takes the controller's or tracked wrist's rotation.
//! 6. **Legs** ([`legs`]): feet stay planted and step when the body moves or turns away
//!    from them; two-bone legs with knees towards the toes; feet flat on the ground.
//! 7. **Fingers** ([`fingers`]) from the 26 OpenXR hand joints, or from controller
//!    buttons through a synthetic hand shape.
//!
//! Remote avatars run the same solver on the poses that arrive over the network.
//! [`calibrate`] turns a T-pose measurement into body [`Proportions`].

pub mod fingers;
pub mod legs;
pub mod two_bone;

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

use crate::pose::Pose;
use crate::skeleton::{BONES, HumanBone, Proportions, Side, Skeleton};

pub use fingers::FingerInput;
pub use legs::StepConfig;

use legs::{Foot, angle_difference};

/// OpenXR poses look down −Z; the avatar's bones face +Z. A head bone's world rotation is
/// the HMD rotation times this half turn about Y.
pub const OPENXR_TO_MODEL: Quat = Quat::from_xyzw(0.0, 1.0, 0.0, 0.0);

/// The rotation from an OpenXR wrist frame (−Z along the fingers, +Y out of the back of
/// the hand) to the avatar's hand bone on `side` (fingers along ±X in the T-pose).
#[must_use]
pub fn wrist_to_hand_bone(side: Side) -> Quat {
    Quat::from_rotation_y(side.x() * std::f32::consts::FRAC_PI_2)
}

/// What the solver is given each frame. Poses are in tracking space (metres, Y up, the
/// floor at [`IkConfig::ground`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IkTargets {
    /// The HMD: the point between the eyes, looking down −Z.
    pub head: Pose,
    /// Left wrist (OpenXR wrist-joint frame), when tracked.
    pub left_hand: Option<Pose>,
    /// Right wrist, when tracked.
    pub right_hand: Option<Pose>,
    /// A pelvis tracker at the hip joint centre (looking down −Z), when present.
    pub hips: Option<Pose>,
    /// Left ankle tracker (looking down −Z), when present.
    pub left_foot: Option<Pose>,
    /// Right ankle tracker, when present.
    pub right_foot: Option<Pose>,
    /// Left fingers.
    pub left_fingers: FingerInput,
    /// Right fingers.
    pub right_fingers: FingerInput,
}

impl IkTargets {
    /// Head only: arms hang, legs stand.
    #[must_use]
    pub fn head(head: Pose) -> Self {
        Self {
            head,
            left_hand: None,
            right_hand: None,
            hips: None,
            left_foot: None,
            right_foot: None,
            left_fingers: FingerInput::None,
            right_fingers: FingerInput::None,
        }
    }

    /// Head and both hands: three-point tracking.
    #[must_use]
    pub fn three_point(head: Pose, left: Pose, right: Pose) -> Self {
        Self { left_hand: Some(left), right_hand: Some(right), ..Self::head(head) }
    }

    fn hand(&self, side: Side) -> Option<Pose> {
        match side {
            Side::Left => self.left_hand,
            Side::Right => self.right_hand,
        }
        .and_then(sanitize)
    }

    fn foot(&self, side: Side) -> Option<Pose> {
        match side {
            Side::Left => self.left_foot,
            Side::Right => self.right_foot,
        }
        .and_then(sanitize)
    }

    fn fingers(&self, side: Side) -> &FingerInput {
        match side {
            Side::Left => &self.left_fingers,
            Side::Right => &self.right_fingers,
        }
    }
}

/// Solver tuning; the defaults suit an adult standing or sitting user.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IkConfig {
    /// Floor height in tracking space.
    pub ground: f32,
    /// Most the head may be turned from the body before the body turns (radians).
    pub body_turn_limit: f32,
    /// Rate at which the body's yaw catches up with the head's (1/s).
    pub body_follow: f32,
    /// World-yaw share of the head's turn taken by spine, chest and upper chest.
    pub spine_twist: [f32; 3],
    /// Share of the head's rotation taken by the neck.
    pub neck_share: f32,
    /// Share of the spine's bend taken by the pelvis's tilt.
    pub pelvis_tilt: f32,
    /// How far the hips slide back per metre of crouch, for balance.
    pub crouch_back: f32,
    /// Horizontal neck-to-feet offset (metres) below which the hips stay under the neck.
    pub lean_dead_zone: f32,
    /// Share of a lean beyond the dead zone that the hips keep back over the feet.
    pub lean_hips: f32,
    /// Most the clavicle turns towards a high or far hand target (radians).
    pub shrug: f32,
    /// Stepping.
    pub step: StepConfig,
}

impl Default for IkConfig {
    fn default() -> Self {
        Self {
            ground: 0.0,
            body_turn_limit: 0.75,
            body_follow: 1.5,
            spine_twist: [0.15, 0.3, 0.5],
            neck_share: 0.5,
            pelvis_tilt: 0.3,
            crouch_back: 0.35,
            lean_dead_zone: 0.03,
            lean_hips: 0.85,
            shrug: 0.3,
            step: StepConfig::default(),
        }
    }
}

/// A solved body: every bone's world pose, and the model root (on the floor under the
/// hips, turned to the body's yaw) that skinning and local rotations refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyPose {
    /// The model origin in the world.
    pub root: Pose,
    /// World pose of each bone, indexed by [`HumanBone::index`].
    pub bones: [Pose; BONES],
}

impl BodyPose {
    /// The world pose of `bone`.
    #[must_use]
    pub fn get(&self, bone: HumanBone) -> &Pose {
        &self.bones[bone.index()]
    }

    /// The world position of `bone`'s joint.
    #[must_use]
    pub fn position(&self, bone: HumanBone) -> Vec3 {
        self.bones[bone.index()].position
    }

    /// Rotations relative to each bone's parent (the hips' relative to the root).
    #[must_use]
    pub fn local_rotations(&self) -> [Quat; BONES] {
        Skeleton::local_rotations(&self.bones, &self.root)
    }

    /// Whether every position is finite and every rotation a unit quaternion.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.bones.iter().all(|b| b.position.is_finite() && b.rotation.is_normalized())
    }
}

/// Measures proportions from a T-pose: the HMD at eye height, both wrists out to the side.
/// The height comes from the eye height, the arms from the wrist-to-wrist distance.
#[must_use]
pub fn calibrate(head: &Pose, left_wrist: &Pose, right_wrist: &Pose, ground: f32) -> Proportions {
    let reference = Proportions::from_height(1.0);
    let height = ((head.position.y - ground) / reference.eye_height()).clamp(0.9, 2.3);
    let proportions = Proportions::from_height(height);
    let wrists = left_wrist.position.distance(right_wrist.position);
    let wrist_span_now = proportions.arm_span() - 2.0 * proportions.hand_length();
    let scale = wrists / wrist_span_now.max(1e-3);
    // The fingertip span the wrists imply, hands scaled with the arms.
    proportions.with_arm_span(proportions.arm_span() * scale)
}

/// The full-body solver for one avatar. It keeps a little state between frames: the
/// body's yaw, the planted feet and the head's velocity.
#[derive(Debug, Clone)]
pub struct IkSolver {
    skeleton: Skeleton,
    config: IkConfig,
    state: Option<State>,
}

#[derive(Debug, Clone)]
struct State {
    body_yaw: f32,
    feet: [Foot; 2],
    /// Smoothed horizontal velocity of the head: the user's locomotion, which the feet
    /// follow and which tells leaning (standing still) from walking.
    velocity: Vec3,
    head: Pose,
}

impl IkSolver {
    /// A solver for `skeleton`.
    #[must_use]
    pub fn new(skeleton: Skeleton, config: IkConfig) -> Self {
        Self { skeleton, config, state: None }
    }

    /// The skeleton being solved.
    #[must_use]
    pub fn skeleton(&self) -> &Skeleton {
        &self.skeleton
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &IkConfig {
        &self.config
    }

    /// Forgets the planted feet and the body's yaw (after a teleport, say).
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Solves one frame, `dt` seconds after the previous one. Non-finite inputs are
    /// ignored (a lost hand hangs, a lost head keeps its last pose), so the output is
    /// always a valid pose.
    pub fn solve(&mut self, targets: &IkTargets, dt: f32) -> BodyPose {
        let dt = if dt.is_finite() { dt.clamp(0.0, 0.25) } else { 0.0 };
        let skeleton = &self.skeleton;
        let p = skeleton.proportions;
        let config = self.config;
        let head_xr = sanitize(targets.head)
            .or_else(|| self.state.as_ref().map(|s| s.head))
            .unwrap_or_else(|| Pose::at(Vec3::new(0.0, config.ground + p.eye_height(), 0.0)));

        // 1. Head bone from the eye centre.
        let head_rot = (head_xr.rotation * OPENXR_TO_MODEL).normalize();
        let eye_centre = Vec3::new(0.0, p.eye_height_in_head, p.eye_depth_in_head);
        let head_pos = head_xr.position - head_rot * eye_centre;
        let head_yaw = facing_yaw(head_rot);

        // 2. Body yaw: follows the head, lagging, never more than the limit behind.
        let hips_tracker = targets.hips.and_then(sanitize);
        let state = self.state.get_or_insert_with(|| State {
            body_yaw: head_yaw,
            feet: [Foot::planted(Vec3::NAN, head_yaw); 2],
            velocity: Vec3::ZERO,
            head: head_xr,
        });
        if dt > 0.0 {
            let moved = (head_xr.position - state.head.position) * Vec3::new(1.0, 0.0, 1.0) / dt;
            // ~0.1 s time constant; a jump (teleport) is not a velocity.
            if moved.length() < 10.0 {
                state.velocity = state.velocity.lerp(moved, 1.0 - (-dt / 0.1).exp());
            }
        }
        state.head = head_xr;
        let mut body_yaw = state.body_yaw;
        let behind = angle_difference(head_yaw, body_yaw);
        body_yaw += behind * (1.0 - (-config.body_follow * dt).exp());
        let behind = angle_difference(head_yaw, body_yaw);
        if behind.abs() > config.body_turn_limit {
            body_yaw = head_yaw - behind.signum() * config.body_turn_limit;
        }
        if let Some(hips) = hips_tracker {
            body_yaw = facing_yaw(hips.rotation * OPENXR_TO_MODEL);
        }
        state.body_yaw = body_yaw;
        let body = Quat::from_rotation_y(body_yaw);
        let forward = body * Vec3::Z;
        let twist = angle_difference(head_yaw, body_yaw);

        // 3. Pelvis estimation below the neck.
        let neck_rot = body.slerp(head_rot, config.neck_share);
        let neck_pos = head_pos - neck_rot * skeleton.offset(HumanBone::Head);
        let spine_rest = [HumanBone::Spine, HumanBone::Chest, HumanBone::UpperChest, HumanBone::Neck]
            .iter()
            .map(|&b| skeleton.offset(b))
            .sum::<Vec3>();
        let spine_len = spine_rest.length();
        let standing_neck = config.ground + skeleton.offset(HumanBone::Hips).y + spine_rest.y;
        let crouch = (standing_neck - neck_pos.y).max(0.0);
        let flat = Vec3::new(1.0, 0.0, 1.0);
        let feet_centre = if state.feet[0].planted.is_finite() {
            (state.feet[0].planted + state.feet[1].planted) * 0.5
        } else {
            neck_pos
        };
        // Leaning: a neck ahead of the planted feet is mostly the upper body bending, so
        // the hips stay back over the feet — but only when standing still: while walking
        // the feet trail the body and the hips go with the neck.
        let lean = (neck_pos - feet_centre) * flat;
        let lean_excess = lean * ((lean.length() - config.lean_dead_zone).max(0.0) / lean.length().max(1e-6));
        let still = (1.0 - state.velocity.length() / 0.6).clamp(0.0, 1.0);
        let horizontal = (-lean_excess * config.lean_hips * still - forward * crouch * config.crouch_back)
            .clamp_length_max(0.95 * spine_len);
        let drop = (spine_len * spine_len - horizontal.length_squared()).max(0.0).sqrt();
        let mut hips_pos = neck_pos + horizontal - Vec3::Y * drop;
        if let Some(hips) = hips_tracker {
            hips_pos = hips.position;
        }

        // 4. Spine: bend towards the neck, twist spread up the chain.
        let spine_dir = (neck_pos - hips_pos).try_normalize().unwrap_or(Vec3::Y);
        let swing = Quat::from_rotation_arc((body * spine_rest).normalize_or(Vec3::Y), spine_dir);
        let mut rotations = [body; BONES];
        let hips_rot = match hips_tracker {
            Some(hips) => (hips.rotation * OPENXR_TO_MODEL).normalize(),
            None => (Quat::IDENTITY.slerp(swing, config.pelvis_tilt) * body).normalize(),
        };
        rotations[HumanBone::Hips.index()] = hips_rot;
        let spine_bones = [HumanBone::Spine, HumanBone::Chest, HumanBone::UpperChest];
        for (bone, share) in spine_bones.into_iter().zip(config.spine_twist) {
            rotations[bone.index()] = (swing * Quat::from_rotation_y(body_yaw + share * twist)).normalize();
        }
        let upper_chest = rotations[HumanBone::UpperChest.index()];
        rotations[HumanBone::Neck.index()] = upper_chest.slerp(head_rot, config.neck_share).normalize();
        for bone in [HumanBone::Head, HumanBone::LeftEye, HumanBone::RightEye, HumanBone::Jaw] {
            rotations[bone.index()] = head_rot;
        }
        // Every bone starts turned with the body; the stages below set the limbs.
        let mut root = Pose::new(hips_pos - body * skeleton.offset(HumanBone::Hips), body);
        let placed = skeleton.place(&root, &rotations);
        // The head target is met exactly: the whole body moves by what the spine missed.
        root.position += head_pos - placed[HumanBone::Head.index()].position;
        hips_pos = root.transform_point(skeleton.offset(HumanBone::Hips));
        let placed = skeleton.place(&root, &rotations);

        // 5. Arms.
        for side in Side::BOTH {
            self::arm(skeleton, &config, side, targets.hand(side), body, &placed, &mut rotations);
        }

        // 6. Legs: plant, step, solve.
        let ankle_y = config.ground + p.ankle_height;
        let desired = |side: Side| {
            let under = hips_pos + body * Vec3::new(side.x() * p.hip_half_width, 0.0, 0.0);
            let lead = state.velocity * config.step.lead;
            Vec3::new(under.x + lead.x, ankle_y, under.z + lead.z)
        };
        let wanted = [desired(Side::Left), desired(Side::Right)];
        let leg = p.leg_length();
        for (foot, want) in state.feet.iter_mut().zip(wanted) {
            if !foot.planted.is_finite() {
                *foot = Foot::planted(want, body_yaw);
            }
            foot.advance(&config.step, dt);
        }
        let urges = [0, 1].map(|i| state.feet[i].urge(wanted[i], body_yaw, &config.step, leg));
        for i in 0..2 {
            // A foot far beyond stepping range (a teleport, a lost frame) is put down there.
            if urges[i] > 6.0 {
                state.feet[i] = Foot::planted(wanted[i], body_yaw);
            }
        }
        if !state.feet.iter().any(Foot::stepping) {
            let i = if urges[0] >= urges[1] { 0 } else { 1 };
            if urges[i] >= 1.0 {
                state.feet[i].start_step(wanted[i], body_yaw);
            }
        }
        let feet = state.feet;
        for (i, side) in Side::BOTH.into_iter().enumerate() {
            let (ankle, yaw) = match targets.foot(side) {
                Some(tracker) => (tracker.position, facing_yaw(tracker.rotation * OPENXR_TO_MODEL)),
                None => feet[i].current(&config.step, leg),
            };
            self::leg(skeleton, side, ankle, yaw, body, &placed, &mut rotations);
        }

        // 7. Fingers.
        let hands = skeleton.place(&root, &rotations);
        for side in Side::BOTH {
            let hand = hands[side.limbs().hand.index()];
            fingers::pose(skeleton, side, &hand, targets.fingers(side), &mut rotations);
        }

        BodyPose { bones: skeleton.place(&root, &rotations), root }
    }
}

/// Arm: clavicle shrug, two-bone solve, hand rotation.
fn arm(
    skeleton: &Skeleton,
    config: &IkConfig,
    side: Side,
    target: Option<Pose>,
    body: Quat,
    placed: &[Pose; BONES],
    rotations: &mut [Quat; BONES],
) {
    let limbs = side.limbs();
    let upper_chest = rotations[HumanBone::UpperChest.index()];
    let shoulder = placed[limbs.shoulder.index()].position;
    let upper = skeleton.offset(limbs.lower_arm).length();
    let lower = skeleton.offset(limbs.hand).length();
    let (wrist, hand_rot) = match target {
        Some(t) => (t.position, (t.rotation * wrist_to_hand_bone(side)).normalize()),
        None => {
            // Hanging at the side, back of the hand outwards.
            let down = body * Vec3::new(side.x() * 0.12, -1.0, 0.05).normalize();
            let start = shoulder + upper_chest * skeleton.offset(limbs.upper_arm);
            let rest_dir = Vec3::X * side.x();
            let rot = two_bone::aim(rest_dir, Vec3::Y, down, body * rest_dir);
            (start + down * (upper + lower) * 0.97, rot)
        }
    };

    // Clavicle: up towards high targets, forwards towards far ones.
    let reach = (wrist - shoulder).try_normalize().unwrap_or(Vec3::NEG_Y);
    let far = ((wrist - shoulder).length() / (upper + lower)).clamp(0.0, 1.2);
    let raise = ((reach.y - 0.3) / 0.7).clamp(0.0, 1.0) * config.shrug;
    let protract = ((reach.dot(body * Vec3::Z) - 0.5) / 0.5).clamp(0.0, 1.0) * (far - 0.8).max(0.0) * 2.0;
    let clavicle = (upper_chest
        * Quat::from_rotation_z(side.x() * raise)
        * Quat::from_rotation_y(-side.x() * protract.min(1.0) * config.shrug * 0.6))
    .normalize();
    rotations[limbs.shoulder.index()] = clavicle;
    let root = shoulder + clavicle * skeleton.offset(limbs.upper_arm);

    // Elbow hint: down, back and out — further out as the hand rises above the shoulder.
    let out = side.x() * (0.15 + 1.2 * ((wrist.y - root.y) / (upper + lower)).max(0.0));
    let pole = body * Vec3::new(out, -1.0, -0.35).normalize();
    let hint = (root + wrist) * 0.5 + pole * 0.3;
    let chain = two_bone::solve(root, upper, lower, wrist, hint, body * Vec3::NEG_Y);
    let rest_dir = Vec3::X * side.x();
    let rest_hinge = Vec3::Y * side.x();
    rotations[limbs.upper_arm.index()] = two_bone::aim(rest_dir, rest_hinge, chain.mid - root, chain.hinge);
    rotations[limbs.lower_arm.index()] = two_bone::aim(rest_dir, rest_hinge, chain.end - chain.mid, chain.hinge);
    rotations[limbs.hand.index()] = hand_rot;
}

/// Leg: two-bone solve to the ankle, knee towards the toes, foot flat.
fn leg(
    skeleton: &Skeleton,
    side: Side,
    ankle: Vec3,
    yaw: f32,
    body: Quat,
    placed: &[Pose; BONES],
    rotations: &mut [Quat; BONES],
) {
    let limbs = side.limbs();
    let hips = placed[HumanBone::Hips.index()];
    let root = hips.position + rotations[HumanBone::Hips.index()] * skeleton.offset(limbs.upper_leg);
    let upper = skeleton.offset(limbs.lower_leg).length();
    let lower = skeleton.offset(limbs.foot).length();
    let toes = Quat::from_rotation_y(yaw) * Vec3::Z;
    let hint = (root + ankle) * 0.5 + (toes + body * Vec3::Z) * 0.4;
    let chain = two_bone::solve(root, upper, lower, ankle, hint, body * Vec3::Z);
    let (rest_dir, rest_hinge) = (Vec3::NEG_Y, Vec3::NEG_X);
    rotations[limbs.upper_leg.index()] = two_bone::aim(rest_dir, rest_hinge, chain.mid - root, chain.hinge);
    rotations[limbs.lower_leg.index()] = two_bone::aim(rest_dir, rest_hinge, chain.end - chain.mid, chain.hinge);
    let foot = legs::flat(yaw);
    rotations[limbs.foot.index()] = foot;
    rotations[limbs.toes.index()] = foot;
}

/// The yaw (about +Y, 0 = facing +Z) of a model-space rotation's facing: its +Z projected
/// on the floor, or its +Y when +Z is near vertical (looking straight down or up).
#[must_use]
pub fn facing_yaw(rotation: Quat) -> f32 {
    let flat = Vec3::new(1.0, 0.0, 1.0);
    let forward = rotation * Vec3::Z * flat;
    let up = rotation * Vec3::Y * flat;
    let dir = forward + up * (1.0 - forward.length()).max(0.0);
    let dir = if dir.length_squared() > 1e-8 { dir } else { Vec3::Z };
    dir.x.atan2(dir.z)
}

/// A pose with finite parts within 10 km and a rotation normalised, or `None`.
fn sanitize(pose: Pose) -> Option<Pose> {
    // Tracking spaces are rooms, not light years: anything beyond 10 km is corrupt.
    if !pose.position.is_finite() || pose.position.abs().max_element() > 1.0e4 || !pose.rotation.is_finite() {
        return None;
    }
    // Scale by the largest component first so huge values cannot overflow the length.
    let q = pose.rotation;
    let largest = q.x.abs().max(q.y.abs()).max(q.z.abs()).max(q.w.abs());
    if largest.is_nan() || largest <= 1e-20 {
        return None;
    }
    let q = q * (1.0 / largest);
    Some(Pose::new(pose.position, q * (1.0 / q.length())))
}
