//! A scripted full-body avatar: head, both hands, hips and feet trackers, articulated
//! fingers and a talking face, moving smoothly like a person standing and chatting.
//! Headless peers, tests and `cargo xtask bench net` send it, so every measurement uses
//! the same, realistic amount of motion (fingers and face change every frame).

use glam::{Quat, Vec3};

use crate::hand::{FingerCurl, HandCurls};
use crate::state::{AvatarState, BLEND_SHAPES, Pose};

/// The state of scripted participant `who` at `t` seconds, standing at `origin`.
#[must_use]
pub fn avatar(who: u32, t: f32, origin: Vec3) -> AvatarState {
    let phase = who as f32 * 0.37;
    let s = |f: f32, a: f32| (t * f * std::f32::consts::TAU + phase).sin() * a;
    let yaw = s(0.13, 0.6);
    let body = Quat::from_rotation_y(yaw);
    let head_pos = origin + Vec3::new(s(0.21, 0.04), 1.65 + s(0.5, 0.01), s(0.17, 0.03));
    let head = Pose::new(head_pos, body * Quat::from_rotation_x(s(0.31, 0.15)) * Quat::from_rotation_z(s(0.23, 0.05)));
    let hand = |side: f32| {
        let wave = s(0.7 + side * 0.1, 0.12);
        let offset = body * Vec3::new(side * 0.28 + wave * 0.3, -0.45 + s(0.4, 0.08), -0.25 + s(0.33, 0.06));
        let rotation = body * Quat::from_rotation_z(side * (0.4 + wave)) * Quat::from_rotation_x(s(0.5, 0.3));
        Pose::new(head_pos + offset, rotation)
    };
    let foot = |side: f32| Pose::new(origin + body * Vec3::new(side * 0.12, 0.05, 0.02 + s(0.09, 0.02)), body);
    let hips = Pose::new(origin + Vec3::new(s(0.21, 0.03), 0.98 + s(0.5, 0.005), s(0.17, 0.02)), body);
    let curls = |side: f32| {
        let grip = 0.5 + 0.5 * (t * (0.6 + side * 0.05) * std::f32::consts::TAU + phase).sin();
        let mut c = HandCurls::OPEN;
        for (i, f) in c.fingers.iter_mut().enumerate() {
            let k = grip * (0.8 + 0.05 * i as f32);
            *f = FingerCurl { splay: s(0.2, 0.1) * (2.0 - i as f32) * 0.5, flex: [1.2 * k, 1.4 * k, 0.9 * k] };
        }
        c
    };
    // Speech: jaw and a few mouth shapes move at syllable rate; blinks now and then
    // (indices in ARKit order, as `nexus_avatar::face::BlendShape::ALL`).
    let mut face = [0.0f32; BLEND_SHAPES];
    let talk = (0.5 + 0.5 * (t * 4.3 * std::f32::consts::TAU + phase).sin()).powi(2);
    face[17] = 0.5 * talk; // jawOpen
    face[19] = 0.3 * (1.0 - talk); // mouthFunnel
    face[20] = 0.2 * talk; // mouthPucker
    for (i, w) in face.iter_mut().enumerate().skip(21).take(10) {
        *w = (0.15 * (t * 1.7 + i as f32 + phase).sin()).max(0.0);
    }
    let blink = if (t + phase).rem_euclid(3.7) < 0.12 { 1.0 } else { 0.0 };
    face[0] = blink;
    face[7] = blink;
    AvatarState {
        head,
        parts: [Some(hand(-1.0)), Some(hand(1.0)), Some(hips), Some(foot(-1.0)), Some(foot(1.0))],
        fingers: [Some(curls(-1.0)), Some(curls(1.0))],
        face: Some(face),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_motion_is_smooth_and_finite() {
        let mut prev = avatar(3, 0.0, Vec3::ZERO);
        for i in 1..400 {
            let next = avatar(3, i as f32 / 90.0, Vec3::ZERO);
            assert!(next.head.position.is_finite());
            let step = next.head.position.distance(prev.head.position);
            assert!(step < 0.01, "head moved {step} m in one 90 Hz frame");
            prev = next;
        }
    }
}
