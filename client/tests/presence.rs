//! The client in a room with someone else: the client's `PresenceLink` (on the embedded
//! server, over WebRTC on loopback) and a second participant — a real nexus-net
//! `RoomClient`, as another user's client would be — see each other's avatars move where
//! they were sent, and hear each other's voice.

use std::time::{Duration, Instant};

use glam::{Quat, Vec3};
use nexus_client::presence::{PresenceEvent, PresenceLink};
use nexus_client::services::api::{ApiClient, Registration};
use nexus_client::services::{ServerChoice, Services};
use nexus_net::control::ServerMsg;
use nexus_net::realtime::Realtime;
use nexus_net::state::{AvatarState, Pose, TrackedPart};
use nexus_net::transport::client::{ClientEvent, RoomClient};
use nexus_net::voice;

const WAIT: Duration = Duration::from_secs(20);

/// A user's access token, registered and signed in through the HTTP API.
fn token(services: &Services, name: &str) -> String {
    let api = ApiClient::new(services.base_url(), Duration::from_secs(10)).expect("client");
    let email = format!("{name}@example.com");
    let password = "correct horse battery".to_owned();
    services.runtime_handle().block_on(async {
        api.register(&Registration {
            email: email.clone(),
            username: name.into(),
            password: password.clone(),
            birth_date: "1990-05-17".into(),
        })
        .await
        .expect("register");
        api.login(&email, &password).await.expect("login").access_token
    })
}

fn next(link: &PresenceLink, what: &str, want: impl Fn(&PresenceEvent) -> bool) -> PresenceEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(e) = link.poll().into_iter().find(|e| want(e)) {
            return e;
        }
        assert!(Instant::now() < deadline, "no {what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn standing_at(head: Vec3) -> AvatarState {
    let mut parts = [None; 5];
    parts[TrackedPart::RightHand as usize] = Some(Pose::new(head + Vec3::new(0.25, -0.45, -0.3), Quat::IDENTITY));
    AvatarState { head: Pose::new(head, Quat::IDENTITY), parts, fingers: [None, None], face: None }
}

#[test]
fn the_client_meets_another_user_in_its_room_sees_them_move_and_hears_them() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().expect("tempdir");
    let services = Services::start(ServerChoice::Embedded { data_dir: data.path().to_owned() }, data.path(), WAIT)
        .expect("embedded services");
    let (ada, ben) = (token(&services, "ada"), token(&services, "ben"));
    let rt = services.runtime_handle();

    // Ada's client opens a room.
    let link =
        PresenceLink::start(&rt, services.room_url(), ada, None, "ada's café".into(), vec!["127.0.0.1:0".into()]);
    let PresenceEvent::Entered { room, slot: ada_slot, rtc } =
        next(&link, "room", |e| matches!(e, PresenceEvent::Entered { .. } | PresenceEvent::Ended { .. }))
    else {
        panic!("the client did not enter its room")
    };
    assert!(rtc, "WebRTC connects on loopback");

    // Ben joins it with his own client.
    let mut other = rt.block_on(async {
        let mut c = RoomClient::connect(&services.room_url(), &ben, None).await.expect("connect");
        c.join_room(&room).await.expect("join");
        c.upgrade_rtc(&["127.0.0.1:0".to_owned()]).await.expect("webrtc");
        c
    });
    let PresenceEvent::Joined { slot: ben_slot, name, voice: ben_voice } =
        next(&link, "ben", |e| matches!(e, PresenceEvent::Joined { .. }))
    else {
        unreachable!()
    };
    assert_eq!(name, "ben");

    // Both move and talk for 1.5 s: ada through her link, ben through his client.
    let (ada_at, ben_at) = (Vec3::new(1.0, 1.65, -2.0), Vec3::new(-0.5, 1.7, -3.0));
    let speech = voice::speech_like(1.5);
    let ben_frames = voice::VoiceEncoder::new(voice::DEFAULT_BITRATE, 5).expect("opus").push(&speech).expect("encode");
    let (mut ada_heard_from_ben, mut ben_saw_ada, mut ben_heard_ada) = (Vec::new(), None, 0);
    let start = Instant::now();
    for (i, frame) in ben_frames.iter().enumerate() {
        link.send_pose(standing_at(ada_at));
        link.send_voice(speech[i * voice::FRAME_SAMPLES..(i + 1) * voice::FRAME_SAMPLES].to_vec());
        rt.block_on(async {
            other.send_pose(&standing_at(ben_at), None).await.expect("pose");
            other.send_message(&Realtime::Voice(frame.clone())).await.expect("voice");
            while let Some(e) = other.next_event(Duration::from_millis(1)).await {
                match e {
                    ClientEvent::Realtime(Realtime::Voice(v)) if v.from == ada_slot => ben_heard_ada += 1,
                    ClientEvent::Control(ServerMsg::MemberLeft { .. }) => panic!("ada left"),
                    _ => {}
                }
            }
            ben_saw_ada = other.sample(ada_slot).map(|s| s.state.head.position).or(ben_saw_ada);
        });
        while let Some(s) = ben_voice.pop() {
            ada_heard_from_ben.push((s * 32_767.0) as i16);
        }
        // Real time: one 20 ms frame per 20 ms.
        let due = start + Duration::from_millis(20 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Some(s) = ben_voice.pop() {
        ada_heard_from_ben.push((s * 32_767.0) as i16);
    }

    // Each sees the other where they stand.
    let ben_drawn = link.states().get(&ben_slot).map(|s| s.head.position).expect("ben is drawn");
    assert!(ben_drawn.distance(ben_at) < 0.02, "ben drawn at {ben_drawn}");
    let hand = link.states()[&ben_slot].parts[TrackedPart::RightHand as usize].expect("ben's right hand");
    assert!(hand.position.distance(ben_at + Vec3::new(0.25, -0.45, -0.3)) < 0.02);
    let ada_drawn = ben_saw_ada.expect("ada is drawn");
    assert!(ada_drawn.distance(ada_at) < 0.02, "ada drawn at {ada_drawn}");

    // Each hears the other: ada's voice arrives frame by frame, and ben's plays at ada's
    // end as speech — its loudness follows what he said (the jitter buffer's delay aside).
    assert!(ben_heard_ada >= 60, "ben heard {ben_heard_ada} of ada's 75 frames");
    let sent = voice::frame_levels(&speech);
    let got = voice::frame_levels(&ada_heard_from_ben);
    let best = (0..15)
        .map(|shift| voice::envelope_correlation(&sent, got.get(shift..).unwrap_or_default()))
        .fold(f32::MIN, f32::max);
    assert!(best > 0.8, "ben's voice at ada's end follows his speech: r = {best} over {} frames", got.len());

    // Ada leaves: ben sees her go.
    link.leave();
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match other.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Some(ClientEvent::Control(ServerMsg::MemberLeft { slot })) if slot == ada_slot => break,
                None => panic!("ada never left"),
                _ => {}
            }
        }
    });
    next(&link, "the end", |e| matches!(e, PresenceEvent::Ended { .. }));
}
