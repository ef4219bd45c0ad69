//! Must-show: bad input on every endpoint family gets a 4xx with a stable code, never a
//! 5xx or a panic (the support layer asserts < 500 on every reply), and writes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

/// Every JSON-taking endpoint, by family, with whether it needs a token.
const JSON_ENDPOINTS: &[(&str, &str, bool)] = &[
    ("POST", "/api/v1/auth/register", false),
    ("POST", "/api/v1/auth/login", false),
    ("POST", "/api/v1/auth/refresh", false),
    ("POST", "/api/v1/auth/password", true),
    ("POST", "/api/v1/subscription/downgrade", true),
    ("POST", "/api/v1/kyc/verifications", true),
    ("POST", "/api/v1/consents", true),
    ("POST", "/api/v1/tokens/spend", true),
    ("POST", "/api/v1/tokens/holds", true),
    ("POST", "/api/v1/payments/checkout", true),
    ("PUT", "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/role", true),
    ("POST", "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/tokens", true),
    ("POST", "/api/v1/admin/kyc/00000000-0000-0000-0000-000000000000/decision", true),
];

const TABLES: &[&str] = &[
    "users",
    "subscriptions",
    "token_wallets",
    "token_transactions",
    "token_holds",
    "kyc_verifications",
    "adult_content_consents",
    "payment_transactions",
    "payment_webhook_events",
    "auth_sessions",
    "refresh_tokens",
    "email_verifications",
];

async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for t in TABLES {
        counts.push(app.count(t).await);
    }
    counts
}

/// (what, body, content type, expected status, expected code).
type BadCase = (&'static str, Vec<u8>, Option<&'static str>, StatusCode, &'static str);

async fn malformed_bodies_on_every_json_endpoint(app: TestApp) {
    let admin = app.admin("root").await;
    let before = snapshot(&app).await;
    let audit_before = app.count("audit_logs").await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(128 * 1024));
    let cases: Vec<BadCase> = vec![
        ("truncated", b"{".to_vec(), Some("application/json"), StatusCode::BAD_REQUEST, "malformed_json"),
        ("not json", b"hello".to_vec(), Some("application/json"), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            "invalid utf-8",
            b"{\"\xff\xfe\":1}".to_vec(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "string not object",
            b"\"text\"".to_vec(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("missing fields", b"{}".to_vec(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            "unknown field",
            b"{\"zz_unknown\":1}".to_vec(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "wrong types",
            b"{\"amount\":\"ten\",\"email\":5,\"plan\":7,\"level\":\"x\"}".to_vec(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("no content type", b"{}".to_vec(), None, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("oversized", big.into_bytes(), Some("application/json"), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (method, path, auth) in JSON_ENDPOINTS {
        for (what, body, content_type, status, code) in &cases {
            let mut headers = vec![("idempotency-key", "bad-input")];
            if let Some(ct) = content_type {
                headers.push(("content-type", ct));
            }
            let token = auth.then_some(admin.token.as_str());
            let reply = app.send(method.parse().expect("method"), path, token, &headers, body.clone()).await;
            assert_eq!((reply.status, reply.code()), (*status, *code), "{method} {path} with {what}: {}", reply.body);
        }
    }
    assert_eq!(snapshot(&app).await, before, "bad input wrote rows");
    assert_eq!(app.count("audit_logs").await, audit_before);
}
on_both_backends!(malformed_bodies_on_every_json_endpoint);

async fn tokens_missing_expired_forged_and_other_users(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let claims = app.state.tokens.verify(&ada.token).expect("claims");
    let expired = nexus_server::accounts::session::TokenSigner::new(&app.state.keys.jwt_secret, -60)
        .issue(ada.id, claims.sid)
        .expect("issue");
    let forged =
        nexus_server::accounts::session::TokenSigner::new(&[9u8; 48], 600).issue(ada.id, claims.sid).expect("issue");
    // A correctly signed token naming a session that is not the user's.
    let bob_claims = app.state.tokens.verify(&bob.token).expect("claims");
    let crossed = app.state.tokens.issue(ada.id, bob_claims.sid).expect("issue");
    let protected = [
        "/api/v1/users/me",
        "/api/v1/subscription",
        "/api/v1/tokens/wallet",
        "/api/v1/tokens/transactions",
        "/api/v1/kyc/status",
        "/api/v1/consents",
        "/api/v1/payments",
        "/api/v1/admin/audit",
    ];
    for path in protected {
        assert_eq!(app.get(path, None).await.code(), "missing_token", "{path}");
        assert_eq!(
            app.send(Method::GET, path, None, &[("authorization", "Basic abc")], vec![]).await.code(),
            "invalid_token"
        );
        assert_eq!(app.get(path, Some("not.a.jwt")).await.code(), "invalid_token", "{path}");
        assert_eq!(app.get(path, Some(&expired)).await.code(), "token_expired", "{path}");
        assert_eq!(app.get(path, Some(&forged)).await.code(), "invalid_token", "{path}");
        let r = app.get(path, Some(&crossed)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "{path}");
    }
    // Another user's resources are not found, not leaked.
    let hold = app
        .post("/api/v1/consents", Some(&ada.token), json!({"consent_type": "ADULT_DEVICES", "version": "1.0"}))
        .await;
    let id = hold.body["id"].as_str().expect("id");
    assert_eq!(app.get(&format!("/api/v1/consents/{id}/verify"), Some(&bob.token)).await.status, StatusCode::NOT_FOUND);
}
on_both_backends!(tokens_missing_expired_forged_and_other_users);

async fn hostile_strings_paths_and_queries(app: TestApp) {
    let ada = app.user("ada").await;
    let sqlish = ["a'; DROP TABLE users;--@x.io", "\" OR 1=1 --", "ada@example.com' --", "%' OR '%'='"];
    for s in sqlish {
        let r = app.post("/api/v1/auth/login", None, json!({"email": s, "password": s})).await;
        assert_eq!(r.code(), "invalid_credentials", "{s}");
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": s, "username": s, "password": "correct horse battery", "birth_date": "1990-01-01"}),
            )
            .await;
        assert_eq!(r.code(), "invalid_field", "{s}");
    }
    let mixed = app
        .post("/api/v1/auth/register", None, json!({"email": "ünï@例え.jp", "username": "\u{202e}evil", "password": "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀", "birth_date": "1990-01-01"}))
        .await;
    assert_eq!(mixed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_date = app.post("/api/v1/auth/register", None, json!({"email": "d@x.io", "username": "ddd", "password": "correct horse battery", "birth_date": "1990-02-31"})).await;
    assert_eq!(bad_date.code(), "invalid_body");
    assert_eq!(app.count("users").await, 1, "only ada exists");

    assert_eq!(
        app.post("/api/v1/tokens/holds/not-a-uuid/capture", Some(&ada.token), json!({})).await.code(),
        "invalid_path"
    );
    assert_eq!(app.get("/api/v1/tokens/transactions?limit=abc", Some(&ada.token)).await.code(), "invalid_query");
    assert_eq!(app.get("/api/v1/tokens/transactions?before=xyz", Some(&ada.token)).await.code(), "invalid_query");
    assert_eq!(app.get("/api/v1/tokens/transactions?limit=-1", Some(&ada.token)).await.code(), "invalid_query");
    assert_eq!(app.get("/api/v1/auth/verify-email", None).await.code(), "invalid_query");
    assert_eq!(app.get("/api/v1/auth/verify-email?token=%27%3B--", None).await.code(), "invalid_verification_token");
    let long_key = "k".repeat(200);
    let r = app
        .send(
            Method::POST,
            "/api/v1/tokens/spend",
            Some(&ada.token),
            &[("content-type", "application/json"), ("idempotency-key", &long_key)],
            b"{\"amount\":1}".to_vec(),
        )
        .await;
    assert_eq!(r.code(), "invalid_idempotency_key");
    let r = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 9, "document_type": "PASSPORT", "document_number": "X1234567"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_field");
    let r = app
        .post(
            "/api/v1/kyc/verifications",
            Some(&ada.token),
            json!({"level": 2, "document_type": "PASSPORT", "document_number": "'; DROP--"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_field");
    let r =
        app.post("/api/v1/payments/checkout", Some(&ada.token), json!({"kind": "subscription", "plan": "FREE"})).await;
    assert_eq!(r.code(), "invalid_field");
    assert_eq!(app.count("payment_transactions").await, 0);
    assert_eq!(app.count("kyc_verifications").await, 0);
}
on_both_backends!(hostile_strings_paths_and_queries);

async fn webhook_bodies_that_are_not_events(app: TestApp) {
    let now = chrono::Utc::now().timestamp();
    for body in [&b"not json"[..], b"{}", b"{\"id\":\"evt\"}", b"\xff\xfe", b"[]"] {
        let sig =
            nexus_server::payments::signature::sign(&app.state.keys.stripe_webhook_secret, now, body).expect("sign");
        let r = app
            .send(Method::POST, "/api/v1/payments/webhook", None, &[("stripe-signature", &sig)], body.to_vec())
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{body:?}");
        let r = app.send(Method::POST, "/api/v1/kyc/webhook", None, &[("x-sha2-signature", "00")], body.to_vec()).await;
        assert_eq!(r.code(), "invalid_signature");
    }
    let big = vec![b'a'; 256 * 1024];
    let r = app.send(Method::POST, "/api/v1/payments/webhook", None, &[("stripe-signature", "t=1,v1=00")], big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("payment_webhook_events").await, 0);
}
on_both_backends!(webhook_bodies_that_are_not_events);
