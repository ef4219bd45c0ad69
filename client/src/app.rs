//! Building the app: plugins for the chosen mode (headset-or-preview window, or headless
//! offscreen), the states (sign-in → room), the rig pipeline, the room, the companion,
//! UI, the session record and screenshots.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::app::ScheduleRunnerPlugin;
use bevy::camera::RenderTarget;
use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::light::DirectionalLightShadowMap;
use bevy::prelude::*;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use nexus_engine::plugin::capture::{
    CaptureRequest, CaptureSource, FrameCaptured, OffscreenCapturePlugin, offscreen_target,
};
use nexus_net::vr_session::{HeadsetType, QualityPreset};

use crate::comfort::{ComfortPlugin, PlayerOrigin};
use crate::input::preview::{PreviewCamera, PreviewInputPlugin};
use crate::input::replay::{RecordPlugin, RecorderState, ReplayPlugin, ReplayState};
use crate::input::{ActiveSource, RigPlugin, RigSystems};
use crate::room::description::RoomDescription;
use crate::services::{Connection, Services, ServicesPlugin};
use crate::settings::Settings;
use crate::ui::sign_in::DemoProfile;

/// The app's screens.
#[derive(States, Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AppState {
    /// Signing in (or waiting for the user to).
    #[default]
    SignIn,
    /// In the café terrace.
    Room,
}

/// The signed-in username, if any.
#[derive(Resource, Debug, Default, Clone)]
pub struct SignedIn(pub Option<String>);

/// The entity at the user's eyes (the preview camera).
#[derive(Component)]
pub struct UserHead;

/// A hand of the user.
#[derive(Component, Clone, Copy)]
pub struct UserHand(pub crate::rig::Handedness);

/// How the app presents frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// A window (and OpenXR when a runtime is present and `xr` is set).
    Window {
        /// Try OpenXR first.
        xr: bool,
    },
    /// No window, no display server: render offscreen at this size.
    Headless {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// Everything the app is built from.
pub struct Options {
    /// Window or headless.
    pub presentation: Presentation,
    /// Loaded settings.
    pub settings: Settings,
    /// Running services, or why there are none.
    pub services: Result<Services, String>,
    /// The room to load.
    pub room: RoomDescription,
    /// Leave the companion out (an empty-room render for comparisons).
    pub no_companion: bool,
    /// Create/use the embedded server's demo profile.
    pub demo_profile: bool,
    /// A tracking file to replay.
    pub replay: Option<crate::tracking_file::Recording>,
    /// Where to record tracking.
    pub record: Option<PathBuf>,
    /// Stop after this many frames in the room.
    pub frames: Option<u32>,
    /// Write a screenshot (at the last frame) here.
    pub screenshot: Option<PathBuf>,
    /// Give up if the room is not reached within this time.
    pub room_timeout: Duration,
    /// Write per-frame timings here at exit.
    pub bench_report: Option<PathBuf>,
    /// A WAV clip to say to the companion when the room opens.
    pub say: Option<PathBuf>,
    /// A room to join (its id) rather than opening one.
    pub join: Option<String>,
}

/// Why the run ended badly (the exit code is non-zero). Shared, because `App::run` hands
/// the world to the runner and the caller reads the reason after it returns.
#[derive(Resource, Debug, Default, Clone)]
pub struct RunFailure(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl RunFailure {
    /// Records why the run failed (the first reason wins).
    pub fn set(&self, why: impl Into<String>) {
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some(why.into());
        }
    }

    /// The reason, if the run failed.
    #[must_use]
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

#[derive(Resource)]
struct RunPlan {
    frames: Option<u32>,
    screenshot: Option<PathBuf>,
    room_frames: u32,
    requested: bool,
    deadline: Instant,
    room_timeout: Duration,
    offscreen: Option<Handle<Image>>,
}

#[derive(Resource, Clone)]
struct RoomSpawn {
    room: RoomDescription,
    no_companion: bool,
}

/// Builds the app. Headset detection happens here (while OpenXR's plugin is built); the
/// returned flag says which source drives the rig.
pub fn build(options: Options) -> (App, ActiveSource) {
    let mut app = App::new();
    let Options {
        presentation,
        settings,
        services,
        room,
        no_companion,
        demo_profile,
        replay,
        record,
        frames,
        screenshot,
        room_timeout,
        bench_report,
        say,
        join,
    } = options;
    let title = "Nexus — café terrace".to_owned();
    // Fixed-length runs (tests, screenshots, the bench) compile every render pipeline
    // before drawing, so frame N shows the whole scene; interactive runs stream them in.
    let render = bevy::render::RenderPlugin { synchronous_pipeline_compilation: frames.is_some(), ..default() };
    match presentation {
        Presentation::Window { xr } => {
            let window = WindowPlugin {
                primary_window: Some(Window {
                    title,
                    resolution: WindowResolution::new(settings.graphics.window_width, settings.graphics.window_height),
                    ..default()
                }),
                ..default()
            };
            let base = DefaultPlugins.build().disable::<PipelinedRenderingPlugin>().set(asset_plugin());
            if xr {
                // Hand tracking, and the Pico 4 controller profile (an extension).
                let mut exts = bevy_mod_openxr::exts::OxrExtensions::default();
                exts.enable_hand_tracking();
                exts.bd_controller_interaction = true;
                let init = bevy_mod_openxr::init::OxrInitPlugin {
                    exts,
                    synchronous_pipeline_compilation: frames.is_some(),
                    ..default()
                };
                app.add_plugins(bevy_mod_openxr::add_xr_plugins(base).set(init).set(window));
            } else {
                app.add_plugins(base.set(window).set(render));
            }
        }
        Presentation::Headless { .. } => {
            app.add_plugins(
                DefaultPlugins
                    .build()
                    .set(asset_plugin())
                    .disable::<WinitPlugin>()
                    .disable::<PipelinedRenderingPlugin>()
                    .set(render)
                    .set(WindowPlugin { primary_window: None, exit_condition: ExitCondition::DontExit, ..default() }),
            )
            .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO));
        }
    }
    crate::ui::install_ui_font(&mut app);
    app.add_plugins(nexus_avatar::plugin::AvatarPlugin);
    let xr_running = app
        .world()
        .get_resource::<bevy_mod_xr::session::XrState>()
        .is_some_and(|s| *s != bevy_mod_xr::session::XrState::Unavailable);
    let source = match (&replay, xr_running, presentation) {
        (Some(_), _, _) => ActiveSource::Replay,
        (None, true, _) => ActiveSource::OpenXr,
        (None, false, Presentation::Window { .. }) => ActiveSource::Preview,
        (None, false, Presentation::Headless { .. }) => ActiveSource::Still,
    };
    if matches!(presentation, Presentation::Window { xr: true }) && !xr_running {
        info!("no OpenXR runtime or headset found — starting the desktop preview");
    }

    let connection = match &services {
        Ok(s) => Connection::Online { base_url: s.base_url().to_owned(), embedded: s.is_embedded() },
        Err(reason) => Connection::Offline { reason: reason.clone() },
    };
    let headset = if source == ActiveSource::OpenXr { HeadsetType::OtherXr } else { HeadsetType::DesktopPreview };
    let start =
        PlayerOrigin { position: room.spawn.position, yaw: room.spawn.yaw_deg.to_radians(), height_offset: 0.0 };

    app.add_plugins((FrameTimeDiagnosticsPlugin::default(), OffscreenCapturePlugin, ServicesPlugin, RigPlugin))
        .add_plugins(ComfortPlugin { comfort: settings.comfort.clone(), start })
        .init_state::<AppState>()
        .insert_resource(source)
        .insert_resource(connection)
        .insert_resource(DemoProfile(demo_profile))
        .insert_resource(SignedIn::default())
        .insert_resource(RunFailure::default())
        .insert_resource(RoomSpawn { room, no_companion })
        .insert_resource(crate::session::SessionStats::new(headset, settings.graphics.quality))
        .insert_resource(crate::session::FrameTimings::new(bench_report))
        .insert_resource(DirectionalLightShadowMap { size: shadow_map_size(settings.graphics.quality) })
        .insert_resource(crate::ui::chat::ChatState::default())
        .insert_resource(crate::microphone::SayOnEntry(say))
        .insert_resource(crate::presence::JoinRoom(join))
        .insert_resource(bevy::audio::GlobalVolume::new(bevy::audio::Volume::Linear(settings.audio.master)))
        .insert_resource(crate::conversation::VoiceVolume(settings.audio.voice))
        .init_non_send::<crate::microphone::Microphone>()
        .add_plugins((crate::conversation::ConversationPlugin, crate::presence::PresencePlugin));
    if let Ok(s) = services {
        app.insert_resource(s);
    }
    match source {
        ActiveSource::OpenXr => {
            app.add_plugins(crate::input::xr::XrInputPlugin);
        }
        ActiveSource::Preview => {
            app.add_plugins(PreviewInputPlugin { comfort: settings.comfort.clone() });
        }
        ActiveSource::Replay => {
            app.add_plugins(ReplayPlugin);
        }
        ActiveSource::Still => {}
    }
    if let Some(r) = replay {
        app.insert_resource(ReplayState::new(r));
    }
    if let Some(path) = record {
        match crate::tracking_file::Recorder::create(&path, crate::input::replay::source_label(source), 72.0) {
            Ok(rec) => {
                app.insert_resource(RecorderState::new(rec)).add_plugins(RecordPlugin);
            }
            Err(e) => error!("not recording tracking: {e}"),
        }
    }

    let offscreen = match presentation {
        Presentation::Headless { width, height } => {
            let mut images = app.world_mut().resource_mut::<Assets<Image>>();
            Some(offscreen_target(&mut images, width, height))
        }
        Presentation::Window { .. } => None,
    };
    app.insert_resource(RunPlan {
        frames,
        screenshot,
        room_frames: 0,
        requested: false,
        deadline: Instant::now() + room_timeout,
        room_timeout,
        offscreen: offscreen.clone(),
    });
    let quality = settings.graphics.quality;
    app.add_systems(Startup, move |mut commands: Commands| spawn_user(&mut commands, offscreen.clone(), quality))
        .add_systems(OnEnter(AppState::SignIn), (skip_sign_in_when_offline, crate::ui::sign_in::enter))
        .add_systems(
            Update,
            (
                crate::ui::sign_in::type_keys,
                crate::ui::sign_in::click_buttons,
                crate::ui::sign_in::on_service_events,
                crate::ui::sign_in::render,
            )
                .run_if(in_state(AppState::SignIn)),
        )
        .add_systems(OnEnter(AppState::Room), (enter_room, crate::microphone::say_on_entry))
        .add_systems(PreUpdate, (place_user, place_xr_root).after(RigSystems::Apply))
        .add_systems(
            Update,
            (
                crate::ui::chat::type_keys,
                crate::ui::chat::on_service_events,
                crate::ui::chat::render_chat,
                crate::ui::chat::render_status,
                crate::ui::vignette::update,
                crate::companion::look_at_user,
                crate::microphone::push_to_talk,
                (
                    crate::conversation::add_minds,
                    crate::conversation::see_gestures,
                    crate::conversation::on_answers,
                    crate::conversation::speak_queued,
                    crate::conversation::feel_touch,
                    crate::conversation::think,
                )
                    .chain()
                    .before(nexus_avatar::plugin::AvatarSystems::Animate),
                crate::session::track,
                crate::presence::connect,
                (crate::presence::on_presence_events, crate::presence::sync_avatars)
                    .chain()
                    .run_if(resource_exists::<crate::presence::Presence>)
                    .before(nexus_avatar::plugin::AvatarSystems::Animate),
            )
                .run_if(in_state(AppState::Room)),
        )
        .add_systems(Update, (watch_run_plan, save_capture))
        .add_systems(First, crate::session::timing_start)
        .add_systems(Last, (crate::session::timing_end, crate::session::report_on_exit, crate::session::write_timings));
    (app, source)
}

/// The project's `assets/` folder: `$NEXUS_ASSET_DIR`, else `./assets` when run from the
/// workspace, else the workspace's (the binary was built from it).
#[must_use]
pub fn asset_dir() -> std::path::PathBuf {
    let dir = match std::env::var_os("NEXUS_ASSET_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None if std::path::Path::new("assets/environments").is_dir() => "assets".into(),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("assets"),
    };
    // Absolute, because Bevy reads a relative asset path against the manifest directory.
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The asset plugin reading [`asset_dir`].
#[must_use]
pub fn asset_plugin() -> AssetPlugin {
    AssetPlugin { file_path: asset_dir().to_string_lossy().into_owned(), ..default() }
}

fn shadow_map_size(q: QualityPreset) -> usize {
    match q {
        QualityPreset::Performance => 1024,
        QualityPreset::Balanced => 2048,
        QualityPreset::Ultra => 4096,
    }
}

fn spawn_user(commands: &mut Commands, offscreen: Option<Handle<Image>>, quality: QualityPreset) {
    let msaa = if quality == QualityPreset::Performance { Msaa::Off } else { Msaa::Sample4 };
    let mut camera = commands.spawn((
        UserHead,
        PreviewCamera,
        Camera3d::default(),
        msaa,
        Projection::Perspective(PerspectiveProjection { fov: 75f32.to_radians(), near: 0.05, ..default() }),
        Transform::from_xyz(0.0, 1.6, 2.6),
        // Shadow detail follows the user's eyes, also when the camera renders offscreen.
        bevy::camera::ShadowLodOrigin,
        // The companion's voice is heard from where it stands (ears 18 cm apart).
        SpatialListener::new(0.18),
    ));
    if let Some(image) = offscreen {
        camera.insert((RenderTarget::Image(image.into()), IsDefaultUiCamera));
    }
}

fn skip_sign_in_when_offline(connection: Res<Connection>, mut next: ResMut<NextState<AppState>>) {
    if let Connection::Offline { reason } = &*connection {
        warn!("{reason} — continuing offline: the room works; sign-in, chat and session records need a server");
        next.set(AppState::Room);
    }
}

#[allow(clippy::too_many_arguments)] // a Bevy system's parameters are what it touches
fn enter_room(
    spawn: Res<RoomSpawn>,
    assets: Res<AssetServer>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
    failure: Res<RunFailure>,
    mut exit: MessageWriter<AppExit>,
) {
    match crate::room::spawn(&spawn.room, &mut commands, &mut meshes, &mut materials) {
        Ok(parts) => info!(room = %spawn.room.name, parts, "entered the room"),
        Err(e) => {
            failure.set(e.to_string());
            exit.write(AppExit::error());
            return;
        }
    }
    if !spawn.no_companion {
        crate::companion::spawn(
            spawn.room.companion,
            &asset_dir(),
            &mut commands,
            &assets,
            &mut meshes,
            &mut materials,
        );
    }
    let skin = materials.add(StandardMaterial {
        base_color: Color::srgb(0.85, 0.68, 0.56),
        perceptual_roughness: 0.6,
        ..default()
    });
    let palm = meshes.add(Cuboid::new(0.08, 0.025, 0.1));
    for side in [crate::rig::Handedness::Left, crate::rig::Handedness::Right] {
        commands.spawn((
            crate::room::RoomEntity,
            UserHand(side),
            Mesh3d(palm.clone()),
            MeshMaterial3d(skin.clone()),
            Transform::default(),
        ));
    }
    crate::ui::chat::spawn(&mut commands);
    crate::ui::vignette::spawn(&mut commands, &mut images);
}

/// The camera (preview) or the XR tracking root, and the hands, follow the rig.
fn place_user(
    rig: Res<crate::rig::TrackedRig>,
    origin: Res<PlayerOrigin>,
    mut head: Query<&mut Transform, (With<UserHead>, Without<UserHand>)>,
    mut hands: Query<(&UserHand, &mut Transform, &mut Visibility), Without<UserHead>>,
) {
    if let Ok(mut t) = head.single_mut() {
        *t = origin.place(&rig.head);
    }
    for (hand, mut t, mut vis) in &mut hands {
        let h = rig.hand(hand.0);
        *t = origin.place(&h.grip);
        *vis = if h.tracked { Visibility::Inherited } else { Visibility::Hidden };
    }
}

/// In headset mode the runtime places the eyes; locomotion moves the tracking root.
fn place_xr_root(
    origin: Res<PlayerOrigin>,
    mut root: Query<&mut Transform, With<bevy_mod_xr::session::XrTrackingRoot>>,
) {
    if let Ok(mut t) = root.single_mut() {
        *t = origin.transform();
    }
}

/// Counts room frames; asks for the screenshot on the last one; enforces the deadline.
fn watch_run_plan(
    mut plan: ResMut<RunPlan>,
    state: Res<State<AppState>>,
    mut requests: MessageWriter<CaptureRequest>,
    mut exit: MessageWriter<AppExit>,
    failure: Res<RunFailure>,
    form: Option<Res<crate::ui::sign_in::SignInForm>>,
    avatars: Query<&nexus_avatar::plugin::Avatar>,
) {
    // Frames are counted once the room is entered and every avatar in it has loaded.
    let loading = avatars.iter().any(|a| !a.is_bound());
    if *state.get() != AppState::Room || loading {
        if plan.frames.is_some() && Instant::now() > plan.deadline {
            let status = form.map(|f| f.status.clone()).unwrap_or_default();
            failure.set(if loading {
                format!("the companion's avatar did not load within {:?}", plan.room_timeout)
            } else {
                format!("did not reach the room within {:?} (sign-in: {status})", plan.room_timeout)
            });
            exit.write(AppExit::error());
        }
        return;
    }
    plan.room_frames += 1;
    let Some(n) = plan.frames else { return };
    if plan.room_frames < n || plan.requested {
        return;
    }
    if plan.screenshot.is_some() {
        let source = plan.offscreen.clone().map_or(CaptureSource::PrimaryWindow, CaptureSource::Image);
        requests.write(CaptureRequest { source, tag: 1 });
        plan.requested = true;
        plan.deadline = Instant::now() + Duration::from_secs(30);
    } else {
        exit.write(AppExit::Success);
    }
}

fn save_capture(
    mut captured: MessageReader<FrameCaptured>,
    plan: Res<RunPlan>,
    mut exit: MessageWriter<AppExit>,
    failure: Res<RunFailure>,
) {
    for FrameCaptured(frame) in captured.read() {
        let Some(path) = &plan.screenshot else { continue };
        let result = image::RgbaImage::from_raw(frame.width, frame.height, frame.rgba.clone())
            .ok_or_else(|| "captured frame has the wrong size".to_owned())
            .and_then(|img| {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                img.save(path).map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                info!(path = %path.display(), width = frame.width, height = frame.height, latency_frames = frame.latency_frames(), "screenshot written");
                exit.write(AppExit::Success);
            }
            Err(e) => {
                failure.set(format!("cannot write the screenshot {}: {e}", path.display()));
                exit.write(AppExit::error());
            }
        }
    }
    if plan.requested && Instant::now() > plan.deadline {
        failure.set("the screenshot was requested but never captured");
        exit.write(AppExit::error());
    }
}
