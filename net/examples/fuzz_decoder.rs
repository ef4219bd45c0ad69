//! Fuzz target for the decoders: mutation-based, on stable Rust, bounded in time.
//!
//! `cargo run -p nexus-net --example fuzz_decoder --release -- <seconds> [seed]`
//! (`cargo xtask fuzz` runs it; `cargo xtask test` runs it for a short while).
//!
//! Inputs start from a corpus of valid messages (the golden files and freshly encoded
//! random ones, binary and control JSON) and are mutated — bit flips, byte changes,
//! insertions, deletions, truncation, splicing, length-field and kind-byte tweaks. Every
//! input goes through the real-time decoder (with plausible baselines on hand), both
//! link ends, the inter-node (NATS) decoders, and the control-plane parser. A panic is a failure: the input is saved
//! under `<target>/fuzz/crash-*.bin` and the run exits non-zero. Inputs that do decode
//! must re-encode to bytes that decode to the same message.
//!
//! Why not cargo-fuzz: it needs a nightly toolchain and sanitizer builds, which the
//! project's one-command CI on a fresh machine does not have; this target is plain Rust
//! and its mutators know the wire format's fields.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use glam::Vec3;
use nexus_net::baseline::History;
use nexus_net::cluster::{NodeBatch, NodeMember, NodeOrder, NodeRelay};
use nexus_net::control::ClientMsg;
use nexus_net::control::MemberAction;
use nexus_net::link::{ClientLink, ServerLink};
use nexus_net::pose_codec::QuantizedAvatar;
use nexus_net::realtime;
use nexus_net::scripted;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn corpus(history: &mut History) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push(bytes);
            }
        }
    }
    // Fresh traffic of a short session: updates with deltas, snapshots, pings.
    let mut client = ClientLink::new(3);
    let mut server = ServerLink::new(3);
    for f in 0..40 {
        let state = scripted::avatar(3, f as f32 / 72.0, Vec3::ZERO);
        let update = client.pose_update(&state, None, f * 13_889).unwrap();
        let _ = server.receive(&update, f * 13_889 + 4_000);
        history.insert(3, f as u16, QuantizedAvatar::from_state(&state));
        out.push(update);
        let others = [(5u16, &QuantizedAvatar::from_state(&scripted::avatar(5, f as f32 / 72.0, Vec3::X)), 0u64)];
        for d in server.snapshot(f * 13_889 + 5_000, &others, None).unwrap() {
            let _ = client.receive(&d);
            out.push(d);
        }
    }
    // What nodes send each other over NATS.
    let member = |id: u64| NodeMember {
        id,
        user: (u128::from(id) << 64) | 7,
        name: format!("member {id}"),
        muted: id.is_multiple_of(2),
        avatar: (!id.is_multiple_of(3))
            .then(|| (QuantizedAvatar::from_state(&scripted::avatar(1, 0.3, Vec3::Y)), 9_000)),
    };
    out.push(NodeBatch { node: "node-a".into(), members: (1..4).map(member).collect() }.encode());
    out.push(NodeRelay { node: "node-b".into(), member: 5, reliable: true, message: out[0].clone() }.encode());
    out.push(
        NodeOrder { node: "node-a".into(), home: "node-b".into(), member: 5, user: 42, action: MemberAction::Ban }
            .encode(),
    );
    out
}

/// The inter-node decoders: what decodes must re-encode to the same message.
fn cluster_round_trip(input: &[u8]) -> bool {
    let mut ok = false;
    if let Ok(m) = NodeBatch::decode(input) {
        assert_eq!(NodeBatch::decode(&m.encode()), Ok(m), "batch re-decode differs");
        ok = true;
    }
    if let Ok(m) = NodeRelay::decode(input) {
        assert_eq!(NodeRelay::decode(&m.encode()), Ok(m), "relay re-decode differs");
        ok = true;
    }
    if let Ok(m) = NodeOrder::decode(input) {
        assert_eq!(NodeOrder::decode(&m.encode()), Ok(m), "order re-decode differs");
        ok = true;
    }
    ok
}

fn control_corpus() -> Vec<String> {
    vec![
        r#"{"type":"hello","magic":"NEXUS-VR","version":1,"token":"abc","resume":"r"}"#.into(),
        r#"{"type":"create_room","name":"Café","capacity":8}"#.into(),
        r#"{"type":"join_room","room":"0191c0de-0000-7000-8000-000000000000"}"#.into(),
        r#"{"type":"moderate","slot":3,"action":"ban"}"#.into(),
        r#"{"type":"rtc_offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}"#.into(),
        r#"{"type":"list_rooms"}"#.into(),
    ]
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(b.len() + 1);
                b.insert(i, rng.next() as u8);
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.remove(i);
            }
            4 => b.truncate(rng.below(b.len() + 1)),
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(b.len() + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            6 if !b.is_empty() => b[0] = rng.below(8) as u8, // kind byte, valid and not
            7 if b.len() > 3 => {
                // A plausible length or count field set to an extreme.
                let i = rng.below(b.len() - 1);
                b[i] = 0xFF;
                b[i + 1] = 0xFF;
            }
            _ => b.extend(std::iter::repeat_n(rng.next() as u8, rng.below(64))),
        }
    }
    b
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0x5EED_F00D);
    let mut history = History::new();
    let corpus = corpus(&mut history);
    let control: Vec<Vec<u8>> = control_corpus().into_iter().map(String::into_bytes).collect();
    let mut rng = Rng(seed | 1);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut runs, mut decoded) = (0u64, 0u64);
    let crash_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from("target"), std::path::PathBuf::from)
        .join("fuzz");
    while Instant::now() < end {
        for _ in 0..256 {
            let binary = rng.below(4) != 0;
            let pool = if binary { &corpus } else { &control };
            let pick = rng.below(pool.len());
            let input = mutate(&mut rng, &pool[pick], pool);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut ok = false;
                if binary {
                    if let Ok(message) = realtime::decode(&input, &history, 3) {
                        ok = true;
                        // Valid input: re-encoding must give bytes that decode the same.
                        if let Ok(again) = realtime::encode(&message, &history, 3) {
                            assert_eq!(realtime::decode(&again, &history, 3).ok(), Some(message), "re-decode differs");
                        }
                    }
                    let _ = ServerLink::new(3).receive(&input, 1);
                    let _ = ClientLink::new(3).receive(&input);
                    ok |= cluster_round_trip(&input);
                } else if let Ok(text) = std::str::from_utf8(&input)
                    && let Ok(m) = ClientMsg::parse(text)
                {
                    ok = true;
                    let _ = m.verify(nexus_net::control::SessionPhase::Lobby);
                }
                ok
            }));
            runs += 1;
            match outcome {
                Ok(ok) => decoded += u64::from(ok),
                Err(_) => {
                    std::fs::create_dir_all(&crash_dir).unwrap();
                    let path = crash_dir.join(format!("crash-{seed}-{runs}.bin"));
                    std::fs::write(&path, &input).unwrap();
                    println!("fuzz: PANIC on input saved to {}", path.display());
                    std::process::exit(1);
                }
            }
        }
    }
    println!("fuzz: {runs} inputs in {seconds} s, {decoded} decoded, no panic (seed {seed})");
}
