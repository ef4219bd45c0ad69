//! The companion's mind in the room (seed §1.1 "Companion AI Controller", §6.1 the call):
//! the server's behaviour tree and emotion machine (`nexus_server::companion::{behaviour,
//! emotion}`) run here every frame on what the companion perceives of the user — head
//! pose (distance, gaze), hand gestures, whether anyone speaks, whether it was asked to
//! follow — and drive the avatar: where it walks and faces, where it looks, its
//! expression, its wave; the server's replies add their emotion, and their audio plays
//! from the companion's head (spatial audio) while the viseme track moves its lips on the
//! same clock. The user's hands touching its head, shoulders or hands are felt too
//! ([`feel_touch`]): gently is welcome, a fast hit startles.

use bevy::prelude::*;

use nexus_avatar::face::emotion::Emotion;
use nexus_avatar::gesture::{Gesture, GestureConfig, GestureEventKind, GestureRecognizer};
use nexus_avatar::ik::OPENXR_TO_MODEL;
use nexus_avatar::lip_sync::{LipSync, VisemeTrack};
use nexus_avatar::plugin::{Avatar, AvatarDrive};
use nexus_avatar::pose::Pose;
use nexus_server::companion::behaviour::{Activity, Controller, OwnGesture};
use nexus_server::companion::emotion::{EmotionalState, Stimulus, TouchRegion, UserGesture};

use crate::app::{UserHand, UserHead};
use crate::companion::{CompanionAvatar, PLACEHOLDER_HEAD_HEIGHT};
use crate::rig::{Handedness, TrackedRig};
use crate::services::ServiceEvent;
use crate::showcase::wrist;
use crate::ui::chat::ChatState;

/// Walking speed, m/s (an unhurried human pace indoors).
pub const WALK_SPEED: f32 = 0.7;
/// Body turning speed, rad/s.
pub const TURN_SPEED: f32 = 2.0;
/// The body turns to face the user once the head would turn further than this, rad.
pub const TURN_FROM_RAD: f32 = 0.7;
/// How long a wave lasts, s.
pub const WAVE_S: f32 = 2.0;
/// How long the companion holds an offered hand at least, s; it keeps hold while the hand
/// stays within [`ARM_REACH_M`].
pub const HOLD_HAND_S: f32 = 3.0;
/// How far from its shoulder the companion can hold a hand, m (an adult's arm).
pub const ARM_REACH_M: f32 = 0.7;
/// How long a held hand is kept after it was last within reach, s.
const HOLD_GRACE_S: f32 = 0.5;

/// What the companion thinks and feels.
#[derive(Component)]
pub struct Mind {
    controller: Controller,
    /// Its emotional state (12 emotions with decay).
    pub feelings: EmotionalState,
    /// What it is doing.
    pub activity: Activity,
    /// The model's forward axis in its own space (+Z for the avatar, −Z for the placeholder).
    facing: Vec3,
    turning: bool,
    wave_left_s: f32,
    hold_left_s: f32,
    /// Sentences of its voice still to play, in order.
    voice_queue: std::collections::VecDeque<crate::services::api::SpokenReply>,
}

impl Mind {
    /// A mind at rest for a body whose forward axis is `facing`.
    #[must_use]
    pub fn new(facing: Vec3) -> Self {
        Self {
            controller: Controller::default(),
            feelings: EmotionalState::default(),
            activity: Activity::Idle,
            facing,
            turning: false,
            wave_left_s: 0.0,
            hold_left_s: 0.0,
            voice_queue: std::collections::VecDeque::new(),
        }
    }

    /// How many sentences of its voice wait to be played.
    #[must_use]
    pub fn queued_speech(&self) -> usize {
        self.voice_queue.len()
    }

    /// Whether it is waving.
    #[must_use]
    pub fn waving(&self) -> bool {
        self.wave_left_s > 0.0
    }
}

/// Marks the audio entity of the companion's voice (a child of the companion).
#[derive(Component, Debug, Clone, Copy)]
pub struct CompanionVoice;

/// A reply being spoken: the viseme track on the audio's clock, from `started_s`
/// (`Time::elapsed_secs`).
#[derive(Component, Debug, Clone)]
pub struct Speaking {
    /// The mouth shapes.
    pub track: VisemeTrack,
    /// When the audio started.
    pub started_s: f32,
}

/// What the companion perceived of the user since its last tick.
#[derive(Resource, Debug, Default)]
pub struct Perceived {
    /// A gesture the user made.
    pub gesture: Option<UserGesture>,
    /// The user asked to be followed (until asked to stay).
    pub follow: bool,
}

/// One gesture recogniser per tracked hand.
#[derive(Resource)]
pub struct HandGestures([GestureRecognizer; 2]);

impl Default for HandGestures {
    fn default() -> Self {
        Self([
            GestureRecognizer::new(Handedness::Left, GestureConfig::default()),
            GestureRecognizer::new(Handedness::Right, GestureConfig::default()),
        ])
    }
}

/// The companion's voice volume, 0–1 (`audio.voice` in the settings; the master volume
/// is bevy_audio's `GlobalVolume`).
#[derive(Resource, Debug, Clone, Copy)]
pub struct VoiceVolume(pub f32);

impl Default for VoiceVolume {
    fn default() -> Self {
        Self(1.0)
    }
}

/// The lip-sync filter (co-articulation) shared by spoken replies.
#[derive(Resource, Default)]
pub struct Lips(pub LipSync);

/// Whether `text` asks the companion to follow (`Some(true)`), to stay (`Some(false)`),
/// or neither. English and French.
#[must_use]
pub fn follow_request(text: &str) -> Option<bool> {
    let t = text.to_lowercase().replace(['’', '-'], " ").replace('\'', " ");
    let any = |phrases: &[&str]| phrases.iter().any(|p| t.contains(p));
    if any(&[
        "stop following",
        "stay here",
        "wait here",
        "stay there",
        "reste ici",
        "attends moi ici",
        "ne me suis plus",
        "arrête de me suivre",
    ]) {
        Some(false)
    } else if any(&["follow me", "come with me", "come along", "suis moi", "viens avec moi", "suivez moi"]) {
        Some(true)
    } else {
        None
    }
}

/// Gives each companion body a mind.
#[allow(clippy::type_complexity)]
pub fn add_minds(mut commands: Commands, bodies: Query<(Entity, Has<Avatar>), (With<CompanionAvatar>, Without<Mind>)>) {
    for (entity, is_avatar) in &bodies {
        // The avatar faces +Z in its own space; the placeholder faces −Z like the room.
        let facing = if is_avatar { Vec3::Z } else { Vec3::NEG_Z };
        commands.entity(entity).insert(Mind::new(facing));
    }
}

/// Recognises the user's hand gestures from tracked joints (hand tracking only).
pub fn see_gestures(
    time: Res<Time>,
    rig: Res<TrackedRig>,
    mut hands: ResMut<HandGestures>,
    mut seen: ResMut<Perceived>,
) {
    let now = time.elapsed_secs_f64();
    for recognizer in &mut hands.0 {
        let hand = rig.hand(recognizer.hand());
        let events = match &hand.joints {
            Some(joints) => recognizer.update(joints, now),
            None => recognizer.lose_tracking(now),
        };
        for ev in events.into_iter().filter(|e| e.kind == GestureEventKind::Started) {
            // An open palm held out in front of the user is a hand offered.
            let reach =
                Vec2::new(hand.grip.position.x - rig.head.position.x, hand.grip.position.z - rig.head.position.z);
            let seen_as = match ev.gesture {
                Gesture::Wave => Some(UserGesture::Wave),
                Gesture::ThumbsUp => Some(UserGesture::ThumbsUp),
                Gesture::Point => Some(UserGesture::Point),
                Gesture::Fist => Some(UserGesture::Fist),
                Gesture::OpenPalm if reach.length() > 0.35 => Some(UserGesture::OfferedHand),
                _ => None,
            };
            if seen_as.is_some() {
                seen.gesture = seen_as;
            }
        }
    }
}

/// The companion's tick: perceive, decide (behaviour tree), feel (emotion machine), act
/// (walk, turn, look, express, wave, take the hand, move the lips).
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn think(
    time: Res<Time>,
    mut seen: ResMut<Perceived>,
    chat: Res<ChatState>,
    lips: Res<Lips>,
    rig: Res<TrackedRig>,
    user: Query<&GlobalTransform, With<UserHead>>,
    mut companions: Query<
        (
            Entity,
            &mut Transform,
            &GlobalTransform,
            &mut Mind,
            Option<&Avatar>,
            Option<&mut AvatarDrive>,
            Option<&Speaking>,
        ),
        With<CompanionAvatar>,
    >,
    mut commands: Commands,
) {
    let Ok(user) = user.single() else { return };
    let Ok((entity, mut body, body_global, mut mind, avatar, drive, speaking)) = companions.single_mut() else {
        return;
    };
    let (dt, now) = (time.delta_secs(), time.elapsed_secs());
    let eyes = avatar.map_or(PLACEHOLDER_HEAD_HEIGHT, |a| a.skeleton().proportions.eye_height());
    let user_pose = Pose::new(user.translation(), user.rotation());
    let own_head = Pose::new(body_global.transform_point(Vec3::new(0.0, eyes, 0.0)), body_global.rotation());
    let talking = speaking.is_some() || chat.writing || chat.waiting || chat.listening;
    let decision = mind.controller.tick(dt, &user_pose, &own_head, seen.gesture.take(), talking, seen.follow);
    for felt in &decision.felt {
        mind.feelings.feel(*felt);
    }
    mind.feelings.advance(dt);
    mind.activity = decision.activity;
    match decision.gesture {
        Some(OwnGesture::Wave) => mind.wave_left_s = WAVE_S,
        Some(OwnGesture::TakeHand) => mind.hold_left_s = HOLD_HAND_S,
        None => {}
    }

    // Walk (on the floor) towards where the tree wants to stand.
    if let Some(target) = decision.walk_to {
        let to = Vec2::new(target.x - body.translation.x, target.z - body.translation.z);
        let step = to.clamp_length_max(WALK_SPEED * dt);
        body.translation += Vec3::new(step.x, 0.0, step.y);
    }
    // Turn the body to the user when walking or when the head alone would strain.
    let yaw_of = |v: Vec3| v.x.atan2(v.z);
    let to_user = user.translation() - body.translation;
    let current = yaw_of(body.rotation * mind.facing);
    let delta = wrap_angle(yaw_of(to_user) - current);
    if decision.walk_to.is_some() || delta.abs() > TURN_FROM_RAD {
        mind.turning = true;
    }
    if mind.turning {
        let turn = delta.clamp(-TURN_SPEED * dt, TURN_SPEED * dt);
        body.rotation = Quat::from_rotation_y(current + turn - yaw_of(mind.facing));
        mind.turning = delta.abs() > 0.05;
    }

    // Holding the user's hand: kept while that hand stays within the companion's reach
    // (the user walks with it or moves it about), let go when they pull away.
    let shoulder = body_global.transform_point(mind.facing.cross(Vec3::Y) * 0.13 * eyes + Vec3::Y * 0.82 * eyes);
    let held = nearest_hand(&rig, shoulder);
    if mind.hold_left_s > 0.0 {
        mind.hold_left_s =
            if held.distance(shoulder) <= ARM_REACH_M { mind.hold_left_s.max(HOLD_GRACE_S) } else { 0.0 };
    }

    // Timers of the gestures being played.
    mind.wave_left_s = (mind.wave_left_s - dt).max(0.0);
    mind.hold_left_s = (mind.hold_left_s - dt).max(0.0);
    let Some(mut drive) = drive else { return };
    let to_local = body_global.affine().inverse();

    // Head and eyes: the look-at point, within a comfortable neck range, with a slow sway.
    let base = Vec3::new(0.01 * (0.6 * now).sin(), eyes + 0.004 * (1.6 * now).sin(), 0.0);
    let look = to_local.transform_point3(decision.look_at) - base;
    let yaw = look.x.atan2(look.z).clamp(-1.0, 1.0);
    let pitch = look.y.atan2(Vec2::new(look.x, look.z).length()).clamp(-0.4, 0.4);
    drive.targets.head = Pose::new(base, Quat::from_euler(EulerRot::YXZ, yaw, -pitch, 0.0) * OPENXR_TO_MODEL);
    drive.look_at = Some(look + base);
    drive.emotions = mind.feelings.expression();

    // The right hand: waving, holding the user's hand, or hanging.
    drive.targets.right_hand = if mind.waving() {
        Some(wave_pose(eyes, WAVE_S - mind.wave_left_s))
    } else if mind.hold_left_s > 0.0 {
        Some(Pose::new(to_local.transform_point3(held), handshake_rotation()))
    } else {
        None
    };

    // Lips on the audio's clock; the track ends, the mouth rests.
    drive.speech = match speaking {
        Some(s) if now - s.started_s <= s.track.end_s() + 0.05 => Some(lips.0.sample(&s.track, now - s.started_s)),
        Some(_) => {
            commands.entity(entity).remove::<Speaking>();
            None
        }
        None => None,
    };
}

/// How far from a part of the companion's body a hand still touches it, m (on top of
/// the part's own size).
pub const TOUCH_M: f32 = 0.06;
/// A touch faster than this is a hit, not a caress, m/s.
pub const GENTLE_MAX_SPEED: f32 = 1.2;

/// What each of the user's hands touched last frame, and where it was.
#[derive(Resource, Debug, Default)]
pub struct Touching {
    last: [Option<Vec3>; 2],
    region: [Option<TouchRegion>; 2],
    /// The latest touches felt (region, gentle), oldest first.
    pub felt: Vec<(TouchRegion, bool)>,
}

/// How many touches [`Touching::felt`] keeps.
const MAX_TOUCHES_KEPT: usize = 32;

/// The parts of the companion a hand can touch, in its body's space: where, and their
/// radius.
fn touchable(eyes: f32) -> [(TouchRegion, Vec3, f32); 5] {
    // Proportions of a standing adult relative to eye height (shoulders ~0.82, hanging
    // hands ~0.48 of it; shoulders ~0.13 of it apart from the middle).
    let (shoulder_y, shoulder_x, hand_y, hand_x) = (0.82 * eyes, 0.13 * eyes, 0.48 * eyes, 0.17 * eyes);
    [
        (TouchRegion::Head, Vec3::new(0.0, eyes - 0.02, 0.0), 0.12),
        (TouchRegion::Shoulder, Vec3::new(shoulder_x, shoulder_y, 0.0), 0.07),
        (TouchRegion::Shoulder, Vec3::new(-shoulder_x, shoulder_y, 0.0), 0.07),
        (TouchRegion::Hand, Vec3::new(hand_x, hand_y, 0.0), 0.06),
        (TouchRegion::Hand, Vec3::new(-hand_x, hand_y, 0.0), 0.06),
    ]
}

/// The user's hands touching the companion: a hand that comes into contact with its
/// head, a shoulder or a hand is a [`Stimulus::Touch`] — gentle below
/// [`GENTLE_MAX_SPEED`] — that the emotion machine feels; a hand held by the companion
/// counts as touching its hand.
pub fn feel_touch(
    time: Res<Time>,
    hands: Query<(&UserHand, &GlobalTransform, &Visibility)>,
    mut touching: ResMut<Touching>,
    mut companions: Query<(&GlobalTransform, &mut Mind, Option<&Avatar>), With<CompanionAvatar>>,
) {
    let Ok((body, mut mind, avatar)) = companions.single_mut() else { return };
    let dt = time.delta_secs().max(1e-4);
    let eyes = avatar.map_or(PLACEHOLDER_HEAD_HEIGHT, |a| a.skeleton().proportions.eye_height());
    let to_local = body.affine().inverse();
    let holding = mind.hold_left_s > 0.0;
    for (hand, global, visibility) in &hands {
        let i = usize::from(hand.0 == Handedness::Right);
        if *visibility == Visibility::Hidden {
            touching.last[i] = None;
            touching.region[i] = None;
            continue;
        }
        let at = global.translation();
        let speed = touching.last[i].map_or(0.0, |last| last.distance(at) / dt);
        touching.last[i] = Some(at);
        let local = to_local.transform_point3(at);
        let contact = touchable(eyes)
            .into_iter()
            .filter(|(_, centre, radius)| local.distance(*centre) <= radius + TOUCH_M)
            .min_by(|a, b| local.distance(a.1).total_cmp(&local.distance(b.1)))
            .map(|(region, ..)| region)
            .or((holding && local.distance(Vec3::new(0.0, eyes, 0.0)) < 1.0).then_some(TouchRegion::Hand));
        if let Some(region) = contact
            && contact != touching.region[i]
        {
            let gentle = speed <= GENTLE_MAX_SPEED;
            mind.feelings.feel(Stimulus::Touch { region, gentle });
            if touching.felt.len() >= MAX_TOUCHES_KEPT {
                touching.felt.remove(0);
            }
            touching.felt.push((region, gentle));
            debug!("touched: {region:?}, gentle: {gentle} ({speed:.2} m/s)");
        }
        touching.region[i] = contact;
    }
}

/// The angle in (−π, π].
fn wrap_angle(a: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    let a = a.rem_euclid(TAU);
    if a > PI { a - TAU } else { a }
}

/// The right wrist raised beside the head, palm to the user, rocking twice a second
/// (avatar space: the model faces +Z, its right is −X).
fn wave_pose(eyes: f32, t: f32) -> Pose {
    let raised = wrist(Vec3::new(-0.3, eyes - 0.02, 0.12), Vec3::Y, Vec3::NEG_Z);
    let rock = Quat::from_rotation_z(0.35 * (std::f32::consts::TAU * 2.0 * t).sin());
    Pose::new(raised.position, rock * raised.rotation)
}

/// A handshake: fingers forward, the back of the (right) hand to the right.
fn handshake_rotation() -> Quat {
    wrist(Vec3::ZERO, Vec3::Z, Vec3::NEG_X).rotation
}

/// The user's hand nearest to `point` (world space).
fn nearest_hand(rig: &TrackedRig, point: Vec3) -> Vec3 {
    let (l, r) = (rig.left.grip.position, rig.right.grip.position);
    if l.distance(point) < r.distance(point) { l } else { r }
}

/// The server's replies: their emotion is felt, their audio is queued to play from the
/// companion's head — a sentence at a time as a voice turn streams it, or whole — and a
/// request to follow (or stay) is taken. A hush (what was said was taken back) stops the
/// voice and empties the queue.
pub fn on_answers(
    mut events: MessageReader<ServiceEvent>,
    mut seen: ResMut<Perceived>,
    mut companions: Query<(Entity, &mut Mind, Option<&Children>), With<CompanionAvatar>>,
    voices: Query<(), With<CompanionVoice>>,
    mut commands: Commands,
) {
    for ev in events.read() {
        let Ok((entity, mut mind, children)) = companions.single_mut() else { continue };
        match ev {
            ServiceEvent::Spoken { speech } => mind.voice_queue.push_back(speech.clone()),
            ServiceEvent::Hush => {
                mind.voice_queue.clear();
                commands.entity(entity).remove::<Speaking>();
                for child in children.into_iter().flatten().filter(|c| voices.contains(**c)) {
                    commands.entity(*child).despawn();
                }
            }
            ServiceEvent::Answered { said, outcome, .. } => {
                if let Some(follow) = said.as_deref().and_then(follow_request) {
                    seen.follow = follow;
                }
                let Ok(turn) = outcome else { continue };
                let Some(reply) = &turn.reply else { continue };
                if let Some(emotion) = Emotion::from_name(&reply.emotion) {
                    mind.feelings.feel(Stimulus::Tag { emotion, intensity: reply.intensity.clamp(0.0, 1.0) });
                }
                if let Some(speech) = &reply.speech {
                    mind.voice_queue.push_back(speech.clone());
                }
            }
            _ => {}
        }
    }
}

/// Companions not speaking now.
type Quiet = (With<CompanionAvatar>, Without<Speaking>);

/// Plays the next queued sentence of the companion's voice once the one before has ended:
/// its audio from the companion's head, its visemes on the lips.
pub fn speak_queued(
    time: Res<Time>,
    volume: Res<VoiceVolume>,
    mut sources: ResMut<Assets<AudioSource>>,
    mut companions: Query<(Entity, &mut Mind, Option<&Avatar>), Quiet>,
    mut commands: Commands,
) {
    for (entity, mut mind, avatar) in &mut companions {
        let Some(speech) = mind.voice_queue.pop_front() else { continue };
        let wav = match speech.wav() {
            Ok(w) => w,
            Err(e) => {
                warn!("{e}");
                continue;
            }
        };
        let eyes = avatar.map_or(PLACEHOLDER_HEAD_HEIGHT, |a| a.skeleton().proportions.eye_height());
        let audio = sources.add(AudioSource { bytes: wav.into() });
        commands.entity(entity).insert(Speaking { track: speech.visemes.clone(), started_s: time.elapsed_secs() });
        commands.entity(entity).with_child((
            Name::new("companion voice"),
            CompanionVoice,
            AudioPlayer(audio),
            PlaybackSettings::DESPAWN.with_spatial(true).with_volume(bevy::audio::Volume::Linear(volume.0)),
            Transform::from_xyz(0.0, eyes - 0.08, 0.0),
        ));
    }
}

/// The systems, in order (the caller schedules them in the room).
pub struct ConversationPlugin;

impl Plugin for ConversationPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Perceived>()
            .init_resource::<HandGestures>()
            .init_resource::<Touching>()
            .init_resource::<Lips>()
            .init_resource::<VoiceVolume>();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nexus_avatar::face::blend_shapes::BlendShape;
    use nexus_avatar::skeleton::Skeleton;

    use super::*;
    use crate::services::api::{CompanionReply, SpokenReply, Turn, Verdict};

    /// 50 ticks per second.
    const TICK_S: f32 = 0.02;

    /// The conversation systems on a bare app: a companion avatar at the origin facing
    /// +Z, the user's head `user_z` metres in front of it, looking at its face.
    fn room(user_z: f32) -> (App, Entity, Entity) {
        let mut app = App::new();
        app.add_plugins((
            MinimalPlugins,
            bevy::asset::AssetPlugin::default(),
            bevy::transform::TransformPlugin,
            ConversationPlugin,
        ))
        .init_asset::<AudioSource>()
        .add_message::<ServiceEvent>()
        .insert_resource(ChatState::default())
        .insert_resource(TrackedRig::default())
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(Duration::from_secs_f32(TICK_S)))
        .add_systems(Update, (add_minds, see_gestures, on_answers, speak_queued, feel_touch, think).chain());
        let skeleton = Skeleton::from_height(1.68);
        let eyes = skeleton.proportions.eye_height();
        let companion = app
            .world_mut()
            .spawn((
                CompanionAvatar,
                Transform::default(),
                Avatar::new(skeleton.clone(), 7),
                AvatarDrive::standing(&skeleton),
            ))
            .id();
        let user = app
            .world_mut()
            .spawn((UserHead, Transform::from_xyz(0.0, eyes, user_z).looking_at(Vec3::new(0.0, eyes, 0.0), Vec3::Y)))
            .id();
        (app, companion, user)
    }

    fn run(app: &mut App, seconds: f32) {
        for _ in 0..(seconds / TICK_S).ceil() as u32 {
            app.update();
        }
    }

    fn floor_distance(app: &App, a: Entity, b: Entity) -> f32 {
        let p = |e| app.world().get::<Transform>(e).expect("transform").translation;
        let d = p(a) - p(b);
        Vec2::new(d.x, d.z).length()
    }

    /// `text` spoken by espeak-ng, as the server sends it.
    fn speech_of(text: &str) -> SpokenReply {
        use base64::Engine as _;
        use nexus_avatar::lip_sync::espeak::{VoiceSettings, synthesize};
        let speech =
            synthesize(text, &VoiceSettings { voice: "en-us".into(), rate_wpm: 175, pitch: 50 }).expect("espeak-ng");
        let wav = nexus_server::companion::voice::wav(&speech.samples, speech.sample_rate);
        SpokenReply {
            duration_s: speech.duration_s,
            wav_base64: base64::engine::general_purpose::STANDARD.encode(wav),
            visemes: speech.viseme_track().expect("visemes"),
        }
    }

    /// A reply as the server sends it, spoken by espeak-ng.
    fn spoken_reply(text: &str, emotion: &str) -> ServiceEvent {
        let reply = CompanionReply {
            text: text.into(),
            emotion: emotion.into(),
            intensity: 0.9,
            moderation: "allow".into(),
            speech: Some(speech_of(text)),
        };
        let turn = Turn {
            moderation: Verdict { action: "allow".into(), reason: None, mode: "STRICT".into() },
            reply: Some(reply),
            remembered: Vec::new(),
            notice: None,
        };
        ServiceEvent::Answered {
            said: Some("Follow me, let's look at the view".into()),
            spoken: false,
            companion: Some("Mira".into()),
            outcome: Ok(turn),
        }
    }

    #[test]
    fn the_companion_walks_up_to_a_distant_user_faces_them_and_converses_under_their_gaze() {
        let (mut app, companion, user) = room(4.0);
        run(&mut app, 0.2);
        assert_eq!(app.world().get::<Mind>(companion).expect("a mind").activity, Activity::Approach);
        run(&mut app, 6.0);
        let d = floor_distance(&app, companion, user);
        assert!((d - nexus_server::companion::behaviour::COMFORT_M).abs() < 0.1, "stopped {d:.2} m away");
        let body = app.world().get::<Transform>(companion).expect("body");
        assert!((body.rotation * Vec3::Z).dot(Vec3::Z) > 0.98, "faces the user");
        let mind = app.world().get::<Mind>(companion).expect("mind");
        assert_eq!(mind.activity, Activity::Converse, "eye contact held");
        let drive = app.world().get::<AvatarDrive>(companion).expect("drive");
        let look = drive.look_at.expect("looks somewhere");
        assert!(look.z > 0.8 && look.x.abs() < 0.05, "looks at the user: {look}");
    }

    /// The companion's voices playing now.
    fn voices_playing(app: &App, companion: Entity) -> usize {
        let world = app.world();
        world
            .get::<Children>(companion)
            .map_or(0, |c| c.iter().filter(|e| world.get::<CompanionVoice>(*e).is_some()).count())
    }

    #[test]
    fn streamed_sentences_play_one_after_another_and_a_hush_stops_them() {
        let (mut app, companion, _) = room(1.0);
        run(&mut app, 0.5);
        let (first, second) = (speech_of("Hello there."), speech_of("I like the sea at dawn."));
        app.world_mut().write_message(ServiceEvent::Spoken { speech: first.clone() });
        app.world_mut().write_message(ServiceEvent::Spoken { speech: second.clone() });
        run(&mut app, TICK_S);
        let speaking = |app: &App| app.world().get::<Speaking>(companion).map(|s| s.track.clone());
        assert_eq!(speaking(&app), Some(first.visemes.clone()), "the first sentence plays");
        assert_eq!(app.world().get::<Mind>(companion).expect("mind").queued_speech(), 1, "the second waits");
        assert_eq!(voices_playing(&app, companion), 1);
        // Once the first has ended, the second plays.
        run(&mut app, first.visemes.end_s() + 0.2);
        assert_eq!(speaking(&app), Some(second.visemes.clone()));
        assert_eq!(app.world().get::<Mind>(companion).expect("mind").queued_speech(), 0);

        // What was said is taken back: the voice stops and nothing queued plays.
        app.world_mut().write_message(ServiceEvent::Spoken { speech: first });
        app.world_mut().write_message(ServiceEvent::Hush);
        run(&mut app, TICK_S);
        assert_eq!(speaking(&app), None);
        assert_eq!(app.world().get::<Mind>(companion).expect("mind").queued_speech(), 0);
        assert_eq!(voices_playing(&app, companion), 0, "the audio is gone");
    }

    #[test]
    fn a_spoken_reply_is_felt_heard_from_the_companion_and_moves_its_lips_until_it_ends() {
        let (mut app, companion, user) = room(1.0);
        run(&mut app, 0.5);
        app.world_mut().write_message(spoken_reply("Oh, what a lovely view of the square!", "JOY"));
        run(&mut app, TICK_S);
        let world = app.world();
        let mind = world.get::<Mind>(companion).expect("mind");
        assert_eq!(mind.feelings.current, Emotion::Joy, "{:?}", mind.feelings.levels);
        let track_end = world.get::<Speaking>(companion).expect("speaking").track.end_s();
        let voices: Vec<_> = world
            .get::<Children>(companion)
            .expect("children")
            .iter()
            .filter_map(|c| world.get::<PlaybackSettings>(c))
            .collect();
        assert_eq!(voices.len(), 1, "one voice plays");
        assert!(voices[0].spatial, "from where the companion stands");
        let face = world.get::<AvatarDrive>(companion).expect("drive").emotions.dominant().expect("a face");
        assert_eq!(face.0, Emotion::Joy);

        let mut jaw_max = 0.0f32;
        let mut closed_frames = 0;
        for _ in 0..((track_end / TICK_S) as u32) {
            app.update();
            let speech = app.world().get::<AvatarDrive>(companion).expect("drive").speech;
            let jaw = speech.expect("lips move while the audio plays").get(BlendShape::JawOpen);
            jaw_max = jaw_max.max(jaw);
            closed_frames += u32::from(jaw < 0.02);
        }
        assert!(jaw_max > 0.3, "vowels open the jaw: {jaw_max}");
        assert!(closed_frames > 0, "and consonants and pauses close it");
        run(&mut app, 0.2);
        assert!(app.world().get::<Speaking>(companion).is_none());
        assert!(app.world().get::<AvatarDrive>(companion).expect("drive").speech.is_none(), "the mouth rests");

        // "Follow me" was heard: the user walks away and the companion keeps up.
        assert!(app.world().resource::<Perceived>().follow);
        app.world_mut().get_mut::<Transform>(user).expect("user").translation.z = 4.0;
        run(&mut app, 6.0);
        let d = floor_distance(&app, companion, user);
        assert!((d - nexus_server::companion::behaviour::FOLLOW_M).abs() < 0.25, "follows at {d:.2} m");
        assert_eq!(app.world().get::<Mind>(companion).expect("mind").activity, Activity::Follow);
    }

    #[test]
    fn a_wave_is_waved_back_with_the_right_hand_raised_then_lowered() {
        let (mut app, companion, _user) = room(1.2);
        run(&mut app, 0.3);
        app.world_mut().resource_mut::<Perceived>().gesture = Some(UserGesture::Wave);
        run(&mut app, TICK_S);
        let eyes = Skeleton::from_height(1.68).proportions.eye_height();
        let mind = app.world().get::<Mind>(companion).expect("mind");
        assert_eq!(mind.activity, Activity::WaveBack);
        let hand = app.world().get::<AvatarDrive>(companion).expect("drive").targets.right_hand.expect("hand up");
        assert!(hand.position.y > eyes - 0.1 && hand.position.x < -0.2, "{:?}", hand.position);
        let felt = app.world().get::<Mind>(companion).expect("mind").feelings.triggers.clone();
        assert!(felt.iter().any(|s| matches!(s, Stimulus::Gesture { gesture: UserGesture::Wave })), "{felt:?}");
        run(&mut app, WAVE_S + 0.1);
        assert!(app.world().get::<AvatarDrive>(companion).expect("drive").targets.right_hand.is_none());
    }

    #[test]
    fn a_gentle_touch_on_the_shoulder_is_welcome_and_a_fast_hit_on_the_head_startles() {
        let (mut app, companion, _user) = room(1.0);
        let hand = app
            .world_mut()
            .spawn((UserHand(Handedness::Right), Transform::from_xyz(0.3, 1.0, 0.8), Visibility::Inherited))
            .id();
        run(&mut app, 0.5);
        let eyes = Skeleton::from_height(1.68).proportions.eye_height();
        let body = *app.world().get::<Transform>(companion).expect("body");
        let level = |app: &App, e: Emotion| app.world().get::<Mind>(companion).expect("mind").feelings.level(e);
        let (love, content) = (level(&app, Emotion::Love), level(&app, Emotion::Contentment));
        // The hand moves to the companion's shoulder at 0.5 m/s and rests there.
        let shoulder = body.transform_point(Vec3::new(0.13 * eyes, 0.82 * eyes, 0.0));
        let start = app.world().get::<Transform>(hand).expect("hand").translation;
        let steps = (start.distance(shoulder) / (0.5 * TICK_S)).ceil() as u32;
        for k in 1..=steps {
            let at = start.lerp(shoulder, k as f32 / steps as f32);
            app.world_mut().get_mut::<Transform>(hand).expect("hand").translation = at;
            app.update();
        }
        run(&mut app, 0.5);
        let felt = app.world().resource::<Touching>().felt.clone();
        assert_eq!(felt, vec![(TouchRegion::Shoulder, true)], "one gentle touch, felt once while the hand rests");
        assert!(
            level(&app, Emotion::Love) > love || level(&app, Emotion::Contentment) > content,
            "a welcome touch warms it"
        );
        // Away, then a hit to the head: 0.4 m in one 20 ms tick.
        app.world_mut().get_mut::<Transform>(hand).expect("hand").translation = Vec3::new(0.6, 1.0, 0.9);
        run(&mut app, 0.2);
        let head = body.transform_point(Vec3::new(0.0, eyes - 0.02, 0.0));
        // (A hand's global transform follows its transform one update later.)
        app.world_mut().get_mut::<Transform>(hand).expect("hand").translation = head + Vec3::new(0.0, 0.0, 0.4);
        app.update();
        app.update();
        let surprise = level(&app, Emotion::Surprise);
        app.world_mut().get_mut::<Transform>(hand).expect("hand").translation = head + Vec3::new(0.0, 0.0, 0.1);
        app.update();
        app.update();
        let felt = app.world().resource::<Touching>().felt.clone();
        assert_eq!(felt.last(), Some(&(TouchRegion::Head, false)), "{felt:?}");
        assert!(level(&app, Emotion::Surprise) > surprise + 0.2, "a hit startles");
        // A hidden (untracked) hand touches nothing.
        *app.world_mut().get_mut::<Visibility>(hand).expect("visibility") = Visibility::Hidden;
        run(&mut app, 0.1);
        assert_eq!(app.world().resource::<Touching>().felt.len(), 2);
    }

    #[test]
    fn an_offered_hand_is_held_while_the_user_moves_it_and_let_go_when_they_pull_away() {
        let (mut app, companion, _user) = room(0.7);
        run(&mut app, 0.3);
        let eyes = Skeleton::from_height(1.68).proportions.eye_height();
        // The user's right hand held out in front of the companion's right hand.
        let start = Vec3::new(-0.15, 0.55 * eyes, 0.35);
        app.world_mut().resource_mut::<TrackedRig>().right.grip.position = start;
        app.world_mut().resource_mut::<TrackedRig>().left.grip.position = Vec3::new(0.3, 0.5 * eyes, 1.2);
        app.world_mut().resource_mut::<Perceived>().gesture = Some(UserGesture::OfferedHand);
        run(&mut app, TICK_S);
        assert_eq!(app.world().get::<Mind>(companion).expect("mind").activity, Activity::TakeHand);
        let held_at = |app: &App| {
            let body = app.world().get::<GlobalTransform>(companion).expect("body").compute_transform();
            app.world()
                .get::<AvatarDrive>(companion)
                .expect("drive")
                .targets
                .right_hand
                .map(|h| body.transform_point(h.position))
        };
        // The user moves the hand about for twice the minimum hold; the companion's hand
        // goes with it all along.
        let steps = ((2.0 * HOLD_HAND_S) / TICK_S) as u32;
        for k in 0..steps {
            let t = k as f32 * TICK_S;
            let at = start + Vec3::new(0.12 * (1.3 * t).sin(), 0.08 * (0.9 * t).sin(), 0.05 * (0.7 * t).sin());
            app.world_mut().resource_mut::<TrackedRig>().right.grip.position = at;
            app.update();
            let held = held_at(&app).unwrap_or_else(|| panic!("let go at {t:.2} s"));
            assert!(held.distance(at) < 0.02, "at {t:.2} s the hand is {:.3} m off", held.distance(at));
        }
        // Pulled away out of reach: let go at once.
        app.world_mut().resource_mut::<TrackedRig>().right.grip.position = Vec3::new(-0.2, 0.55 * eyes, 1.3);
        app.update();
        app.update();
        assert_eq!(held_at(&app), None, "the hand is let go");
    }

    #[test]
    fn requests_to_follow_and_to_stay_are_understood_in_both_languages() {
        assert_eq!(follow_request("Follow me to the bar!"), Some(true));
        assert_eq!(follow_request("viens avec moi, on va voir la vue"), Some(true));
        assert_eq!(follow_request("Suis-moi"), Some(true));
        assert_eq!(follow_request("ok, stay here please"), Some(false));
        assert_eq!(follow_request("Reste ici, je reviens"), Some(false));
        assert_eq!(follow_request("Stop following me"), Some(false));
        assert_eq!(follow_request("I follow the news every morning"), None);
    }

    #[test]
    fn angles_wrap_to_the_short_way_round() {
        assert!((wrap_angle(3.5) - (3.5 - std::f32::consts::TAU)).abs() < 1e-5);
        assert!((wrap_angle(-3.5) - (std::f32::consts::TAU - 3.5)).abs() < 1e-5);
        assert!((wrap_angle(0.3) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn the_wave_raises_the_hand_with_fingers_up_and_the_palm_out() {
        let pose = wave_pose(1.6, 0.0);
        assert!(pose.position.y > 1.5 && pose.position.x < 0.0, "{:?}", pose.position);
        let fingers = pose.rotation * Vec3::NEG_Z;
        let back = pose.rotation * Vec3::Y;
        assert!(fingers.dot(Vec3::Y) > 0.99, "fingers {fingers}");
        assert!(back.dot(Vec3::NEG_Z) > 0.99, "back of the hand {back}");
        let shake = handshake_rotation();
        assert!((shake * Vec3::NEG_Z).dot(Vec3::Z) > 0.99);
        assert!((shake.length() - 1.0).abs() < 1e-5 && (pose.rotation.length() - 1.0).abs() < 1e-5);
    }
}
