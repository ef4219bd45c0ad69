//! Rooms over the real protocol: real WebSocket connections to a real listener, real
//! WebRTC peers on loopback, the headless `RoomClient` as participants.
#![allow(clippy::unwrap_used)] // helpers shared by tests unwrap like the tests do

use std::time::Duration;

use glam::Vec3;
use nexus_net::control::{ClientMsg, ErrorCode, HandshakeReject, MemberAction, ServerMsg};
use nexus_net::hand::Side;
use nexus_net::realtime::{EventAction, GestureCode, Realtime, RoomEvent};
use nexus_net::scripted;
use nexus_net::transport::client::{ClientError, ClientEvent, RoomClient};
use nexus_net::voice;

use crate::support::TestApp;

const WAIT: Duration = Duration::from_secs(10);

async fn control(client: &mut RoomClient, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Some(ClientEvent::Control(m)) if want(&m) => return m,
            Some(ClientEvent::Closed) => panic!("connection closed while waiting"),
            None => panic!("timed out waiting for a control message"),
            _ => {}
        }
    }
}

/// Two members in one room; `rtc` upgrades both to WebRTC. Member A sends its scripted
/// avatar standing at `origin` for `frames` frames at 72 Hz while B reads; returns what
/// B saw of A (the last interpolated head position) and B.
async fn exchange(rtc: bool) -> (Vec3, RoomClient, RoomClient) {
    let app = TestApp::sqlite().await;
    let url = app.listen().await;
    let (ua, ub) = (app.user("alice").await, app.user("bob").await);
    let mut a = RoomClient::connect(&url, &ua.token, None).await.unwrap();
    let mut b = RoomClient::connect(&url, &ub.token, None).await.unwrap();
    let (room, slot_a) = a.create_room("Café terrace", 8).await.unwrap();
    let (_, slot_b) = b.join_room(&room).await.unwrap();
    assert_ne!(slot_a, slot_b);
    let joined = control(&mut a, |m| matches!(m, ServerMsg::MemberJoined(_))).await;
    assert!(matches!(joined, ServerMsg::MemberJoined(ref info) if info.slot == slot_b && info.name == "bob"));
    if rtc {
        let udp = vec!["127.0.0.1:0".to_owned()];
        a.upgrade_rtc(&udp).await.unwrap();
        b.upgrade_rtc(&udp).await.unwrap();
        assert!(a.on_rtc() && b.on_rtc());
    }
    let origin = Vec3::new(1.5, 0.0, -2.0);
    let mut seen_entries = 0;
    // A also talks: Opus frames of a speech-like signal, one per 20 ms.
    let speech = voice::speech_like(1.5);
    let voice_frames = voice::VoiceEncoder::new(voice::DEFAULT_BITRATE, 5).unwrap().push(&speech).unwrap();
    let mut heard = voice::JitterBuffer::new().unwrap();
    let mut heard_frames = 0;
    let mut played = Vec::new();
    for frame in 0..110u32 {
        let t = frame as f32 / 72.0;
        a.send_pose(&scripted::avatar(0, t, origin), None).await.unwrap();
        b.send_pose(&scripted::avatar(1, t, -origin), None).await.unwrap();
        // Voice frames due by now (50 per second against 72 pose frames).
        let due = ((frame + 1) as usize * 50 / 72).min(voice_frames.len());
        for v in &voice_frames[(frame as usize * 50 / 72).min(due)..due] {
            a.send_message(&Realtime::Voice(v.clone())).await.unwrap();
        }
        if frame % 20 == 0 {
            b.ping().await.unwrap();
        }
        // Drain what arrived for B during this frame.
        while let Some(e) = b.next_event(Duration::from_millis(1)).await {
            match e {
                ClientEvent::Realtime(Realtime::Snapshot(s)) => {
                    seen_entries += s.entries.iter().filter(|e| e.slot == slot_a).count();
                }
                ClientEvent::Realtime(Realtime::Voice(v)) => {
                    assert_eq!(v.from, slot_a, "the server stamps the speaker");
                    heard_frames += 1;
                    heard.push(v, u64::from(frame) * 13_889);
                }
                _ => {}
            }
        }
        // B's playback clock: one 20 ms frame per 20 ms.
        while played.len() / voice::FRAME_SAMPLES < (frame as usize + 1) * 50 / 72 {
            played.extend_from_slice(&heard.pull().unwrap());
        }
        while a.next_event(Duration::from_millis(0)).await.is_some() {}
        tokio::time::sleep(Duration::from_micros(13_889)).await;
    }
    assert!(seen_entries > 30, "B received {seen_entries} snapshot entries of A");
    // What B plays of A's voice follows what A said.
    assert!(heard_frames * 10 >= voice_frames.len() * 9, "heard {heard_frames} of {} voice frames", voice_frames.len());
    for _ in 0..voice::MAX_DEPTH {
        played.extend_from_slice(&heard.pull().unwrap());
    }
    let lead = played.iter().position(|&s| s != 0).unwrap_or(0);
    let sent = voice::frame_levels(&speech);
    let best = (0..voice::FRAME_SAMPLES * 2)
        .step_by(48)
        .map(|shift| {
            voice::envelope_correlation(&sent, &voice::frame_levels(&played[(lead + shift).min(played.len())..]))
        })
        .fold(f32::MIN, f32::max);
    assert!(best > 0.8, "played voice envelope correlation {best}");
    assert!(b.clock().is_synced(), "clock pings answered");
    // A gesture on the reliable path reaches B, stamped with A's slot.
    let wave = Realtime::Event(RoomEvent {
        from: 999,
        action: EventAction::Gesture { hand: Side::Right, gesture: GestureCode::Wave },
    });
    a.send_message(&wave).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match b.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Some(ClientEvent::Realtime(Realtime::Event(e))) => {
                assert_eq!(e.from, slot_a, "the server stamps the sender");
                assert_eq!(e.action, EventAction::Gesture { hand: Side::Right, gesture: GestureCode::Wave });
                break;
            }
            None => panic!("gesture never arrived"),
            _ => {}
        }
    }
    let head = b.sample(slot_a).expect("A is drawn").state.head.position;
    (head, a, b)
}

fn assert_near_origin(head: Vec3) {
    let origin = Vec3::new(1.5, 0.0, -2.0);
    let expected = origin + Vec3::Y * 1.65;
    assert!(head.distance(expected) < 0.1, "A's head drawn at {head}, standing at {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clients_exchange_poses_voice_and_events_over_webrtc() {
    let (head, _a, b) = exchange(true).await;
    assert_near_origin(head);
    assert!(b.paths.rtc_in > 30, "real-time frames came over WebRTC: {:?}", b.paths);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_flows_over_the_websocket_fallback() {
    let (head, _a, b) = exchange(false).await;
    assert_near_origin(head);
    assert_eq!(b.paths.rtc_in, 0);
    assert!(b.paths.ws_in > 30, "{:?}", b.paths);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_rejects_are_typed() {
    let app = TestApp::sqlite().await;
    let url = app.listen().await;
    let user = app.user("carol").await;
    assert!(matches!(
        RoomClient::connect(&url, "not-a-token", None).await,
        Err(ClientError::Rejected(HandshakeReject::Unauthenticated))
    ));
    assert!(RoomClient::connect(&url, &user.token, None).await.is_ok());
    for (hello, want) in [
        (
            format!(r#"{{"type":"hello","magic":"HTTP/1.1","version":1,"token":"{}"}}"#, user.token),
            HandshakeReject::WrongMagic,
        ),
        (
            format!(r#"{{"type":"hello","magic":"NEXUS-VR","version":99,"token":"{}"}}"#, user.token),
            HandshakeReject::WrongVersion { ours: nexus_net::control::PROTOCOL_VERSION, theirs: 99 },
        ),
    ] {
        let reply = raw_exchange(&url, &[hello]).await;
        assert_eq!(reply.first(), Some(&ServerMsg::Reject(want)));
    }
    // Anything but hello first: an out-of-phase error, then the server closes.
    let reply = raw_exchange(&url, &[r#"{"type":"list_rooms"}"#.to_owned()]).await;
    assert!(matches!(&reply[..], [ServerMsg::Error { code: ErrorCode::OutOfPhase, .. }]), "{reply:?}");
}

/// Send raw text frames on a fresh connection; collect what the server says until it
/// closes (or 3 s pass).
async fn raw_exchange(url: &str, frames: &[String]) -> Vec<ServerMsg> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    for f in frames {
        ws.send(Message::Text(f.clone().into())).await.unwrap();
    }
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        match m {
            Message::Text(t) => out.push(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_typed_errors_and_the_session_survives() {
    let app = TestApp::sqlite().await;
    let url = app.listen().await;
    let user = app.user("dave").await;
    let mut c = RoomClient::connect(&url, &user.token, None).await.unwrap();
    let code_of = |m: &ServerMsg| match m {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    };
    // Not JSON; an unknown message; a message of the wrong phase; binary in the lobby.
    c.send_text("{{{".into()).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::Malformed));
    c.send_text(r#"{"type":"format_disk"}"#.into()).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::Malformed));
    c.send(&ClientMsg::LeaveRoom).await.unwrap();
    let e = control(&mut c, |m| code_of(m).is_some()).await;
    assert_eq!(code_of(&e), Some(ErrorCode::OutOfPhase));
    assert!(matches!(e, ServerMsg::Error { ref message, .. } if message.contains("leave_room")), "{e:?}");
    c.send_binary(vec![1, 2, 3]).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::OutOfPhase));
    // Invalid room parameters.
    c.send(&ClientMsg::CreateRoom { name: "  ".into(), capacity: 4 }).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::InvalidInput));
    c.send(&ClientMsg::CreateRoom { name: "ok".into(), capacity: 9000 }).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::InvalidInput));
    c.send(&ClientMsg::JoinRoom { room: nexus_net::control::RoomId("nope".into()) }).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::RoomNotFound));
    // In a room: undecodable and oversized real-time frames.
    c.create_room("r", 4).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // one complaint per second
    c.send_binary(vec![1, 0xFF]).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::BadRealtime));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.send_binary(vec![1; 5000]).await.unwrap();
    assert_eq!(code_of(&control(&mut c, |m| code_of(m).is_some()).await), Some(ErrorCode::Oversized));
    // A binary flood is rate-limited, not fatal.
    for _ in 0..3000 {
        c.send_binary(vec![0xEE]).await.unwrap();
    }
    // Still healthy: the session answers.
    c.send(&ClientMsg::LeaveRoom).await.unwrap();
    control(&mut c, |m| *m == ServerMsg::RoomLeft).await;
    c.send(&ClientMsg::ListRooms).await.unwrap();
    control(&mut c, |m| matches!(m, ServerMsg::Rooms { .. })).await;
    // A control frame over the 64 KiB limit closes that connection cleanly …
    c.send_text("x".repeat(70_000)).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match c.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Some(ClientEvent::Closed) => break,
            None => panic!("oversized frame did not close the connection"),
            _ => {}
        }
    }
    // … and the server carries on.
    let mut again = RoomClient::connect(&url, &user.token, None).await.unwrap();
    again.send(&ClientMsg::ListRooms).await.unwrap();
    control(&mut again, |m| matches!(m, ServerMsg::Rooms { .. })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_client_resumes_its_slot() {
    let app = TestApp::sqlite().await;
    let url = app.listen().await;
    let (ua, ub) = (app.user("erin").await, app.user("frank").await);
    let mut a = RoomClient::connect(&url, &ua.token, None).await.unwrap();
    let (room, slot) = a.create_room("resume", 4).await.unwrap();
    let mut b = RoomClient::connect(&url, &ub.token, None).await.unwrap();
    b.join_room(&room).await.unwrap();
    let ServerMsg::Welcome { resume_token, .. } = a.welcome.clone() else { panic!("no welcome") };
    a.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a2 = RoomClient::connect(&url, &ua.token, Some(resume_token)).await.unwrap();
    assert!(matches!(a2.welcome, ServerMsg::Welcome { resumed: true, .. }), "{:?}", a2.welcome);
    let (room2, slot2) = a2.await_joined().await.unwrap();
    assert_eq!((room2, slot2), (room.clone(), slot));
    // B never saw A leave; and A's poses flow again.
    a2.send_pose(&scripted::avatar(0, 0.0, Vec3::ZERO), None).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match b.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Some(ClientEvent::Control(ServerMsg::MemberLeft { .. })) => panic!("A was dropped instead of resumed"),
            Some(ClientEvent::Realtime(Realtime::Snapshot(s))) if s.entries.iter().any(|e| e.slot == slot) => break,
            None => panic!("A's poses never arrived after resume"),
            _ => {}
        }
    }
    // A goodbye leaves at once (no resume wait): B sees A go.
    a2.close().await;
    control(&mut b, |m| *m == ServerMsg::MemberLeft { slot }).await;
    // Someone else's token cannot take the slot.
    let ServerMsg::Welcome { resume_token: b_token, .. } = b.welcome.clone() else { panic!() };
    let stranger = RoomClient::connect(&url, &ua.token, Some(b_token)).await.unwrap();
    assert!(matches!(stranger.welcome, ServerMsg::Welcome { resumed: false, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_moderate_members_and_capacity_holds() {
    let app = TestApp::sqlite().await;
    let url = app.listen().await;
    let (uo, ut, ux) = (app.user("owner").await, app.user("troll").await, app.user("extra").await);
    let mut owner = RoomClient::connect(&url, &uo.token, None).await.unwrap();
    let (room, _) = owner.create_room("small", 2).await.unwrap();
    let mut troll = RoomClient::connect(&url, &ut.token, None).await.unwrap();
    let (_, troll_slot) = troll.join_room(&room).await.unwrap();
    let mut extra = RoomClient::connect(&url, &ux.token, None).await.unwrap();
    assert!(matches!(extra.join_room(&room).await, Err(ClientError::Server { code: ErrorCode::RoomFull, .. })));
    // A member who is not the owner may not moderate.
    troll.send(&ClientMsg::Moderate { slot: 0, action: MemberAction::Kick }).await.unwrap();
    control(&mut troll, |m| matches!(m, ServerMsg::Error { code: ErrorCode::Forbidden, .. })).await;
    owner.send(&ClientMsg::Moderate { slot: troll_slot, action: MemberAction::Mute }).await.unwrap();
    control(&mut troll, |m| matches!(m, ServerMsg::MemberMuted { muted: true, .. })).await;
    owner.send(&ClientMsg::Moderate { slot: troll_slot, action: MemberAction::Kick }).await.unwrap();
    control(&mut troll, |m| *m == ServerMsg::Removed { action: MemberAction::Kick }).await;
    // Kicked: back in the lobby, may rejoin.
    troll.join_room(&room).await.unwrap();
    let troll_slot = troll.room().unwrap().1;
    owner.send(&ClientMsg::Moderate { slot: troll_slot, action: MemberAction::Ban }).await.unwrap();
    control(&mut troll, |m| *m == ServerMsg::Removed { action: MemberAction::Ban }).await;
    assert!(matches!(troll.join_room(&room).await, Err(ClientError::Server { code: ErrorCode::BannedFromRoom, .. })));
    owner.send(&ClientMsg::Moderate { slot: 60, action: MemberAction::Kick }).await.unwrap();
    control(&mut owner, |m| matches!(m, ServerMsg::Error { code: ErrorCode::MemberNotFound, .. })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_stun_and_turn_servers_reach_clients_and_bad_ones_stop_the_start() {
    let app = TestApp::sqlite_with(|c| {
        c.ice_servers = vec!["stun:stun.example.org:3478".into(), "turn:turn.example.org:3478?transport=udp".into()];
        c.turn_username = Some("nexus".into());
        c.turn_credential = Some("not-a-real-secret".into());
    })
    .await;
    let url = app.listen().await;
    let user = app.user("iris").await;
    let client = RoomClient::connect(&url, &user.token, None).await.unwrap();
    let ServerMsg::Welcome { ice_servers, .. } = &client.welcome else { panic!("no welcome") };
    assert_eq!(ice_servers.len(), 2, "{ice_servers:?}");
    assert_eq!(ice_servers[0].urls, ["stun:stun.example.org:3478"]);
    assert!(ice_servers[0].username.is_empty());
    assert_eq!(ice_servers[1].urls, ["turn:turn.example.org:3478?transport=udp"]);
    assert_eq!((ice_servers[1].username.as_str(), ice_servers[1].credential.as_str()), ("nexus", "not-a-real-secret"));

    // A TURN URL without credentials, or something that is not STUN/TURN, is a start-up
    // error naming the URL.
    for (urls, user) in [(vec!["turn:turn.example.org"], None), (vec!["https://stun.example.org"], Some("u"))] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = nexus_server::config::Config::embedded(dir.path().to_path_buf());
        config.ice_servers = urls.iter().map(|u| (*u).to_owned()).collect();
        config.turn_username = user.map(str::to_owned);
        config.turn_credential = user.map(str::to_owned);
        let e = config.ice_servers().unwrap_err().to_string();
        assert!(e.contains(urls[0]), "{e}");
    }
}

/// `text` spoken by espeak-ng, as the Opus frames a client sends while its user talks.
fn spoken_frames(text: &str) -> Vec<nexus_net::realtime::VoiceFrame> {
    let settings = nexus_avatar::lip_sync::espeak::VoiceSettings { voice: "en-us".into(), rate_wpm: 150, pitch: 45 };
    let speech = nexus_avatar::lip_sync::espeak::synthesize(text, &settings).expect("espeak-ng");
    let samples: Vec<f32> = speech.samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let pcm: Vec<i16> = nexus_server::companion::listen::resample(&samples, speech.sample_rate, voice::SAMPLE_RATE)
        .iter()
        .map(|&s| (s * 32_767.0).clamp(-32_768.0, 32_767.0) as i16)
        .collect();
    voice::VoiceEncoder::new(voice::DEFAULT_BITRATE, 5).unwrap().push(&pcm).unwrap()
}

/// Send `frames` at about real time (the way a microphone produces them).
async fn talk(client: &mut RoomClient, frames: &[nexus_net::realtime::VoiceFrame]) {
    for f in frames {
        client.send_message(&Realtime::Voice(f.clone())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_voice_is_transcribed_moderated_and_captioned_and_blocked_speech_mutes_the_speaker() {
    let app = TestApp::sqlite().await;
    assert!(app.state.rooms.ears.is_some(), "the node listens (speech-to-text model fetched)");
    let url = app.listen().await;
    let (ua, ub) = (app.user("alice").await, app.user("bob").await);
    let mut a = RoomClient::connect(&url, &ua.token, None).await.unwrap();
    let mut b = RoomClient::connect(&url, &ub.token, None).await.unwrap();
    let (room, slot_a) = a.create_room("Captions", 4).await.unwrap();
    b.join_room(&room).await.unwrap();
    control(&mut a, |m| matches!(m, ServerMsg::MemberJoined(_))).await;

    // Alice talks; both see her words as a caption, under her slot.
    talk(&mut a, &spoken_frames("Hello Bob. My brother Tom plays the guitar in a jazz band.")).await;
    let wait_caption = |m: &ServerMsg| matches!(m, ServerMsg::Caption { .. });
    let ServerMsg::Caption { slot, text } = control(&mut b, wait_caption).await else { unreachable!() };
    assert_eq!(slot, slot_a);
    let heard = text.to_lowercase();
    for word in ["brother", "guitar", "jazz"] {
        assert!(heard.contains(word), "{word} missing from the caption {text:?}");
    }
    assert!(matches!(control(&mut a, wait_caption).await, ServerMsg::Caption { slot, .. } if slot == slot_a));

    // What she says next is blocked (STRICT, self-harm): no caption; she is told why and
    // muted in the room, and bob sees the mute.
    talk(&mut a, &spoken_frames("Some days I want to kill myself.")).await;
    let told = control(&mut a, |m| matches!(m, ServerMsg::Moderated { .. })).await;
    let ServerMsg::Moderated { action, categories, message } = told else { unreachable!() };
    assert_eq!((action.as_str(), categories), ("block", vec!["self-harm".to_owned()]));
    assert!(!message.is_empty());
    control(&mut a, |m| *m == ServerMsg::MemberMuted { slot: slot_a, muted: true }).await;
    let next = control(&mut b, |m| matches!(m, ServerMsg::Caption { .. } | ServerMsg::MemberMuted { .. })).await;
    assert_eq!(next, ServerMsg::MemberMuted { slot: slot_a, muted: true }, "no caption of blocked speech");
    // The incident is the transcript's, by hash; no table holds what was said.
    assert_eq!(app.count("moderation_incidents").await, 1);
    assert!(!app.database_contains("guitar").await && !app.database_contains("myself").await);
}
