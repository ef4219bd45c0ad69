//! Images through the door (PDQ hash list) and the operator CLI `nexus-server moderate`.

use std::io::{Cursor, Write as _};
use std::process::{Command, Stdio};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser};

fn pattern(w: u32, h: u32, phase: f32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let v = 127.0 + 120.0 * ((x as f32 / 17.0 + phase).sin() * (y as f32 / 29.0).cos());
        image::Rgb([v as u8, (255.0 - v) as u8, (v / 2.0) as u8])
    })
}

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).expect("encode");
    out
}

async fn upload(app: &TestApp, user: &TestUser, mime: &str, bytes: Vec<u8>) -> crate::support::Reply {
    app.send_raw(Method::POST, "/api/v1/moderation/check-image", Some(&user.token), &[("content-type", mime)], bytes)
        .await
}

#[tokio::test]
async fn listed_images_are_blocked_even_altered_and_others_pass() {
    let listed = pattern(400, 300, 0.0);
    let hash = nexus_server::moderation::image::hash_image(&encode(&listed, image::ImageFormat::Png)).expect("hash");
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("hashes.txt");
    std::fs::write(&list, format!("# test list\n{}\tterrorism/extremism\n", hash.hash.to_hex())).expect("write");
    let app = TestApp::sqlite_with(|c| c.image_hash_list = Some(list)).await;
    let ada = app.user("ada").await;

    let other = upload(&app, &ada, "image/png", encode(&pattern(400, 300, 2.1), image::ImageFormat::Png)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!((other.body["action"].clone(), other.body["engines"].clone()), (json!("allow"), json!(["pdq"])));

    // The same picture, brightened, resized and re-encoded as JPEG.
    let mut altered = image::imageops::resize(&listed, 320, 240, image::imageops::FilterType::Triangle);
    for p in altered.pixels_mut() {
        p.0 = p.0.map(|c| c.saturating_add(12));
    }
    let hit = upload(&app, &ada, "image/jpeg", encode(&altered, image::ImageFormat::Jpeg)).await;
    assert_eq!(hit.body["action"], "block", "{}", hit.body);
    assert_eq!(hit.body["categories"], json!(["terrorism/extremism"]));
    assert_eq!(hit.body["action_taken"], "BAN");
    assert_eq!(app.count("authority_reports").await, 1);
    let row = nexus_server::db::one(app.state.db.conn(), "SELECT content_type FROM moderation_incidents", vec![])
        .await
        .expect("query")
        .expect("row");
    assert_eq!(nexus_server::db::get::<String>(&row, "content_type").expect("type"), "IMAGE");
}

#[tokio::test]
async fn bad_uploads_get_clear_errors() {
    let app = TestApp::sqlite().await;
    let ada = app.user("ada").await;
    let png = encode(&pattern(64, 64, 0.0), image::ImageFormat::Png);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("text/plain", png.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("image/png", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "empty_content"),
        ("image/png", b"definitely not a png".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"),
        ("image/png", png[..png.len() / 2].to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"),
        ("image/png", vec![0u8; 9 * 1024 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (mime, bytes, status, code) in cases {
        let r = upload(&app, &ada, mime, bytes).await;
        assert_eq!((r.status, r.code()), (status, code), "{mime}: {}", r.body);
    }
    assert_eq!(app.count("moderation_incidents").await, 0);
}

/// Runs `nexus-server moderate --mode <mode>` on `lines`; `None` when the model is absent
/// and not required.
fn moderate(mode: &str, lines: &[&str]) -> Option<Vec<Value>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-server"))
        .args(["moderate", "--mode", mode])
        .env("NEXUS_DATA_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nexus-server");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        writeln!(stdin, "{line}").expect("write");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("run");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_none(), "moderate failed: {err}");
        eprintln!("skipped: {err}");
        return None;
    }
    Some(
        String::from_utf8(out.stdout).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("json")).collect(),
    )
}

#[test]
fn the_cli_answers_every_line_and_needs_no_server() {
    let Some(out) = moderate(
        "strict",
        &[
            r#"{"text": "shall we watch the sunset from the terrace?"}"#,
            r#"{"text": "where can I find p.t.h.c"}"#,
            r#"{"text": "some days I want to kill myself"}"#,
            "not json",
            r#"{"text": ""}"#,
            r#"{"text": "x", "extra": 1}"#,
        ],
    ) else {
        return;
    };
    assert_eq!(out.len(), 6);
    assert_eq!(out[0]["action"], "allow");
    assert_eq!(out[0]["severity"], "none");
    assert!(out[0]["scores"]["sexual/minors"].as_f64().is_some_and(|s| s < 0.01), "{}", out[0]);
    assert_eq!(out[1]["action"], "block");
    assert_eq!(out[1]["severity"], "critical");
    assert_eq!(out[1]["alerts"], json!(["authorities"]));
    assert!(out[1]["categories"].as_array().expect("categories").contains(&json!("sexual/minors")));
    assert_eq!(out[2]["action"], "block");
    assert_eq!(out[2]["alerts"], json!(["wellbeing"]));
    assert_eq!(out[3]["error"]["code"], "invalid_json");
    assert_eq!(out[4]["error"]["code"], "empty_content");
    assert_eq!(out[5]["error"]["code"], "invalid_json");

    let light = moderate("light", &[r#"{"text": "some days I want to kill myself"}"#]).expect("ran before");
    assert_eq!(light[0]["action"], "warn", "{}", light[0]);
    assert_eq!(light[0]["alerts"], json!(["wellbeing"]));
}
