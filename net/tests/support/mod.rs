//! Shared proptest strategies for the wire-format tests.
#![allow(dead_code)] // each test binary uses a subset

use glam::{Quat, Vec2, Vec3};
use nexus_net::hand::{FingerCurl, HandCurls};
use nexus_net::state::{AvatarState, Pose};
use nexus_net::sync::prediction::LocomotionInput;
use proptest::prelude::*;

pub fn vec3(range: f32) -> impl Strategy<Value = Vec3> {
    (-range..range, -range..range, -range..range).prop_map(|(x, y, z)| Vec3::new(x, y, z))
}

pub fn quat() -> impl Strategy<Value = Quat> {
    (-1.0f32..1.0, -1.0f32..1.0, -1.0f32..1.0, -1.0f32..1.0)
        .prop_filter("non-zero", |(x, y, z, w)| x * x + y * y + z * z + w * w > 1e-3)
        .prop_map(|(x, y, z, w)| Quat::from_xyzw(x, y, z, w).normalize())
}

pub fn pose() -> impl Strategy<Value = Pose> {
    (vec3(30.0), quat()).prop_map(|(p, q)| Pose::new(p, q))
}

pub fn curls() -> impl Strategy<Value = HandCurls> {
    prop::collection::vec((-0.7f32..0.7, -0.6f32..2.0, -0.6f32..2.0, -0.6f32..2.0), 5).prop_map(|v| {
        let mut c = HandCurls::OPEN;
        for (f, (splay, a, b, d)) in c.fingers.iter_mut().zip(v) {
            *f = FingerCurl { splay, flex: [a, b, d] };
        }
        c
    })
}

pub fn avatar() -> impl Strategy<Value = AvatarState> {
    (
        pose(),
        prop::collection::vec(prop::option::of(pose()), 5),
        prop::option::of(curls()),
        prop::option::of(curls()),
        prop::option::of(prop::collection::vec(0.0f32..=1.0, 52)),
    )
        .prop_map(|(head, parts, l, r, face)| AvatarState {
            head,
            parts: std::array::from_fn(|i| parts[i]),
            fingers: [l, r],
            face: face.map(|f| std::array::from_fn(|i| f[i])),
        })
}

/// A state near `base`: every component nudged a little, as between two frames.
pub fn nudged(base: &AvatarState, k: f32) -> AvatarState {
    let mut s = base.clone();
    s.head.position += Vec3::new(0.003, -0.001, 0.002) * k;
    s.head.rotation = (s.head.rotation * Quat::from_rotation_y(0.02 * k)).normalize();
    for p in s.parts.iter_mut().flatten() {
        p.position += Vec3::splat(0.004 * k);
    }
    if let Some(f) = &mut s.face {
        f[3] = (f[3] + 0.05 * k).min(1.0);
    }
    s
}

pub fn input() -> impl Strategy<Value = LocomotionInput> {
    (any::<u16>(), 0.0f32..0.06, -1.0f32..1.0, -1.0f32..1.0, -3.0f32..3.0, prop::option::of(vec3(30.0))).prop_map(
        |(seq, dt, x, y, turn, teleport)| LocomotionInput { seq, dt, move_axis: Vec2::new(x, y), turn, teleport },
    )
}
