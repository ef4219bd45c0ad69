//! The token ledger: spends, idempotency, holds, history, and correctness under
//! concurrency.

use axum::http::{Method, StatusCode};
use nexus_server::tokens::ledger::{self, Mutation, TxKind};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, TestUser};

async fn grant(app: &TestApp, user: &TestUser, amount: i32) {
    ledger::apply(
        &app.state.db,
        user.id,
        &Mutation::new(TxKind::Earn, amount, format!("grant-{}", uuid::Uuid::new_v4())),
    )
    .await
    .expect("grant");
}

async fn spend(app: &TestApp, user: &TestUser, amount: i32, key: &str) -> crate::support::Reply {
    app.send(
        Method::POST,
        "/api/v1/tokens/spend",
        Some(&user.token),
        &[("content-type", "application/json"), ("idempotency-key", key)],
        json!({"amount": amount, "description": "test"}).to_string().into_bytes(),
    )
    .await
}

async fn spends_are_idempotent_and_never_overdraw(app: TestApp) {
    let ada = app.user("ada").await;
    grant(&app, &ada, 10).await;
    let first = spend(&app, &ada, 7, "k1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["entry"]["balance_after"], 3);
    assert_eq!(first.body["entry"]["amount"], -7);
    let replay = spend(&app, &ada, 7, "k1").await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body["replayed"], true);
    assert_eq!(replay.body["entry"]["id"], first.body["entry"]["id"]);
    let reused = spend(&app, &ada, 2, "k1").await;
    assert_eq!((reused.status, reused.code()), (StatusCode::CONFLICT, "idempotency_key_reused"));
    let over = spend(&app, &ada, 4, "k2").await;
    assert_eq!((over.status, over.code()), (StatusCode::CONFLICT, "insufficient_tokens"));
    let wallet = app.get("/api/v1/tokens/wallet", Some(&ada.token)).await;
    assert_eq!(wallet.body, json!({"balance": 3, "total_earned": 10, "total_spent": 7}));
    assert_eq!(ledger::ledger_sum(app.state.db.conn(), ada.id).await.expect("sum"), 3);
    let missing = app
        .send(
            Method::POST,
            "/api/v1/tokens/spend",
            Some(&ada.token),
            &[("content-type", "application/json")],
            b"{\"amount\":1}".to_vec(),
        )
        .await;
    assert_eq!(missing.code(), "missing_idempotency_key");
    for bad in [0, -5, 2_000_000] {
        assert_eq!(spend(&app, &ada, bad, &format!("bad{bad}")).await.code(), "invalid_field");
    }
}
on_both_backends!(spends_are_idempotent_and_never_overdraw);

async fn holds_capture_and_release(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    grant(&app, &ada, 100).await;
    let hold = |key: &'static str, amount: i32| {
        let token = ada.token.clone();
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/api/v1/tokens/holds",
                Some(&token),
                &[("content-type", "application/json"), ("idempotency-key", key)],
                json!({"amount": amount, "reference_type": "VIDEO_GENERATION"}).to_string().into_bytes(),
            )
            .await
        }
    };
    let h1 = hold("h1", 30).await;
    assert_eq!(h1.status, StatusCode::CREATED, "{}", h1.body);
    assert_eq!(h1.body["status"], "HELD");
    let again = hold("h1", 30).await;
    assert_eq!(again.body["id"], h1.body["id"], "replayed hold is the same hold");
    let h2 = hold("h2", 50).await;
    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 20);
    assert_eq!(hold("h3", 21).await.code(), "insufficient_tokens");

    let id1 = h1.body["id"].as_str().expect("id");
    let id2 = h2.body["id"].as_str().expect("id");
    let other = app.post(&format!("/api/v1/tokens/holds/{id1}/capture"), Some(&bob.token), json!({})).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "another user's hold is invisible");
    let cap = app.post(&format!("/api/v1/tokens/holds/{id1}/capture"), Some(&ada.token), json!({})).await;
    assert_eq!(cap.body["status"], "CAPTURED");
    let rel = app.post(&format!("/api/v1/tokens/holds/{id2}/release"), Some(&ada.token), json!({})).await;
    assert_eq!(rel.body["status"], "RELEASED");
    let twice = app.post(&format!("/api/v1/tokens/holds/{id2}/release"), Some(&ada.token), json!({})).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "hold_settled"));
    let wallet = app.get("/api/v1/tokens/wallet", Some(&ada.token)).await;
    assert_eq!(wallet.body["balance"], 70);
    assert_eq!(ledger::ledger_sum(app.state.db.conn(), ada.id).await.expect("sum"), 70);
}
on_both_backends!(holds_capture_and_release);

async fn history_pages_newest_first(app: TestApp) {
    let ada = app.user("ada").await;
    grant(&app, &ada, 100).await;
    for i in 0..7 {
        assert_eq!(spend(&app, &ada, 1, &format!("p{i}")).await.status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/tokens/transactions?limit=3&before={b}"),
            None => "/api/v1/tokens/transactions?limit=3".to_owned(),
        };
        let page = app.get(&path, Some(&ada.token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["balance_after"].as_i64().expect("balance"));
        }
        match page.body["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![93, 94, 95, 96, 97, 98, 99, 100]);
}
on_both_backends!(history_pages_newest_first);

async fn admin_adjustments_are_audited(app: TestApp) {
    let ada = app.user("ada").await;
    let admin = app.admin("root").await;
    let path = format!("/api/v1/admin/users/{}/tokens", ada.id);
    let body = json!({"kind": "EARN", "amount": 40, "reason": "goodwill"}).to_string().into_bytes();
    let headers = [("content-type", "application/json"), ("idempotency-key", "adj-1")];
    let r = app.send(Method::POST, &path, Some(&admin.token), &headers, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let replay = app.send(Method::POST, &path, Some(&admin.token), &headers, body.clone()).await;
    assert_eq!(replay.body["replayed"], true);
    let denied = app.send(Method::POST, &path, Some(&ada.token), &headers, body).await;
    assert_eq!(denied.code(), "insufficient_role");
    let audit = app.get("/api/v1/admin/audit?action=TOKEN_ADJUSTMENT", Some(&admin.token)).await;
    assert_eq!(audit.body.as_array().expect("list").len(), 1, "a replay is not audited twice");
    assert_eq!(app.get("/api/v1/tokens/wallet", Some(&ada.token)).await.body["balance"], 40);
}
on_both_backends!(admin_adjustments_are_audited);

/// Must-show: 1,000 concurrent spends of 1 against a balance of 500 → exactly 500 succeed,
/// balance 0, ledger sum = balance; replaying the keys changes nothing.
async fn concurrent_spends_never_overdraw(app: TestApp) {
    let ada = app.user("ada").await;
    grant(&app, &ada, 500).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1_000 {
        let db = app.state.db.clone();
        let user = ada.id;
        tasks.spawn(async move { ledger::apply(&db, user, &Mutation::new(TxKind::Spend, 1, format!("c{i}"))).await });
    }
    let (mut ok, mut insufficient, mut other) = (0, 0, Vec::new());
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => ok += 1,
            Err(e) if e.code() == "insufficient_tokens" => insufficient += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    assert!(other.is_empty(), "unexpected errors on {}: {other:?}", app.backend);
    assert_eq!((ok, insufficient), (500, 500), "{}", app.backend);
    let wallet = ledger::wallet(app.state.db.conn(), ada.id).await.expect("wallet");
    assert_eq!(wallet.balance, 0);
    assert_eq!(ledger::ledger_sum(app.state.db.conn(), ada.id).await.expect("sum"), 0);

    // Replays, concurrently too, change nothing.
    let before = app.count("token_transactions").await;
    let mut replays = tokio::task::JoinSet::new();
    for i in 0..1_000 {
        let db = app.state.db.clone();
        let user = ada.id;
        replays.spawn(async move { ledger::apply(&db, user, &Mutation::new(TxKind::Spend, 1, format!("c{i}"))).await });
    }
    let mut replayed = 0;
    while let Some(result) = replays.join_next().await {
        if result.expect("task").is_ok_and(|a| a.replayed) {
            replayed += 1;
        }
    }
    assert_eq!(replayed, 500, "exactly the 500 applied keys replay");
    assert_eq!(app.count("token_transactions").await, before);
    assert_eq!(ledger::wallet(app.state.db.conn(), ada.id).await.expect("wallet").balance, 0);
}
on_both_backends!(concurrent_spends_never_overdraw);
