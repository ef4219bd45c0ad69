//! `cargo xtask bench net`: what the real-time plane costs and how fast it is.
//!
//! - bytes per full-body + hands avatar update (delta against the acknowledged state, and
//!   whole) against naive JSON of the same state;
//! - bandwidth per client at 72 and 90 Hz with 16 avatars in view (a real `RoomCore` and
//!   17 real client links, acks flowing), next to a published social-VR figure;
//! - server CPU per client per update against a JSON relay of the same data;
//! - the most clients one room (one server core; the other core plays the clients) carries
//!   at 72 and 90 Hz before the p99 fan-out latency passes 20 ms;
//! - loopback end-to-end latency through a real server, over WebRTC and over the
//!   WebSocket;
//! - interpolation error of a remote avatar under 10 % loss and 50 ms jitter.
//!
//! Prints `result: <name> <value> <unit> <anchor-name> <anchor-value>` lines.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use glam::Vec3;
use nexus_net::link::ClientLink;
use nexus_net::netsim::RelayRun;
use nexus_net::pose_codec::QuantizedAvatar;
use nexus_net::realtime::Realtime;
use nexus_net::scripted;
use nexus_net::state::AvatarState;
use nexus_server::rooms::core::RoomCore;

/// The closest published per-avatar figure found: High Fidelity's "about 200 kbps of joint
/// motion data" per person (HMD + hand controllers; P. Rosedale, "Creating Crowds in VR",
/// High Fidelity blog, 8 Feb 2017). It is what one avatar uploads, not what each receiver
/// downloads per avatar; the README says so next to the figures.
const PUBLISHED_KBPS_PER_AVATAR: (&str, f64) = ("highfidelity_2017_joint_data_kbps", 200.0);

fn result(name: &str, value: f64, unit: &str, anchor: &str, anchor_value: f64) {
    println!("result: {name} {value:.4} {unit} {anchor} {anchor_value:.4}");
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The same avatar as naive JSON: every field as text, each hand as its 26 joint poses.
fn json_with_joints(state: &AvatarState) -> usize {
    use nexus_net::hand::Side;
    let joints: Vec<_> = state
        .fingers
        .iter()
        .zip([Side::Left, Side::Right])
        .zip([0, 1])
        .filter_map(|((c, side), i)| {
            let wrist = state.parts[i]?;
            Some(c.as_ref()?.to_joints(wrist, side, 1.0).to_vec())
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "head": state.head, "parts": state.parts, "hand_joints": joints, "face": state.face.map(|f| f.to_vec()) }))
        .unwrap()
        .len()
}

/// Update sizes: one client and the server exchanging for 10 s at 72 Hz with acks.
fn update_sizes() {
    let mut client = ClientLink::new(0);
    let mut room = RoomCore::new(2);
    let slot = room.join(uuid::Uuid::new_v4(), "a").unwrap();
    assert_eq!(slot, 0);
    let (mut delta, mut json, mut joints_json, mut full) = (0usize, 0usize, 0usize, 0usize);
    let frames = 720;
    let mut out = Vec::new();
    for f in 0..frames {
        let t = f as f32 / 72.0;
        let state = scripted::avatar(0, t, Vec3::new(0.0, 0.0, -1.0));
        let bytes = client.pose_update(&state, None, (t * 1e6) as u64).unwrap();
        delta += bytes.len();
        full += nexus_net::pose_codec::encoded_len(&QuantizedAvatar::from_state(&state), None) + 10;
        json += serde_json::to_vec(&state).unwrap().len();
        joints_json += json_with_joints(&state);
        room.receive(slot, &bytes, (t * 1e6) as u64 + 5_000).unwrap();
        out.clear();
        room.tick((t * 1e6) as u64 + 6_000, &mut out);
        for (_, datagrams) in &out {
            for d in datagrams {
                client.receive(d).unwrap();
            }
        }
    }
    let n = frames as f64;
    result("update_bytes_delta", delta as f64 / n, "B", "json_state_bytes", json as f64 / n);
    result("update_bytes_full", full as f64 / n, "B", "json_state_bytes", json as f64 / n);
    result(
        "update_bytes_delta_vs_joint_json",
        delta as f64 / n,
        "B",
        "json_26_joint_hands_bytes",
        joints_json as f64 / n,
    );
}

/// A room of `n` members standing on a 1.2 m grid, each with its own client link.
struct Crowd {
    room: RoomCore,
    clients: Vec<ClientLink>,
    origins: Vec<Vec3>,
}

impl Crowd {
    fn new(n: usize) -> Self {
        let mut room = RoomCore::new(n as u16);
        let side = (n as f32).sqrt().ceil() as usize;
        let mut clients = Vec::new();
        let mut origins = Vec::new();
        for i in 0..n {
            let slot = room.join(uuid::Uuid::new_v4(), &format!("m{i}")).unwrap();
            clients.push(ClientLink::new(slot));
            origins.push(Vec3::new((i % side) as f32 * 1.2, 0.0, -((i / side) as f32) * 1.2));
        }
        Self { room, clients, origins }
    }
}

/// Bandwidth and server CPU with 16 avatars in view of each of 17 members, at `hz`.
fn bandwidth(hz: f64) -> (f64, f64, f64, f64) {
    let n = 17;
    let mut crowd = Crowd::new(n);
    let seconds = 8.0;
    let ticks = (seconds * hz) as usize;
    let (mut down, mut up) = (0usize, 0usize);
    let mut server = Duration::ZERO;
    let mut json_relay = Duration::ZERO;
    let mut out = Vec::new();
    for k in 0..ticks {
        let t = k as f64 / hz;
        let now = (t * 1e6) as u64;
        let mut states = Vec::with_capacity(n);
        for i in 0..n {
            let state = scripted::avatar(i as u32, t as f32, crowd.origins[i]);
            let bytes = crowd.clients[i].pose_update(&state, None, now).unwrap();
            if i == 0 {
                up += bytes.len();
            }
            let start = Instant::now();
            crowd.room.receive(i as u16, &bytes, now + 3_000).unwrap();
            server += start.elapsed();
            states.push(state);
        }
        out.clear();
        let start = Instant::now();
        crowd.room.tick(now + 5_000, &mut out);
        server += start.elapsed();
        // The JSON relay of the same data: parse each update, write each member a snapshot
        // of the 16 others.
        let start = Instant::now();
        let texts: Vec<Vec<u8>> = states.iter().map(|s| serde_json::to_vec(s).unwrap()).collect();
        let parsed: Vec<AvatarState> = texts.iter().map(|t| serde_json::from_slice(t).unwrap()).collect();
        for i in 0..n {
            let others: Vec<&AvatarState> =
                parsed.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s).collect();
            std::hint::black_box(serde_json::to_vec(&others).unwrap());
        }
        json_relay += start.elapsed();
        for (slot, datagrams) in &out {
            for d in datagrams {
                if *slot == 0 {
                    down += d.len();
                }
                crowd.clients[usize::from(*slot)].receive(d).unwrap();
            }
        }
    }
    let kbps = |bytes: usize| bytes as f64 * 8.0 / seconds / 1000.0;
    let per = (n * ticks) as f64;
    (kbps(down), kbps(up), server.as_secs_f64() * 1e6 / per, json_relay.as_secs_f64() * 1e6 / per)
}

/// Run one room of `n` members for `seconds` at `hz` in real time: this thread is the
/// server, a second thread plays the clients (encodes their updates, reads snapshot
/// headers for acks). Returns the p99 fan-out latency (a pose's arrival at the server to
/// the end of the tick that sent it to everyone), ms.
fn fanout_p99(n: usize, hz: f64, seconds: f64) -> f64 {
    let (to_server, server_in) = mpsc::channel::<(u16, Vec<u8>)>();
    let (to_clients, clients_in) = mpsc::channel::<(u16, Vec<u8>)>();
    let epoch = Instant::now();
    let now_us = move || epoch.elapsed().as_micros() as u64;
    let period = Duration::from_secs_f64(1.0 / hz);
    let crowd = Crowd::new(n);
    let Crowd { mut room, mut clients, origins } = crowd;
    let client_thread = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut next = Instant::now();
        while Instant::now() < end {
            while let Ok((slot, bytes)) = clients_in.try_recv() {
                let _ = clients[usize::from(slot)].receive(&bytes);
            }
            let t = epoch.elapsed().as_secs_f32();
            for (i, c) in clients.iter_mut().enumerate() {
                let bytes = c.pose_update(&scripted::avatar(i as u32, t, origins[i]), None, now_us()).unwrap();
                if to_server.send((i as u16, bytes)).is_err() {
                    return;
                }
            }
            next += period;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });
    let mut arrivals: Vec<Option<u64>> = vec![None; n];
    let mut latencies = Vec::new();
    let mut out = Vec::new();
    let mut next_tick = Instant::now() + period;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        while let Ok((slot, bytes)) = server_in.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            let now = now_us();
            let _ = room.receive(slot, &bytes, now);
            arrivals[usize::from(slot)].get_or_insert(now);
            if Instant::now() >= next_tick {
                break;
            }
        }
        if Instant::now() < next_tick {
            continue;
        }
        next_tick += period;
        out.clear();
        room.tick(now_us(), &mut out);
        for (slot, datagrams) in out.drain(..) {
            for d in datagrams {
                let _ = to_clients.send((slot, d));
            }
        }
        let done = now_us();
        for a in &mut arrivals {
            if let Some(at) = a.take() {
                latencies.push((done - at) as f64 / 1000.0);
            }
        }
    }
    drop(to_clients);
    drop(server_in);
    let _ = client_thread.join();
    if latencies.is_empty() { f64::INFINITY } else { percentile(&mut latencies, 0.99) }
}

/// The largest room size whose p99 fan-out latency stays within 20 ms, and every smaller
/// size's too (scheduling noise on a shared 2-core machine makes single runs jumpy).
fn max_clients(hz: f64) -> usize {
    let mut best = 0;
    for n in [8, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256] {
        let p99 = fanout_p99(n, hz, 5.0);
        println!("fan-out at {hz} Hz with {n} clients: p99 {p99:.2} ms");
        if p99 > 20.0 {
            break;
        }
        best = n;
    }
    best
}

/// Register and sign in a user directly through the service layer.
async fn token(state: &nexus_server::state::AppState, name: &str) -> String {
    use nexus_server::accounts::service::{Credentials, Registration, login, register};
    register(
        state,
        Registration {
            email: format!("{name}@example.com"),
            username: name.into(),
            password: "correct horse battery".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        },
    )
    .await
    .unwrap();
    let meta = nexus_server::http::extract::ClientMeta { ip: [127, 0, 0, 1].into(), user_agent: Some("bench".into()) };
    login(state, Credentials { email: format!("{name}@example.com"), password: "correct horse battery".into() }, &meta)
        .await
        .unwrap()
        .access_token
}

/// End-to-end latency through a real server: A's head x-position carries its send time
/// (ms, mod 30 s), B reads it back from each snapshot.
async fn loopback(rtc: bool) -> (f64, f64) {
    use nexus_net::transport::client::{ClientEvent, RoomClient};
    let dir = tempfile::tempdir().unwrap();
    let mut config = nexus_server::config::Config::embedded(dir.path().to_path_buf());
    config.database_url = None;
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.login_rate_per_minute = u32::MAX;
    let state = nexus_server::state::AppState::build(config).await.unwrap();
    let (ta, tb) = (token(&state, "bench_a").await, token(&state, "bench_b").await);
    let server = nexus_server::spawn(state).await.unwrap();
    let url = format!("ws://{}{}", server.addr, nexus_net::control::WS_PATH);
    let mut a = RoomClient::connect(&url, &ta, None).await.unwrap();
    let mut b = RoomClient::connect(&url, &tb, None).await.unwrap();
    let (room, slot_a) = a.create_room("bench", 4).await.unwrap();
    b.join_room(&room).await.unwrap();
    if rtc {
        let udp = vec!["127.0.0.1:0".to_owned()];
        a.upgrade_rtc(&udp).await.unwrap();
        b.upgrade_rtc(&udp).await.unwrap();
    }
    let epoch = Instant::now();
    let stamp = |t: Instant| (t.duration_since(epoch).as_millis() % 30_000) as f32 / 1000.0;
    let mut latencies = Vec::new();
    let mut next = Instant::now();
    let end = Instant::now() + Duration::from_secs(8);
    while Instant::now() < end {
        let mut state = scripted::avatar(0, 0.0, Vec3::ZERO);
        state.head.position.x = stamp(Instant::now());
        a.send_pose(&state, None).await.unwrap();
        next += Duration::from_secs_f64(1.0 / 72.0);
        while let Some(e) = b.next_event(next.saturating_duration_since(Instant::now())).await {
            if let ClientEvent::Realtime(Realtime::Snapshot(s)) = e {
                let now_ms = Instant::now().duration_since(epoch).as_millis() % 30_000;
                for e in s.entries.iter().filter(|e| e.slot == slot_a) {
                    let sent_ms = (e.avatar.to_state().head.position.x * 1000.0).round() as u128;
                    if now_ms >= sent_ms && epoch.elapsed() > Duration::from_secs(1) {
                        latencies.push((now_ms - sent_ms) as f64);
                    }
                }
            }
        }
        while a.next_event(Duration::ZERO).await.is_some() {}
    }
    server.stop().await.unwrap();
    (percentile(&mut latencies.clone(), 0.5), percentile(&mut latencies, 0.99))
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    update_sizes();

    let published = PUBLISHED_KBPS_PER_AVATAR.1;
    for hz in [72.0, 90.0] {
        let (down, up, cpu_us, json_us) = bandwidth(hz);
        result(&format!("downlink_16_in_view_{hz}hz"), down, "kbit/s", "none", f64::NAN);
        result(&format!("per_avatar_downlink_{hz}hz"), down / 16.0, "kbit/s", PUBLISHED_KBPS_PER_AVATAR.0, published);
        result(&format!("uplink_{hz}hz"), up, "kbit/s", PUBLISHED_KBPS_PER_AVATAR.0, published);
        result(
            &format!("server_cpu_per_client_update_{hz}hz"),
            cpu_us,
            "us",
            "json_relay_per_client_update_us",
            json_us,
        );
    }

    for hz in [72.0, 90.0] {
        let n = max_clients(hz);
        result(&format!("max_clients_p99_under_20ms_{hz}hz"), n as f64, "clients", "room_capacity_max", 64.0);
        result(
            &format!("max_client_updates_per_s_{hz}hz"),
            n as f64 * hz,
            "updates/s",
            "room_capacity_max_at_rate",
            64.0 * hz,
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (rtc, name) in [(true, "webrtc"), (false, "websocket")] {
        let (p50, p99) = rt.block_on(loopback(rtc));
        result(&format!("loopback_{name}_p50"), p50, "ms", "fanout_budget_ms", 20.0);
        result(&format!("loopback_{name}_p99"), p99, "ms", "fanout_budget_ms", 20.0);
    }

    let run = RelayRun {
        loss: 0.10,
        delay_us: 20_000,
        jitter_us: 50_000,
        seconds: 20.0,
        send_hz: 72.0,
        tick_hz: 72.0,
        render_hz: 90.0,
        seed: 7,
    };
    let report = run.run();
    result(
        "interp_error_p99_loss10_jitter50",
        report.p99_error_m as f64 * 1000.0,
        "mm",
        "newest_snapshot_p99_mm",
        report.p99_error_newest_m as f64 * 1000.0,
    );
    result(
        "interp_error_p50_loss10_jitter50",
        report.p50_error_m as f64 * 1000.0,
        "mm",
        "newest_snapshot_p99_mm",
        report.p99_error_newest_m as f64 * 1000.0,
    );
    result("interp_display_latency_loss10_jitter50", report.latency_us as f64 / 1000.0, "ms", "fanout_budget_ms", 20.0);
}
