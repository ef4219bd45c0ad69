//! Build script of nexus-avatar: with the `espeak` feature, compiles
//! `native/espeak_timeline.c` against libespeak-ng into an executable in `OUT_DIR` (a
//! program, not a linked library: the crate forbids `unsafe`, and espeak-ng is GPL-3)
//! and passes its path to the crate as `NEXUS_ESPEAK_TIMELINE`.
#![allow(clippy::print_stdout)] // cargo reads build-script instructions from stdout

use std::env;
use std::path::PathBuf;

const SOURCE: &str = "native/espeak_timeline.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={SOURCE}");
    if env::var_os("CARGO_FEATURE_ESPEAK").is_none() {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("invariant: cargo sets OUT_DIR for build scripts"));
    let program = out_dir.join("espeak_timeline");
    // The C compiler cc would use for this target (honours CC, CFLAGS, cross setups).
    let mut command = cc::Build::new().get_compiler().to_command();
    command.arg("-O2").arg("-o").arg(&program).arg(SOURCE).arg("-lespeak-ng");
    let status = command.status().unwrap_or_else(|e| panic!("cannot run the C compiler ({command:?}): {e}"));
    assert!(
        status.success(),
        "compiling {SOURCE} failed ({status}): the `espeak` feature needs a C compiler and libespeak-ng \
         headers (Debian: apt-get install libespeak-ng-dev espeak-ng-data)"
    );
    println!("cargo:rustc-env=NEXUS_ESPEAK_TIMELINE={}", program.display());
}
