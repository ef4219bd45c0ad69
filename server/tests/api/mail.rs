//! Verification mail over real SMTP: a minimal SMTP receiver on loopback takes the
//! message lettre sends, and the link in it verifies the account.

use axum::http::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::TestApp;

/// Accepts one SMTP session and returns the DATA section.
async fn receive_one_message(listener: tokio::net::TcpListener) -> String {
    let (socket, _) = listener.accept().await.expect("accept");
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await.expect("greet");
    let mut data = String::new();
    let mut in_data = false;
    while let Some(line) = lines.next_line().await.expect("read") {
        if in_data {
            if line == "." {
                in_data = false;
                write.write_all(b"250 queued\r\n").await.expect("write");
            } else {
                data.push_str(&line);
                data.push('\n');
            }
            continue;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 test\r\n",
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await.expect("write");
                break;
            }
            _ => b"250 ok\r\n",
        };
        write.write_all(reply).await.expect("write");
    }
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_link_arrives_by_smtp_and_verifies() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = tokio::spawn(receive_one_message(listener));
    let app = TestApp::sqlite_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let reg = app
        .post("/api/v1/auth/register", None, json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery", "birth_date": "1990-05-17"}))
        .await;
    assert_eq!(reg.status, StatusCode::CREATED);
    let message =
        tokio::time::timeout(std::time::Duration::from_secs(10), inbox).await.expect("mail in time").expect("task");
    assert!(message.contains("To: ada@example.com"), "{message}");
    // Undo quoted-printable soft breaks and `=` escapes, then take the token.
    let body = message.replace("=\n", "").replace("=3D", "=");
    let token =
        body.split("verify-email?token=").nth(1).and_then(|t| t.split_whitespace().next()).expect("link in mail");
    let ok = app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let login = app
        .post("/api/v1/auth/login", None, json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .await;
    let me = app.get("/api/v1/users/me", login.body["access_token"].as_str()).await;
    assert_eq!(me.body["email_verified"], true);
}
