//! # nexus-client — the headset app and its desktop preview
//!
//! The one user-facing binary of Nexus (`nexus-client`). One run:
//! 1. loads the versioned settings file ([`settings`]; a broken file → one message and
//!    the defaults);
//! 2. starts services ([`services`]): nexus-server in-process on SQLite in the user data
//!    directory (the default, "embedded services"), or a remote server with
//!    `--server URL` (unreachable → one message and offline);
//! 3. builds the Bevy app ([`app`]): `bevy_mod_openxr`'s `add_xr_plugins` picks headset
//!    mode when an OpenXR runtime answers (pipelined rendering off for latency) and falls
//!    back to the desktop preview window otherwise; `--headless` renders offscreen with no
//!    window or display server at all, through the engine's capture
//!    ([`nexus_engine::plugin::capture`]);
//! 4. signs in ([`ui::sign_in`]) and enters the first room, the café terrace
//!    ([`room`], `assets/environments/cafe_terrace.toml`), where the companion stands
//!    ([`companion`] — the avatar crate's generated humanoid, animated by its plugin);
//! 5. drives one tracked rig ([`rig`]) from OpenXR ([`input::xr`]), mouse and keyboard
//!    ([`input::preview`]) or a recorded tracking file ([`input::replay`],
//!    [`tracking_file`]); comfort ([`comfort`]) moves and turns the user;
//! 6. talks with the companion ([`conversation`], [`microphone`], [`ui::chat`]) and meets
//!    other people in the room ([`presence`]: their avatars and voices over nexus-net);
//! 7. on exit, stores the seed's `vr_sessions` row on the server ([`session`]).
//!
//! Not here yet: physics and haptics — see the README.

pub mod app;
pub mod comfort;
pub mod companion;
pub mod conversation;
pub mod input;
pub mod microphone;
pub mod presence;
pub mod rig;
pub mod room;
pub mod services;
pub mod session;
pub mod settings;
pub mod showcase;
pub mod tracking_file;
pub mod ui;
