//! KYC (webhook and ADMIN decisions, encryption at rest, the level-3 query) and
//! consent (signing, verification, tampering, revocation, "this session").

use axum::http::{Method, StatusCode};
use hmac::{KeyInit as _, Mac as _};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

fn kyc_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn kyc_webhook_approves_level_three(app: TestApp) {
    let ada = app.user("ada").await;
    let sub = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 3, "document_type": "PASSPORT", "document_number": "P9876543"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    assert_eq!(sub.body["document_last4"], "6543");
    let again = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 3, "document_type": "PASSPORT", "document_number": "P9876543"}),
        )
        .await;
    assert_eq!(again.code(), "kyc_pending");

    // At rest the number is ciphertext.
    let row =
        nexus_server::db::one(app.state.db.conn(), "SELECT document_number_encrypted FROM kyc_verifications", vec![])
            .await
            .expect("query")
            .expect("row");
    let sealed: Vec<u8> = nexus_server::db::get(&row, "document_number_encrypted").expect("bytes");
    assert!(!sealed.windows(8).any(|w| w == b"P9876543"));

    let within = chrono::Duration::days(182);
    assert!(
        !nexus_server::kyc::service::kyc3_verified_within(app.state.db.conn(), ada.id, within).await.expect("query")
    );

    let provider_id = sub.body["provider_id"].as_str().expect("provider id");
    let body = json!({"payload": {"resource_type": "check", "action": "check.completed",
        "object": {"id": provider_id, "status": "complete", "result": "clear"}}})
    .to_string()
    .into_bytes();
    let forged = app
        .send(
            Method::POST,
            "/api/v1/kyc/webhook",
            None,
            &[("x-sha2-signature", &kyc_signature("wrong", &body))],
            body.clone(),
        )
        .await;
    assert_eq!((forged.status, forged.code()), (StatusCode::BAD_REQUEST, "invalid_signature"));
    let sig = kyc_signature(&app.state.keys.kyc_webhook_secret, &body);
    let ok = app.send(Method::POST, "/api/v1/kyc/webhook", None, &[("x-sha2-signature", &sig)], body.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["applied"], true);
    let replay = app.send(Method::POST, "/api/v1/kyc/webhook", None, &[("x-sha2-signature", &sig)], body).await;
    assert_eq!((replay.status, replay.code()), (StatusCode::CONFLICT, "kyc_already_decided"));

    let status = app.get("/api/v1/kyc/status", Some(&ada.token)).await;
    assert_eq!(status.body["current_level"], 3);
    assert!(
        nexus_server::kyc::service::kyc3_verified_within(app.state.db.conn(), ada.id, within).await.expect("query")
    );
    // Verified 7 months ago no longer counts as "< 6 months".
    nexus_server::db::exec(
        app.state.db.conn(),
        "UPDATE kyc_verifications SET verified_at = $1",
        vec![(chrono::Utc::now() - chrono::Duration::days(213)).into()],
    )
    .await
    .expect("age");
    assert!(
        !nexus_server::kyc::service::kyc3_verified_within(app.state.db.conn(), ada.id, within).await.expect("query")
    );
}
on_both_backends!(kyc_webhook_approves_level_three);

async fn kyc_manual_decision_by_admin_only(app: TestApp) {
    let ada = app.user("ada").await;
    let admin = app.admin("root").await;
    let sub = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 1, "document_type": "ID_CARD", "document_number": "ID-1234"}),
        )
        .await;
    let id = sub.body["id"].as_str().expect("id");
    let path = format!("/api/v1/admin/kyc/{id}/decision");
    assert_eq!(app.post(&path, Some(&ada.token), json!({"approve": true})).await.code(), "insufficient_role");
    assert_eq!(app.post(&path, Some(&admin.token), json!({"approve": false})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/kyc/status", Some(&ada.token)).await.body["verifications"][0]["status"], "REJECTED");
    // A rejected level can be submitted again.
    let retry = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 1, "document_type": "ID_CARD", "document_number": "ID-5678"}),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(app.post(&path, Some(&admin.token), json!({"approve": true})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/kyc/status", Some(&ada.token)).await.body["current_level"], 1);
    let audit = app.get("/api/v1/admin/audit?action=KYC_VERIFICATION", Some(&admin.token)).await;
    assert_eq!(audit.body.as_array().expect("list").len(), 2);
}
on_both_backends!(kyc_manual_decision_by_admin_only);

async fn consent_is_signed_verifiable_and_revocable(app: TestApp) {
    use nexus_server::consent::service::{ConsentType, signed_this_session};
    let ada = app.user("ada").await;
    let signed = app
        .post("/api/v1/consents", Some(&ada.token), json!({"consent_type": "UNMODERATED_MODE", "version": "1.0"}))
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
    assert!(signed.body["digital_signature"].as_str().expect("sig").starts_with("ed25519:"));
    let id = signed.body["id"].as_str().expect("id").to_owned();
    let verify = app.get(&format!("/api/v1/consents/{id}/verify"), Some(&ada.token)).await;
    assert_eq!(verify.body["valid"], true);

    let claims = app.state.tokens.verify(&ada.token).expect("claims");
    assert!(signed_this_session(&app.state, ada.id, claims.sid, ConsentType::UnmoderatedMode).await.expect("q"));
    assert!(!signed_this_session(&app.state, ada.id, claims.sid, ConsentType::AdultDevices).await.expect("q"));
    let other_session =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    let other = app.state.tokens.verify(other_session.body["access_token"].as_str().expect("t")).expect("claims");
    assert!(!signed_this_session(&app.state, ada.id, other.sid, ConsentType::UnmoderatedMode).await.expect("q"));

    // Tampering with the stored record breaks the signature.
    nexus_server::db::exec(app.state.db.conn(), "UPDATE adult_content_consents SET version = '0.9'", vec![])
        .await
        .expect("tamper");
    assert_eq!(app.get(&format!("/api/v1/consents/{id}/verify"), Some(&ada.token)).await.body["valid"], false);
    assert!(!signed_this_session(&app.state, ada.id, claims.sid, ConsentType::UnmoderatedMode).await.expect("q"));
    nexus_server::db::exec(app.state.db.conn(), "UPDATE adult_content_consents SET version = '1.0'", vec![])
        .await
        .expect("restore");

    let bob = app.user("bob").await;
    assert_eq!(
        app.post(&format!("/api/v1/consents/{id}/revoke"), Some(&bob.token), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let revoked = app.post(&format!("/api/v1/consents/{id}/revoke"), Some(&ada.token), json!({})).await;
    assert_eq!(revoked.body["revoked"], true);
    assert_eq!(
        app.post(&format!("/api/v1/consents/{id}/revoke"), Some(&ada.token), json!({})).await.code(),
        "consent_already_revoked"
    );
    assert!(!signed_this_session(&app.state, ada.id, claims.sid, ConsentType::UnmoderatedMode).await.expect("q"));
    let outdated = app
        .post("/api/v1/consents", Some(&ada.token), json!({"consent_type": "UNMODERATED_MODE", "version": "0.1"}))
        .await;
    assert_eq!(outdated.code(), "consent_version_outdated");
    let admin = app.admin("root").await;
    let audit = app.get(&format!("/api/v1/admin/audit?user_id={}", ada.id), Some(&admin.token)).await;
    let actions: Vec<&str> = audit.body.as_array().expect("list").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"CONSENT_SIGNED") && actions.contains(&"CONSENT_REVOKED"), "{actions:?}");
    let key = app.get("/api/v1/consents/public-key", None).await;
    assert_eq!(key.body["algorithm"], "ed25519");
}
on_both_backends!(consent_is_signed_verifiable_and_revocable);
