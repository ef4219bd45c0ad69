//! Two nexus-server nodes share one room — poses, events, voice, and the moderators'
//! mutes, kicks and bans — through a real nats-server; when one node dies, only its
//! clients drop, and they carry on through the other node.
#![allow(clippy::unwrap_used)] // helpers shared by the test unwrap like the test does

use std::time::Duration;

use glam::Vec3;
use nexus_net::control::{ClientMsg, ErrorCode, MemberAction, ServerMsg};
use nexus_net::hand::Side;
use nexus_net::realtime::{EventAction, GestureCode, Realtime, RoomEvent};
use nexus_net::scripted;
use nexus_net::transport::client::{ClientError, ClientEvent, RoomClient};
use nexus_server::config::Config;
use nexus_server::state::AppState;

use crate::support::NatsServer;

fn node_config(dir: &std::path::Path, nats: &str, node: &str) -> Config {
    let mut config = Config::embedded(dir.to_path_buf());
    config.database_url = None;
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.login_rate_per_minute = 1_000;
    config.nats_url = Some(nats.to_owned());
    config.node_name = Some(node.to_owned());
    // These tests are about sharing rooms; the speech-to-text path has its own test.
    config.room_listen = false;
    config
}

async fn token(state: &AppState, name: &str) -> String {
    use nexus_server::accounts::service::{Credentials, Registration, login, register};
    let email = format!("{name}@example.com");
    let birth_date = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let password = "correct horse battery".to_owned();
    register(
        state,
        Registration { email: email.clone(), username: name.into(), password: password.clone(), birth_date },
    )
    .await
    .unwrap();
    let meta = nexus_server::http::extract::ClientMeta { ip: [127, 0, 0, 1].into(), user_agent: None };
    login(state, Credentials { email, password }, &meta).await.unwrap().access_token
}

/// Send poses from both clients for `frames` frames; return how many snapshot entries of
/// slot `watch` client `b` received, and the last head position of it drawn.
async fn exchange(a: &mut RoomClient, b: &mut RoomClient, watch: u16, frames: u32) -> (usize, Option<Vec3>) {
    let mut seen = 0;
    for f in 0..frames {
        let t = f as f32 / 60.0;
        a.send_pose(&scripted::avatar(0, t, Vec3::new(2.0, 0.0, 0.0)), None).await.unwrap();
        b.send_pose(&scripted::avatar(1, t, Vec3::new(-2.0, 0.0, 0.0)), None).await.unwrap();
        while let Some(e) = b.next_event(Duration::from_millis(2)).await {
            if let ClientEvent::Realtime(Realtime::Snapshot(s)) = e {
                seen += s.entries.iter().filter(|e| e.slot == watch).count();
            }
        }
        while a.next_event(Duration::ZERO).await.is_some() {}
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    (seen, b.sample(watch).map(|s| s.state.head.position))
}

async fn until_control(client: &mut RoomClient, within: Duration, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match client.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Some(ClientEvent::Control(m)) if want(&m) => return m,
            Some(ClientEvent::Closed) => panic!("connection closed"),
            None => panic!("timed out"),
            _ => {}
        }
    }
}

#[test]
fn two_nodes_share_a_room_over_nats_and_survive_one_dying() {
    let Some(nats) = NatsServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let main = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Node A lives on its own runtime so that it can die whole, connections and all.
    let node_a = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let state_b = main.block_on(AppState::build(node_config(dir.path(), &nats.url, "node-b"))).unwrap();
    let (t1, t2) = main.block_on(async { (token(&state_b, "ana").await, token(&state_b, "ben").await) });
    let state_a = node_a.block_on(AppState::build(node_config(dir.path(), &nats.url, "node-a"))).unwrap();
    let server_a = node_a.block_on(nexus_server::spawn(state_a)).unwrap();
    let server_b = main.block_on(nexus_server::spawn(state_b)).unwrap();
    let url = |addr: std::net::SocketAddr| format!("ws://{addr}{}", nexus_net::control::WS_PATH);
    let (url_a, url_b) = (url(server_a.addr), url(server_b.addr));

    main.block_on(async {
        let mut c1 = RoomClient::connect(&url_a, &t1, None).await.unwrap();
        let mut c2 = RoomClient::connect(&url_b, &t2, None).await.unwrap();
        assert!(matches!(&c1.welcome, ServerMsg::Welcome { node, .. } if node == "node-a"));
        assert!(matches!(&c2.welcome, ServerMsg::Welcome { node, .. } if node == "node-b"));
        let (room, _) = c1.create_room("two nodes", 8).await.unwrap();
        // Node B does not host the room; it finds it on node A through NATS.
        c2.join_room(&room).await.unwrap();
        // Each sees the other, under the slot its own node gave them.
        let ServerMsg::MemberJoined(ana) =
            until_control(&mut c2, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberJoined(_))).await
        else {
            unreachable!()
        };
        assert_eq!(ana.name, "ana");
        let ServerMsg::MemberJoined(ben) =
            until_control(&mut c1, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberJoined(_))).await
        else {
            unreachable!()
        };
        assert_eq!(ben.name, "ben");
        let (seen, head) = exchange(&mut c1, &mut c2, ana.slot, 90).await;
        assert!(seen > 30, "ben saw ana {seen} times across nodes");
        let head = head.expect("ana is drawn on node B");
        assert!(head.distance(Vec3::new(2.0, 1.65, 0.0)) < 0.15, "ana drawn at {head}");
        // An event crosses nodes too, stamped with the receiving node's slot.
        let wave = RoomEvent { from: 0, action: EventAction::Gesture { hand: Side::Left, gesture: GestureCode::Wave } };
        c1.send_message(&Realtime::Event(wave)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match c2.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Some(ClientEvent::Realtime(Realtime::Event(e))) => {
                    assert_eq!(e.from, ana.slot);
                    break;
                }
                None => panic!("the wave never crossed nodes"),
                _ => {}
            }
        }
        // So does voice: a few Opus frames from ana reach ben, stamped with her slot on B.
        let frames = nexus_net::voice::VoiceEncoder::new(nexus_net::voice::DEFAULT_BITRATE, 5)
            .unwrap()
            .push(&nexus_net::voice::speech_like(0.2))
            .unwrap();
        for v in &frames {
            c1.send_message(&Realtime::Voice(v.clone())).await.unwrap();
        }
        let mut heard = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while heard < frames.len() {
            match c2.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Some(ClientEvent::Realtime(Realtime::Voice(v))) => {
                    assert_eq!(v.from, ana.slot);
                    heard += 1;
                }
                None => panic!("{heard} of {} voice frames crossed nodes", frames.len()),
                _ => {}
            }
        }
        // Node A dies. Only its client drops; ben (on B) sees ana leave and stays connected.
        node_a.shutdown_background();
        let left = until_control(&mut c2, Duration::from_secs(6), |m| matches!(m, ServerMsg::MemberLeft { .. })).await;
        assert_eq!(left, ServerMsg::MemberLeft { slot: ana.slot });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match c1.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Some(ClientEvent::Closed) => break,
                None => panic!("ana's connection to the dead node did not close"),
                _ => {}
            }
        }
        // Ana reconnects to node B and rejoins the same room, which B still hosts for ben.
        let mut c1 = RoomClient::connect(&url_b, &t1, None).await.unwrap();
        let (room_again, ana_slot) = c1.join_room(&room).await.unwrap();
        assert_eq!(room_again, room);
        let (seen, _) = exchange(&mut c1, &mut c2, ana_slot, 40).await;
        assert!(seen > 10, "after failover ben saw ana {seen} times");
    });
    drop(server_b);
    drop(nats);
}

/// Voice frames from `from` that `to` hears within `within`.
async fn voice_heard(from: &mut RoomClient, to: &mut RoomClient, within: Duration) -> usize {
    let frames = nexus_net::voice::VoiceEncoder::new(nexus_net::voice::DEFAULT_BITRATE, 5)
        .unwrap()
        .push(&nexus_net::voice::speech_like(0.1))
        .unwrap();
    for v in &frames {
        from.send_message(&Realtime::Voice(v.clone())).await.unwrap();
    }
    let mut heard = 0;
    let deadline = tokio::time::Instant::now() + within;
    while let Some(e) = to.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
        if let ClientEvent::Realtime(Realtime::Voice(_)) = e {
            heard += 1;
        }
    }
    heard
}

#[test]
fn a_mute_kick_or_ban_reaches_the_member_on_the_other_node_and_a_ban_holds_on_every_node() {
    let Some(nats) = NatsServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let state_a = AppState::build(node_config(dir.path(), &nats.url, "node-a")).await.unwrap();
        let (t1, t2) = (token(&state_a, "ana").await, token(&state_a, "ben").await);
        let state_b = AppState::build(node_config(dir.path(), &nats.url, "node-b")).await.unwrap();
        let server_a = nexus_server::spawn(state_a).await.unwrap();
        let server_b = nexus_server::spawn(state_b).await.unwrap();
        let url = |addr: std::net::SocketAddr| format!("ws://{addr}{}", nexus_net::control::WS_PATH);
        let (url_a, url_b) = (url(server_a.addr), url(server_b.addr));
        // Ana owns the room on node A; ben joins it through node B.
        let mut ana = RoomClient::connect(&url_a, &t1, None).await.unwrap();
        let (room, _) = ana.create_room("moderated", 8).await.unwrap();
        let mut ben = RoomClient::connect(&url_b, &t2, None).await.unwrap();
        let (_, ben_on_b) = ben.join_room(&room).await.unwrap();
        let ServerMsg::MemberJoined(ben_on_a) =
            until_control(&mut ana, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberJoined(_))).await
        else {
            unreachable!()
        };
        assert!(voice_heard(&mut ben, &mut ana, Duration::from_secs(2)).await > 0, "ben's voice crosses nodes");

        // A mute decided on A is carried out on B: ben is told, and his voice stops.
        ana.send(&ClientMsg::Moderate { slot: ben_on_a.slot, action: MemberAction::Mute }).await.unwrap();
        let told =
            until_control(&mut ben, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberMuted { .. })).await;
        assert_eq!(told, ServerMsg::MemberMuted { slot: ben_on_b, muted: true });
        let seen =
            until_control(&mut ana, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberMuted { .. })).await;
        assert_eq!(seen, ServerMsg::MemberMuted { slot: ben_on_a.slot, muted: true }, "node A shows the mute");
        assert_eq!(voice_heard(&mut ben, &mut ana, Duration::from_millis(800)).await, 0, "a muted member is not heard");
        ana.send(&ClientMsg::Moderate { slot: ben_on_a.slot, action: MemberAction::Unmute }).await.unwrap();
        until_control(&mut ben, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberMuted { muted: false, .. }))
            .await;
        until_control(&mut ana, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberMuted { muted: false, .. }))
            .await;
        assert!(voice_heard(&mut ben, &mut ana, Duration::from_secs(2)).await > 0, "unmuted, he is heard again");

        // A kick: ben is removed on B, leaves on A, and may come back.
        ana.send(&ClientMsg::Moderate { slot: ben_on_a.slot, action: MemberAction::Kick }).await.unwrap();
        let removed = until_control(&mut ben, Duration::from_secs(5), |m| matches!(m, ServerMsg::Removed { .. })).await;
        assert_eq!(removed, ServerMsg::Removed { action: MemberAction::Kick });
        until_control(&mut ana, Duration::from_secs(5), |m| *m == ServerMsg::MemberLeft { slot: ben_on_a.slot }).await;
        ben.join_room(&room).await.unwrap();
        let ServerMsg::MemberJoined(ben_on_a) =
            until_control(&mut ana, Duration::from_secs(5), |m| matches!(m, ServerMsg::MemberJoined(_))).await
        else {
            unreachable!()
        };

        // A ban: removed on B, and refused on both nodes afterwards.
        ana.send(&ClientMsg::Moderate { slot: ben_on_a.slot, action: MemberAction::Ban }).await.unwrap();
        let removed = until_control(&mut ben, Duration::from_secs(5), |m| matches!(m, ServerMsg::Removed { .. })).await;
        assert_eq!(removed, ServerMsg::Removed { action: MemberAction::Ban });
        until_control(&mut ana, Duration::from_secs(5), |m| *m == ServerMsg::MemberLeft { slot: ben_on_a.slot }).await;
        let refused =
            |r: Result<_, ClientError>| matches!(r, Err(ClientError::Server { code: ErrorCode::BannedFromRoom, .. }));
        assert!(refused(ben.join_room(&room).await), "node B refuses him");
        let mut ben_a = RoomClient::connect(&url_a, &t2, None).await.unwrap();
        assert!(refused(ben_a.join_room(&room).await), "node A refuses him");
        drop((server_a, server_b));
    });
    drop(nats);
}
