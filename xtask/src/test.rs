//! `cargo xtask test`: the README test command (and a 20 s fuzz run of the wire decoders).

use std::time::Instant;

use crate::pg::PgCluster;
use crate::{cargo, run_step};

/// The avatar's espeak-ng timeline helper: built and tested here (lip-sync agreement with
/// espeak-ng's own phoneme timing), optional for library users.
const ESPEAK: &str = "nexus-avatar/espeak";

/// The cargo profile the tests build in (`[profile.ci]` in Cargo.toml: dev with the
/// dependencies at opt-level 1, for a shorter cold build).
const PROFILE: &str = "ci";

/// fmt check, then every test target built once with clippy as the workspace compiler
/// (lints `-D warnings`), then every test with a throwaway PostgreSQL.
///
/// `cargo clippy` would check the whole dependency stack a second time in metadata-only
/// mode (≈ 15 min cold on two cores); running clippy-driver as `RUSTC_WORKSPACE_WRAPPER`
/// lints our crates while the test build compiles them, and the dependencies are built
/// once.
pub fn run(extra: &[String]) -> anyhow::Result<()> {
    let start = Instant::now();
    crate::setup::run()?;
    crate::models::run()?;
    crate::gen_avatar::run(&[])?;
    run_step("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    // The benches are linted when `cargo xtask bench` builds them (in the bench profile);
    // building them here too would link six more binaries against the whole stack.
    run_step(
        "build the tests with clippy -D warnings",
        linted(cargo().args(["test", "--profile", PROFILE, "--workspace", "--no-run", "--features", ESPEAK])),
    )?;
    println!("==> starting a throwaway PostgreSQL cluster");
    let cluster = PgCluster::start()?;
    println!("    {}", cluster.url("postgres"));
    let result = run_step(
        "cargo test --workspace (SQLite and PostgreSQL)",
        linted(cargo().args(["test", "--profile", PROFILE, "--workspace", "--features", ESPEAK]))
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
    // The model is a feature; keep the build without it compiling.
    run_step(
        "cargo check nexus-server without the local model",
        cargo().args(["check", "-q", "--profile", PROFILE, "-p", "nexus-server", "--no-default-features"]),
    )?;
    // A short fuzzing run of the wire decoders, with a new seed each time.
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs());
    let result = crate::fuzz::run(20, Some(seed));
    println!("==> total {:.0} s", start.elapsed().as_secs_f64());
    result
}

/// `cmd` with clippy-driver compiling the workspace's crates (dependencies stay on plain
/// rustc), denying warnings as `cargo clippy -- -D warnings` would. The same environment
/// is used for the build and the test run so the second finds the first's artefacts fresh.
pub fn linted(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("RUSTC_WORKSPACE_WRAPPER", "clippy-driver")
        .env("CLIPPY_ARGS", "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")
}
