//! The 52 ARKit morph targets of the generated head, as displacement fields over the face
//! in head space (units of stature, +Z forward, +X the avatar's left): masks around
//! landmarks (mouth corners, lips, lids, brows, cheeks, nose) that move, or rotate about
//! a pivot (the jaw, the eyelids), the vertices under them.
//!
//! Eye *direction* shapes (`eyeLook*`) only move the lids a little: the eyeballs
//! themselves turn with their bones. `tongueOut` pushes the lower lip forward — the
//! generated head has no tongue.

use glam::{Quat, Vec3};

use crate::face::blend_shapes::BlendShape;

/// Landmarks of the generated face, head space, units of stature.
#[derive(Debug, Clone, Copy)]
pub struct Landmarks {
    /// Left eye centre (+X); the right is mirrored.
    pub eye: Vec3,
}

const MOUTH: Vec3 = Vec3::new(0.0, 0.027, 0.072);
const CORNER: Vec3 = Vec3::new(0.0135, 0.027, 0.066);
const UPPER_LIP: Vec3 = Vec3::new(0.0, 0.0305, 0.0705);
const LOWER_LIP: Vec3 = Vec3::new(0.0, 0.0235, 0.069);
const JAW_PIVOT: Vec3 = Vec3::new(0.0, 0.045, 0.0);

/// A smooth bump: 1 at `centre`, 0 outside the ellipsoid of semi-axes `radii`.
fn bump(u: Vec3, centre: Vec3, radii: Vec3) -> f32 {
    let r2 = ((u - centre) / radii).length_squared();
    if r2 >= 1.0 { 0.0 } else { (1.0 - r2) * (1.0 - r2) }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// How much of the lower face (below the mouth line, in front of the neck) moves with
/// the jaw.
fn lower_face(u: Vec3) -> f32 {
    let below_mouth = 1.0 - smoothstep(0.0235, 0.0285, u.y);
    let front = smoothstep(-0.005, 0.03, u.z);
    let not_neck = smoothstep(-0.03, 0.0, u.y + 0.5 * (u.z - 0.04));
    let width = 1.0 - smoothstep(0.03, 0.045, u.x.abs());
    below_mouth * front * not_neck * width
}

/// Rotation of `u` about `pivot` by `angle` around +X, as a displacement.
fn rotate_x(u: Vec3, pivot: Vec3, angle: f32) -> Vec3 {
    Quat::from_rotation_x(angle) * (u - pivot) + pivot - u
}

fn mirror(v: Vec3, sign: f32) -> Vec3 {
    Vec3::new(v.x * sign, v.y, v.z)
}

/// Upper-lid mask around the eye centred at `eye`.
fn upper_lid(u: Vec3, eye: Vec3) -> f32 {
    let d = u - eye;
    if d.z < -0.004 {
        return 0.0;
    }
    let across = 1.0 - smoothstep(0.009, 0.014, d.x.abs());
    let above = smoothstep(-0.0015, 0.0025, d.y) * (1.0 - smoothstep(0.008, 0.013, d.y));
    across * above
}

/// Lower-lid mask.
fn lower_lid(u: Vec3, eye: Vec3) -> f32 {
    let d = u - eye;
    if d.z < -0.004 {
        return 0.0;
    }
    let across = 1.0 - smoothstep(0.009, 0.014, d.x.abs());
    let below = smoothstep(-0.0015, 0.0025, -d.y) * (1.0 - smoothstep(0.006, 0.01, -d.y));
    across * below
}

/// The displacement (head space, units of stature) of a vertex at `u` under `shape`
/// at full weight.
#[must_use]
pub fn displacement(shape: BlendShape, u: Vec3, marks: &Landmarks) -> Vec3 {
    use BlendShape as S;
    let side = |left: bool| if left { 1.0 } else { -1.0 };
    let eye = |left: bool| mirror(marks.eye, side(left));
    let corner = |left: bool| mirror(CORNER, side(left));
    let corner_mask = |left: bool| bump(u, corner(left), Vec3::new(0.014, 0.012, 0.012));
    let upper = bump(u, UPPER_LIP, Vec3::new(0.018, 0.006, 0.012));
    let lower = bump(u, LOWER_LIP, Vec3::new(0.017, 0.0065, 0.012));
    let lips = bump(u, MOUTH, Vec3::new(0.02, 0.011, 0.014));
    let half = |left: bool| smoothstep(-0.004, 0.004, u.x * side(left));
    let lid = |left: bool, angle: f32| rotate_x(u, eye(left), angle) * upper_lid(u, eye(left));
    let low_lid = |left: bool, angle: f32| rotate_x(u, eye(left), angle) * lower_lid(u, eye(left));
    let brow = |left: bool, inner: bool| {
        let x = if inner { 0.009 } else { 0.03 };
        bump(u, Vec3::new(x * side(left), 0.078, if inner { 0.06 } else { 0.05 }), Vec3::new(0.016, 0.012, 0.02))
    };
    let cheek = |left: bool| bump(u, Vec3::new(0.026 * side(left), 0.05, 0.058), Vec3::new(0.02, 0.018, 0.02));
    let nose_wing = |left: bool| bump(u, Vec3::new(0.011 * side(left), 0.046, 0.074), Vec3::new(0.012, 0.012, 0.012));
    let inward = |mask: f32, amount: f32| Vec3::new(-u.x * amount, 0.0, 0.0) * mask;

    match shape {
        S::EyeBlinkLeft => lid(true, 1.25),
        S::EyeBlinkRight => lid(false, 1.25),
        S::EyeSquintLeft => lid(true, 0.15) + low_lid(true, -0.3),
        S::EyeSquintRight => lid(false, 0.15) + low_lid(false, -0.3),
        S::EyeWideLeft => lid(true, -0.3),
        S::EyeWideRight => lid(false, -0.3),
        S::EyeLookDownLeft => lid(true, 0.3),
        S::EyeLookDownRight => lid(false, 0.3),
        S::EyeLookUpLeft => lid(true, -0.2),
        S::EyeLookUpRight => lid(false, -0.2),
        S::EyeLookInLeft => Vec3::new(-0.0012, 0.0, 0.0) * upper_lid(u, eye(true)),
        S::EyeLookInRight => Vec3::new(0.0012, 0.0, 0.0) * upper_lid(u, eye(false)),
        S::EyeLookOutLeft => Vec3::new(0.0012, 0.0, 0.0) * upper_lid(u, eye(true)),
        S::EyeLookOutRight => Vec3::new(-0.0012, 0.0, 0.0) * upper_lid(u, eye(false)),
        S::JawOpen => rotate_x(u, JAW_PIVOT, 0.3) * lower_face(u),
        S::JawForward => Vec3::new(0.0, 0.0, 0.006) * lower_face(u),
        S::JawLeft => Vec3::new(0.006, 0.0, 0.0) * lower_face(u),
        S::JawRight => Vec3::new(-0.006, 0.0, 0.0) * lower_face(u),
        S::MouthClose => Vec3::new(0.0, -0.0025, 0.0) * upper + Vec3::new(0.0, 0.005, 0.0) * lower,
        S::MouthFunnel => {
            Vec3::new(0.0, 0.0, 0.006) * lips + inward(lips, 0.3) + Vec3::new(0.0, 0.002, 0.0) * upper
                - Vec3::new(0.0, 0.002, 0.0) * lower
        }
        S::MouthPucker => Vec3::new(0.0, 0.0, 0.008) * lips + inward(lips, 0.45),
        S::MouthLeft => Vec3::new(0.007, 0.0, 0.0) * lips,
        S::MouthRight => Vec3::new(-0.007, 0.0, 0.0) * lips,
        S::MouthSmileLeft => Vec3::new(0.004, 0.006, -0.003) * corner_mask(true),
        S::MouthSmileRight => Vec3::new(-0.004, 0.006, -0.003) * corner_mask(false),
        S::MouthFrownLeft => Vec3::new(0.001, -0.005, 0.0) * corner_mask(true),
        S::MouthFrownRight => Vec3::new(-0.001, -0.005, 0.0) * corner_mask(false),
        S::MouthDimpleLeft => Vec3::new(0.002, 0.0, -0.004) * corner_mask(true),
        S::MouthDimpleRight => Vec3::new(-0.002, 0.0, -0.004) * corner_mask(false),
        S::MouthStretchLeft => Vec3::new(0.005, -0.003, -0.001) * corner_mask(true),
        S::MouthStretchRight => Vec3::new(-0.005, -0.003, -0.001) * corner_mask(false),
        S::MouthRollLower => Vec3::new(0.0, 0.002, -0.004) * lower,
        S::MouthRollUpper => Vec3::new(0.0, -0.002, -0.004) * upper,
        S::MouthShrugLower => Vec3::new(0.0, 0.003, 0.002) * lower,
        S::MouthShrugUpper => Vec3::new(0.0, 0.002, 0.001) * upper,
        S::MouthPressLeft => {
            (Vec3::new(0.0, -0.0015, -0.001) * upper + Vec3::new(0.0, 0.0015, -0.001) * lower) * half(true)
        }
        S::MouthPressRight => {
            (Vec3::new(0.0, -0.0015, -0.001) * upper + Vec3::new(0.0, 0.0015, -0.001) * lower) * half(false)
        }
        S::MouthLowerDownLeft => Vec3::new(0.0, -0.005, 0.0) * lower * half(true),
        S::MouthLowerDownRight => Vec3::new(0.0, -0.005, 0.0) * lower * half(false),
        S::MouthUpperUpLeft => Vec3::new(0.0, 0.005, 0.0) * upper * half(true),
        S::MouthUpperUpRight => Vec3::new(0.0, 0.005, 0.0) * upper * half(false),
        S::BrowDownLeft => Vec3::new(-0.002, -0.004, 0.001) * (brow(true, true) + brow(true, false)).min(1.0),
        S::BrowDownRight => Vec3::new(0.002, -0.004, 0.001) * (brow(false, true) + brow(false, false)).min(1.0),
        S::BrowInnerUp => Vec3::new(0.0, 0.006, 0.0) * (brow(true, true) + brow(false, true)).min(1.0),
        S::BrowOuterUpLeft => Vec3::new(0.0, 0.005, 0.0) * brow(true, false),
        S::BrowOuterUpRight => Vec3::new(0.0, 0.005, 0.0) * brow(false, false),
        S::CheekPuff => Vec3::new(0.006, 0.0, 0.003) * cheek(true) + Vec3::new(-0.006, 0.0, 0.003) * cheek(false),
        S::CheekSquintLeft => Vec3::new(0.0, 0.004, 0.001) * cheek(true),
        S::CheekSquintRight => Vec3::new(0.0, 0.004, 0.001) * cheek(false),
        S::NoseSneerLeft => {
            Vec3::new(0.0, 0.003, 0.0) * nose_wing(true) - Vec3::new(0.0, 0.002, 0.0) * brow(true, true)
        }
        S::NoseSneerRight => {
            Vec3::new(0.0, 0.003, 0.0) * nose_wing(false) - Vec3::new(0.0, 0.002, 0.0) * brow(false, true)
        }
        S::TongueOut => Vec3::new(0.0, -0.002, 0.004) * lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_moves_something_and_only_near_the_face() {
        let marks = Landmarks { eye: Vec3::new(0.019, 0.066, 0.05) };
        let probes: Vec<Vec3> = (0..40)
            .flat_map(|i| (0..40).map(move |j| Vec3::new(-0.05 + i as f32 * 0.0025, -0.01 + j as f32 * 0.0025, 0.0)))
            .map(|p| p + Vec3::new(0.0, 0.0, 0.055 + 0.018 * (1.0 - (p.x / 0.05).powi(2)).max(0.0)))
            .collect();
        for shape in BlendShape::ALL {
            let moved = probes.iter().map(|&u| displacement(shape, u, &marks).length()).fold(0.0, f32::max);
            assert!(moved > 0.0005, "{} moves nothing", shape.name());
            assert!(moved < 0.03, "{} moves too much", shape.name());
            // The back of the head never moves.
            assert_eq!(displacement(shape, Vec3::new(0.0, 0.08, -0.05), &marks), Vec3::ZERO, "{}", shape.name());
        }
        // Jaw opening moves the chin down.
        assert!(displacement(BlendShape::JawOpen, Vec3::new(0.0, 0.002, 0.06), &marks).y < -0.005);
        // Smiling lifts the left corner only.
        assert!(displacement(BlendShape::MouthSmileLeft, CORNER, &marks).y > 0.004);
        assert_eq!(displacement(BlendShape::MouthSmileLeft, mirror(CORNER, -1.0), &marks), Vec3::ZERO);
    }
}
