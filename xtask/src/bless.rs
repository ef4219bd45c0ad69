//! `cargo xtask bless`: regenerate the wire-format golden files
//! (`net/tests/golden/*.bin`) after a deliberate format change — which also means bumping
//! `nexus_net::control::PROTOCOL_VERSION`.

use crate::{cargo, run_step};

/// Rewrite the golden files from the current encoder.
pub fn run() -> anyhow::Result<()> {
    run_step(
        "bless wire golden files",
        cargo()
            .args(["test", "-q", "-p", "nexus-net", "--test", "codec", "bytes_match_the_golden_files"])
            .env("NEXUS_BLESS", "1"),
    )?;
    println!("==> golden files rewritten; review `git diff --stat net/tests/golden` and bump PROTOCOL_VERSION");
    Ok(())
}
