//! Finger curls: an articulated hand in "curl space".
//!
//! OpenXR hand tracking (`XR_EXT_hand_tracking`) reports 26 joint poses per hand, 26 × 7
//! floats. Almost all of that is redundant for showing a hand to someone else: bone lengths
//! do not change, the metacarpals barely move, and each finger joint bends mostly about one
//! axis. So the wire carries [`HandCurls`] instead: per finger one splay (side-to-side) and
//! three flexion angles, 20 numbers that quantise to 20 bytes. The receiver rebuilds
//! plausible joint poses from them with [`HandCurls::to_joints`] and a canonical hand.
//!
//! # Conventions
//! Joint frames follow OpenXR: −Z points along the bone toward the fingertip, +Y out of
//! the back of the hand, +X completes a right-handed frame (for both hands). A joint's
//! *local* rotation is `parent.inverse() * child`, and every curl model is
//! `local = Quat::from_rotation_x(-flex) * Quat::from_rotation_y(±splay)`:
//! - **flex** (radians): positive curls toward the palm. A rotation by `+a` about X swings
//!   −Z toward +Y (dorsal), so flexion is a rotation by `-flex` about X.
//! - **splay** (radians, first joint only): positive moves the finger toward the thumb side
//!   (radial), for both hands and every finger; a spread hand has index +, ring and little −.
//!   On a right hand the thumb side is −X, which a `+splay` rotation about Y swings −Z to;
//!   on a left hand it is +X, so the rotation is by `-splay`.
//! - A left hand with the same curls is the right hand mirrored in X: positions get `x → -x`
//!   and rotations `(x, y, z, w) → (x, -y, -z, w)`.
//! - Twist about the bone is dropped: only where each joint sends its bone counts.
//!
//! Fingers use their three real joints (knuckle, middle, end): metacarpal → proximal →
//! intermediate → distal. The thumb's three joints are the wrist → metacarpal joint
//! (carpometacarpal, relative to the canonical thumb base), metacarpal → proximal and
//! proximal → distal. The other metacarpals' rest orientations are not sent: the
//! receiver uses the canonical hand's.

use std::ops::RangeInclusive;

use glam::{Quat, Vec3, Vec4};
use serde::{Deserialize, Serialize};

use crate::state::Pose;

/// Number of joints OpenXR reports per hand.
pub const HAND_JOINTS: usize = 26;

/// Flexion the wire can carry, radians (slight hyperextension to a tight curl).
pub const FLEX_RANGE: RangeInclusive<f32> = -0.6..=2.0;

/// Splay the wire can carry, radians (positive toward the thumb side).
pub const SPLAY_RANGE: RangeInclusive<f32> = -0.7..=0.7;

/// Which hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The left hand (thumb on +X of its joint frames).
    Left,
    /// The right hand (thumb on −X of its joint frames).
    Right,
}

impl Side {
    /// Map a rotation between this side and the right-hand model (an involution).
    fn mirror_rotation(self, q: Quat) -> Quat {
        match self {
            Self::Right => q,
            Self::Left => Quat::from_xyzw(q.x, -q.y, -q.z, q.w),
        }
    }

    /// Map a position between this side and the right-hand model (an involution).
    fn mirror_position(self, p: Vec3) -> Vec3 {
        match self {
            Self::Right => p,
            Self::Left => Vec3::new(-p.x, p.y, p.z),
        }
    }
}

/// One finger: splay (radians, positive toward the thumb side) at its first joint, and
/// three flexion angles (radians, positive curling toward the palm) from the base outward.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FingerCurl {
    /// Side-to-side rotation at the first joint, within [`SPLAY_RANGE`].
    pub splay: f32,
    /// Flexion at the three joints from the base outward, each within [`FLEX_RANGE`].
    pub flex: [f32; 3],
}

/// Five fingers' curls: thumb, index, middle, ring, little.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct HandCurls {
    /// Thumb, index, middle, ring, little.
    pub fingers: [FingerCurl; 5],
}

/// Index of the palm joint.
const PALM: usize = 0;
/// Index of the wrist joint.
const WRIST: usize = 1;
/// Index of the thumb in [`HandCurls::fingers`].
const THUMB: usize = 0;
/// First (metacarpal) joint of each finger in OpenXR order.
const FIRST_JOINT: [usize; 5] = [2, 6, 11, 16, 21];
/// The middle finger's metacarpal joint (the palm joint sits halfway along it).
const MIDDLE_METACARPAL: usize = 11;

/// Canonical geometry of one finger of a right hand, wrist-local, metres at scale 1.
struct FingerGeometry {
    /// The metacarpal joint's position relative to the wrist joint.
    base: Vec3,
    /// Rest orientation of the base frame: yaw about Y (+ toward the thumb), then pitch
    /// about X (− toward the palm), then roll about the bone.
    yaw: f32,
    pitch: f32,
    roll: f32,
    /// Bone lengths from the metacarpal joint outward (the thumb has three; the 4th is 0).
    bones: [f32; 4],
}

impl FingerGeometry {
    fn rest_rotation(&self) -> Quat {
        Quat::from_rotation_y(self.yaw) * Quat::from_rotation_x(self.pitch) * Quat::from_rotation_z(self.roll)
    }
}

/// An adult right hand, about 19 cm from the wrist joint to the middle fingertip. The thumb
/// base points forward and toward the thumb side, tilted palmward and rolled so that
/// flexing it sweeps across the palm.
const GEOMETRY: [FingerGeometry; 5] = [
    finger([-0.020, -0.012, -0.025], [0.6, -0.3, 1.0], [0.045, 0.032, 0.026, 0.0]),
    finger([-0.018, 0.0, -0.020], [0.12, 0.0, 0.0], [0.068, 0.043, 0.025, 0.021]),
    finger([0.0, 0.0, -0.020], [0.0, 0.0, 0.0], [0.070, 0.048, 0.030, 0.022]),
    finger([0.016, 0.0, -0.018], [-0.10, 0.0, 0.0], [0.066, 0.045, 0.028, 0.021]),
    finger([0.030, -0.003, -0.016], [-0.20, 0.0, 0.0], [0.062, 0.035, 0.020, 0.019]),
];

/// A [`FingerGeometry`] from its base position, `[yaw, pitch, roll]` and bone lengths.
const fn finger(base: [f32; 3], [yaw, pitch, roll]: [f32; 3], bones: [f32; 4]) -> FingerGeometry {
    FingerGeometry { base: Vec3::new(base[0], base[1], base[2]), yaw, pitch, roll, bones }
}

/// `v` clamped into `range`, NaN to 0 (0 lies in both wire ranges).
fn clamp_to(v: f32, range: &RangeInclusive<f32>) -> f32 {
    if v.is_nan() { 0.0 } else { v.clamp(*range.start(), *range.end()) }
}

/// A unit quaternion from possibly bad input: NaN, infinite or zero becomes identity.
fn unit(q: Quat) -> Quat {
    Quat::from_vec4(Vec4::from(q).normalize_or(Vec4::W))
}

/// Right-hand splay and flex of a local rotation, read from where it sends the bone
/// direction. Inverts `from_rotation_x(-flex) * from_rotation_y(splay)` exactly for splay
/// within ±π/2 and flex within ±π; twist about the bone is ignored.
fn splay_flex(local: Quat) -> (f32, f32) {
    let d = local.mul_vec3(Vec3::NEG_Z);
    ((-d.x).clamp(-1.0, 1.0).asin(), (-d.y).atan2(-d.z))
}

impl HandCurls {
    /// A flat open hand: everything zero.
    pub const OPEN: Self = Self { fingers: [FingerCurl { splay: 0.0, flex: [0.0; 3] }; 5] };

    /// A closed fist (thumb folded over the fingers), within the wire ranges.
    #[must_use]
    pub const fn fist() -> Self {
        let finger = FingerCurl { splay: 0.0, flex: [1.5, 1.7, 1.1] };
        let thumb = FingerCurl { splay: -0.3, flex: [0.5, 0.7, 0.9] };
        Self { fingers: [thumb, finger, finger, finger, finger] }
    }

    /// Blend every angle linearly toward `other`; `t` in [0, 1] (extrapolates outside).
    #[must_use]
    pub fn lerp(&self, other: &Self, t: f32) -> Self {
        let mix = |a: f32, b: f32| a + (b - a) * t;
        Self {
            fingers: std::array::from_fn(|f| {
                let (a, b) = (self.fingers[f], other.fingers[f]);
                FingerCurl { splay: mix(a.splay, b.splay), flex: std::array::from_fn(|k| mix(a.flex[k], b.flex[k])) }
            }),
        }
    }

    /// Every splay clamped into [`SPLAY_RANGE`] and flex into [`FLEX_RANGE`]; NaN becomes 0.
    #[must_use]
    pub fn clamped(&self) -> Self {
        Self {
            fingers: self.fingers.map(|f| FingerCurl {
                splay: clamp_to(f.splay, &SPLAY_RANGE),
                flex: f.flex.map(|v| clamp_to(v, &FLEX_RANGE)),
            }),
        }
    }

    /// Curls from the 26 joint poses in OpenXR order (palm, wrist, then thumb metacarpal,
    /// proximal, distal, tip, then index, middle, ring and little metacarpal, proximal,
    /// intermediate, distal, tip). Any common frame works: only relative rotations count,
    /// positions are ignored. Bad rotations (NaN, zero) read as identity, and the result is
    /// [`clamped`](Self::clamped), so it is always finite and in range.
    #[must_use]
    pub fn from_joints(joints: &[Pose; HAND_JOINTS], side: Side) -> Self {
        let rot = |i: usize| side.mirror_rotation(unit(joints[i].rotation));
        let mut curls = Self::OPEN;
        for (f, finger) in curls.fingers.iter_mut().enumerate() {
            let s = FIRST_JOINT[f];
            let frames = if f == THUMB {
                [rot(WRIST) * GEOMETRY[THUMB].rest_rotation(), rot(s), rot(s + 1), rot(s + 2)]
            } else {
                [rot(s), rot(s + 1), rot(s + 2), rot(s + 3)]
            };
            let local = |k: usize| frames[k].inverse() * frames[k + 1];
            let (splay, flex0) = splay_flex(local(0));
            *finger = FingerCurl { splay, flex: [flex0, splay_flex(local(1)).1, splay_flex(local(2)).1] };
        }
        curls.clamped()
    }

    /// The 26 joint poses (OpenXR order, see [`from_joints`](Self::from_joints)) of the
    /// canonical hand bent by these curls (clamped first), placed at `wrist` (the wrist
    /// joint's pose) and scaled by `scale` (1.0 = an adult hand, about 19 cm from wrist to
    /// middle fingertip). Each tip has its distal joint's orientation; the palm joint sits
    /// halfway along the middle metacarpal.
    #[must_use]
    pub fn to_joints(&self, wrist: Pose, side: Side, scale: f32) -> [Pose; HAND_JOINTS] {
        let curls = self.clamped();
        // Build a right hand in the wrist's frame at scale 1, then mirror, scale and place it.
        let mut local = [Pose::IDENTITY; HAND_JOINTS];
        for (f, (curl, geometry)) in curls.fingers.iter().zip(&GEOMETRY).enumerate() {
            let first = Quat::from_rotation_x(-curl.flex[0]) * Quat::from_rotation_y(curl.splay);
            let f0 = geometry.rest_rotation();
            let f1 = f0 * first;
            let f2 = f1 * Quat::from_rotation_x(-curl.flex[1]);
            let f3 = f2 * Quat::from_rotation_x(-curl.flex[2]);
            // The thumb's metacarpal joint already carries the first rotation (at the wrist).
            let (orientations, count) = if f == THUMB { ([f1, f2, f3, f3, f3], 4) } else { ([f0, f1, f2, f3, f3], 5) };
            let mut position = geometry.base;
            for (j, &rotation) in orientations.iter().take(count).enumerate() {
                local[FIRST_JOINT[f] + j] = Pose::new(position, rotation);
                let length = geometry.bones.get(j).copied().unwrap_or(0.0);
                position += rotation * Vec3::new(0.0, 0.0, -length);
            }
        }
        let meta = local[MIDDLE_METACARPAL];
        local[PALM] = Pose::new((meta.position + local[MIDDLE_METACARPAL + 1].position) * 0.5, meta.rotation);
        local[WRIST] = Pose::IDENTITY;
        local.map(|joint| {
            let position = side.mirror_position(joint.position) * scale;
            let rotation = side.mirror_rotation(joint.rotation);
            Pose::new(wrist.position + wrist.rotation * position, (wrist.rotation * rotation).normalize())
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SIDES: [Side; 2] = [Side::Left, Side::Right];

    fn some_wrist() -> Pose {
        let turn = Quat::from_rotation_y(0.7) * Quat::from_rotation_x(-0.4) * Quat::from_rotation_z(0.2);
        Pose::new(Vec3::new(0.3, 1.2, -0.4), turn)
    }

    /// Largest absolute difference between any two matching angles.
    fn max_diff(a: &HandCurls, b: &HandCurls) -> f32 {
        a.fingers
            .iter()
            .zip(&b.fingers)
            .flat_map(|(x, y)| {
                std::iter::once((x.splay - y.splay).abs()).chain(x.flex.iter().zip(&y.flex).map(|(p, q)| (p - q).abs()))
            })
            .fold(0.0, f32::max)
    }

    fn round_trip(curls: &HandCurls, side: Side) -> HandCurls {
        HandCurls::from_joints(&curls.to_joints(some_wrist(), side, 1.0), side)
    }

    /// Tips by finger, thumb first.
    fn tips(joints: &[Pose; HAND_JOINTS]) -> [Vec3; 5] {
        [5, 10, 15, 20, 25].map(|i| joints[i].position)
    }

    #[test]
    fn open_and_fist_round_trip_on_both_sides() {
        for side in SIDES {
            for curls in [HandCurls::OPEN, HandCurls::fist()] {
                let back = round_trip(&curls, side);
                assert!(max_diff(&back, &curls) < 1e-3, "{side:?}: {curls:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn fist_is_within_the_ranges() {
        assert_eq!(HandCurls::fist().clamped(), HandCurls::fist());
    }

    proptest! {
        #[test]
        fn random_curls_round_trip(
            splay in prop::collection::vec(SPLAY_RANGE, 5),
            flex in prop::collection::vec(FLEX_RANGE, 15),
            left in any::<bool>(),
        ) {
            let mut curls = HandCurls::OPEN;
            for (f, finger) in curls.fingers.iter_mut().enumerate() {
                *finger = FingerCurl { splay: splay[f], flex: [flex[3 * f], flex[3 * f + 1], flex[3 * f + 2]] };
            }
            let side = if left { Side::Left } else { Side::Right };
            let back = round_trip(&curls, side);
            prop_assert!(max_diff(&back, &curls) < 1e-3, "{:?}: {:?} came back as {:?}", side, curls, back);
        }
    }

    #[test]
    fn from_joints_ignores_a_rigid_motion_of_the_hand() {
        let curls = HandCurls::fist().lerp(&HandCurls::OPEN, 0.4);
        for side in SIDES {
            let joints = curls.to_joints(Pose::IDENTITY, side, 1.0);
            let turn = Quat::from_axis_angle(Vec3::new(1.0, 2.0, -0.5).normalize(), 2.1);
            let shift = Vec3::new(-1.0, 0.5, 3.0);
            let moved = joints.map(|j| Pose::new(turn * j.position + shift, turn * j.rotation));
            let (a, b) = (HandCurls::from_joints(&joints, side), HandCurls::from_joints(&moved, side));
            assert!(max_diff(&a, &b) < 1e-4, "{side:?}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn bone_lengths_scale_with_the_hand() {
        let small = HandCurls::fist().to_joints(some_wrist(), Side::Right, 1.0);
        let large = HandCurls::fist().to_joints(some_wrist(), Side::Right, 1.5);
        for (f, &first) in FIRST_JOINT.iter().enumerate() {
            let last = if f == THUMB { first + 3 } else { first + 4 };
            for j in first..last {
                let a = small[j].position.distance(small[j + 1].position);
                let b = large[j].position.distance(large[j + 1].position);
                assert!(a > 0.01 && (b - 1.5 * a).abs() < 1e-5, "joint {j}: {a} at 1.0, {b} at 1.5");
            }
        }
        let open = HandCurls::OPEN.to_joints(some_wrist(), Side::Right, 1.0);
        let reach = open[WRIST].position.distance(open[15].position);
        assert!((reach - 0.19).abs() < 0.005, "wrist to middle tip {reach}");
    }

    #[test]
    fn open_fingers_point_ahead_and_a_fist_pulls_them_in() {
        for side in SIDES {
            let open = tips(&HandCurls::OPEN.to_joints(Pose::IDENTITY, side, 1.0));
            let fist = tips(&HandCurls::fist().to_joints(Pose::IDENTITY, side, 1.0));
            for (f, (o, c)) in open.iter().zip(&fist).enumerate() {
                assert!(o.z < -0.05, "{side:?} finger {f}: open tip {o}");
                assert!(c.length() < o.length() - 0.02, "{side:?} finger {f}: fist {c} vs open {o}");
            }
        }
    }

    #[test]
    fn signs_mean_toward_the_palm_and_toward_the_thumb() {
        let mut bent = HandCurls::OPEN;
        bent.fingers[1] = FingerCurl { splay: 0.3, flex: [0.5, 0.0, 0.0] };
        for (side, thumb_side_x) in [(Side::Right, -1.0), (Side::Left, 1.0)] {
            let open = tips(&HandCurls::OPEN.to_joints(Pose::IDENTITY, side, 1.0));
            let moved = tips(&bent.to_joints(Pose::IDENTITY, side, 1.0));
            assert!(moved[1].y < open[1].y - 0.01, "{side:?}: flex should move the tip palmward (−Y)");
            assert!((moved[1].x - open[1].x) * thumb_side_x > 0.01, "{side:?}: splay should move the tip thumbward");
        }
    }

    #[test]
    fn left_is_the_right_hand_mirrored_in_x() {
        let curls = HandCurls::fist().lerp(&HandCurls::OPEN, 0.3);
        let left = curls.to_joints(Pose::IDENTITY, Side::Left, 1.0);
        let right = curls.to_joints(Pose::IDENTITY, Side::Right, 1.0);
        for (i, (l, r)) in left.iter().zip(&right).enumerate() {
            assert!(l.position.distance(Vec3::new(-r.position.x, r.position.y, r.position.z)) < 1e-6, "joint {i}");
            let mirrored = Quat::from_xyzw(r.rotation.x, -r.rotation.y, -r.rotation.z, r.rotation.w);
            assert!(l.rotation.dot(mirrored).abs() > 1.0 - 1e-6, "joint {i}");
        }
    }

    #[test]
    fn clamped_bounds_values_and_zeroes_nan() {
        let mut wild = HandCurls::OPEN;
        wild.fingers[0] = FingerCurl { splay: f32::NAN, flex: [f32::NAN, 9.0, -9.0] };
        wild.fingers[4] = FingerCurl { splay: -5.0, flex: [f32::INFINITY, 1.0, 0.5] };
        let tame = wild.clamped();
        assert_eq!(tame.fingers[0], FingerCurl { splay: 0.0, flex: [0.0, *FLEX_RANGE.end(), *FLEX_RANGE.start()] });
        assert_eq!(tame.fingers[4], FingerCurl { splay: *SPLAY_RANGE.start(), flex: [*FLEX_RANGE.end(), 1.0, 0.5] });
    }

    #[test]
    fn nan_rotations_give_finite_curls() {
        let mut joints = HandCurls::fist().to_joints(some_wrist(), Side::Left, 1.0);
        for i in [WRIST, 3, 8, 14, 22] {
            joints[i].rotation = Quat::from_xyzw(f32::NAN, 0.0, 0.0, f32::NAN);
        }
        joints[19].rotation = Quat::from_xyzw(0.0, 0.0, 0.0, 0.0);
        let curls = HandCurls::from_joints(&joints, Side::Left);
        assert_eq!(curls, curls.clamped());
        assert!(curls.fingers.iter().all(|f| f.splay.is_finite() && f.flex.iter().all(|v| v.is_finite())));
    }
}
