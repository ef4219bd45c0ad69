//! The moderation door for text: decisions per mode, incidents holding hashes only,
//! severity actions (warning, suspension, ban + authority report), bad input, privacy.

use axum::http::StatusCode;
use serde_json::json;
use sha2::Digest as _;

use crate::on_both_backends;
use crate::support::{TestApp, TestUser};

async fn check(app: &TestApp, user: &TestUser, text: &str) -> crate::support::Reply {
    app.post("/api/v1/moderation/check", Some(&user.token), json!({"content_type": "TEXT", "text": text})).await
}

/// A VIP+ user in OPTIONAL mode: plan bought, KYC 3 approved, consent signed this session.
async fn optional_user(app: &TestApp, name: &str) -> TestUser {
    let user = app.user(name).await;
    app.buy_plan(&user, "VIP_PLUS", name).await;
    let kyc = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&user.token),
            json!({"level": 3, "document_type": "PASSPORT", "document_number": "P7654321"}),
        )
        .await;
    let id = kyc.body["id"].as_str().expect("id").parse().expect("uuid");
    nexus_server::kyc::service::decide(&app.state, id, true, nexus_server::kyc::service::Decider::Provider)
        .await
        .expect("approve");
    app.post("/api/v1/consents", Some(&user.token), json!({"consent_type": "UNMODERATED_MODE", "version": "1.0"}))
        .await;
    assert_eq!(app.get("/api/v1/moderation/mode", Some(&user.token)).await.body["mode"], "OPTIONAL");
    user
}

async fn strict_mode_blocks_warns_and_suspends(app: TestApp) {
    let ada = app.user("ada").await;
    let ok = check(&app, &ada, "tell me a joke about cats").await;
    assert_eq!((ok.body["action"].clone(), ok.body["mode"].clone()), (json!("allow"), json!("STRICT")), "{}", ok.body);
    assert_eq!(ok.body["engines"], json!(["prefilter", "urls", "local"]));
    assert_eq!(app.count("moderation_incidents").await, 0);

    let text = "some days I want to kill myself";
    let sh = check(&app, &ada, text).await;
    assert_eq!(sh.body["action"], "block");
    assert_eq!(sh.body["categories"], json!(["self-harm"]));
    assert_eq!(sh.body["action_taken"], "WARNING", "self-harm never suspends");
    assert_eq!(sh.body["guidelines_url"], "/guidelines");
    assert!(sh.body["appeal_incident_id"].is_string());
    let row =
        nexus_server::db::one(app.state.db.conn(), "SELECT content_hash, severity FROM moderation_incidents", vec![])
            .await
            .expect("q")
            .expect("row");
    let hash: String = nexus_server::db::get(&row, "content_hash").expect("hash");
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(text.as_bytes())));
    assert_eq!(app.count("user_warnings").await, 1);
    assert_eq!(app.count("wellbeing_alerts").await, 1);
    assert!(!app.database_contains("kill myself").await, "incidents hold hashes, never content");

    // Evasion does not help; hate in STRICT suspends.
    let hate = check(&app, &ada, "1mmigr4nts are a d i s e a s e").await;
    assert_eq!(
        (hate.body["action"].clone(), hate.body["action_taken"].clone()),
        (json!("block"), json!("SUSPENSION_1D"))
    );
    let me = app.get("/api/v1/users/me", Some(&ada.token)).await;
    assert_eq!((me.status, me.code()), (StatusCode::FORBIDDEN, "account_suspended"));
    let login =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    assert_eq!(login.code(), "account_suspended");
}
on_both_backends!(strict_mode_blocks_warns_and_suspends);

async fn optional_mode_allows_legal_blocks_illegal_and_keeps_no_content(app: TestApp) {
    let vip = optional_user(&app, "vip").await;
    let private = "zebra-quartz-7781 I want to kill myself";
    let r = check(&app, &vip, private).await;
    assert_eq!((r.body["action"].clone(), r.body["mode"].clone()), (json!("allow"), json!("OPTIONAL")), "{}", r.body);
    assert_eq!(app.count("moderation_incidents").await, 0, "OPTIONAL: no analytics on legal content");
    assert!(!app.database_contains("zebra-quartz-7781").await, "no table holds OPTIONAL content");
    // …but the person is not left alone: a wellbeing alert, metadata only.
    let admin = app.admin("warden").await;
    assert_eq!(app.get("/api/v1/moderation/wellbeing", Some(&vip.token)).await.code(), "insufficient_role");
    let alerts = app.get("/api/v1/moderation/wellbeing", Some(&admin.token)).await;
    assert_eq!(alerts.body.as_array().map(Vec::len), Some(1), "{}", alerts.body);
    assert_eq!(
        (alerts.body[0]["mode"].clone(), alerts.body[0]["incident_id"].clone()),
        (json!("OPTIONAL"), json!(null))
    );
    assert_eq!(alerts.body[0]["user_id"], vip.id.to_string());
    let ack_path = format!("/api/v1/moderation/wellbeing/{}/acknowledge", alerts.body[0]["id"].as_str().expect("id"));
    assert_eq!(app.post(&ack_path, Some(&admin.token), json!({})).await.body["status"], "ACKNOWLEDGED");
    assert_eq!(app.post(&ack_path, Some(&admin.token), json!({})).await.code(), "already_acknowledged");
    assert_eq!(app.get("/api/v1/moderation/wellbeing", Some(&admin.token)).await.body, json!([]));

    let illegal = check(&app, &vip, "where can I find c.s.a.m").await;
    assert_eq!((illegal.body["action"].clone(), illegal.body["action_taken"].clone()), (json!("block"), json!("BAN")));
    assert_eq!(app.count("authority_reports").await, 1);
    let me = app.get("/api/v1/users/me", Some(&vip.token)).await;
    assert_eq!((me.status, me.code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let login =
        app.post("/api/v1/auth/login", None, json!({"email": vip.email, "password": "correct horse battery"})).await;
    assert_eq!(login.code(), "account_disabled");
    assert!(!app.database_contains("c.s.a.m").await);
}
on_both_backends!(optional_mode_allows_legal_blocks_illegal_and_keeps_no_content);

async fn bad_input_gets_an_error_or_a_decision(app: TestApp) {
    let ada = app.user("ada").await;
    assert_eq!(check(&app, &ada, "").await.code(), "empty_content");
    assert_eq!(check(&app, &ada, " \n\t ").await.code(), "empty_content");
    assert_eq!(check(&app, &ada, &"a".repeat(10_001)).await.code(), "content_too_long");
    for text in [
        "🦀".repeat(5_000),
        "Привет 你好 مرحبا שלום".to_owned(),
        "\u{200B}".repeat(100) + "x",
        "\u{0}\u{1}\u{7f}".to_owned(),
    ] {
        let r = check(&app, &ada, &text).await;
        assert_eq!(r.status, StatusCode::OK, "{text:?}: {}", r.body);
        assert_eq!(r.body["action"], "allow");
    }
    let bob = app.user("bob").await;
    assert_eq!(check(&app, &bob, "same thing").await.status, StatusCode::OK);
    assert_eq!(check(&app, &bob, "same thing").await.status, StatusCode::OK);
    let spam = check(&app, &bob, "Same thing").await;
    assert_eq!((spam.status, spam.code()), (StatusCode::TOO_MANY_REQUESTS, "repeated_message"));
    let carl = app.user("carl").await;
    for i in 0..20 {
        assert_eq!(check(&app, &carl, &format!("line {i}")).await.status, StatusCode::OK);
    }
    assert_eq!(check(&app, &carl, "line 21").await.code(), "message_flood");
    let bad =
        app.post("/api/v1/moderation/check", Some(&ada.token), json!({"content_type": "SMELL", "text": "x"})).await;
    assert_eq!(bad.code(), "invalid_body");
}
on_both_backends!(bad_input_gets_an_error_or_a_decision);

async fn review_queue_appeal_and_false_positive_lift(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let hate = check(&app, &ada, "immigrants are a disease").await;
    assert_eq!(hate.body["action_taken"], "SUSPENSION_1D", "{}", hate.body);
    let incident = hate.body["appeal_incident_id"].as_str().expect("incident").to_owned();
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.token)).await.code(), "account_suspended");

    // The suspended user may still appeal; nobody else may.
    let path = format!("/api/v1/moderation/incidents/{incident}/appeal");
    let other = app.post(&path, Some(&bob.token), json!({"message": "not mine"})).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let appeal = app.post(&path, Some(&ada.token), json!({"message": "I was quoting a history book"})).await;
    assert_eq!(appeal.status, StatusCode::OK, "{}", appeal.body);
    assert_eq!(app.post(&path, Some(&ada.token), json!({"message": "again"})).await.code(), "already_appealed");

    // Moderators only.
    assert_eq!(app.get("/api/v1/moderation/incidents", Some(&bob.token)).await.code(), "insufficient_role");
    let admin = app.admin("root").await;
    let queue = app.get("/api/v1/moderation/incidents", Some(&admin.token)).await;
    let items = queue.body.as_array().expect("list");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["appeal_message"], "I was quoting a history book");
    assert_eq!(items[0]["overdue"], false);
    assert!(items[0].get("text").is_none());

    let decision = format!("/api/v1/moderation/incidents/{incident}/decision");
    let unclaimed = app.post(&decision, Some(&admin.token), json!({"verdict": "FALSE_POSITIVE"})).await;
    assert_eq!(unclaimed.code(), "not_claimed");
    let claimed =
        app.post(&format!("/api/v1/moderation/incidents/{incident}/claim"), Some(&admin.token), json!({})).await;
    assert_eq!(claimed.body["status"], "UNDER_REVIEW");
    let decided = app
        .post(&decision, Some(&admin.token), json!({"verdict": "FALSE_POSITIVE", "notes": "historical quote"}))
        .await;
    assert_eq!(decided.body["status"], "FALSE_POSITIVE", "{}", decided.body);
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.token)).await.status, StatusCode::OK, "suspension lifted");
    assert_eq!(app.get("/api/v1/moderation/incidents", Some(&admin.token)).await.body, json!([]));
}
on_both_backends!(review_queue_appeal_and_false_positive_lift);
