//! `cargo xtask fuzz [seconds]`: the wire decoders' fuzz target
//! (`net/examples/fuzz_decoder.rs`), optimised, for a bounded time. `cargo xtask test`
//! runs it briefly with a seed that changes every run.

use crate::{cargo, run_step};

/// Fuzz for `seconds` with `seed` (a fixed default when `None`).
pub fn run(seconds: u64, seed: Option<u64>) -> anyhow::Result<()> {
    let mut cmd = cargo();
    cmd.args(["run", "-q", "--release", "-p", "nexus-net", "--example", "fuzz_decoder", "--"]).arg(seconds.to_string());
    if let Some(seed) = seed {
        cmd.arg(seed.to_string());
    }
    run_step(&format!("fuzz the wire decoders for {seconds} s"), &mut cmd)
}
