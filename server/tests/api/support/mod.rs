//! Shared setup: a real application (router + services + database) per test, on SQLite
//! in a temp dir or on a fresh database of the throwaway PostgreSQL cluster that
//! `cargo xtask test` starts (`NEXUS_TEST_PG_URL`). Requests go through the real router
//! with `tower::ServiceExt::oneshot` — everything but the TCP socket.

#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use nexus_server::config::Config;
use nexus_server::state::AppState;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Runs `$scenario(app)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::support::TestApp::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::support::TestApp::postgres().await {
                    super::$scenario(app).await;
                }
            }
        }
    };
}

/// A running application.
pub struct TestApp {
    pub state: AppState,
    router: Router,
    pub backend: &'static str,
    _dir: tempfile::TempDir,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<no code>")
    }
}

fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::embedded(dir.to_path_buf());
    config.database_url = None;
    config.login_rate_per_minute = 1_000;
    config
}

impl TestApp {
    async fn start(config: Config, backend: &'static str, dir: tempfile::TempDir) -> Self {
        let state = AppState::build(config).await.expect("app state");
        let router = nexus_server::http::router(state.clone());
        Self { state, router, backend, _dir: dir }
    }

    /// An application on a fresh SQLite file.
    pub async fn sqlite() -> Self {
        Self::sqlite_with(|_| {}).await
    }

    /// An application on a fresh SQLite file with `adjust` applied to its configuration.
    pub async fn sqlite_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        Self::start(config, "sqlite", dir).await
    }

    /// An application on a fresh PostgreSQL database, or `None` (with a notice) when no
    /// cluster is configured and none is required.
    pub async fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("NEXUS_TEST_PG_URL") else {
            assert!(
                std::env::var("NEXUS_TEST_REQUIRE_PG").is_err(),
                "NEXUS_TEST_REQUIRE_PG is set but NEXUS_TEST_PG_URL is not"
            );
            eprintln!("skipping PostgreSQL variant: NEXUS_TEST_PG_URL unset (run `cargo xtask test`)");
            return None;
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to test cluster");
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close");
        let url = match base.rfind('/') {
            Some(i) if base[..i].ends_with(|c: char| c.is_ascii_digit()) => format!("{}/{name}", &base[..i]),
            _ => panic!("NEXUS_TEST_PG_URL must end in /<database>: {base}"),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        config.database_url = Some(url);
        config.db_max_connections = 32;
        Some(Self::start(config, "postgres", dir).await)
    }

    /// Sends a request with optional bearer token, extra headers and raw body, and
    /// asserts the answer is not a 5xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let reply = self.send_raw(method, path, token, headers, body).await;
        assert!(reply.status.as_u16() < 500, "{} {path} answered {}: {}", self.backend, reply.status, reply.body);
        reply
    }

    /// Like [`Self::send`] but any status is returned (dependency-failure tests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response =
            self.router.clone().oneshot(req.body(Body::from(body)).expect("request")).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, body, headers }
    }

    /// Sends JSON.
    pub async fn json(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(method, path, token, &[("content-type", "application/json")], body.to_string().into_bytes()).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, &[], Vec::new()).await
    }

    /// POST with JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.json(Method::POST, path, token, body).await
    }

    /// Registers and signs in a user named `name`.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let reg = self
            .post("/api/v1/auth/register", None, json!({"email": email, "username": name, "password": "correct horse battery", "birth_date": "1990-05-17"}))
            .await;
        assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.body);
        let login =
            self.post("/api/v1/auth/login", None, json!({"email": email, "password": "correct horse battery"})).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        TestUser {
            id: reg.body["id"].as_str().unwrap().parse().unwrap(),
            email,
            token: login.body["access_token"].as_str().unwrap().to_owned(),
            refresh: login.body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Serve the application on a real loopback socket (for WebSocket and WebRTC tests);
    /// returns the `ws://…/v1/rt` URL. The server runs until the test's runtime ends.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = self.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("ws://{addr}{}", nexus_net::control::WS_PATH)
    }

    /// A signed-in ADMIN.
    pub async fn admin(&self, name: &str) -> TestUser {
        let user = self.user(name).await;
        nexus_server::accounts::service::set_role_by_email(
            &self.state,
            &user.email,
            nexus_server::accounts::Role::Admin,
        )
        .await
        .expect("grant admin");
        user
    }

    /// Whether any stored row (PostgreSQL) or any byte of the database files (SQLite)
    /// contains `needle`.
    pub async fn database_contains(&self, needle: &str) -> bool {
        if self.backend == "sqlite" {
            let dir = self._dir.path();
            return ["nexus.db", "nexus.db-wal"].iter().any(|f| {
                std::fs::read(dir.join(f))
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            });
        }
        let tables = nexus_server::db::all(
            self.state.db.conn(),
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            vec![],
        )
        .await
        .expect("tables");
        for t in tables {
            let name: String = nexus_server::db::get(&t, "table_name").expect("name");
            let sql = format!("SELECT COUNT(*) AS n FROM {name} t WHERE CAST(row_to_json(t) AS TEXT) LIKE $1");
            let row = nexus_server::db::one(self.state.db.conn(), &sql, vec![format!("%{needle}%").into()])
                .await
                .expect("scan")
                .expect("row");
            if nexus_server::db::get::<i64>(&row, "n").expect("n") > 0 {
                return true;
            }
        }
        false
    }

    /// Rows in `table` (for "nothing written" assertions).
    pub async fn count(&self, table: &str) -> i64 {
        let row = nexus_server::db::one(self.state.db.conn(), &format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
            .await
            .expect("count")
            .expect("row");
        nexus_server::db::get::<i64>(&row, "n").expect("n")
    }

    /// Buys a month of `plan` for `user`: checkout, then the provider's signed
    /// `checkout.session.completed` (event id `evt_<tag>`).
    pub async fn buy_plan(&self, user: &TestUser, plan: &str, tag: &str) {
        let session = self
            .post("/api/v1/payments/checkout", Some(&user.token), json!({"kind": "subscription", "plan": plan}))
            .await;
        let object = json!({"id": session.body["id"], "amount_total": session.body["amount_total"], "payment_intent": format!("pi_{tag}")});
        let event =
            json!({"id": format!("evt_{tag}"), "type": "checkout.session.completed", "data": {"object": object}});
        assert_eq!(self.stripe_webhook(&event, chrono::Utc::now().timestamp()).await.status, StatusCode::OK);
    }

    /// A signed Stripe-style webhook delivery of `event` at `timestamp`.
    pub async fn stripe_webhook(&self, event: &Value, timestamp: i64) -> Reply {
        let body = event.to_string().into_bytes();
        let sig = nexus_server::payments::signature::sign(&self.state.keys.stripe_webhook_secret, timestamp, &body)
            .expect("sign");
        self.send(
            Method::POST,
            "/api/v1/payments/webhook",
            None,
            &[("content-type", "application/json"), ("stripe-signature", &sig)],
            body,
        )
        .await
    }
}

/// A throwaway nats-server on a free loopback port, stopped on drop.
pub struct NatsServer {
    child: std::process::Child,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

impl NatsServer {
    /// Start one, or `None` (with a notice) when `nats-server` is not installed and
    /// `NEXUS_TEST_REQUIRE_NATS` is unset (`cargo xtask test` sets it).
    pub fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = match std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                assert!(
                    std::env::var("NEXUS_TEST_REQUIRE_NATS").is_err(),
                    "NEXUS_TEST_REQUIRE_NATS set but nats-server: {e}"
                );
                eprintln!("skipping: nats-server not available ({e}); run `cargo xtask test`");
                return None;
            }
        };
        let server = Self { child, url: format!("nats://127.0.0.1:{port}") };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nats-server did not start listening on {port}");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
