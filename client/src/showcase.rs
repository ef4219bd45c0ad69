//! `nexus-client --avatar-showcase DIR`: renders the companion's avatar offscreen in a
//! plain studio — full-body IK poses (idle, wave, reach, crouch) and face close-ups
//! (emotions, visemes) — and writes one PNG per shot. It is how the avatar is looked at
//! without a headset; the docs' pictures and a render test come from it.
//!
//! Time advances by a fixed 1/30 s per frame so expressions and stepping settle the same
//! way on every machine, in few frames (software rendering is slow).

use std::path::PathBuf;
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::time::TimeUpdateStrategy;
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use nexus_avatar::face::emotion::{Emotion, EmotionMix};
use nexus_avatar::ik::{FingerInput, IkTargets, OPENXR_TO_MODEL};
use nexus_avatar::lip_sync::Viseme;
use nexus_avatar::plugin::{Avatar, AvatarDrive, AvatarPlugin, AvatarSpawn, spawn_avatar};
use nexus_avatar::pose::Pose;
use nexus_avatar::skeleton::Skeleton;
use nexus_engine::plugin::capture::{
    CaptureRequest, CaptureSource, FrameCaptured, OffscreenCapturePlugin, offscreen_target,
};

/// Image size of every shot.
pub const SIZE: (u32, u32) = (360, 480);
/// Frames each shot settles for before it is captured.
const SETTLE_FRAMES: u32 = 14;

/// One picture: a body pose, a face, and where the camera stands.
#[derive(Debug, Clone)]
pub struct Shot {
    /// File stem.
    pub name: &'static str,
    /// What drives the avatar.
    pub drive: AvatarDrive,
    /// Camera position and the point it looks at, in the avatar's space.
    pub camera: (Vec3, Vec3),
}

/// A wrist pose whose fingers point along `fingers` with the back of the hand towards
/// `back` (OpenXR wrist frame: −Z along the fingers, +Y out of the back).
#[must_use]
pub fn wrist(at: Vec3, fingers: Vec3, back: Vec3) -> Pose {
    let z = -fingers.normalize();
    let y = back.normalize();
    Pose::new(at, Quat::from_mat3(&Mat3::from_cols(y.cross(z), y, z)))
}

/// The shots, for an avatar whose eyes stand at `eye` metres.
#[must_use]
pub fn shots(eye: f32) -> Vec<Shot> {
    let head = |y: f32| Pose::new(Vec3::new(0.0, y, 0.0), OPENXR_TO_MODEL);
    let body_camera = (Vec3::new(0.35, 1.05, 2.7), Vec3::new(0.0, 0.9, 0.0));
    let face_camera = (Vec3::new(0.0, eye + 0.01, 0.5), Vec3::new(0.0, eye - 0.03, 0.0));
    let drive = |targets: IkTargets, emotion: Emotion, speech: Option<Viseme>| AvatarDrive {
        targets,
        emotions: EmotionMix::single(emotion, 1.0),
        speech: speech.map(Viseme::shapes),
        look_at: Some(Vec3::new(0.0, eye, 2.0)),
    };
    let mut shots = vec![
        Shot {
            name: "pose_idle",
            drive: drive(IkTargets::head(head(eye)), Emotion::Contentment, None),
            camera: body_camera,
        },
        Shot {
            name: "pose_wave",
            drive: drive(
                IkTargets {
                    right_hand: Some(wrist(Vec3::new(-0.3, eye + 0.02, 0.12), Vec3::Y, Vec3::NEG_Z)),
                    right_fingers: FingerInput::Controller { grip: 0.0, trigger: 0.0, thumb_touch: false },
                    ..IkTargets::head(head(eye))
                },
                Emotion::Joy,
                None,
            ),
            camera: body_camera,
        },
        Shot {
            name: "pose_reach",
            drive: drive(
                IkTargets::three_point(
                    head(eye - 0.04),
                    wrist(Vec3::new(0.17, eye - 0.3, 0.5), Vec3::Z, Vec3::Y),
                    wrist(Vec3::new(-0.17, eye - 0.3, 0.5), Vec3::Z, Vec3::Y),
                ),
                Emotion::Surprise,
                None,
            ),
            camera: body_camera,
        },
        Shot {
            name: "pose_crouch",
            drive: drive(
                IkTargets {
                    left_fingers: FingerInput::Controller { grip: 1.0, trigger: 1.0, thumb_touch: true },
                    ..IkTargets::three_point(
                        head(eye - 0.55),
                        wrist(Vec3::new(0.2, 0.62, 0.3), Vec3::Z, Vec3::Y),
                        wrist(Vec3::new(-0.2, 0.62, 0.3), Vec3::Z, Vec3::Y),
                    )
                },
                Emotion::Excitement,
                None,
            ),
            camera: body_camera,
        },
    ];
    for emotion in [Emotion::Joy, Emotion::Sadness, Emotion::Anger, Emotion::Surprise, Emotion::Disgust, Emotion::Love]
    {
        shots.push(Shot {
            name: face_name(emotion),
            drive: drive(IkTargets::head(head(eye)), emotion, None),
            camera: face_camera,
        });
    }
    for (name, viseme) in
        [("face_viseme_aa", Viseme::Aa), ("face_viseme_ou", Viseme::Ou), ("face_viseme_pp", Viseme::PP)]
    {
        let mut d = drive(IkTargets::head(head(eye)), Emotion::Contentment, Some(viseme));
        d.emotions = EmotionMix::default();
        shots.push(Shot { name, drive: d, camera: face_camera });
    }
    shots
}

fn face_name(emotion: Emotion) -> &'static str {
    match emotion {
        Emotion::Joy => "face_joy",
        Emotion::Sadness => "face_sadness",
        Emotion::Anger => "face_anger",
        Emotion::Surprise => "face_surprise",
        Emotion::Disgust => "face_disgust",
        Emotion::Love => "face_love",
        _ => "face_other",
    }
}

#[derive(Resource)]
struct Showcase {
    out: PathBuf,
    shots: Vec<Shot>,
    current: usize,
    frames: u32,
    requested: bool,
    image: Handle<Image>,
    failure: crate::app::RunFailure,
}

#[derive(Component)]
struct StudioCamera;

/// Renders every shot into `out` and returns the files written, or why it failed.
///
/// # Errors
/// When the avatar asset cannot load or a frame cannot be captured or written.
pub fn run(out: PathBuf) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .build()
            .set(crate::app::asset_plugin())
            .disable::<WinitPlugin>()
            .disable::<PipelinedRenderingPlugin>()
            .set(bevy::render::RenderPlugin { synchronous_pipeline_compilation: true, ..default() })
            .set(WindowPlugin { primary_window: None, exit_condition: ExitCondition::DontExit, ..default() }),
    )
    .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO))
    .add_plugins((OffscreenCapturePlugin, AvatarPlugin))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 30.0)))
    .add_systems(Startup, studio)
    .add_systems(Update, (direct.before(nexus_avatar::plugin::AvatarSystems::Animate), save));
    let skeleton = Skeleton::from_height(nexus_avatar::generate::Appearance::default().height);
    let image = offscreen_target(&mut app.world_mut().resource_mut::<Assets<Image>>(), SIZE.0, SIZE.1);
    let shots = shots(skeleton.proportions.eye_height());
    let files = shots.iter().map(|s| out.join(format!("{}.png", s.name))).collect();
    let failure = crate::app::RunFailure::default();
    app.insert_resource(Showcase {
        out,
        shots,
        current: 0,
        frames: 0,
        requested: false,
        image,
        failure: failure.clone(),
    });
    let exit = app.run();
    match failure.get() {
        Some(why) => Err(why),
        None if !exit.is_success() => Err("the showcase stopped early".into()),
        None => Ok(files),
    }
}

fn studio(
    mut commands: Commands,
    assets: Res<AssetServer>,
    showcase: Res<Showcase>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(8.0, 8.0))),
        MeshMaterial3d(materials.add(StandardMaterial { base_color: Color::srgb(0.55, 0.55, 0.58), ..default() })),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(8.0, 4.0, 0.1))),
        MeshMaterial3d(materials.add(StandardMaterial { base_color: Color::srgb(0.42, 0.47, 0.55), ..default() })),
        Transform::from_xyz(0.0, 2.0, -2.0),
    ));
    commands.insert_resource(GlobalAmbientLight { color: Color::WHITE, brightness: 400.0, ..default() });
    commands.spawn((
        DirectionalLight { illuminance: 9000.0, shadow_maps_enabled: true, ..default() },
        // One cascade covers the studio; software rendering pays for every extra pass.
        bevy::light::CascadeShadowConfigBuilder { num_cascades: 1, maximum_distance: 8.0, ..default() }.build(),
        Transform::from_xyz(2.0, 4.0, 3.0).looking_at(Vec3::new(0.0, 1.0, 0.0), Vec3::Y),
    ));
    commands.spawn((
        StudioCamera,
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection { fov: 40f32.to_radians(), near: 0.05, ..default() }),
        nexus_engine::plugin::capture::image_render_target(&showcase.image),
        Transform::from_xyz(0.0, 1.0, 2.7).looking_at(Vec3::new(0.0, 0.9, 0.0), Vec3::Y),
    ));
    let skeleton = Skeleton::from_height(nexus_avatar::generate::Appearance::default().height);
    let spawn = AvatarSpawn {
        path: crate::companion::AVATAR_ASSET.into(),
        skeleton,
        humanoid: None,
        transform: Transform::IDENTITY,
        seed: 7,
    };
    spawn_avatar(&mut commands, &assets, spawn);
}

/// Sets the current shot's drive and camera; asks for the capture once it has settled.
fn direct(
    mut showcase: ResMut<Showcase>,
    mut avatars: Query<(&Avatar, &mut AvatarDrive)>,
    mut cameras: Query<(&mut Transform, &mut Camera), With<StudioCamera>>,
    mut requests: MessageWriter<CaptureRequest>,
    mut exit: MessageWriter<AppExit>,
) {
    let Ok((avatar, mut drive)) = avatars.single_mut() else { return };
    if !avatar.is_bound() {
        showcase.frames += 1;
        if showcase.frames > 600 {
            showcase.failure.set(format!("{} did not load", crate::companion::AVATAR_ASSET));
            exit.write(AppExit::error());
        }
        return;
    }
    let Some(shot) = showcase.shots.get(showcase.current).cloned() else {
        exit.write(AppExit::Success);
        return;
    };
    *drive = shot.drive.clone();
    if showcase.requested {
        return;
    }
    showcase.frames += 1;
    if let Ok((mut transform, mut camera)) = cameras.single_mut() {
        *transform = Transform::from_translation(shot.camera.0).looking_at(shot.camera.1, Vec3::Y);
        // Only the last frames before the capture are drawn; the others just animate.
        camera.is_active = showcase.frames + 3 >= SETTLE_FRAMES;
    }
    if showcase.frames >= SETTLE_FRAMES {
        requests.write(CaptureRequest {
            source: CaptureSource::Image(showcase.image.clone()),
            tag: showcase.current as u64,
        });
        showcase.requested = true;
    }
}

fn save(mut showcase: ResMut<Showcase>, mut captured: MessageReader<FrameCaptured>, mut exit: MessageWriter<AppExit>) {
    for FrameCaptured(frame) in captured.read() {
        if !showcase.requested || frame.tag != showcase.current as u64 {
            continue;
        }
        let path = showcase.out.join(format!("{}.png", showcase.shots[showcase.current].name));
        let saved = image::RgbaImage::from_raw(frame.width, frame.height, frame.rgba.clone())
            .ok_or_else(|| "captured frame has the wrong size".to_owned())
            .and_then(|img| img.save(&path).map_err(|e| format!("{}: {e}", path.display())));
        if let Err(why) = saved {
            showcase.failure.set(why);
            exit.write(AppExit::error());
            return;
        }
        info!(shot = showcase.shots[showcase.current].name, "wrote {}", path.display());
        showcase.current += 1;
        showcase.frames = 0;
        showcase.requested = false;
    }
}
