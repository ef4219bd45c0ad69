//! Other people in the room (seed §1.1 "VR Session Manager" and "Sync Coordinator", §6.1
//! the call's streams). Once signed in, the client enters a room on the server through
//! nexus-net's [`RoomClient`] — WebRTC when it connects, the WebSocket otherwise: a new
//! room of its own, or the one named with `--join ROOM_ID`. It sends the user's avatar
//! state (head and hands, world space) at the room's tick rate and, while V is held and
//! someone else is there, their voice as Opus frames. The other members appear as
//! avatars — the generated one, driven by full-body IK from their head and hands, placed
//! from the interpolated snapshots — and their voice plays from their head through a
//! per-speaker jitter buffer, streaming into bevy_audio ([`VoiceStream`]). The server's
//! captions of what they say, and its moderation notices, go to the chat panel.
//!
//! The connection lives on the services' tokio runtime ([`PresenceLink`]); Bevy talks to
//! it through channels and reads the members' latest states from a shared map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::audio::{AddAudioSource as _, Decodable, Source};
use bevy::prelude::*;
use nexus_avatar::plugin::{AvatarDrive, AvatarSpawn, spawn_avatar};
use nexus_avatar::skeleton::Skeleton;
use nexus_net::control::{RoomId, ServerMsg, Slot};
use nexus_net::realtime::Realtime;
use nexus_net::state::{AvatarState, Pose, TrackedPart};
use nexus_net::transport::client::{ClientEvent, RoomClient};
use nexus_net::voice::{DEFAULT_BITRATE, JitterBuffer, SAMPLE_RATE, VoiceEncoder};

use crate::companion::AVATAR_ASSET;
use crate::room::RoomEntity;
use crate::ui::chat::ChatState;

/// Members a room of ours holds.
pub const ROOM_CAPACITY: u16 = 8;
/// How often the members' interpolated states are sampled for drawing.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// One voice frame.
const FRAME: Duration = Duration::from_millis(20);
/// Voice waiting to be played, per speaker, at most (older audio is dropped).
const MAX_QUEUED_S: f32 = 0.5;

/// What Bevy asks of the connection.
#[derive(Debug)]
enum Command {
    Pose(Box<AvatarState>),
    Voice(Vec<i16>),
    Leave,
}

/// What the connection reports.
#[derive(Debug, Clone)]
pub enum PresenceEvent {
    /// In the room.
    Entered {
        /// Which room (others join it with `--join`).
        room: RoomId,
        /// Our slot.
        slot: Slot,
        /// Whether real-time data rides WebRTC (else the WebSocket).
        rtc: bool,
    },
    /// Someone is (or came) in the room.
    Joined {
        /// Their slot.
        slot: Slot,
        /// Their name.
        name: String,
        /// Their voice, decoded, for the audio device.
        voice: VoiceQueue,
    },
    /// Someone left.
    Left {
        /// Their slot.
        slot: Slot,
    },
    /// A member was muted or unmuted by a moderator (or by moderation).
    Muted {
        /// Whom.
        slot: Slot,
        /// Now muted?
        muted: bool,
    },
    /// What a member said, as the server heard it.
    Caption {
        /// The speaker.
        slot: Slot,
        /// Their words.
        text: String,
    },
    /// Moderation acted on what the user said in the room.
    Moderated {
        /// `warn` or `block`.
        action: String,
        /// Why.
        message: String,
    },
    /// The connection failed or ended (the room is then the user's alone).
    Ended {
        /// Why.
        reason: String,
    },
}

/// A remote member's voice, decoded: 48 kHz mono samples waiting for the audio device.
#[derive(Debug, Clone, Default)]
pub struct VoiceQueue(Arc<Mutex<VecDeque<f32>>>);

impl VoiceQueue {
    /// Queues 20 ms of PCM, dropping the oldest audio beyond [`MAX_QUEUED_S`].
    pub fn push(&self, pcm: &[i16]) {
        if let Ok(mut q) = self.0.lock() {
            q.extend(pcm.iter().map(|&s| f32::from(s) / 32_768.0));
            let max = (MAX_QUEUED_S * SAMPLE_RATE as f32) as usize;
            let excess = q.len().saturating_sub(max);
            q.drain(..excess);
        }
    }

    /// The next sample to play, if any.
    #[must_use]
    pub fn pop(&self) -> Option<f32> {
        self.0.lock().ok()?.pop_front()
    }

    /// Samples waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |q| q.len())
    }

    /// Whether nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The connection to the room, running on a tokio runtime.
#[derive(Debug)]
pub struct PresenceLink {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    events: Mutex<std::sync::mpsc::Receiver<PresenceEvent>>,
    states: Arc<Mutex<HashMap<Slot, AvatarState>>>,
}

impl PresenceLink {
    /// Connects to the room protocol at `ws_url` with `token` and enters `room` (or
    /// creates one called `name`), binding WebRTC on `udp`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        ws_url: String,
        token: String,
        room: Option<RoomId>,
        name: String,
        udp: Vec<String>,
    ) -> Self {
        let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
        let (tx, events) = std::sync::mpsc::channel();
        let states = Arc::default();
        let target = Target { ws_url, token, room, name, udp };
        runtime.spawn(run(target, rx, tx, Arc::clone(&states)));
        Self { commands, events: Mutex::new(events), states }
    }

    /// Sends the user's avatar state (world space, captured now).
    pub fn send_pose(&self, state: AvatarState) {
        let _ = self.commands.send(Command::Pose(Box::new(state)));
    }

    /// Sends the user's voice: 48 kHz mono PCM, any length (it is cut into 20 ms frames).
    pub fn send_voice(&self, pcm: Vec<i16>) {
        let _ = self.commands.send(Command::Voice(pcm));
    }

    /// Leaves the room and closes the connection.
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }

    /// What happened since the last call.
    pub fn poll(&self) -> Vec<PresenceEvent> {
        self.events.lock().map(|rx| rx.try_iter().collect()).unwrap_or_default()
    }

    /// The other members' avatars to draw now (interpolated, world space).
    #[must_use]
    pub fn states(&self) -> HashMap<Slot, AvatarState> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for PresenceLink {
    fn drop(&mut self) {
        self.leave();
    }
}

struct Target {
    ws_url: String,
    token: String,
    room: Option<RoomId>,
    name: String,
    udp: Vec<String>,
}

/// One remote speaker's receive side.
struct Speaker {
    buffer: JitterBuffer,
    queue: VoiceQueue,
    /// When their last packet came; `None` while they are silent.
    last_packet: Option<Instant>,
}

/// Silence after which a speaker's jitter buffer starts afresh (they send nothing while
/// not talking, so their next packet follows the last one in sequence, not in time).
const TALK_GAP: Duration = Duration::from_millis(300);

async fn run(
    target: Target,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    events: std::sync::mpsc::Sender<PresenceEvent>,
    states: Arc<Mutex<HashMap<Slot, AvatarState>>>,
) {
    let reason = match session(&target, &mut commands, &events, &states).await {
        Ok(()) => "left the room".to_owned(),
        Err(e) => e,
    };
    if let Ok(mut s) = states.lock() {
        s.clear();
    }
    let _ = events.send(PresenceEvent::Ended { reason });
}

async fn session(
    target: &Target,
    commands: &mut tokio::sync::mpsc::UnboundedReceiver<Command>,
    events: &std::sync::mpsc::Sender<PresenceEvent>,
    states: &Arc<Mutex<HashMap<Slot, AvatarState>>>,
) -> Result<(), String> {
    let mut client = RoomClient::connect(&target.ws_url, &target.token, None).await.map_err(|e| e.to_string())?;
    let entered = match &target.room {
        Some(room) => client.join_room(room).await,
        None => client.create_room(&target.name, ROOM_CAPACITY).await,
    };
    let (room, slot) = entered.map_err(|e| e.to_string())?;
    // WebRTC when it connects; the same messages ride the WebSocket otherwise.
    let rtc = match client.upgrade_rtc(&target.udp).await {
        Ok(()) => true,
        Err(e) => {
            tracing::info!("room: WebRTC did not connect ({e}); using the WebSocket");
            false
        }
    };
    let _ = events.send(PresenceEvent::Entered { room, slot, rtc });
    let mut speakers: HashMap<Slot, Speaker> = HashMap::new();
    let present: Vec<(Slot, String)> = client.members().iter().map(|(s, m)| (*s, m.name.clone())).collect();
    for (slot, name) in present {
        joined(&mut speakers, events, slot, name)?;
    }
    let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE, 5).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (mut last_sample, mut frames_played) = (Instant::now(), 0u64);
    loop {
        // What Bevy asked for.
        loop {
            match commands.try_recv() {
                Ok(Command::Pose(state)) => client.send_pose(&state, None).await.map_err(|e| e.to_string())?,
                Ok(Command::Voice(pcm)) => {
                    for frame in encoder.push(&pcm).map_err(|e| e.to_string())? {
                        client.send_message(&Realtime::Voice(frame)).await.map_err(|e| e.to_string())?;
                    }
                }
                Ok(Command::Leave) | Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    client.close().await;
                    return Ok(());
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
            }
        }
        // What the server sent (or a short wait).
        if let Some(event) = client.next_event(Duration::from_millis(4)).await {
            let arrival = started.elapsed().as_micros() as u64;
            match event {
                ClientEvent::Control(message) => {
                    if !on_control(message, &mut speakers, events)? {
                        return Err("removed from the room".into());
                    }
                }
                ClientEvent::Realtime(Realtime::Voice(frame)) => {
                    if let Some(s) = speakers.get_mut(&frame.from) {
                        if s.last_packet.is_none() {
                            s.buffer = JitterBuffer::new().map_err(|e| e.to_string())?;
                        }
                        s.last_packet = Some(Instant::now());
                        s.buffer.push(frame, arrival);
                    }
                }
                ClientEvent::Realtime(_) | ClientEvent::BadRealtime(_) => {}
                ClientEvent::Closed => return Err("the server closed the connection".into()),
            }
        }
        // The members' states for drawing.
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            let slots: Vec<Slot> = client.members().keys().copied().collect();
            let sampled: Vec<(Slot, AvatarState)> =
                slots.iter().filter_map(|&s| client.sample(s).map(|sample| (s, sample.state))).collect();
            if let Ok(mut map) = states.lock() {
                map.retain(|s, _| slots.contains(s));
                map.extend(sampled);
            }
        }
        // Voice: one frame per speaker every 20 ms, on this task's clock.
        let due = (started.elapsed().as_micros() / FRAME.as_micros()) as u64;
        while frames_played < due {
            frames_played += 1;
            for speaker in speakers.values_mut() {
                let Some(last) = speaker.last_packet else { continue };
                if speaker.buffer.buffered() == 0 && last.elapsed() > TALK_GAP {
                    speaker.last_packet = None; // stopped talking
                    continue;
                }
                if let Ok(pcm) = speaker.buffer.pull() {
                    speaker.queue.push(&pcm);
                }
            }
        }
    }
}

fn joined(
    speakers: &mut HashMap<Slot, Speaker>,
    events: &std::sync::mpsc::Sender<PresenceEvent>,
    slot: Slot,
    name: String,
) -> Result<(), String> {
    let speaker = Speaker {
        buffer: JitterBuffer::new().map_err(|e| e.to_string())?,
        queue: VoiceQueue::default(),
        last_packet: None,
    };
    let _ = events.send(PresenceEvent::Joined { slot, name, voice: speaker.queue.clone() });
    speakers.insert(slot, speaker);
    Ok(())
}

/// A control message; false when we were removed from the room.
fn on_control(
    message: ServerMsg,
    speakers: &mut HashMap<Slot, Speaker>,
    events: &std::sync::mpsc::Sender<PresenceEvent>,
) -> Result<bool, String> {
    let event = match message {
        ServerMsg::MemberJoined(m) => {
            joined(speakers, events, m.slot, m.name)?;
            return Ok(true);
        }
        ServerMsg::MemberLeft { slot } => {
            speakers.remove(&slot);
            PresenceEvent::Left { slot }
        }
        ServerMsg::MemberMuted { slot, muted } => PresenceEvent::Muted { slot, muted },
        ServerMsg::Caption { slot, text } => PresenceEvent::Caption { slot, text },
        ServerMsg::Moderated { action, message, .. } => PresenceEvent::Moderated { action, message },
        ServerMsg::Removed { .. } => return Ok(false),
        _ => return Ok(true),
    };
    let _ = events.send(event);
    Ok(true)
}

/// The user's avatar state in the room's frame: the head and the tracked hands.
#[must_use]
pub fn user_state(rig: &crate::rig::TrackedRig, origin: &crate::comfort::PlayerOrigin) -> AvatarState {
    let world = |p: &Pose| {
        let t = origin.place(p);
        Pose::new(t.translation, t.rotation)
    };
    let mut parts = [None; 5];
    for (part, hand) in [(TrackedPart::LeftHand, &rig.left), (TrackedPart::RightHand, &rig.right)] {
        if hand.tracked {
            parts[part as usize] = Some(world(&hand.grip));
        }
    }
    AvatarState { head: world(&rig.head), parts, fingers: [None, None], face: None }
}

/// Where a member's avatar stands (on the floor under their head, facing where they
/// look) and its IK targets in its own space (OpenXR poses, as the IK takes them).
#[must_use]
pub fn placement(state: &AvatarState) -> (Transform, Pose, [Option<Pose>; 2]) {
    let forward = state.head.rotation * Vec3::NEG_Z;
    let yaw = forward.x.atan2(forward.z);
    let root = Transform::from_xyz(state.head.position.x, 0.0, state.head.position.z)
        .with_rotation(Quat::from_rotation_y(yaw));
    let to_local = root.compute_affine().inverse();
    let local = |p: &Pose| Pose::new(to_local.transform_point3(p.position), root.rotation.inverse() * p.rotation);
    let hands = [
        state.parts[TrackedPart::LeftHand as usize].as_ref().map(local),
        state.parts[TrackedPart::RightHand as usize].as_ref().map(local),
    ];
    (root, local(&state.head), hands)
}

/// A member of the room drawn here.
#[derive(Component, Debug, Clone, Copy)]
pub struct RemoteMember(pub Slot);

/// The room connection as a Bevy resource, with what the UI shows of it.
#[derive(Resource)]
pub struct Presence {
    /// The connection.
    pub link: PresenceLink,
    /// The room and our slot, once in.
    pub entered: Option<(RoomId, Slot)>,
    /// Others present, by slot: their names.
    pub members: HashMap<Slot, String>,
}

/// Which room to enter: `--join ROOM_ID`, or a new one.
#[derive(Resource, Debug, Clone, Default)]
pub struct JoinRoom(pub Option<String>);

/// A remote member's voice as a bevy_audio source: it plays what the jitter buffer has
/// decoded, silence when nothing waits, and never ends.
#[derive(Asset, TypePath, Clone)]
pub struct VoiceStream(pub VoiceQueue);

/// The rodio side of [`VoiceStream`].
pub struct VoiceStreamDecoder(VoiceQueue);

impl Iterator for VoiceStreamDecoder {
    type Item = bevy::audio::Sample;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.0.pop().unwrap_or(0.0))
    }
}

impl Source for VoiceStreamDecoder {
    fn current_span_len(&self) -> Option<usize> {
        None
    }
    fn channels(&self) -> bevy::audio::ChannelCount {
        std::num::NonZero::<u16>::MIN
    }
    fn sample_rate(&self) -> bevy::audio::SampleRate {
        std::num::NonZero::new(SAMPLE_RATE).unwrap_or(std::num::NonZero::<u32>::MIN)
    }
    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

impl Decodable for VoiceStream {
    type Decoder = VoiceStreamDecoder;
    fn decoder(&self) -> Self::Decoder {
        VoiceStreamDecoder(self.0.clone())
    }
}

/// Enters the room when the user has signed in to a server.
pub fn connect(
    mut commands: Commands,
    services: Option<Res<crate::services::Services>>,
    signed_in: Res<crate::app::SignedIn>,
    join: Res<JoinRoom>,
    presence: Option<Res<Presence>>,
) {
    let (Some(services), None) = (services, presence) else { return };
    let Some(token) = services.access_token() else { return };
    let user = signed_in.0.clone().unwrap_or_else(|| "someone".into());
    let udp = if services.is_embedded() { "127.0.0.1:0" } else { "0.0.0.0:0" };
    let link = PresenceLink::start(
        &services.runtime_handle(),
        services.room_url(),
        token,
        join.0.clone().map(RoomId),
        format!("{user}'s café terrace"),
        vec![udp.to_owned()],
    );
    commands.insert_resource(Presence { link, entered: None, members: HashMap::new() });
}

/// The connection's news: members appear (an avatar and a voice each) and leave;
/// captions and moderation notices go to the chat.
pub fn on_presence_events(
    mut presence: ResMut<Presence>,
    mut chat: ResMut<ChatState>,
    members: Query<(Entity, &RemoteMember)>,
    mut streams: ResMut<Assets<VoiceStream>>,
    assets: Res<AssetServer>,
    mut commands: Commands,
) {
    for event in presence.link.poll() {
        match event {
            PresenceEvent::Entered { room, slot, rtc } => {
                let path = if rtc { "WebRTC" } else { "WebSocket" };
                info!("room: in room {} as slot {slot} over {path}; others join with --join {}", room.0, room.0);
                chat.push(format!("(in the room — others join with --join {})", room.0));
                presence.entered = Some((room, slot));
            }
            PresenceEvent::Joined { slot, name, voice } => {
                info!("room: {name} (slot {slot}) is here");
                chat.push(format!("({name} is here)"));
                presence.members.insert(slot, name.clone());
                let entity = spawn_member(slot, &name, &crate::app::asset_dir(), &assets, &mut commands);
                // Their voice plays from their head.
                let stream = streams.add(VoiceStream(voice));
                commands.entity(entity).with_children(|c| {
                    c.spawn((
                        MemberVoice,
                        Transform::from_xyz(0.0, 1.6, 0.0),
                        AudioPlayer(stream),
                        PlaybackSettings::ONCE.with_spatial(true),
                    ));
                });
            }
            PresenceEvent::Left { slot } => {
                if let Some(name) = presence.members.remove(&slot) {
                    chat.push(format!("({name} left)"));
                }
                for (entity, m) in &members {
                    if m.0 == slot {
                        commands.entity(entity).despawn();
                    }
                }
            }
            PresenceEvent::Muted { slot, muted } => {
                let who = presence.entered.as_ref().filter(|(_, me)| *me == slot).map_or_else(
                    || presence.members.get(&slot).cloned().unwrap_or_else(|| format!("slot {slot}")),
                    |_| "you".to_owned(),
                );
                chat.push(format!("({who} {})", if muted { "muted" } else { "unmuted" }));
            }
            PresenceEvent::Caption { slot, text } => {
                let who = presence.members.get(&slot).cloned().unwrap_or_else(|| "you".into());
                chat.push(format!("{who}: {text}"));
            }
            PresenceEvent::Moderated { action, message } => {
                chat.push(format!("  ✗ what you said in the room: {action} — {message}"));
            }
            PresenceEvent::Ended { reason } => {
                info!("room: {reason}");
                chat.push(format!("(room: {reason})"));
                presence.entered = None;
                presence.members.clear();
                for (entity, _) in &members {
                    commands.entity(entity).despawn();
                }
            }
        }
    }
}

/// The child entity a member's voice plays from.
#[derive(Component)]
pub struct MemberVoice;

fn spawn_member(
    slot: Slot,
    name: &str,
    asset_dir: &std::path::Path,
    assets: &AssetServer,
    commands: &mut Commands,
) -> Entity {
    let entity = if asset_dir.join(AVATAR_ASSET).is_file() {
        let skeleton = Skeleton::from_height(nexus_avatar::generate::Appearance::default().height);
        spawn_avatar(
            commands,
            assets,
            AvatarSpawn {
                path: AVATAR_ASSET.into(),
                skeleton,
                humanoid: None,
                transform: Transform::default(),
                seed: 0x7573_6572 + u64::from(slot),
            },
        )
    } else {
        commands.spawn((Transform::default(), Visibility::default())).id()
    };
    commands.entity(entity).insert((RoomEntity, RemoteMember(slot), Name::new(format!("member {name}"))));
    entity
}

/// Sends the user's state at about the room's tick rate, and places the members' avatars
/// where their latest states say.
pub fn sync_avatars(
    time: Res<Time>,
    presence: Res<Presence>,
    rig: Res<crate::rig::TrackedRig>,
    origin: Res<crate::comfort::PlayerOrigin>,
    mut since: Local<f32>,
    mut members: Query<(&RemoteMember, &mut Transform, Option<&mut AvatarDrive>)>,
) {
    if presence.entered.is_none() {
        return;
    }
    *since += time.delta_secs();
    if *since >= 1.0 / 72.0 {
        *since = 0.0;
        presence.link.send_pose(user_state(&rig, &origin));
    }
    let states = presence.link.states();
    for (member, mut transform, drive) in &mut members {
        let Some(state) = states.get(&member.0) else { continue };
        let (root, head, hands) = placement(state);
        *transform = root;
        if let Some(mut drive) = drive {
            drive.targets.head = head;
            drive.targets.left_hand = hands[0];
            drive.targets.right_hand = hands[1];
        }
    }
}

/// Registers the streamed voice source.
pub struct PresencePlugin;

impl Plugin for PresencePlugin {
    fn build(&self, app: &mut App) {
        app.add_audio_source::<VoiceStream>().init_resource::<JoinRoom>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_stands_under_their_head_facing_where_they_look() {
        // Looking along +X (a quarter turn right of −Z), head at (2, 1.7, −1).
        let head = Pose::new(Vec3::new(2.0, 1.7, -1.0), Quat::from_rotation_y(-std::f32::consts::FRAC_PI_2));
        let mut parts = [None; 5];
        parts[TrackedPart::RightHand as usize] = Some(Pose::new(Vec3::new(2.4, 1.2, -0.8), Quat::IDENTITY));
        let state = AvatarState { head, parts, fingers: [None, None], face: None };
        let (root, local_head, hands) = placement(&state);
        assert!(root.translation.distance(Vec3::new(2.0, 0.0, -1.0)) < 1e-5);
        assert!((root.rotation * Vec3::Z).distance(Vec3::X) < 1e-5, "the avatar (+Z forward) faces +X");
        assert!(local_head.position.distance(Vec3::new(0.0, 1.7, 0.0)) < 1e-5);
        assert!(hands[0].is_none());
        // The hand 0.4 m along the look direction is 0.4 m in front of the avatar.
        let right = hands[1].expect("right hand");
        assert!((right.position.z - 0.4).abs() < 1e-5 && (right.position.y - 1.2).abs() < 1e-5, "{right:?}");
    }

    #[test]
    fn a_voice_queue_keeps_half_a_second_at_most_and_plays_silence_when_empty() {
        let queue = VoiceQueue::default();
        for _ in 0..50 {
            queue.push(&[16_384; 960]);
        }
        assert_eq!(queue.len(), 24_000, "0.5 s at 48 kHz");
        let mut decoder = VoiceStream(queue.clone()).decoder();
        assert_eq!(decoder.next(), Some(0.5));
        while !queue.is_empty() {
            let _ = queue.pop();
        }
        assert_eq!(decoder.next(), Some(0.0), "silence, not the end");
        assert_eq!(decoder.sample_rate().get(), 48_000);
    }
}
