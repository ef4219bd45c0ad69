//! # nexus-server — the headless backend of Nexus
//!
//! Accounts, plans, KYC, consent, the token ledger, payments and the audit log, served as
//! a JSON API under `/api/v1` (OpenAPI at `/api/openapi.json`), on SQLite (the embedded
//! default, no configuration needed) or PostgreSQL (`NEXUS_DATABASE_URL=postgres://…`),
//! through one code path.
//!
//! Not in this crate yet: generation and cloud rendering — each arrives with its own issue
//! as a folder beside these.
//!
//! ## How a request flows
//! [`http::router`] → an extractor from [`http::extract`] turns bad input into an
//! [`error::AppError`] (stable code, 4xx) and checks who is calling → the area's
//! `http.rs` handler → its `service.rs` does the work in one database transaction
//! ([`db`]) and writes [`audit`] entries in that same transaction.
//!
//! ## Areas
//! - [`accounts`] — register (18+), email verification, sign-in, rotating refresh tokens,
//!   lockout, password change, roles;
//! - [`plans`] — FREE … VIP_PLUS, upgrade/renew via payments, downgrade, cancel, expiry;
//! - [`kyc`] — levels 0–3, HMAC-signed provider webhook, ADMIN decisions, AES-GCM at rest;
//! - [`consent`] — Ed25519-signed adult-content consent, verify, revoke, per session;
//! - [`tokens`] — the append-only ledger, idempotent mutations, holds;
//! - [`payments`] — checkout and the Stripe-compatible webhook;
//! - [`audit`] — the compliance log;
//! - [`vr_sessions`] — the session record a client reports when it leaves a room;
//! - [`companion`] — profiles, the conversation (local SmolLM2 or an OpenAI-compatible
//!   endpoint, moderated both ways), long-term memory, emotions, behaviour, speech in
//!   (whisper.cpp) and out (espeak-ng with visemes);
//! - [`rooms`] — live rooms: the WebSocket protocol at `/v1/rt`, WebRTC signalling,
//!   snapshot fan-out, resume, member moderation, rooms shared across nodes over NATS.
//!
//! ## Example
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = nexus_server::config::Config::embedded(std::env::temp_dir().join("nexus-demo"));
//! let state = nexus_server::state::AppState::build(config).await?;
//! let app = nexus_server::http::router(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod audit;
pub mod cipher;
pub mod companion;
pub mod config;
pub mod consent;
pub mod db;
pub mod error;
pub mod http;
pub mod kyc;
pub mod models;
pub mod moderation;
pub mod payments;
pub mod plans;
pub mod rooms;
pub mod secrets;
pub mod state;
pub mod tokens;
pub mod vr_sessions;

use std::net::SocketAddr;
use std::time::Duration;

/// Serves `state` on its configured address until Ctrl-C or SIGTERM, then drains
/// in-flight requests and closes the database.
pub async fn serve(state: state::AppState) -> anyhow::Result<()> {
    let server = spawn(state).await?;
    shutdown_signal().await;
    server.stop().await
}

/// A server running on a background task — how the client embeds it in-process.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on (the configured one, with the actual port when 0 was
    /// asked for).
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// The base URL of the API, e.g. `http://127.0.0.1:8080`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, drains in-flight requests and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(|e| anyhow::anyhow!("server task: {e}"))?
    }
}

/// Binds `state.config.listen` and serves on a spawned task (with the subscription
/// expiry sweep) until [`RunningServer::stop`].
pub async fn spawn(state: state::AppState) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = ?state.db.backend(), "nexus-server listening");
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let db = state.db.clone();
    let task = tokio::spawn(async move {
        let sweeper = tokio::spawn(expire_subscriptions(db.clone()));
        axum::serve(listener, http::router(state).into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await?;
        sweeper.abort();
        db.close().await?;
        tracing::info!("nexus-server stopped");
        Ok(())
    });
    Ok(RunningServer { addr, shutdown, task })
}

/// Marks lapsed paid subscriptions EXPIRED once a minute.
async fn expire_subscriptions(db: db::Db) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match plans::service::expire_lapsed(db.conn(), chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "subscriptions expired"),
            Err(e) => tracing::warn!(error = %e, "subscription expiry sweep failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown requested; draining");
}

/// Installs the tracing subscriber (`pretty` or `json`), filtered by `RUST_LOG`
/// (default `info`).
pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if format == "json" { builder.json().try_init() } else { builder.try_init() };
    if let Err(e) = result {
        eprintln!("tracing already initialised: {e}");
    }
}
