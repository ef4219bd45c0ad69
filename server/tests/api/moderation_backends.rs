//! Classifier backends through the door: a remote OpenAI-compatible moderation endpoint
//! and a Llama-Guard chat endpoint (loopback stand-ins speaking the published formats,
//! since the real services cannot run here), falling back to the local model when the
//! remote one fails, and failing closed when no backend answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::{TestApp, TestUser};

async fn check(app: &TestApp, user: &TestUser, text: &str) -> crate::support::Reply {
    app.post("/api/v1/moderation/check", Some(&user.token), json!({"content_type": "TEXT", "text": text})).await
}

/// Serves `answer(request)` on `path` at a loopback port; returns its base URL and a
/// request counter.
async fn endpoint(path: &'static str, answer: fn(&Value) -> Value) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |axum::Json(request): axum::Json<Value>| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::Json(answer(&request))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// omni-moderation: a high sexual score for texts mentioning "velvet", low otherwise.
fn omni(request: &Value) -> Value {
    let text = request["input"].as_str().unwrap_or_default();
    let sexual = if text.contains("velvet") { 0.93 } else { 0.01 };
    json!({"id": "modr-1", "model": request["model"], "results": [{
        "flagged": sexual > 0.5,
        "categories": {"sexual": sexual > 0.5},
        "category_scores": {"sexual": sexual, "sexual/minors": 0.0001, "hate": 0.001, "harassment": 0.002,
            "harassment/threatening": 0.0, "violence": 0.003, "violence/graphic": 0.0, "self-harm": 0.0,
            "self-harm/intent": 0.0, "self-harm/instructions": 0.0, "illicit": 0.0, "illicit/violent": 0.0}
    }]})
}

/// Llama Guard: "unsafe / S4" for texts mentioning "lantern", "safe" otherwise.
fn guard(request: &Value) -> Value {
    let text = request["messages"][0]["content"].as_str().unwrap_or_default();
    let verdict = if text.contains("lantern") { "unsafe\nS4" } else { "safe" };
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": verdict}}]})
}

#[tokio::test]
async fn openai_backend_scores_and_the_local_model_fills_its_gaps() {
    let (url, hits) = endpoint("/v1/moderations", omni).await;
    let app = TestApp::sqlite_with(|c| {
        c.classifier = "openai".into();
        c.classifier_url = Some(url);
        c.classifier_api_key = Some("sk-test".into());
    })
    .await;
    let ada = app.user("ada").await;
    let ok = check(&app, &ada, "shall we meet at the cafe terrace tonight?").await;
    assert_eq!(ok.body["action"], "allow", "{}", ok.body);
    // omni-moderation has no terrorism category: the local model scores it.
    assert_eq!(ok.body["engines"], json!(["prefilter", "urls", "openai-moderation", "local"]));
    let blocked = check(&app, &ada, "describe the velvet scene").await;
    assert_eq!(blocked.body["action"], "block", "{}", blocked.body);
    assert_eq!(blocked.body["categories"], json!(["sexual"]));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn llama_guard_codes_become_categories_and_alerts() {
    let (url, _) = endpoint("/v1/chat/completions", guard).await;
    let app = TestApp::sqlite_with(|c| {
        c.classifier = "llama-guard".into();
        c.classifier_url = Some(url);
    })
    .await;
    let ada = app.user("ada").await;
    let blocked = check(&app, &ada, "a message about the lantern").await;
    assert_eq!(blocked.body["action"], "block", "{}", blocked.body);
    assert_eq!(blocked.body["action_taken"], "BAN", "S4 is child sexual exploitation: always blocked");
    assert_eq!(app.count("authority_reports").await, 1);
    assert_eq!(check(&app, &ada, "good morning").await.code(), "session_revoked", "banned: sessions end");
}

#[tokio::test]
async fn a_dead_remote_falls_back_to_the_local_model() {
    // A port that was just free: nothing listens there.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let app = TestApp::sqlite_with(|c| {
        c.classifier = "openai".into();
        c.classifier_url = Some(url);
        c.classifier_timeout_ms = 500;
    })
    .await;
    let ada = app.user("ada").await;
    let ok = check(&app, &ada, "what a lovely sunny day for a walk").await;
    assert_eq!(ok.body["action"], "allow", "{}", ok.body);
    assert_eq!(ok.body["engines"], json!(["prefilter", "urls", "local"]));
}

#[tokio::test]
async fn no_backend_at_all_fails_closed_without_punishing_the_user() {
    let models = tempfile::tempdir().expect("tempdir");
    let app = TestApp::sqlite_with(|c| c.models_dir = Some(models.path().to_path_buf())).await;
    let ada = app.user("ada").await;
    let held = check(&app, &ada, "what a lovely sunny day for a walk").await;
    assert_eq!(held.body["action"], "block", "{}", held.body);
    assert!(held.body["reason"].as_str().is_some_and(|r| r.contains("unavailable")), "{}", held.body);
    assert_eq!(held.body["engines"], json!(["prefilter", "urls"]));
    assert_eq!(app.count("moderation_incidents").await, 0, "our outage is not the user's incident");
}

/// omni-moderation on an image: flags it when the request carries a PNG data URL.
fn omni_image(request: &Value) -> Value {
    let is_png =
        request["input"][0]["image_url"]["url"].as_str().is_some_and(|u| u.starts_with("data:image/png;base64,"));
    json!({"results": [{"category_scores": {"sexual": if is_png { 0.97 } else { 0.0 }, "violence": 0.01}}]})
}

#[tokio::test]
async fn images_go_to_the_remote_classifier_when_one_is_configured() {
    let (url, hits) = endpoint("/v1/moderations", omni_image).await;
    let app = TestApp::sqlite_with(|c| {
        c.classifier = "openai".into();
        c.classifier_url = Some(url);
    })
    .await;
    let ada = app.user("ada").await;
    let img = image::RgbImage::from_fn(96, 96, |x, y| image::Rgb([(x * 2) as u8, (y * 2) as u8, 90]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("encode");
    let r = app
        .send_raw(
            axum::http::Method::POST,
            "/api/v1/moderation/check-image",
            Some(&ada.token),
            &[("content-type", "image/png")],
            png,
        )
        .await;
    assert_eq!(r.body["engines"], json!(["pdq", "openai-moderation"]), "{}", r.body);
    assert_eq!((r.body["action"].clone(), r.body["categories"].clone()), (json!("block"), json!(["sexual"])));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
