//! `cargo xtask test`: the README test command (and a 20 s fuzz run of the wire decoders).

use std::time::Instant;

use crate::pg::PgCluster;
use crate::{cargo, run_step};

/// The avatar's espeak-ng timeline helper: built and tested here (lip-sync agreement with
/// espeak-ng's own phoneme timing), optional for library users.
const ESPEAK: &str = "nexus-avatar/espeak";

/// fmt check, clippy `-D warnings`, then every test with a throwaway PostgreSQL.
pub fn run(extra: &[String]) -> anyhow::Result<()> {
    let start = Instant::now();
    crate::setup::run()?;
    crate::models::run()?;
    crate::gen_avatar::run(&[])?;
    run_step("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_step(
        "cargo clippy -D warnings",
        cargo().args(["clippy", "--workspace", "--all-targets", "--features", ESPEAK, "--", "-D", "warnings"]),
    )?;
    // The model is a feature; keep the build without it compiling.
    run_step(
        "cargo check nexus-server without the local model",
        cargo().args(["check", "-q", "-p", "nexus-server", "--no-default-features"]),
    )?;
    println!("==> starting a throwaway PostgreSQL cluster");
    let cluster = PgCluster::start()?;
    println!("    {}", cluster.url("postgres"));
    let result = run_step(
        "cargo test --workspace (SQLite and PostgreSQL)",
        cargo()
            .args(["test", "--workspace", "--features", ESPEAK])
            .args(extra)
            .env("NEXUS_TEST_PG_URL", cluster.url("postgres"))
            .env("NEXUS_TEST_REQUIRE_PG", "1")
            .env("NEXUS_TEST_REQUIRE_MODELS", "1")
            // The scale-out test starts its own nats-server; here it must not skip.
            .env("NEXUS_TEST_REQUIRE_NATS", "1")
            // The client's render tests run under Xvfb + lavapipe; here they must not skip.
            .env("NEXUS_TEST_REQUIRE_RENDER", "1"),
    );
    drop(cluster);
    result?;
    // A short fuzzing run of the wire decoders, with a new seed each time.
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs());
    let result = crate::fuzz::run(20, Some(seed));
    println!("==> total {:.0} s", start.elapsed().as_secs_f64());
    result
}
