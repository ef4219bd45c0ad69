//! Sign-in latency with the configured argon2id parameters (defaults: m = 19 MiB, t = 2,
//! p = 1): p50/p99 of `accounts::service::login` (rate check, lookup, argon2id verify,
//! session + refresh token + audit in one transaction) on SQLite, against the anchor of
//! one bare argon2id hash with the same parameters measured in the same run.
//!
//! Prints `result: <name> <value> <unit>` lines for `cargo xtask bench login`.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use nexus_server::accounts::service::{Credentials, Registration, login, register};
use nexus_server::config::Config;
use nexus_server::http::extract::ClientMeta;
use nexus_server::state::AppState;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.database_url = None;
    config.login_rate_per_minute = u32::MAX;
    let state = AppState::build(config).await?;
    let reg = Registration {
        email: "bench@example.com".into(),
        username: "bench".into(),
        password: "correct horse battery".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
    };
    register(&state, reg).await?;

    let mut hashes = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        state.passwords.hash_blocking("correct horse battery")?;
        hashes.push(start.elapsed().as_secs_f64() * 1e3);
    }
    hashes.sort_by(f64::total_cmp);

    let meta = ClientMeta { ip: [127, 0, 0, 1].into(), user_agent: Some("bench".into()) };
    let mut logins = Vec::new();
    for _ in 0..60 {
        let creds = Credentials { email: "bench@example.com".into(), password: "correct horse battery".into() };
        let start = Instant::now();
        login(&state, creds, &meta).await?;
        logins.push(start.elapsed().as_secs_f64() * 1e3);
    }
    logins.sort_by(f64::total_cmp);
    println!("note: argon2id m={} KiB t={} p=1", state.config.argon2_memory_kib, state.config.argon2_iterations);
    println!("result: argon2id_hash_ms {:.2} ms", percentile(&hashes, 0.5));
    println!("result: login_p50_ms {:.2} ms", percentile(&logins, 0.5));
    println!("result: login_p99_ms {:.2} ms", percentile(&logins, 0.99));
    Ok(())
}
