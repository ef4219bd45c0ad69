//! The client's side of the server API: typed calls over HTTP with reqwest, the same for
//! the embedded server (loopback) and a remote one. Every failure becomes an
//! [`ApiError`] with something a person can read.

use std::time::Duration;

use nexus_net::vr_session::VrSessionReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// No answer: refused, DNS, TLS, timeout.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// A signed-in session's tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tokens {
    /// Bearer token.
    pub access_token: String,
    /// One-time refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Me {
    /// User id.
    pub id: uuid::Uuid,
    /// Email.
    pub email: String,
    /// Username.
    pub username: String,
}

/// A new account.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Email.
    pub email: String,
    /// 3–32 of `A–Z a–z 0–9 _ . -`.
    pub username: String,
    /// 10–128 characters.
    pub password: String,
    /// `YYYY-MM-DD`; 18+ only.
    pub birth_date: String,
}

/// The moderation verdict on a chat message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Verdict {
    /// `allow`, `warn` or `block`.
    pub action: String,
    /// Why, when not allowed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The mode it was decided in.
    pub mode: String,
}

/// A typed client for one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("nexus-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable { url: base.into(), reason: e.to_string() })?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// The server's base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: is anything Nexus-shaped answering?
    pub async fn health(&self) -> Result<(), ApiError> {
        let v: Value = self.call(reqwest::Method::GET, "/healthz", None, None::<&()>).await?;
        if v.get("status").is_some() { Ok(()) } else { Err(ApiError::Protocol(format!("healthz said {v}"))) }
    }

    /// Creates an account.
    pub async fn register(&self, reg: &Registration) -> Result<Me, ApiError> {
        self.call(reqwest::Method::POST, "/api/v1/auth/register", None, Some(reg)).await
    }

    /// Signs in with a password.
    pub async fn login(&self, email: &str, password: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"email": email, "password": password});
        self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(&body)).await
    }

    /// Trades a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"refresh_token": refresh_token});
        self.call(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&body)).await
    }

    /// The signed-in user.
    pub async fn me(&self, access: &str) -> Result<Me, ApiError> {
        self.call(reqwest::Method::GET, "/api/v1/users/me", Some(access), None::<&()>).await
    }

    /// Moderates a chat message through the user's mode (seed §6.1: the user's words pass
    /// moderation before the companion sees them).
    pub async fn check_message(&self, access: &str, text: &str) -> Result<Verdict, ApiError> {
        let body = serde_json::json!({"content_type": "TEXT", "text": text});
        self.call(reqwest::Method::POST, "/api/v1/moderation/check", Some(access), Some(&body)).await
    }

    /// Stores the finished session's `vr_sessions` row.
    pub async fn report_session(&self, access: &str, report: &VrSessionReport) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, "/api/v1/vr-sessions", Some(access), Some(report)).await
    }

    /// The caller's recorded sessions, newest first.
    pub async fn sessions(&self, access: &str) -> Result<Vec<Value>, ApiError> {
        self.call(reqwest::Method::GET, "/api/v1/vr-sessions", Some(access), None::<&()>).await
    }

    async fn call<B: Serialize + ?Sized, T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        access: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = access {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp =
            req.send().await.map_err(|e| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) })?;
        let status = resp.status();
        let bytes =
            resp.bytes().await.map_err(|e| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(format!("{path}: {e}")));
        }
        let err: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ApiError::Rejected {
            status: status.as_u16(),
            code: err["code"].as_str().unwrap_or("unknown").to_owned(),
            message: err["message"].as_str().map_or_else(|| format!("HTTP {status} from {path}"), str::to_owned),
        })
    }
}

/// The most specific cause of a reqwest error, without the URL noise.
fn reason(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() { "timed out".into() } else { cause.to_string() }
}
