//! Full-body IK properties (proptest) and accuracy on synthetic motion.

#![allow(clippy::unwrap_used)]

use glam::{EulerRot, Quat, Vec3};
use nexus_avatar::ik::{IkConfig, IkSolver, IkTargets};
use nexus_avatar::motion::{Clip, evaluate};
use nexus_avatar::pose::Pose;
use nexus_avatar::skeleton::{HumanBone, Side, Skeleton};
use proptest::prelude::*;

fn vec3(range: f32) -> impl Strategy<Value = Vec3> {
    (-range..range, -range..range, -range..range).prop_map(|(x, y, z)| Vec3::new(x, y, z))
}

fn rotation() -> impl Strategy<Value = Quat> {
    (-3.2f32..3.2, -1.5f32..1.5, -3.2f32..3.2).prop_map(|(a, b, c)| Quat::from_euler(EulerRot::YXZ, a, b, c))
}

/// A head at a plausible place (standing to sitting, any yaw, pitch ±70°, some roll).
fn head() -> impl Strategy<Value = Pose> {
    (vec3(2.0), 0.9f32..1.75, -3.2f32..3.2, -1.2f32..1.2, -0.4f32..0.4).prop_map(|(p, y, yaw, pitch, roll)| {
        Pose::new(Vec3::new(p.x, y, p.z), Quat::from_euler(EulerRot::YXZ, yaw, pitch, roll))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn solved_bodies_are_valid_and_rigid(
        height in 1.4f32..2.0,
        head in head(),
        left in vec3(1.0), right in vec3(1.0),
        left_rot in rotation(), right_rot in rotation(),
        frames in 1usize..6,
    ) {
        let skeleton = Skeleton::from_height(height);
        let mut solver = IkSolver::new(skeleton.clone(), IkConfig::default());
        let targets = IkTargets::three_point(
            head,
            Pose::new(head.position + left, left_rot),
            Pose::new(head.position + right, right_rot),
        );
        let mut body = solver.solve(&targets, 1.0 / 90.0);
        for _ in 1..frames {
            body = solver.solve(&targets, 1.0 / 90.0);
        }
        prop_assert!(body.is_valid(), "NaN or non-unit rotation");

        // Bone lengths are the skeleton's.
        for bone in HumanBone::ALL {
            if let Some(parent) = bone.parent() {
                let length = body.position(bone).distance(body.position(parent));
                let rest = skeleton.offset(bone).length();
                prop_assert!((length - rest).abs() < 1e-4, "{} is {length} long, rest {rest}", bone.name());
            }
        }

        // The head target is met.
        let eyes = (body.position(HumanBone::LeftEye) + body.position(HumanBone::RightEye)) / 2.0;
        prop_assert!(eyes.distance(head.position) < 1e-3, "eyes {eyes} vs {}", head.position);

        // Hands: reachable targets within 1 mm; others approached along the line.
        for (side, target) in [(Side::Left, targets.left_hand.unwrap()), (Side::Right, targets.right_hand.unwrap())] {
            let limbs = side.limbs();
            let shoulder = body.position(limbs.upper_arm);
            let upper = skeleton.offset(limbs.lower_arm).length();
            let lower = skeleton.offset(limbs.hand).length();
            let distance = shoulder.distance(target.position);
            let hand = body.position(limbs.hand);
            if distance <= (upper + lower) * (1.0 - 1e-4) && distance >= (upper - lower).abs() * 1.001 {
                prop_assert!(hand.distance(target.position) < 1e-3, "{side:?} hand missed by {}", hand.distance(target.position));
            } else if distance > upper + lower {
                let along = (hand - shoulder).normalize().dot((target.position - shoulder).normalize());
                prop_assert!(along > 0.9999, "{side:?} hand off the line to the target ({along})");
                prop_assert!((hand.distance(shoulder) - (upper + lower)).abs() < 1e-3);
            }
            // The hand takes the target's rotation.
            let expected = target.rotation * nexus_avatar::ik::wrist_to_hand_bone(side);
            let alignment = body.get(limbs.hand).rotation.dot(expected).abs();
            prop_assert!(alignment > 1.0 - 1e-6, "{side:?} hand rotation off ({alignment})");
        }
    }

    #[test]
    fn garbage_input_never_yields_nan(
        x in prop::num::f32::ANY, y in prop::num::f32::ANY, w in prop::num::f32::ANY, dt in prop::num::f32::ANY,
    ) {
        let mut solver = IkSolver::new(Skeleton::from_height(1.7), IkConfig::default());
        let bad = Pose::new(Vec3::new(x, y, 0.0), Quat::from_xyzw(0.0, w, 0.0, w));
        let body = solver.solve(&IkTargets::three_point(bad, bad, bad), dt);
        prop_assert!(body.is_valid());
        let body = solver.solve(&IkTargets::head(Pose::at(Vec3::new(0.0, 1.6, 0.0))), dt);
        prop_assert!(body.is_valid());
    }
}

#[test]
fn feet_stay_planted_then_step_when_the_body_walks_away() {
    let mut solver = IkSolver::new(Skeleton::from_height(1.7), IkConfig::default());
    let dt = 1.0 / 90.0;
    let at = |z: f32| IkTargets::head(Pose::at(Vec3::new(0.0, 1.6, z)));
    let first = solver.solve(&at(0.0), dt);
    let foot = first.position(HumanBone::LeftFoot);
    // Small sway: the feet don't move.
    for i in 0..30 {
        let body = solver.solve(&at(0.03 * (i as f32 * 0.03).sin()), dt);
        assert!(body.position(HumanBone::LeftFoot).distance(foot) < 1e-4);
    }
    // Walk 1.5 m: both feet follow, lifting off the ground on the way.
    let mut highest: f32 = 0.0;
    for i in 0..300 {
        let body = solver.solve(&at(-1.5 * (i as f32 / 200.0).min(1.0)), dt);
        highest = highest.max(body.position(HumanBone::LeftFoot).y);
    }
    let body = solver.solve(&at(-1.5), dt);
    for bone in [HumanBone::LeftFoot, HumanBone::RightFoot] {
        assert!((body.position(bone).z + 1.5).abs() < 0.2, "{} left behind at {}", bone.name(), body.position(bone));
    }
    assert!(highest > foot.y + 0.03, "feet lift when stepping");
}

#[test]
fn crouching_bends_the_knees_and_keeps_feet_on_the_ground() {
    let mut solver = IkSolver::new(Skeleton::from_height(1.7), IkConfig::default());
    let standing = solver.solve(&IkTargets::head(Pose::at(Vec3::new(0.0, 1.6, 0.0))), 1.0 / 90.0);
    let mut body = standing.clone();
    for _ in 0..30 {
        body = solver.solve(&IkTargets::head(Pose::at(Vec3::new(0.0, 1.1, 0.0))), 1.0 / 90.0);
    }
    let ankle = body.position(HumanBone::LeftFoot);
    assert!((ankle.y - standing.position(HumanBone::LeftFoot).y).abs() < 1e-3, "feet stay down");
    assert!(body.position(HumanBone::Hips).y < standing.position(HumanBone::Hips).y - 0.4);
    // Knees go forwards (the avatar faces −Z in the world here).
    assert!(body.position(HumanBone::LeftLowerLeg).z < ankle.z - 0.1, "knees forwards");
}

#[test]
fn accuracy_on_synthetic_motion() {
    let skeleton = Skeleton::from_height(1.72);
    for clip in Clip::ALL {
        let e = evaluate(clip, &skeleton, 90.0);
        eprintln!(
            "{:<7} elbow {:5.1} cm  knee {:5.1} cm  pelvis {:5.1} cm  wrist {:4.2} cm",
            clip.name(),
            e.elbow_cm,
            e.knee_cm,
            e.pelvis_cm,
            e.wrist_cm
        );
        assert!(e.wrist_cm < 0.1, "{}: wrists are targets", clip.name());
        assert!(e.elbow_cm < 5.0 && e.knee_cm < 20.0 && e.pelvis_cm < 15.0, "{}: {e:?}", clip.name());
    }
}
