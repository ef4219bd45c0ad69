//! `nexus-client`: parses the command line, loads settings, starts services and runs the
//! app. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nexus_client::app::{self, Options, Presentation, RunFailure};
use nexus_client::room::description::RoomDescription;
use nexus_client::services::{ServerChoice, Services};
use nexus_client::settings::{self, LoadOutcome, Settings};

/// The Nexus headset app, with a desktop preview when no headset is there.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Use this server instead of the embedded one (e.g. https://nexus.example).
    #[arg(long, env = "NEXUS_SERVER")]
    server: Option<String>,
    /// Data directory (embedded server database, remembered sign-ins).
    #[arg(long, env = "NEXUS_CLIENT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Settings file [default: settings.toml in the user config directory].
    #[arg(long, env = "NEXUS_CLIENT_SETTINGS")]
    settings: Option<PathBuf>,
    /// Render offscreen with no window or display server.
    #[arg(long)]
    headless: bool,
    /// Offscreen size for --headless, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    size: (u32, u32),
    /// Stop after this many frames in the room.
    #[arg(long)]
    frames: Option<u32>,
    /// Write a PNG of the last frame here (with --frames).
    #[arg(long, requires = "frames")]
    screenshot: Option<PathBuf>,
    /// Skip the OpenXR attempt and open the desktop preview directly.
    #[arg(long)]
    no_xr: bool,
    /// Replay a recorded tracking file instead of live input.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Record tracking to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Leave the companion out of the room (for comparison renders).
    #[arg(long)]
    no_companion: bool,
    /// Sign in to the embedded server's demo profile, creating it if needed.
    #[arg(long)]
    demo_profile: bool,
    /// The room file.
    #[arg(long, default_value = "assets/environments/cafe_terrace.toml")]
    room: PathBuf,
    /// Write per-frame CPU timings (JSON) here at exit (used by `cargo xtask bench client`).
    #[arg(long)]
    bench_report: Option<PathBuf>,
    /// Say this WAV clip to the companion when the room opens (as if spoken into the
    /// microphone; hold V to speak live).
    #[arg(long, value_name = "FILE.wav")]
    say: Option<PathBuf>,
    /// Join this room (its id, as the one who opened it sees in the chat) instead of
    /// opening one of your own.
    #[arg(long, value_name = "ROOM_ID")]
    join: Option<String>,
    /// Render the companion's avatar in poses and expressions, offscreen, into this folder
    /// (one PNG per shot), and exit.
    #[arg(long, value_name = "DIR")]
    avatar_showcase: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT, e.g. 1280x720")?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| "bad width")?, h.parse().map_err(|_| "bad height")?);
    if (16..=8192).contains(&w) && (16..=8192).contains(&h) {
        Ok((w, h))
    } else {
        Err("size must be 16–8192 per side".into())
    }
}

#[allow(clippy::print_stdout)] // the showcase lists the files it wrote
fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for every outgoing connection (remote server, the embedded
    // server's own clients); an error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(dir) = cli.avatar_showcase {
        return match nexus_client::showcase::run(dir) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("error: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("nexus-client"));
    let settings_path = cli
        .settings
        .clone()
        .unwrap_or_else(|| dirs::config_dir().unwrap_or_else(|| data_dir.clone()).join("nexus").join("settings.toml"));
    // Logging starts with Bevy's LogPlugin; these early messages go to stderr directly.
    let settings = match settings::load(&settings_path) {
        Ok((s, LoadOutcome::Migrated { from })) => {
            eprintln!("settings: upgraded {} from version {from}", settings_path.display());
            s
        }
        Ok((s, _)) => s,
        Err(e) => {
            eprintln!("settings: {e} — using the defaults for this run (the file was left as it is)");
            Settings::default()
        }
    };
    let room_path = resolve_asset(&cli.room);
    let room = match std::fs::read_to_string(&room_path)
        .map_err(|e| e.to_string())
        .and_then(|t| RoomDescription::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot load the room {}: {e}", room_path.display());
            return ExitCode::FAILURE;
        }
    };
    let replay = match &cli.replay {
        Some(p) => match nexus_client::tracking_file::Recording::read(p) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let server =
        cli.server.clone().or_else(|| (settings.network.server != "embedded").then(|| settings.network.server.clone()));
    let choice = match server {
        Some(url) => ServerChoice::Remote(url),
        None => ServerChoice::Embedded { data_dir: data_dir.clone() },
    };
    let timeout = Duration::from_millis(settings.network.request_timeout_ms);
    // An unreachable server is reported once, by the app, which then runs offline.
    let services = Services::start(choice, &data_dir, timeout).map_err(|e| e.to_string());
    let presentation = if cli.headless {
        Presentation::Headless { width: cli.size.0, height: cli.size.1 }
    } else {
        Presentation::Window { xr: !cli.no_xr }
    };
    let (mut app, _source) = app::build(Options {
        presentation,
        settings,
        services,
        room,
        no_companion: cli.no_companion,
        demo_profile: cli.demo_profile,
        replay,
        record: cli.record,
        frames: cli.frames,
        screenshot: cli.screenshot,
        room_timeout: Duration::from_secs(120),
        bench_report: cli.bench_report,
        say: cli.say,
        join: cli.join,
    });
    let failure = app.world().get_resource::<RunFailure>().cloned().unwrap_or_default();
    // `run` hands the app to the runner; the embedded server stops when it drops the world
    // (`Services` shuts down on drop: drains, closes SQLite).
    let exit = app.run();
    if let Some(why) = failure.get() {
        eprintln!("error: {why}");
        return ExitCode::FAILURE;
    }
    if exit.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Asset paths are relative to the working directory, or to the workspace when run with
/// `cargo run`.
fn resolve_asset(path: &std::path::Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_owned();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    if workspace.exists() { workspace } else { path.to_owned() }
}
