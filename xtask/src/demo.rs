//! `cargo xtask demo`: the README main-job command — for now the server on the embedded
//! default (SQLite in the data directory, 127.0.0.1:8080).

use crate::{cargo, run_step};

/// Builds and runs nexus-server until Ctrl-C.
pub fn run(extra: &[String]) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::models::run()?;
    println!("==> nexus-server on the embedded default: SQLite in ~/.local/share/nexus, http://127.0.0.1:8080");
    println!("    check:   curl http://127.0.0.1:8080/healthz");
    println!("    API:     http://127.0.0.1:8080/api/openapi.json");
    println!("    metrics: http://127.0.0.1:8080/metrics      (Ctrl-C stops it)");
    run_step(
        "cargo run --release -p nexus-server",
        cargo().args(["run", "--release", "-p", "nexus-server", "--"]).args(extra),
    )
}
