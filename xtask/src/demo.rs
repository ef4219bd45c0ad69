//! `cargo xtask demo`: the README main-job command — the client with embedded services
//! (nexus-server in-process on SQLite), signed in to a local demo profile, in the café
//! terrace. With a display it opens the window (headset mode if an OpenXR runtime
//! answers, the desktop preview otherwise). Without one it runs under Xvfb (or fully
//! offscreen when Xvfb is missing), replays the recorded walk through the terrace and
//! writes a screenshot, saying where.

use std::process::Command;

use crate::{cargo, run_step, target_dir};

/// Builds and runs the client.
pub fn run(extra: &[String]) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::models::run()?;
    crate::gen_avatar::run(&[])?;
    run_step("cargo build -p nexus-client", cargo().args(["build", "-p", "nexus-client"]))?;
    let bin = target_dir().join("debug").join("nexus-client");
    let has_display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let mut args: Vec<String> = vec!["--demo-profile".into()];
    if has_display {
        println!("==> nexus-client with embedded services (close the window to stop)");
        println!("    preview keys: right mouse + move = look, WASD = walk, Q/E = turn, C = calibrate height,");
        println!("    left mouse = trigger, G = grip, F = pinch, Enter = chat");
        return run_step("nexus-client", Command::new(&bin).current_dir(crate::root()).args(&args).args(extra));
    }
    let shot = target_dir().join("demo").join("cafe_terrace.png");
    let replay = crate::root().join("assets/tracking/cafe_walk.jsonl");
    args.extend(["--replay".into(), replay.display().to_string(), "--frames".into(), "288".into()]);
    args.extend(["--screenshot".into(), shot.display().to_string()]);
    let xvfb = Command::new("sh").args(["-c", "command -v xvfb-run"]).output().is_ok_and(|o| o.status.success());
    let mut cmd = if xvfb {
        println!(
            "==> no display: running the client under Xvfb (software Vulkan), replaying a walk through the terrace"
        );
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x1024x24"]).arg(&bin);
        c
    } else {
        println!("==> no display and no Xvfb: rendering offscreen (--headless)");
        args.push("--headless".into());
        Command::new(&bin)
    };
    run_step("nexus-client", cmd.current_dir(crate::root()).args(&args).args(extra))?;
    println!("==> screenshot of the last frame: {}", shot.display());
    Ok(())
}
