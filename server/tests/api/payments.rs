//! Checkout and the signed payment webhook: credits, subscriptions, replays, stale and
//! forged deliveries.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

fn completed(event_id: &str, session: &Value, extra: Value) -> Value {
    let mut object = json!({
        "id": session["id"], "object": "checkout.session", "client_reference_id": session["payment_id"],
        "amount_total": session["amount_total"], "currency": "eur", "payment_intent": format!("pi_{event_id}")
    });
    if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    json!({"id": event_id, "object": "event", "type": "checkout.session.completed", "data": {"object": object}})
}

async fn token_pack_purchase_credits_once(app: TestApp) {
    let ada = app.user("ada").await;
    let session =
        app.post("/api/v1/payments/checkout", Some(&ada.token), json!({"kind": "token_pack", "pack": "MEDIUM"})).await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    assert_eq!(session.body["amount_total"], 1999);
    let now = chrono::Utc::now().timestamp();
    let event = completed("evt_1", &session.body, json!({}));

    let ok = app.stripe_webhook(&event, now).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 550);

    let replay = app.stripe_webhook(&event, now).await;
    assert_eq!((replay.status, replay.code()), (StatusCode::CONFLICT, "duplicate_event"));
    // A different event about the same, already-settled payment changes nothing either.
    assert_eq!(app.stripe_webhook(&completed("evt_2", &session.body, json!({})), now).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 550);

    let payments = app.get("/api/v1/payments", Some(&ada.token)).await;
    assert_eq!(payments.body[0]["status"], "COMPLETED");
    assert_eq!(payments.body[0]["amount_cents"], 1999);
    let admin = app.admin("root").await;
    let audit = app.get("/api/v1/admin/audit?action=PAYMENT", Some(&admin.token)).await;
    assert_eq!(audit.body.as_array().expect("list").len(), 1);
}
on_both_backends!(token_pack_purchase_credits_once);

async fn stale_forged_and_mismatched_webhooks_change_nothing(app: TestApp) {
    let ada = app.user("ada").await;
    let session =
        app.post("/api/v1/payments/checkout", Some(&ada.token), json!({"kind": "token_pack", "pack": "SMALL"})).await;
    let event = completed("evt_s", &session.body, json!({}));
    let now = chrono::Utc::now().timestamp();

    let stale = app.stripe_webhook(&event, now - 301).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::BAD_REQUEST, "webhook_timestamp_out_of_tolerance"));
    let future = app.stripe_webhook(&event, now + 400).await;
    assert_eq!(future.code(), "webhook_timestamp_out_of_tolerance");

    let body = event.to_string().into_bytes();
    let forged = nexus_server::payments::signature::sign("whsec_attacker", now, &body).expect("sign");
    let r =
        app.send(Method::POST, "/api/v1/payments/webhook", None, &[("stripe-signature", &forged)], body.clone()).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_signature"));
    let r = app.send(Method::POST, "/api/v1/payments/webhook", None, &[], body.clone()).await;
    assert_eq!(r.code(), "missing_signature");
    let r = app.send(Method::POST, "/api/v1/payments/webhook", None, &[("stripe-signature", "t=1")], body).await;
    assert_eq!(r.code(), "invalid_signature");

    let cheap = completed("evt_cheap", &session.body, json!({"amount_total": 1}));
    let r = app.stripe_webhook(&cheap, now).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "amount_mismatch"));
    let unknown = completed("evt_u", &json!({"id": "cs_unknown", "payment_id": null, "amount_total": 499}), json!({}));
    assert_eq!(app.stripe_webhook(&unknown, now).await.code(), "unknown_payment");

    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 0);
    assert_eq!(app.count("payment_webhook_events").await, 0, "rejected events are not recorded");
    assert_eq!(app.get("/api/v1/payments", Some(&ada.token)).await.body[0]["status"], "PENDING");
    // The rejected-for-mismatch event id can still be delivered correctly later.
    assert_eq!(app.stripe_webhook(&completed("evt_cheap", &session.body, json!({})), now).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 100);
}
on_both_backends!(stale_forged_and_mismatched_webhooks_change_nothing);

async fn subscription_upgrade_renew_downgrade_cancel(app: TestApp) {
    let ada = app.user("ada").await;
    let now = chrono::Utc::now().timestamp();
    let free = app.get("/api/v1/subscription", Some(&ada.token)).await;
    assert_eq!(free.body["effective_plan"], "FREE");
    assert_eq!(app.post("/api/v1/subscription/cancel", Some(&ada.token), json!({})).await.code(), "nothing_to_cancel");

    let session =
        app.post("/api/v1/payments/checkout", Some(&ada.token), json!({"kind": "subscription", "plan": "VIP"})).await;
    assert_eq!(session.body["amount_total"], 3999);
    let r = app.stripe_webhook(&completed("evt_sub", &session.body, json!({"subscription": "sub_123"})), now).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let vip = app.get("/api/v1/subscription", Some(&ada.token)).await;
    assert_eq!((vip.body["plan"].clone(), vip.body["is_active"].clone()), (json!("VIP"), json!(true)));
    assert_eq!(vip.body["monthly_price_cents"], 3999);
    let end1: chrono::DateTime<chrono::Utc> = vip.body["end_date"].as_str().expect("end").parse().expect("date");

    let renew = json!({"id": "evt_inv", "type": "invoice.paid", "data": {"object": {"subscription": "sub_123", "amount_paid": 3999}}});
    assert_eq!(app.stripe_webhook(&renew, now).await.status, StatusCode::OK);
    let renewed = app.get("/api/v1/subscription", Some(&ada.token)).await;
    let end2: chrono::DateTime<chrono::Utc> = renewed.body["end_date"].as_str().expect("end").parse().expect("date");
    assert!(end2 - end1 >= chrono::Duration::days(28), "renewal extends from the old end: {end1} → {end2}");

    let up = app.post("/api/v1/subscription/downgrade", Some(&ada.token), json!({"plan": "VIP_PLUS"})).await;
    assert_eq!(up.code(), "not_a_downgrade");
    let down = app.post("/api/v1/subscription/downgrade", Some(&ada.token), json!({"plan": "PREMIUM"})).await;
    assert_eq!(down.body["plan"], "PREMIUM");
    let cancel = app.post("/api/v1/subscription/cancel", Some(&ada.token), json!({})).await;
    assert_eq!((cancel.body["status"].clone(), cancel.body["is_active"].clone()), (json!("CANCELED"), json!(true)));
    assert_eq!(cancel.body["auto_renewal"], false);

    // Lapse: once the end date passes, the sweep expires it and FREE applies.
    nexus_server::db::exec(
        app.state.db.conn(),
        "UPDATE subscriptions SET end_date = $2 WHERE user_id = $1",
        vec![ada.id.into(), (chrono::Utc::now() - chrono::Duration::seconds(1)).into()],
    )
    .await
    .expect("age");
    let expired =
        nexus_server::plans::service::expire_lapsed(app.state.db.conn(), chrono::Utc::now()).await.expect("sweep");
    assert_eq!(expired, 1);
    let lapsed = app.get("/api/v1/subscription", Some(&ada.token)).await;
    assert_eq!(
        (lapsed.body["status"].clone(), lapsed.body["effective_plan"].clone()),
        (json!("EXPIRED"), json!("FREE"))
    );
}
on_both_backends!(subscription_upgrade_renew_downgrade_cancel);

/// Checkout against a Stripe-compatible endpoint on loopback (Stripe itself is not
/// reachable here): the request is authenticated, idempotent and carries the amount;
/// the session id Stripe returns is the one the webhook later names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_creates_the_session_at_the_provider() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let provider = axum::Router::new().route(
        "/v1/checkout/sessions",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let record = Arc::clone(&record);
            async move {
                let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                record.lock().expect("lock").push((header("authorization"), header("idempotency-key"), body));
                axum::Json(json!({"id": "cs_test_abc", "object": "checkout.session", "url": "https://checkout.example/pay/cs_test_abc"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let app = TestApp::sqlite_with(|c| {
        c.stripe_secret_key = Some("sk_test_123".into());
        c.stripe_api_base = base;
    })
    .await;
    let ada = app.user("ada").await;
    let session = app
        .post("/api/v1/payments/checkout", Some(&ada.token), json!({"kind": "subscription", "plan": "PREMIUM"}))
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    assert_eq!(session.body["id"], "cs_test_abc");
    assert_eq!(session.body["url"], "https://checkout.example/pay/cs_test_abc");
    let requests = seen.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1);
    let (auth, idempotency, form) = &requests[0];
    assert_eq!(auth, "Bearer sk_test_123");
    assert_eq!(idempotency, session.body["payment_id"].as_str().expect("id"));
    for field in ["mode=subscription", "unit_amount%5D=1999", "currency%5D=eur", "interval%5D=month"] {
        assert!(form.contains(field), "{field} missing in {form}");
    }
    // The webhook names Stripe's session id, which now finds the payment.
    let r = app.stripe_webhook(&completed("evt_p", &session.body, json!({})), chrono::Utc::now().timestamp()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get("/api/v1/subscription", Some(&ada.token)).await.body["plan"], "PREMIUM");

    // A provider that is down: 503, nothing recorded.
    let down = TestApp::sqlite_with(|c| {
        c.stripe_secret_key = Some("sk_test_123".into());
        c.stripe_api_base = "http://127.0.0.1:9".into();
    })
    .await;
    let bob = down.user("bob").await;
    let before = down.count("payment_transactions").await;
    let r = down
        .send_raw(
            axum::http::Method::POST,
            "/api/v1/payments/checkout",
            Some(&bob.token),
            &[("content-type", "application/json")],
            json!({"kind": "token_pack", "pack": "SMALL"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"));
    assert_eq!(down.count("payment_transactions").await, before);
}
