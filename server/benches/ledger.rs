//! Ledger throughput: spends per second with N concurrent clients (default 64), each on
//! its own wallet, through `tokens::ledger::apply` (one transaction: idempotency check,
//! conditional debit, ledger insert). Runs on PostgreSQL when `NEXUS_BENCH_PG_URL` is set
//! (a fresh database is created on that cluster) and always on SQLite.
//!
//! `cargo xtask bench ledger` runs it next to pgbench on the same cluster and prints the
//! ratio; this binary prints `result: <name> <value> <unit>` lines.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nexus_server::config::Config;
use nexus_server::state::AppState;
use nexus_server::tokens::ledger::{self, Mutation, TxKind};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(label: &str, database_url: Option<String>, clients: usize, secs: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.database_url = database_url;
    config.db_max_connections = u32::try_from(clients)?;
    // Accounts are set up through the real service; cheap hashing keeps set-up short.
    config.argon2_memory_kib = 1024;
    config.argon2_iterations = 1;
    let state = AppState::build(config).await?;
    let mut users = Vec::new();
    for i in 0..clients {
        let reg = nexus_server::accounts::service::Registration {
            email: format!("bench{i}@example.com"),
            username: format!("bench{i}"),
            password: "correct horse battery".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        };
        let user = nexus_server::accounts::service::register(&state, reg).await?;
        ledger::apply(&state.db, user.id, &Mutation::new(TxKind::Earn, 1_000_000, "seed")).await?;
        users.push(user.id);
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (c, user) in users.into_iter().enumerate() {
        let db = state.db.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let start = Instant::now();
                ledger::apply(&db, user, &Mutation::new(TxKind::Spend, 1, format!("s{c}-{n}"))).await?;
                latencies.push(start.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        });
    }
    let started = Instant::now();
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs as f64);
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    println!("result: spends_per_sec_{label} {:.1} spends/s", all.len() as f64 / elapsed);
    println!("result: spend_p50_ms_{label} {:.3} ms", pct(0.50));
    println!("result: spend_p99_ms_{label} {:.3} ms", pct(0.99));
    state.db.close().await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(()); // `cargo test --benches` probes bench binaries this way
    }
    let clients: usize = env_or("NEXUS_BENCH_CLIENTS", 64);
    let secs: u64 = env_or("NEXUS_BENCH_SECS", 15);
    if let Ok(base) = std::env::var("NEXUS_BENCH_PG_URL") {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(base.as_str()).await?;
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}")).await?;
        admin.close().await?;
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap_or(base.len())]);
        run("postgres", Some(url), clients, secs).await?;
    } else {
        println!("note: NEXUS_BENCH_PG_URL unset; PostgreSQL figure skipped");
    }
    run("sqlite", None, clients, secs).await
}
