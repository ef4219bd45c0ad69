//! The desktop preview's input source: mouse and keyboard stand in for a headset.
//!
//! | input | rig |
//! |---|---|
//! | right mouse button held + mouse, or arrow keys | head yaw/pitch (mouse look) |
//! | W A S D | left thumbstick (walk) |
//! | Q / E | right thumbstick x (snap or smooth turn) |
//! | cursor | gaze ray; the right hand follows it at arm's length (the left with Alt held) |
//! | left mouse button | trigger of the pointing hand |
//! | G | squeeze (grip) of the pointing hand |
//! | F | pinch of the pointing hand |
//!
//! The head sits at the posture's eye height in tracking space; comfort places the
//! tracking space in the room.

use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use crate::comfort::EYE_HEIGHT_RATIO;
use crate::input::RigSystems;
use crate::rig::{Gaze, Hand, Pose, TrackedRig};
use crate::settings::{Comfort, Posture};

/// How far in front of the eyes a pointing hand floats, metres.
pub const ARM_LENGTH: f32 = 0.55;
/// Mouse-look sensitivity, radians per pixel.
pub const LOOK_SENSITIVITY: f32 = 0.003;
/// Arrow-key look speed, radians per second.
pub const KEY_LOOK_SPEED: f32 = 1.5;
/// Eye height of a seated user, metres.
pub const SEATED_EYE_HEIGHT: f32 = 1.2;

/// Head orientation state of the preview.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct PreviewLook {
    /// Radians about +Y.
    pub yaw: f32,
    /// Radians about +X, clamped to ±85°.
    pub pitch: f32,
}

/// Marks the camera the preview's cursor rays are cast from.
#[derive(Component)]
pub struct PreviewCamera;

/// Mouse and keyboard → [`TrackedRig`].
pub struct PreviewInputPlugin {
    /// Comfort settings (posture and height give the eye height).
    pub comfort: Comfort,
}

#[derive(Resource, Clone, Copy)]
struct EyeHeight(f32);

impl Plugin for PreviewInputPlugin {
    fn build(&self, app: &mut App) {
        let eye = match self.comfort.posture {
            Posture::Standing => self.comfort.user_height_m * EYE_HEIGHT_RATIO,
            Posture::Seated => SEATED_EYE_HEIGHT,
        };
        app.init_resource::<PreviewLook>()
            .insert_resource(EyeHeight(eye))
            .add_systems(PreUpdate, drive_rig.in_set(RigSystems::Source));
    }
}

/// A hand resting beside the body when it is not pointing.
fn resting(head: &Pose, side: f32) -> Pose {
    let yaw = Quat::from_rotation_y(crate::comfort::heading_of(head.rotation));
    Pose { position: head.position + yaw * Vec3::new(0.2 * side, -0.62, -0.12), rotation: yaw }
}

#[allow(clippy::too_many_arguments)] // one system reading each kind of input once
fn drive_rig(
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    windows: Query<&Window, With<PrimaryWindow>>,
    cameras: Query<&Camera, With<PreviewCamera>>,
    time: Res<Time>,
    eye: Res<EyeHeight>,
    chat: Option<Res<crate::ui::chat::ChatState>>,
    mut look: ResMut<PreviewLook>,
    mut rig: ResMut<TrackedRig>,
) {
    let dt = time.delta_secs();
    if buttons.pressed(MouseButton::Right) {
        look.yaw -= motion.delta.x * LOOK_SENSITIVITY;
        look.pitch -= motion.delta.y * LOOK_SENSITIVITY;
    }
    // While the chat takes the keyboard, letters are text, not movement.
    let typing = chat.is_some_and(|c| c.writing);
    let held = |k: KeyCode| !typing && keys.pressed(k);
    let axis = |neg: KeyCode, pos: KeyCode| f32::from(u8::from(held(pos))) - f32::from(u8::from(held(neg)));
    look.yaw -= axis(KeyCode::ArrowLeft, KeyCode::ArrowRight) * KEY_LOOK_SPEED * dt;
    look.pitch += axis(KeyCode::ArrowDown, KeyCode::ArrowUp) * KEY_LOOK_SPEED * dt;
    look.pitch = look.pitch.clamp(-85f32.to_radians(), 85f32.to_radians());

    let head = Pose {
        position: Vec3::new(0.0, eye.0, 0.0),
        rotation: Quat::from_euler(EulerRot::YXZ, look.yaw, look.pitch, 0.0),
    };
    // The gaze and the pointing hand follow the cursor; without one, straight ahead.
    let head_tf = GlobalTransform::from(Transform::from_translation(head.position).with_rotation(head.rotation));
    let cursor = windows.single().ok().and_then(Window::cursor_position);
    let ray = match (cursor, cameras.single()) {
        (Some(c), Ok(camera)) => camera.viewport_to_world(&head_tf, c).ok().map(|r| (r.origin, *r.direction)),
        _ => None,
    }
    .unwrap_or((head.position, head.forward()));

    let left_points = keys.pressed(KeyCode::AltLeft) || keys.pressed(KeyCode::AltRight);
    let point = Pose {
        position: ray.0 + ray.1 * ARM_LENGTH + head.rotation * Vec3::new(0.0, -0.08, 0.0),
        rotation: Transform::default().looking_to(ray.1, Vec3::Y).rotation,
    };
    let pressed = |b: bool| if b { 1.0 } else { 0.0 };
    let active = Hand {
        tracked: true,
        grip: point,
        aim: Pose { position: point.position, rotation: point.rotation },
        trigger: pressed(buttons.pressed(MouseButton::Left)),
        squeeze: pressed(held(KeyCode::KeyG)),
        pinch: pressed(held(KeyCode::KeyF)),
        stick: [0.0; 2],
        primary: false,
        joints: None,
    };
    let idle = |side: f32| {
        let rest = resting(&head, side);
        Hand { tracked: true, grip: rest, aim: rest, ..Hand::untracked() }
    };
    let (mut left, mut right) = if left_points { (active, idle(1.0)) } else { (idle(-1.0), active) };
    left.stick = [axis(KeyCode::KeyA, KeyCode::KeyD), axis(KeyCode::KeyS, KeyCode::KeyW)];
    right.stick = [axis(KeyCode::KeyQ, KeyCode::KeyE), 0.0];
    *rig = TrackedRig { head, left, right, gaze: Gaze { origin: ray.0, direction: ray.1 } };
}
