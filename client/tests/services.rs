//! Services as the client uses them, against real nexus-server instances: the embedded one
//! (in-process, SQLite in a temp dir) and the same server reached as a remote one over
//! HTTP. Register, sign in, remember the sign-in across restarts, send a chat message
//! through moderation, store the session record; an unreachable server is a clear error.

use std::time::{Duration, Instant};

use nexus_client::services::api::{ApiError, Registration};
use nexus_client::services::{ServerChoice, ServiceEvent, Services, ServicesError};
use nexus_net::vr_session::{HeadsetType, QualityPreset, RenderingMode, VrSessionReport};

const WAIT: Duration = Duration::from_secs(30);

fn next_event(s: &Services) -> ServiceEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(ev) = s.poll_events().into_iter().next() {
            return ev;
        }
        assert!(Instant::now() < deadline, "no service event within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
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

    // A chat message goes through the server's moderation and comes back with a verdict.
    embedded.send_message("Bonjour ! Il fait beau sur la terrasse aujourd'hui.".into());
    match next_event(&embedded) {
        ServiceEvent::MessageChecked { outcome: Ok(v), .. } => {
            assert!(["allow", "warn", "block"].contains(&v.action.as_str()), "{v:?}");
            if std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_some() {
                assert_eq!(v.action, "allow", "a friendly message passes: {v:?}");
            }
        }
        other => panic!("expected a verdict, got {other:?}"),
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
