//! Services as the client uses them, against real nexus-server instances: the embedded one
//! (in-process, SQLite in a temp dir) and the same server reached as a remote one over
//! HTTP. Register, sign in, remember the sign-in across restarts, talk to the companion
//! (typed and spoken; moderated, answered, spoken back), store the session record; an unreachable server is a clear error.

use std::time::Duration;

use nexus_client::services::api::{ApiError, Registration};
use nexus_client::services::{ServerChoice, ServiceEvent, Services, ServicesError};
use nexus_net::vr_session::{HeadsetType, QualityPreset, RenderingMode, VrSessionReport};

const WAIT: Duration = Duration::from_secs(30);

fn next_event(s: &Services) -> ServiceEvent {
    s.wait_event(WAIT).unwrap_or_else(|| panic!("no service event within {WAIT:?}"))
}

/// The next event, waiting as long as a conversation turn may take.
fn next_turn(s: &Services) -> ServiceEvent {
    s.wait_event(nexus_client::services::api::TURN_TIMEOUT).expect("an answer within the turn timeout")
}

fn start(choice: ServerChoice, dir: &std::path::Path) -> Services {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Services::start(choice, dir, Duration::from_secs(5)).expect("services start")
}

#[test]
fn embedded_and_remote_sign_in_chat_and_session_record() {
    let data = tempfile::tempdir().expect("tempdir");
    let embedded = start(ServerChoice::Embedded { data_dir: data.path().to_owned() }, data.path());
    assert!(embedded.is_embedded());

    // First run: nothing remembered → the sign-in screen; register through it.
    embedded.resume(false);
    assert!(matches!(next_event(&embedded), ServiceEvent::NeedsSignIn { reason: None }));
    embedded.register(Registration {
        email: "ada@example.com".into(),
        username: "ada".into(),
        password: "correct horse battery".into(),
        birth_date: "1990-05-17".into(),
    });
    match next_event(&embedded) {
        ServiceEvent::SignedIn { me } => assert_eq!(me.username, "ada"),
        other => panic!("expected SignedIn, got {other:?}"),
    }

    // A chat message to the companion (the first one, "Mira", is created): moderated,
    // answered by the embedded model, spoken with a viseme track on the audio's clock.
    let models = std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_some();
    embedded.send_message("My sister lives in Lyon and paints murals.".into());
    // The reply streams in while the model writes it, then the turn arrives whole.
    // A sentence the vetting withholds hushes what streamed so far: the chat drops it,
    // and what streams after counts afresh.
    let mut written: Vec<String> = Vec::new();
    let answered = loop {
        match next_turn(&embedded) {
            ServiceEvent::Writing { text } => written.push(text),
            ServiceEvent::Hush => written.clear(),
            other => break other,
        }
    };
    match answered {
        ServiceEvent::Answered { said, spoken: false, companion, outcome: Ok(turn) } => {
            assert_eq!(
                (said.as_deref(), companion.as_deref()),
                (Some("My sister lives in Lyon and paints murals."), Some("Mira"))
            );
            assert!(["allow", "warn", "block"].contains(&turn.moderation.action.as_str()), "{turn:?}");
            if models {
                assert_eq!(turn.moderation.action, "allow", "a friendly message passes: {turn:?}");
                assert!(turn.remembered.iter().any(|f| f.contains("Lyon")), "{:?}", turn.remembered);
                let reply = turn.reply.expect("the embedded model answers");
                assert!(!reply.text.trim().is_empty());
                // Finished sentences stream before the turn, each vetted with the text
                // before it; the last one comes with the turn. A sentence the vetting
                // withholds ends the stream early even when the whole reply then passes
                // (seen once: the model's "…I was just a little girl." alone scored as
                // sexual/minors), so how much streamed depends on what the model wrote;
                // the server's tests stream a scripted reply and check every event.
                assert!(
                    written.windows(2).all(|w| w[1].starts_with(&w[0])),
                    "each piece adds to the last: {written:?}"
                );
                let last = written.last().map(String::as_str).unwrap_or_default();
                if reply.moderation == "allow" {
                    assert!(
                        reply.text.starts_with(last),
                        "the streamed text {last:?} begins the reply {:?}",
                        reply.text
                    );
                }
                let speech = reply.speech.expect("spoken");
                let wav = speech.wav().expect("base64 audio");
                assert_eq!(&wav[..4], b"RIFF");
                // 16-bit mono: the data's length is the duration's.
                let rate = u32::from_le_bytes(wav[24..28].try_into().expect("rate"));
                let seconds = (wav.len() - 44) as f32 / (2.0 * rate as f32);
                assert!(
                    (seconds - speech.duration_s).abs() < 0.05,
                    "{seconds} s of audio, {} s said",
                    speech.duration_s
                );
                assert!((speech.visemes.end_s() - speech.duration_s).abs() < 0.15, "lips end with the audio");
            }
        }
        other => panic!("expected the companion's answer, got {other:?}"),
    }

    // Spoken: a clip (espeak-ng's voice) is transcribed, and the answer comes back aloud.
    if models {
        use nexus_avatar::lip_sync::espeak::{VoiceSettings, synthesize};
        let clip = synthesize(
            "Hello Mira. My brother Tom plays the guitar in a jazz band.",
            &VoiceSettings { voice: "en-us".into(), rate_wpm: 150, pitch: 40 },
        )
        .expect("espeak-ng");
        embedded.send_voice(nexus_server::companion::voice::wav(&clip.samples, clip.sample_rate));
        // What was heard comes first, then the reply a sentence at a time with its audio,
        // then the turn.
        let (mut heard, mut audio) = (None, 0);
        let turn = loop {
            match next_turn(&embedded) {
                ServiceEvent::Heard { text } => heard = Some(text),
                ServiceEvent::Spoken { speech } => {
                    assert!(speech.wav().is_ok_and(|w| w.starts_with(b"RIFF")) && speech.duration_s > 0.0);
                    audio += 1;
                }
                ServiceEvent::Writing { .. } | ServiceEvent::Hush => {}
                ServiceEvent::Answered { said, spoken: true, outcome: Ok(turn), .. } => {
                    assert_eq!(said, heard, "the turn names what was heard");
                    break turn;
                }
                other => panic!("expected the spoken turn, got {other:?}"),
            }
        };
        let heard = heard.expect("heard before the answer");
        assert!(heard.to_lowercase().contains("guitar"), "heard {heard:?}");
        assert!(turn.reply.is_some() && audio >= 1, "answered aloud ({audio} sentences)");
    }
    // A clip that is not audio gets the server's error, not a crash.
    embedded.send_voice(b"RIFF nonsense".to_vec());
    match next_turn(&embedded) {
        ServiceEvent::Answered {
            said: None,
            spoken: true,
            outcome: Err(ApiError::Rejected { status, code, .. }),
            ..
        } => {
            assert_eq!((status, code.as_str()), (422, "invalid_audio"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // The session record is stored and listed.
    let now = chrono::Utc::now();
    let report = VrSessionReport {
        companion_id: None,
        headset_type: HeadsetType::DesktopPreview,
        rendering_mode: RenderingMode::Local,
        quality_preset: QualityPreset::Balanced,
        started_at: now - chrono::Duration::minutes(3),
        ended_at: now,
        average_fps: 60.0,
        min_fps: 50.0,
        latency_ms: 16.7,
        interactions_count: 2,
        hand_tracking_used: false,
        haptic_feedback_used: false,
    };
    embedded.report_session_blocking(&report, WAIT).expect("session stored");
    let sessions = embedded.sessions_blocking(WAIT).expect("list");
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0]["duration_minutes"].as_i64(), sessions[0]["headset_type"].as_str()),
        (Some(3), Some("DESKTOP_PREVIEW"))
    );

    // The same server as a remote one: the sign-in screen, then a password sign-in.
    let remote_dir = tempfile::tempdir().expect("tempdir");
    let remote = start(ServerChoice::Remote(embedded.base_url().to_owned()), remote_dir.path());
    assert!(!remote.is_embedded());
    remote.resume(false);
    assert!(matches!(next_event(&remote), ServiceEvent::NeedsSignIn { reason: None }));
    remote.sign_in("ada@example.com".into(), "wrong password!".into());
    match next_event(&remote) {
        ServiceEvent::NeedsSignIn { reason: Some(why) } => {
            assert!(why.contains("invalid_credentials") || why.contains("HTTP 401"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    remote.sign_in("ada@example.com".into(), "correct horse battery".into());
    assert!(matches!(next_event(&remote), ServiceEvent::SignedIn { .. }));
    drop(remote);

    // Restart the embedded server on the same data: the remembered sign-in resumes.
    drop(embedded);
    let again = start(ServerChoice::Embedded { data_dir: data.path().to_owned() }, data.path());
    again.resume(false);
    match next_event(&again) {
        ServiceEvent::SignedIn { me } => assert_eq!(me.username, "ada"),
        other => panic!("expected the remembered sign-in, got {other:?}"),
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Services::start(ServerChoice::Remote("http://127.0.0.1:9".into()), dir.path(), Duration::from_secs(2)) {
        Err(ServicesError::Remote(ApiError::Unreachable { url, reason })) => {
            assert_eq!(url, "http://127.0.0.1:9");
            assert!(!reason.is_empty());
            let msg = ServicesError::Remote(ApiError::Unreachable { url, reason }).to_string();
            assert!(msg.starts_with("cannot reach http://127.0.0.1:9: "), "{msg}");
        }
        Err(e) => panic!("expected Unreachable, got {e}"),
        Ok(_) => panic!("nothing listens on port 9"),
    }
}
