//! The real-time wire format: encode → decode is the identity for every message, deltas
//! decode bit-exactly against their baselines, quantisation error stays within the
//! documented bounds, the bytes match the golden files, and hostile input is rejected
//! with a typed error.
#![allow(clippy::unwrap_used)] // helpers shared by tests unwrap like the tests do

mod support;

use std::path::PathBuf;

use glam::Vec3;
use nexus_net::baseline::{AckWindow, History};
use nexus_net::error::DecodeError;
use nexus_net::hand::Side;
use nexus_net::pose_codec::{self, QuantizedAvatar};
use nexus_net::realtime::{
    self, ClockPing, ClockPong, EventAction, GestureCode, PoseUpdate, Realtime, RoomEvent, Snapshot, SnapshotEntry,
    VoiceFrame,
};
use nexus_net::scripted;
use nexus_net::sync::prediction::RootState;
use proptest::prelude::*;

fn round_trip(message: &Realtime, history: &History, slot: u16) -> Realtime {
    let bytes = realtime::encode(message, history, slot).unwrap();
    realtime::decode(&bytes, history, slot).unwrap()
}

proptest! {
    #[test]
    fn pose_codec_is_exact_against_any_baseline(a in support::avatar(), b in support::avatar(), k in 0.0f32..3.0) {
        let qa = QuantizedAvatar::from_state(&a);
        let qb = QuantizedAvatar::from_state(&b);
        let near = QuantizedAvatar::from_state(&support::nudged(&a, k));
        for base in [None, Some(&qb), Some(&qa), Some(&near)] {
            let mut w = nexus_net::bits::BitWriter::new();
            pose_codec::encode(&mut w, &near, base);
            let bytes = w.finish();
            let mut r = nexus_net::bits::BitReader::new(&bytes);
            prop_assert_eq!(pose_codec::decode(&mut r, base).unwrap(), near.clone());
        }
    }

    #[test]
    fn quantisation_error_is_bounded(a in support::avatar()) {
        let back = QuantizedAvatar::from_state(&a).to_state();
        prop_assert!(back.head.position.distance(a.head.position) <= 0.000_87, "position within half a mm per axis");
        // Smallest three at 10 bits: each kept component within 0.0007 → at most ~0.2° (0.199° seen).
        prop_assert!(back.head.rotation.angle_between(a.head.rotation) < 0.25f32.to_radians());
        prop_assert!((back.head.rotation.length() - 1.0).abs() < 1e-5);
        for (x, y) in a.parts.iter().zip(&back.parts) {
            prop_assert_eq!(x.is_some(), y.is_some());
        }
        if let (Some(f), Some(g)) = (a.face, back.face) {
            for (x, y) in f.iter().zip(&g) {
                prop_assert!((x - y).abs() <= 0.5 / 255.0 + 1e-6);
            }
        }
        if let (Some(f), Some(g)) = (a.fingers[0], back.fingers[0]) {
            for (x, y) in f.fingers.iter().zip(&g.fingers) {
                prop_assert!((x.splay - y.splay).abs() <= 0.7 / 255.0 + 1e-5);
                for (p, q) in x.flex.iter().zip(&y.flex) {
                    prop_assert!((p - q).abs() <= 1.3 / 255.0 + 1e-5);
                }
            }
        }
    }

    #[test]
    fn every_message_round_trips(
        a in support::avatar(),
        b in support::avatar(),
        inputs in prop::collection::vec(support::input(), 0..=3),
        seq in any::<u16>(),
        time in any::<u64>(),
        ago in 1u8..=40,
        payload in prop::collection::vec(any::<u8>(), 0..=1000),
        slot in any::<u16>(),
    ) {
        let qa = QuantizedAvatar::from_state(&a);
        let qb = QuantizedAvatar::from_state(&b);
        let mut history = History::new();
        history.insert(slot, seq.wrapping_sub(u16::from(ago)), qb.clone());
        let update = Realtime::PoseUpdate(PoseUpdate {
            seq,
            captured_at: time as u32,
            snapshot_acks: AckWindow::from_wire(seq ^ 0x55, 0xDEAD_BEEF),
            baseline: Some(seq.wrapping_sub(u16::from(ago))),
            inputs: inputs.clone(),
            avatar: qa.clone(),
        });
        let decoded = round_trip(&update, &history, slot);
        // Locomotion inputs are quantised on the wire: compare the re-encoding instead.
        prop_assert_eq!(
            realtime::encode(&decoded, &history, slot).unwrap(),
            realtime::encode(&update, &history, slot).unwrap()
        );
        let snapshot = Realtime::Snapshot(Snapshot {
            seq,
            server_time_us: time,
            pose_acks: AckWindow::new(),
            root: Some((seq, RootState { position: Vec3::new(1.0, 0.0, -2.5), yaw: 1.0 })),
            entries: vec![
                SnapshotEntry { slot, baseline_ago: ago, age: seq, avatar: qa.clone() },
                SnapshotEntry { slot: slot.wrapping_add(1), baseline_ago: 0, age: 0, avatar: qb.clone() },
            ],
        });
        let Realtime::Snapshot(s) = round_trip(&snapshot, &history, 0) else { panic!("kind changed") };
        prop_assert_eq!(s.entries[0].avatar.clone(), qa);
        prop_assert_eq!(s.entries[1].avatar.clone(), qb);
        prop_assert_eq!(s.server_time_us, time);
        let (_, root) = s.root.unwrap();
        prop_assert!(root.position.distance(Vec3::new(1.0, 0.0, -2.5)) < 0.001 && (root.yaw - 1.0).abs() < 1e-3);
        for m in [
            Realtime::ClockPing(ClockPing { client_time_us: time }),
            Realtime::ClockPong(ClockPong { client_time_us: time, server_time_us: time / 3 }),
            Realtime::Event(RoomEvent { from: slot, action: EventAction::Gesture { hand: Side::Right, gesture: GestureCode::Wave } }),
            Realtime::Event(RoomEvent { from: slot, action: EventAction::Touch { target: seq, hand: Side::Left, strength: 200 } }),
            Realtime::Event(RoomEvent { from: slot, action: EventAction::Expression { emotion: 3, intensity: 128 } }),
            Realtime::Voice(VoiceFrame { from: slot, seq, timestamp: time as u32, payload: payload.clone() }),
        ] {
            prop_assert_eq!(round_trip(&m, &history, slot), m);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        let history = History::new();
        let _ = realtime::decode(&bytes, &history, 0);
    }
}

#[test]
fn a_delta_is_much_smaller_than_a_full_update() {
    let a = QuantizedAvatar::from_state(&scripted::avatar(1, 1.0, Vec3::ZERO));
    let b = QuantizedAvatar::from_state(&scripted::avatar(1, 1.0 + 1.0 / 72.0, Vec3::ZERO));
    let full = pose_codec::encoded_len(&b, None);
    let delta = pose_codec::encoded_len(&b, Some(&a));
    assert!(full < 200, "full-body + fingers + face in {full} bytes");
    assert!(delta * 2 < full, "delta {delta} vs full {full}");
    assert_eq!(pose_codec::encoded_len(&b, Some(&b)), 3, "an unchanged avatar costs its 23 presence and change bits");
}

#[test]
fn hostile_input_gets_typed_errors() {
    let h = History::new();
    assert_eq!(realtime::decode(&[], &h, 0), Err(DecodeError::Empty));
    assert_eq!(realtime::decode(&[0xFF], &h, 0), Err(DecodeError::UnknownKind(0xFF)));
    assert_eq!(realtime::decode(&[2, 1], &h, 0), Err(DecodeError::Truncated));
    assert!(matches!(realtime::decode(&[3; 2000], &h, 0), Err(DecodeError::Oversized { len: 2000, .. })));
    let ping = realtime::encode(&Realtime::ClockPing(ClockPing { client_time_us: 5 }), &h, 0).unwrap();
    let mut long = ping.clone();
    long.extend_from_slice(&[0, 0]);
    assert_eq!(realtime::decode(&long, &h, 0), Err(DecodeError::Trailing(2)));
    // A pose delta against a baseline the receiver never had.
    let mut sender = History::new();
    let q = QuantizedAvatar::from_state(&scripted::avatar(0, 0.0, Vec3::ZERO));
    sender.insert(4, 9, q.clone());
    let update = Realtime::PoseUpdate(PoseUpdate {
        seq: 10,
        captured_at: 0,
        snapshot_acks: AckWindow::new(),
        baseline: Some(9),
        inputs: vec![],
        avatar: q,
    });
    let bytes = realtime::encode(&update, &sender, 4).unwrap();
    assert_eq!(realtime::decode(&bytes, &h, 4), Err(DecodeError::UnknownBaseline));
    // A voice frame claiming a payload larger than the limit.
    let mut voice =
        realtime::encode(&Realtime::Voice(VoiceFrame { from: 0, seq: 0, timestamp: 0, payload: vec![1; 4] }), &h, 0)
            .unwrap();
    voice[9] = 0xFF;
    voice[10] = 0xFF;
    assert!(matches!(realtime::decode(&voice, &h, 0), Err(DecodeError::Oversized { .. } | DecodeError::Truncated)));
}

/// The messages whose bytes are pinned. Changing the wire format changes these files;
/// then bump `PROTOCOL_VERSION` and regenerate with `cargo xtask bless`.
fn golden_messages() -> Vec<(&'static str, Realtime, History, u16)> {
    let t0 = QuantizedAvatar::from_state(&scripted::avatar(2, 0.5, Vec3::new(1.0, 0.0, -1.0)));
    let t1 = QuantizedAvatar::from_state(&scripted::avatar(2, 0.5 + 1.0 / 72.0, Vec3::new(1.0, 0.0, -1.0)));
    let mut history = History::new();
    history.insert(5, 99, t0.clone());
    history.insert(5, 1000, t0.clone());
    let input = nexus_net::sync::prediction::LocomotionInput {
        seq: 41,
        dt: 1.0 / 72.0,
        move_axis: glam::Vec2::new(0.5, -1.0),
        turn: 0.25,
        teleport: None,
    };
    vec![
        (
            "pose_update_full",
            Realtime::PoseUpdate(PoseUpdate {
                seq: 99,
                captured_at: 5_000_000,
                snapshot_acks: AckWindow::new(),
                baseline: None,
                inputs: vec![],
                avatar: t0.clone(),
            }),
            History::new(),
            5,
        ),
        (
            "pose_update_delta",
            Realtime::PoseUpdate(PoseUpdate {
                seq: 100,
                captured_at: 5_013_889,
                snapshot_acks: AckWindow::from_wire(7, 0b1011),
                baseline: Some(99),
                inputs: vec![input],
                avatar: t1.clone(),
            }),
            history.clone(),
            5,
        ),
        (
            "snapshot",
            Realtime::Snapshot(Snapshot {
                seq: 1003,
                server_time_us: 1_234_567_890,
                pose_acks: AckWindow::from_wire(100, 1),
                root: Some((41, RootState { position: Vec3::new(1.0, 0.0, -1.0), yaw: 0.5 })),
                entries: vec![
                    SnapshotEntry { slot: 5, baseline_ago: 3, age: 412, avatar: t1 },
                    SnapshotEntry { slot: 6, baseline_ago: 0, age: 275, avatar: t0 },
                ],
            }),
            history,
            0,
        ),
        (
            "clock_pong",
            Realtime::ClockPong(ClockPong { client_time_us: 77, server_time_us: 1_000_077 }),
            History::new(),
            0,
        ),
        (
            "event_gesture",
            Realtime::Event(RoomEvent {
                from: 3,
                action: EventAction::Gesture { hand: Side::Left, gesture: GestureCode::ThumbsUp },
            }),
            History::new(),
            0,
        ),
        (
            "voice",
            Realtime::Voice(VoiceFrame { from: 3, seq: 17, timestamp: 960 * 17, payload: vec![0xFC, 0xFF, 0xFE] }),
            History::new(),
            0,
        ),
    ]
}

#[test]
fn bytes_match_the_golden_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("NEXUS_BLESS").is_some();
    for (name, message, history, slot) in golden_messages() {
        let bytes = realtime::encode(&message, &history, slot).unwrap();
        let path = dir.join(format!("{name}.bin"));
        if bless {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let golden =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask bless`)", path.display()));
        assert_eq!(bytes, golden, "{name}: wire bytes changed; bump PROTOCOL_VERSION and `cargo xtask bless`");
        // And the pinned bytes still decode to the message.
        let decoded = realtime::decode(&golden, &history, slot).unwrap();
        assert_eq!(realtime::encode(&decoded, &history, slot).unwrap(), golden, "{name}");
    }
}
