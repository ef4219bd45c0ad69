//! The client's settings: one versioned TOML file (`settings.toml` in the user config
//! directory, or `--settings PATH`). Every field has a default, so a partial file is
//! valid; older versions are upgraded on load ([`migrate`]) and written back in the
//! current layout; a file that does not parse or holds impossible values gives one clear
//! message and the defaults are used for this run — the broken file is left as it is for
//! the user to fix.
//!
//! Version history:
//! - **1** — the flat layout of the first preview builds: `quality_preset`, `snap_turn`
//!   (bool), `vignette` (bool), `seated` (bool), `height_cm`, `volume` (0–100), `server`.
//! - **2** — sections `[graphics]`, `[comfort]`, `[audio]`, `[network]`; heights in metres,
//!   volumes in 0–1, turn style as a name.

use std::path::{Path, PathBuf};

use nexus_net::vr_session::QualityPreset;
use serde::{Deserialize, Serialize};

/// The layout written today.
pub const CURRENT_VERSION: u32 = 2;

/// All client settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Layout version of the file ([`CURRENT_VERSION`] once loaded).
    pub version: u32,
    /// Rendering.
    pub graphics: Graphics,
    /// Comfort options.
    pub comfort: Comfort,
    /// Volumes.
    pub audio: Audio,
    /// Which server to use.
    pub network: Network,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: CURRENT_VERSION,
            graphics: Graphics::default(),
            comfort: Comfort::default(),
            audio: Audio::default(),
            network: Network::default(),
        }
    }
}

/// Rendering settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Graphics {
    /// The seed's preset: PERFORMANCE, BALANCED or ULTRA.
    pub quality: QualityPreset,
    /// Preview window size in pixels.
    pub window_width: u32,
    /// Preview window height in pixels.
    pub window_height: u32,
}

impl Default for Graphics {
    fn default() -> Self {
        Self { quality: QualityPreset::Balanced, window_width: 1280, window_height: 720 }
    }
}

/// How turning with the stick (or Q/E in the preview) works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStyle {
    /// Discrete steps of [`Comfort::snap_angle_deg`] — the comfortable default.
    #[default]
    Snap,
    /// Continuous at [`Comfort::smooth_turn_deg_per_s`].
    Smooth,
}

/// Whether the user stands or sits; seated raises the virtual eye height to standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Posture {
    /// Standing: tracked height is used as is.
    #[default]
    Standing,
    /// Seated: the view is lifted to the calibrated standing eye height.
    Seated,
}

/// Comfort options (motion-sickness mitigation and body calibration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Comfort {
    /// Snap or smooth turning.
    pub turn: TurnStyle,
    /// Degrees per snap step (10–90).
    pub snap_angle_deg: f32,
    /// Smooth-turn speed in degrees per second (10–360).
    pub smooth_turn_deg_per_s: f32,
    /// Darken the edges of the view while moving artificially.
    pub vignette: bool,
    /// Vignette strength (0–1).
    pub vignette_strength: f32,
    /// Standing or seated.
    pub posture: Posture,
    /// The user's standing height in metres (1.0–2.5), used for height calibration.
    pub user_height_m: f32,
}

impl Default for Comfort {
    fn default() -> Self {
        Self {
            turn: TurnStyle::Snap,
            snap_angle_deg: 30.0,
            smooth_turn_deg_per_s: 90.0,
            vignette: true,
            vignette_strength: 0.6,
            posture: Posture::Standing,
            user_height_m: 1.70,
        }
    }
}

/// Volumes, each 0–1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audio {
    /// Everything.
    pub master: f32,
    /// The companion's voice.
    pub voice: f32,
    /// Room ambience.
    pub ambience: f32,
}

impl Default for Audio {
    fn default() -> Self {
        Self { master: 0.8, voice: 1.0, ambience: 0.5 }
    }
}

/// Server connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// `embedded` (run nexus-server in-process) or the base URL of a remote server.
    pub server: String,
    /// Per-request timeout in milliseconds (100–60000).
    pub request_timeout_ms: u64,
}

impl Default for Network {
    fn default() -> Self {
        Self { server: "embedded".into(), request_timeout_ms: 5_000 }
    }
}

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not valid TOML or has fields of the wrong type.
    #[error("{path} is not a valid settings file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// It was written by a newer client.
    #[error("{path} has settings version {found}, newer than this client's {CURRENT_VERSION}")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// A value is out of range.
    #[error("{path}: {field} {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted field name, e.g. `comfort.snap_angle_deg`.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// It could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What [`load`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The file was current and valid.
    Loaded,
    /// There was no file; defaults were written to it.
    Created,
    /// An older layout was upgraded and written back.
    Migrated {
        /// The version the file had.
        from: u32,
    },
}

impl Settings {
    /// Checks every range; the error names the first bad field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        fn range(field: &'static str, v: f32, lo: f32, hi: f32) -> Result<(), (&'static str, String)> {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("is {v}, must be within {lo}–{hi}")))
            }
        }
        let g = &self.graphics;
        if !(320..=7680).contains(&g.window_width) || !(240..=4320).contains(&g.window_height) {
            return Err((
                "graphics.window_width/height",
                format!("{}×{} is not a usable window size", g.window_width, g.window_height),
            ));
        }
        let c = &self.comfort;
        range("comfort.snap_angle_deg", c.snap_angle_deg, 10.0, 90.0)?;
        range("comfort.smooth_turn_deg_per_s", c.smooth_turn_deg_per_s, 10.0, 360.0)?;
        range("comfort.vignette_strength", c.vignette_strength, 0.0, 1.0)?;
        range("comfort.user_height_m", c.user_height_m, 1.0, 2.5)?;
        range("audio.master", self.audio.master, 0.0, 1.0)?;
        range("audio.voice", self.audio.voice, 0.0, 1.0)?;
        range("audio.ambience", self.audio.ambience, 0.0, 1.0)?;
        let n = &self.network;
        if !(100..=60_000).contains(&n.request_timeout_ms) {
            return Err((
                "network.request_timeout_ms",
                format!("is {}, must be within 100–60000", n.request_timeout_ms),
            ));
        }
        if n.server != "embedded" && !(n.server.starts_with("http://") || n.server.starts_with("https://")) {
            return Err(("network.server", format!("{:?} must be \"embedded\" or an http(s) URL", n.server)));
        }
        Ok(())
    }

    /// Parses settings text of any known version, upgrading it to the current layout.
    /// Returns the settings and the version the text had.
    pub fn parse(text: &str, path: &Path) -> Result<(Self, u32), SettingsError> {
        let parse_err =
            |e: toml::de::Error| SettingsError::Parse { path: path.to_owned(), message: one_line(text, &e) };
        let raw: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let found = match raw.get("version") {
            None => CURRENT_VERSION,
            Some(toml::Value::Integer(v)) => u32::try_from(*v).map_err(|_| SettingsError::Invalid {
                path: path.to_owned(),
                field: "version",
                why: format!("{v} is not a version"),
            })?,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    path: path.to_owned(),
                    field: "version",
                    why: format!("must be an integer, not {}", other.type_str()),
                });
            }
        };
        if found > CURRENT_VERSION {
            return Err(SettingsError::TooNew { path: path.to_owned(), found });
        }
        let current = migrate(raw, found).map_err(|why| SettingsError::Invalid {
            path: path.to_owned(),
            field: "version",
            why,
        })?;
        let settings: Self = current.try_into().map_err(parse_err)?;
        settings.validate().map_err(|(field, why)| SettingsError::Invalid { path: path.to_owned(), field, why })?;
        Ok((settings, found))
    }

    /// The file as TOML, current layout.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!("# Nexus client settings — see client/src/settings.rs for every field.\n{body}")
    }
}

/// A parser error as one line: where (line and column, when known) and what.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// Upgrades a parsed file from `from` to [`CURRENT_VERSION`], one version at a time.
pub fn migrate(mut table: toml::Table, from: u32) -> Result<toml::Table, String> {
    let mut version = from;
    while version < CURRENT_VERSION {
        table = match version {
            0 => return Err("0 is not a settings version".into()),
            1 => v1_to_v2(table)?,
            _ => unreachable!("invariant: every version below CURRENT_VERSION has a step"),
        };
        version += 1;
    }
    table.insert("version".into(), toml::Value::Integer(i64::from(CURRENT_VERSION)));
    Ok(table)
}

/// v1 (flat) → v2 (sections, metres, 0–1 volumes, turn style by name).
fn v1_to_v2(mut v1: toml::Table) -> Result<toml::Table, String> {
    use toml::Value;
    let mut take = |k: &str| v1.remove(k);
    let mut graphics = toml::Table::new();
    let mut comfort = toml::Table::new();
    let mut audio = toml::Table::new();
    let mut network = toml::Table::new();
    if let Some(q) = take("quality_preset") {
        graphics.insert("quality".into(), q);
    }
    if let Some(Value::Boolean(snap)) = take("snap_turn") {
        comfort.insert("turn".into(), Value::String(if snap { "snap" } else { "smooth" }.into()));
    }
    if let Some(v) = take("vignette") {
        comfort.insert("vignette".into(), v);
    }
    if let Some(Value::Boolean(seated)) = take("seated") {
        comfort.insert("posture".into(), Value::String(if seated { "seated" } else { "standing" }.into()));
    }
    if let Some(h) = take("height_cm") {
        let cm = h.as_float().or_else(|| h.as_integer().map(|i| i as f64)).ok_or("height_cm must be a number")?;
        comfort.insert("user_height_m".into(), Value::Float(cm / 100.0));
    }
    if let Some(v) = take("volume") {
        let pct = v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).ok_or("volume must be a number")?;
        audio.insert("master".into(), Value::Float(pct / 100.0));
    }
    if let Some(s) = take("server") {
        network.insert("server".into(), s);
    }
    take("version");
    if let Some(k) = v1.keys().next() {
        return Err(format!("version 1 has no field {k:?}"));
    }
    let mut v2 = toml::Table::new();
    for (name, section) in [("graphics", graphics), ("comfort", comfort), ("audio", audio), ("network", network)] {
        if !section.is_empty() {
            v2.insert(name.into(), Value::Table(section));
        }
    }
    Ok(v2)
}

/// Loads `path`: creates it with defaults when missing, upgrades and rewrites older
/// layouts. On error the caller shows the message and runs with [`Settings::default`].
pub fn load(path: &Path) -> Result<(Settings, LoadOutcome), SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = Settings::default();
            save(&s, path)?;
            return Ok((s, LoadOutcome::Created));
        }
        Err(source) => return Err(SettingsError::Read { path: path.to_owned(), source }),
    };
    let (settings, found) = Settings::parse(&text, path)?;
    if found < CURRENT_VERSION {
        save(&settings, path)?;
        return Ok((settings, LoadOutcome::Migrated { from: found }));
    }
    Ok((settings, LoadOutcome::Loaded))
}

/// Writes `settings` to `path` (creating its directory).
pub fn save(settings: &Settings, path: &Path) -> Result<(), SettingsError> {
    let write_err = |source| SettingsError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    std::fs::write(path, settings.to_toml()).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("settings.toml")
    }

    #[test]
    fn defaults_round_trip_and_validate() {
        let s = Settings::default();
        assert!(s.validate().is_ok());
        let (back, v) = Settings::parse(&s.to_toml(), &p()).expect("parse own output");
        assert_eq!((back, v), (s, CURRENT_VERSION));
    }

    #[test]
    fn partial_file_takes_defaults_for_the_rest() {
        let (s, _) = Settings::parse("version = 2\n[comfort]\nturn = \"smooth\"\n", &p()).expect("parse");
        assert_eq!(s.comfort.turn, TurnStyle::Smooth);
        assert_eq!(s.comfort.snap_angle_deg, Comfort::default().snap_angle_deg);
        assert_eq!(s.graphics, Graphics::default());
    }

    #[test]
    fn version_1_is_upgraded_field_by_field() {
        let v1 = "version = 1\nquality_preset = \"ULTRA\"\nsnap_turn = false\nvignette = false\nseated = true\n\
                  height_cm = 182\nvolume = 40\nserver = \"https://nexus.example\"\n";
        let (s, from) = Settings::parse(v1, &p()).expect("migrate");
        assert_eq!(from, 1);
        assert_eq!(s.graphics.quality, QualityPreset::Ultra);
        assert_eq!(
            (s.comfort.turn, s.comfort.vignette, s.comfort.posture),
            (TurnStyle::Smooth, false, Posture::Seated)
        );
        assert!((s.comfort.user_height_m - 1.82).abs() < 1e-6);
        assert!((s.audio.master - 0.4).abs() < 1e-6);
        assert_eq!(s.network.server, "https://nexus.example");
        assert_eq!(s.version, CURRENT_VERSION);
    }

    #[test]
    fn broken_files_give_one_clear_message() {
        let cases = [
            ("[comfort\nturn = 1", "not a valid settings file", "line"),
            ("version = 2\n[comfort]\nsnap_angle_deg = 400.0", "comfort.snap_angle_deg", "10–90"),
            ("version = 2\n[comfort]\nturn = \"teleport\"", "not a valid settings file", "teleport"),
            ("version = 2\n[graphics]\nfov = 90", "not a valid settings file", "fov"),
            ("version = 9", "newer than this client", "9"),
            ("version = \"two\"", "version", "integer"),
            ("version = 1\nturbo = true", "version", "turbo"),
            ("[network]\nserver = \"ftp://x\"", "network.server", "http"),
        ];
        for (text, what, detail) in cases {
            let msg = Settings::parse(text, &p()).expect_err(text).to_string();
            assert!(msg.contains(what) && msg.contains(detail), "{text:?} → {msg}");
            assert!(msg.starts_with("settings.toml"), "names the file: {msg}");
        }
    }

    #[test]
    fn load_creates_migrates_and_leaves_broken_files_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/settings.toml");
        assert_eq!(load(&path).expect("create").1, LoadOutcome::Created);
        assert_eq!(load(&path).expect("reload").1, LoadOutcome::Loaded);
        std::fs::write(&path, "version = 1\nheight_cm = 160\n").expect("write v1");
        assert_eq!(load(&path).expect("migrate").1, LoadOutcome::Migrated { from: 1 });
        let rewritten = std::fs::read_to_string(&path).expect("read");
        assert!(rewritten.contains("version = 2") && rewritten.contains("user_height_m = 1.6"), "{rewritten}");
        std::fs::write(&path, "this is = = not toml").expect("write junk");
        assert!(load(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "this is = = not toml", "broken file kept");
    }
}
