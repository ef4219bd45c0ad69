//! Comfort and locomotion: the user's place in the room ([`PlayerOrigin`]: a point on the
//! floor and a heading) moved by the left thumbstick and turned by the right one — snap
//! or smooth, as the settings say — a vignette that darkens the edges of the view while
//! moving artificially, seated or standing, and height calibration.
//!
//! The math is in plain functions ([`step_origin`], [`Turner`]) so it is tested without
//! a renderer; the systems only read the rig and write transforms.

use bevy::prelude::*;

use crate::rig::TrackedRig;
use crate::settings::{Comfort, Posture, TurnStyle};

/// Walking speed at full stick, metres per second (a brisk comfortable walk).
pub const WALK_SPEED: f32 = 1.4;
/// Stick dead zone.
pub const DEAD_ZONE: f32 = 0.15;
/// Stick deflection that fires a snap turn, and the level it must fall under to re-arm.
pub const SNAP_FIRE: f32 = 0.7;
/// See [`SNAP_FIRE`].
pub const SNAP_REARM: f32 = 0.3;
/// Eye height as a fraction of standing height (anthropometric average ≈ 0.936).
pub const EYE_HEIGHT_RATIO: f32 = 0.936;

/// Where the tracking space sits in the room.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct PlayerOrigin {
    /// Floor position of the tracking-space origin.
    pub position: Vec3,
    /// Heading of the tracking space about +Y, radians.
    pub yaw: f32,
    /// Added to tracked heights (seated mode, calibration).
    pub height_offset: f32,
}

impl PlayerOrigin {
    /// Tracking space → room.
    #[must_use]
    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.position + Vec3::Y * self.height_offset)
            .with_rotation(Quat::from_rotation_y(self.yaw))
    }

    /// A tracking-space pose in the room.
    #[must_use]
    pub fn place(&self, pose: &crate::rig::Pose) -> Transform {
        let t = self.transform();
        Transform::from_translation(t.transform_point(pose.position)).with_rotation(t.rotation * pose.rotation)
    }
}

/// Comfort state derived each frame.
#[derive(Resource, Debug, Clone, Default)]
pub struct ComfortState {
    /// Current vignette strength 0–1 (0 when standing still).
    pub vignette: f32,
    /// Snap-turn latch.
    pub turner: Turner,
}

/// Snap/smooth turning from a stick axis.
#[derive(Debug, Clone, Copy, Default)]
pub struct Turner {
    armed_off: bool,
}

impl Turner {
    /// The yaw change this frame for stick x-axis `x` (right positive → turn right =
    /// negative yaw).
    pub fn turn(&mut self, comfort: &Comfort, x: f32, dt: f32) -> f32 {
        match comfort.turn {
            TurnStyle::Smooth => {
                if x.abs() < DEAD_ZONE {
                    0.0
                } else {
                    -x.signum()
                        * ((x.abs() - DEAD_ZONE) / (1.0 - DEAD_ZONE))
                        * comfort.smooth_turn_deg_per_s.to_radians()
                        * dt
                }
            }
            TurnStyle::Snap => {
                if self.armed_off && x.abs() < SNAP_REARM {
                    self.armed_off = false;
                }
                if !self.armed_off && x.abs() > SNAP_FIRE {
                    self.armed_off = true;
                    -x.signum() * comfort.snap_angle_deg.to_radians()
                } else {
                    0.0
                }
            }
        }
    }
}

/// Moves `origin` by stick `[x, y]` (y forward) along the head's heading for `dt`
/// seconds. Returns the speed used (m/s) for the vignette.
pub fn step_origin(origin: &mut PlayerOrigin, head_yaw: f32, stick: [f32; 2], dt: f32) -> f32 {
    let v = Vec2::new(stick[0], stick[1]);
    let mag = v.length();
    if mag < DEAD_ZONE {
        return 0.0;
    }
    let scaled = v / mag * ((mag.min(1.0) - DEAD_ZONE) / (1.0 - DEAD_ZONE));
    let heading = Quat::from_rotation_y(origin.yaw + head_yaw);
    let forward = heading * Vec3::NEG_Z;
    let right = heading * Vec3::X;
    let delta = (forward * scaled.y + right * scaled.x) * WALK_SPEED * dt;
    origin.position += delta;
    scaled.length() * WALK_SPEED
}

/// The height offset that puts a head tracked at `tracked_head_y` at the user's
/// standing eye height (seated mode and the calibrate action).
#[must_use]
pub fn calibrated_offset(comfort: &Comfort, tracked_head_y: f32) -> f32 {
    match comfort.posture {
        Posture::Standing => 0.0,
        Posture::Seated => comfort.user_height_m * EYE_HEIGHT_RATIO - tracked_head_y,
    }
}

/// The yaw of a rotation about +Y (heading), ignoring pitch and roll.
#[must_use]
pub fn heading_of(rotation: Quat) -> f32 {
    let f = rotation * Vec3::NEG_Z;
    (-f.x).atan2(-f.z)
}

/// Applies locomotion, turning and comfort each frame.
pub struct ComfortPlugin {
    /// The comfort settings.
    pub comfort: Comfort,
    /// Where the user starts.
    pub start: PlayerOrigin,
}

/// The comfort settings in force.
#[derive(Resource, Debug, Clone)]
pub struct ComfortSettings(pub Comfort);

impl Plugin for ComfortPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ComfortSettings(self.comfort.clone()))
            .insert_resource(self.start)
            .init_resource::<ComfortState>()
            .add_systems(PreUpdate, (locomote, calibrate_key).chain().in_set(crate::input::RigSystems::Apply));
    }
}

fn locomote(
    rig: Res<TrackedRig>,
    settings: Res<ComfortSettings>,
    time: Res<Time>,
    delta: Res<crate::input::RigDelta>,
    mut origin: ResMut<PlayerOrigin>,
    mut state: ResMut<ComfortState>,
) {
    let dt = delta.0.unwrap_or_else(|| time.delta_secs());
    let speed = step_origin(&mut origin, heading_of(rig.head.rotation), rig.left.stick, dt);
    let comfort = &settings.0;
    let mut turner = state.turner;
    let dyaw = turner.turn(comfort, rig.right.stick[0], dt);
    state.turner = turner;
    if dyaw != 0.0 {
        // Turn about the head, not the tracking origin, so the view pivots in place.
        let head = origin.transform().transform_point(rig.head.position);
        origin.yaw += dyaw;
        let moved = origin.transform().transform_point(rig.head.position);
        origin.position += Vec3::new(head.x - moved.x, 0.0, head.z - moved.z);
    }
    let moving = (speed / WALK_SPEED).max(if comfort.turn == TurnStyle::Smooth && dyaw != 0.0 { 1.0 } else { 0.0 });
    let target = if comfort.vignette { comfort.vignette_strength * moving.min(1.0) } else { 0.0 };
    // Ease in and out over ~0.15 s so the vignette does not flicker.
    let k = (dt / 0.15).min(1.0);
    state.vignette += (target - state.vignette) * k;
}

fn calibrate_key(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    rig: Res<TrackedRig>,
    settings: Res<ComfortSettings>,
    mut origin: ResMut<PlayerOrigin>,
) {
    if keys.is_some_and(|k| k.just_pressed(KeyCode::KeyC)) {
        origin.height_offset = calibrated_offset(&settings.0, rig.head.position.y);
        info!(offset = origin.height_offset, "height calibrated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_turn_fires_once_per_push() {
        let comfort = Comfort::default();
        let mut t = Turner::default();
        let turns: Vec<f32> =
            [0.0, 0.8, 0.9, 1.0, 0.5, 0.2, 0.9, -0.9].iter().map(|&x| t.turn(&comfort, x, 0.011)).collect();
        let step = comfort.snap_angle_deg.to_radians();
        assert_eq!(turns, vec![0.0, -step, 0.0, 0.0, 0.0, 0.0, -step, 0.0], "re-arms only below {SNAP_REARM}");
    }

    #[test]
    fn smooth_turn_is_rate_times_time() {
        let comfort = Comfort { turn: TurnStyle::Smooth, ..Comfort::default() };
        let mut t = Turner::default();
        let yaw: f32 = (0..90).map(|_| t.turn(&comfort, -1.0, 1.0 / 90.0)).sum();
        assert!((yaw.to_degrees() - comfort.smooth_turn_deg_per_s).abs() < 0.01, "{}", yaw.to_degrees());
        assert_eq!(t.turn(&comfort, 0.1, 1.0), 0.0, "dead zone");
    }

    #[test]
    fn walking_follows_the_head_heading() {
        let mut o = PlayerOrigin { position: Vec3::ZERO, yaw: 0.0, height_offset: 0.0 };
        let speed = step_origin(&mut o, std::f32::consts::FRAC_PI_2, [0.0, 1.0], 1.0);
        assert!((speed - WALK_SPEED).abs() < 1e-5);
        // Heading +90° (turned left): forward is −X.
        assert!(o.position.abs_diff_eq(Vec3::new(-WALK_SPEED, 0.0, 0.0), 1e-5), "{}", o.position);
        let before = o.position;
        assert_eq!(step_origin(&mut o, 0.0, [0.1, 0.05], 1.0), 0.0);
        assert_eq!(o.position, before, "dead zone");
    }

    #[test]
    fn seated_calibration_lifts_to_standing_eye_height() {
        let seated = Comfort { posture: Posture::Seated, user_height_m: 1.80, ..Comfort::default() };
        let off = calibrated_offset(&seated, 1.15);
        assert!((1.15 + off - 1.80 * EYE_HEIGHT_RATIO).abs() < 1e-5);
        assert_eq!(calibrated_offset(&Comfort::default(), 1.15), 0.0);
    }

    #[test]
    fn heading_ignores_pitch() {
        let q = Quat::from_euler(EulerRot::YXZ, 0.7, -0.5, 0.0);
        assert!((heading_of(q) - 0.7).abs() < 1e-5);
    }
}
