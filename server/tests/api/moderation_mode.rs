//! The moderation mode resolved from real account state: plan (bought through the
//! payment webhook), KYC level 3 (provider webhook), consent in this session.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

async fn mode_follows_plan_kyc_and_consent(app: TestApp) {
    let ada = app.user("ada").await;
    let put = |requested: serde_json::Value| {
        let token = ada.token.clone();
        let app = &app;
        async move { app.json(Method::PUT, "/api/v1/moderation/mode", Some(&token), json!({"requested": requested})).await }
    };
    // FREE: STRICT whatever is asked.
    let r = put(json!("OPTIONAL")).await;
    assert_eq!((r.status, r.body["mode"].clone()), (StatusCode::OK, json!("STRICT")), "{}", r.body);

    // VIP+ without KYC or consent: LIGHT.
    app.buy_plan(&ada, "VIP_PLUS", "vipplus").await;
    assert_eq!(app.get("/api/v1/moderation/mode", Some(&ada.token)).await.body["mode"], "LIGHT");

    // KYC level 3 through the provider webhook, then consent in this session: OPTIONAL.
    let sub = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 3, "document_type": "PASSPORT", "document_number": "P1234567"}),
        )
        .await;
    nexus_server::kyc::service::decide(
        &app.state,
        sub.body["id"].as_str().expect("id").parse().expect("uuid"),
        true,
        nexus_server::kyc::service::Decider::Provider,
    )
    .await
    .expect("approve");
    let without_consent = app.get("/api/v1/moderation/mode", Some(&ada.token)).await;
    assert_eq!(
        (without_consent.body["mode"].clone(), without_consent.body["kyc3_recent"].clone()),
        (json!("LIGHT"), json!(true))
    );
    app.post("/api/v1/consents", Some(&ada.token), json!({"consent_type": "UNMODERATED_MODE", "version": "1.0"})).await;
    assert_eq!(app.get("/api/v1/moderation/mode", Some(&ada.token)).await.body["mode"], "OPTIONAL");

    // A new session has not signed: LIGHT there, OPTIONAL still here.
    let other =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    let other_token = other.body["access_token"].as_str().expect("token");
    assert_eq!(app.get("/api/v1/moderation/mode", Some(other_token)).await.body["mode"], "LIGHT");

    // The user can always ask for more moderation.
    assert_eq!(put(json!("STRICT")).await.body["mode"], "STRICT");
    assert_eq!(put(json!(null)).await.body["mode"], "OPTIONAL");
    assert_eq!(put(json!("NONE")).await.code(), "invalid_body");

    let admin = app.admin("root").await;
    let audit = app.get("/api/v1/admin/audit?action=MODE_ACTIVATION", Some(&admin.token)).await;
    let modes: Vec<&str> =
        audit.body.as_array().expect("list").iter().filter_map(|e| e["metadata"]["mode"].as_str()).collect();
    assert_eq!(modes, ["OPTIONAL", "STRICT", "STRICT"], "every activation audited, newest first");
}
on_both_backends!(mode_follows_plan_kyc_and_consent);
