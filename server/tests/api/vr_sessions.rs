//! The seed's `vr_sessions` record: a client reports a finished session, the server
//! derives the duration, rejects impossible figures with a field-naming 422, and lists
//! only the caller's own sessions.

use axum::http::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

async fn sessions_are_recorded_validated_and_private(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let report = json!({
        "companion_id": "cafe-companion",
        "headset_type": "QUEST_3",
        "rendering_mode": "LOCAL",
        "quality_preset": "BALANCED",
        "started_at": "2026-11-25T09:00:00Z",
        "ended_at": "2026-11-25T09:31:40Z",
        "average_fps": 71.6,
        "min_fps": 58.0,
        "latency_ms": 21.5,
        "interactions_count": 14,
        "hand_tracking_used": true,
        "haptic_feedback_used": false
    });
    let r = app.post("/api/v1/vr-sessions", Some(&ada.token), report.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["duration_minutes"], 32, "31 min 40 s rounds to 32");
    assert_eq!(
        (r.body["headset_type"].clone(), r.body["quality_preset"].clone()),
        (json!("QUEST_3"), json!("BALANCED"))
    );
    assert_eq!((r.body["hand_tracking_used"].clone(), r.body["interactions_count"].clone()), (json!(true), json!(14)));

    // Impossible figures: a 422 naming the field; nothing stored.
    for (field, value) in
        [("min_fps", json!(90.0)), ("ended_at", json!("2026-11-25T08:00:00Z")), ("latency_ms", json!(-3))]
    {
        let mut bad = report.clone();
        bad[field] = value;
        let r = app.post("/api/v1/vr-sessions", Some(&ada.token), bad).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{field}: {}", r.body);
        assert!(r.body["message"].as_str().unwrap_or("").contains(field), "{}", r.body);
    }
    // Unknown kinds and unknown fields are malformed input, not a server error.
    let mut bad = report.clone();
    bad["headset_type"] = json!("TOASTER");
    assert_eq!(app.post("/api/v1/vr-sessions", Some(&ada.token), bad).await.status.as_u16() / 100, 4);
    let mut bad = report.clone();
    bad["fps"] = json!(90);
    assert_eq!(app.post("/api/v1/vr-sessions", Some(&ada.token), bad).await.status.as_u16() / 100, 4);
    assert_eq!(app.post("/api/v1/vr-sessions", None, report.clone()).await.status, StatusCode::UNAUTHORIZED);

    let mine = app.get("/api/v1/vr-sessions", Some(&ada.token)).await;
    assert_eq!((mine.status, mine.body.as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{}", mine.body);
    let theirs = app.get("/api/v1/vr-sessions?limit=5", Some(&bob.token)).await;
    assert_eq!(theirs.body.as_array().map(Vec::len), Some(0), "{}", theirs.body);
    assert_eq!(app.count("vr_sessions").await, 1);
}
on_both_backends!(sessions_are_recorded_validated_and_private);
