//! Registration, verification, sign-in, refresh rotation, sign-out, password change,
//! roles and lockout.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

async fn register_login_refresh_rotation(app: TestApp) {
    let ada = app.user("ada").await;
    let me = app.get("/api/v1/users/me", Some(&ada.token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "ada");
    assert_eq!(me.body["role"], "USER");
    assert_eq!(me.body["email_verified"], false);

    // Rotation: the new refresh token works, the old one is now a reuse.
    let first = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": ada.refresh})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let next = first.body["refresh_token"].as_str().expect("refresh").to_owned();
    assert_ne!(next, ada.refresh);
    let second = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": next})).await;
    assert_eq!(second.status, StatusCode::OK);
    let newest = second.body["refresh_token"].as_str().expect("refresh").to_owned();
    let access = second.body["access_token"].as_str().expect("access").to_owned();

    // Reusing a rotated token revokes the whole family: the newest token and the access
    // token of that session stop working too.
    let reuse = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": ada.refresh})).await;
    assert_eq!((reuse.status, reuse.code()), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    let after = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": newest})).await;
    assert_eq!((after.status, after.code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let me = app.get("/api/v1/users/me", Some(&access)).await;
    assert_eq!((me.status, me.code()), (StatusCode::UNAUTHORIZED, "session_revoked"));

    let unknown = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "nope"})).await;
    assert_eq!(unknown.code(), "invalid_refresh_token");
}
on_both_backends!(register_login_refresh_rotation);

async fn email_verification_link_works_once(app: TestApp) {
    let ada = app.user("ada").await;
    // The embedded mailer logs the link; here the token is minted the same way.
    let (token, hash) = nexus_server::accounts::session::new_opaque_token().expect("token");
    nexus_server::db::exec(
        app.state.db.conn(),
        "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        vec![hash.into(), ada.id.into(), (chrono::Utc::now() + chrono::Duration::hours(1)).into()],
    )
    .await
    .expect("insert");
    let ok = app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let again = app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await;
    assert_eq!((again.status, again.code()), (StatusCode::BAD_REQUEST, "invalid_verification_token"));
    let me = app.get("/api/v1/users/me", Some(&ada.token)).await;
    assert_eq!(me.body["email_verified"], true);
    let resend = app.post("/api/v1/auth/resend-verification", Some(&ada.token), json!({})).await;
    assert_eq!(resend.code(), "already_verified");
}
on_both_backends!(email_verification_link_works_once);

async fn adults_only_and_unique_accounts(app: TestApp) {
    let today = chrono::Utc::now().date_naive();
    let seventeen = today.with_year_back(17);
    let minor = app
        .post("/api/v1/auth/register", None, json!({"email": "kid@example.com", "username": "kid", "password": "correct horse battery", "birth_date": seventeen}))
        .await;
    assert_eq!((minor.status, minor.code()), (StatusCode::UNPROCESSABLE_ENTITY, "underage"));
    assert_eq!(app.count("users").await, 0, "nothing written for a minor");

    app.user("ada").await;
    let dup_email = app
        .post("/api/v1/auth/register", None, json!({"email": "ADA@example.com", "username": "other", "password": "correct horse battery", "birth_date": "1990-01-01"}))
        .await;
    assert_eq!((dup_email.status, dup_email.code()), (StatusCode::CONFLICT, "email_taken"));
    let dup_name = app
        .post("/api/v1/auth/register", None, json!({"email": "x@example.com", "username": "ada", "password": "correct horse battery", "birth_date": "1990-01-01"}))
        .await;
    assert_eq!(dup_name.code(), "username_taken");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("token_wallets").await, 1);
    assert_eq!(app.count("subscriptions").await, 1);
}
on_both_backends!(adults_only_and_unique_accounts);

trait YearsBack {
    fn with_year_back(self, years: i32) -> String;
}
impl YearsBack for chrono::NaiveDate {
    fn with_year_back(self, years: i32) -> String {
        use chrono::Datelike as _;
        // One day short of the birthday: still `years - 1` years old.
        let birth = self.with_year(self.year() - years).unwrap_or(self) + chrono::Duration::days(1);
        birth.to_string()
    }
}

async fn lockout_after_repeated_failures(app: TestApp) {
    let ada = app.user("ada").await;
    let threshold = app.state.config.lockout_threshold;
    for _ in 0..threshold {
        let r = app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "wrong password!"})).await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let locked =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    assert_eq!((locked.status, locked.code()), (StatusCode::TOO_MANY_REQUESTS, "account_locked"));
    assert!(locked.headers.contains_key("retry-after"));
    let unknown =
        app.post("/api/v1/auth/login", None, json!({"email": "ghost@example.com", "password": "whatever12"})).await;
    assert_eq!(unknown.code(), "invalid_credentials", "unknown accounts look like wrong passwords");

    let admin = app.admin("root").await;
    let failed = app.get("/api/v1/admin/audit?action=LOGIN_FAILED", Some(&admin.token)).await;
    let entries = failed.body.as_array().expect("list");
    assert_eq!(entries.len() as i32, threshold + 2, "every failure is audited: {}", failed.body);
    assert!(failed.body.to_string().contains("locked"));
}
on_both_backends!(lockout_after_repeated_failures);

async fn per_ip_rate_limit(app: TestApp) {
    // The test app allows 1,000/min; a fresh limiter with 3/min shows the behaviour.
    let limiter = nexus_server::accounts::throttle::LoginRateLimiter::new(3);
    let ip = std::net::IpAddr::from([192, 0, 2, 1]);
    assert!((0..3).all(|_| limiter.check(ip).is_ok()));
    assert!(limiter.check(ip).is_err());
    drop(app);
}
on_both_backends!(per_ip_rate_limit);

async fn logout_and_password_change_end_sessions(app: TestApp) {
    let ada = app.user("ada").await;
    let second =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    let other_token = second.body["access_token"].as_str().expect("token").to_owned();

    let wrong = app
        .post(
            "/api/v1/auth/password",
            Some(&ada.token),
            json!({"current_password": "nope nope nope", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(wrong.code(), "invalid_credentials");
    let short = app
        .post(
            "/api/v1/auth/password",
            Some(&ada.token),
            json!({"current_password": "correct horse battery", "new_password": "short"}),
        )
        .await;
    assert_eq!(short.code(), "invalid_field");
    let ok = app
        .post(
            "/api/v1/auth/password",
            Some(&ada.token),
            json!({"current_password": "correct horse battery", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    assert_eq!(app.get("/api/v1/users/me", Some(&other_token)).await.code(), "session_revoked");
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.token)).await.status, StatusCode::OK);
    let old =
        app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "correct horse battery"})).await;
    assert_eq!(old.code(), "invalid_credentials");
    let new = app.post("/api/v1/auth/login", None, json!({"email": ada.email, "password": "a brand new secret"})).await;
    assert_eq!(new.status, StatusCode::OK);

    let out = app.send(Method::POST, "/api/v1/auth/logout", Some(&ada.token), &[], vec![]).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.token)).await.code(), "session_revoked");
}
on_both_backends!(logout_and_password_change_end_sessions);

async fn roles_are_enforced_and_audited(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let forbidden = app.get("/api/v1/admin/audit", Some(&ada.token)).await;
    assert_eq!((forbidden.status, forbidden.code()), (StatusCode::FORBIDDEN, "insufficient_role"));
    let admin = app.admin("root").await;
    let r = app
        .json(
            Method::PUT,
            &format!("/api/v1/admin/users/{}/role", bob.id),
            Some(&admin.token),
            json!({"role": "MODERATOR"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["role"], "MODERATOR");
    // A moderator is still not an admin; the change applies to existing tokens at once.
    assert_eq!(app.get("/api/v1/admin/audit", Some(&bob.token)).await.code(), "insufficient_role");
    let audit =
        app.get(&format!("/api/v1/admin/audit?action=ROLE_CHANGE&user_id={}", bob.id), Some(&admin.token)).await;
    let entries = audit.body.as_array().expect("list");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["metadata"]["to"], "MODERATOR");
    let logins = app.get("/api/v1/admin/audit?action=LOGIN", Some(&admin.token)).await;
    assert_eq!(logins.body.as_array().expect("list").len(), 3);
}
on_both_backends!(roles_are_enforced_and_audited);
