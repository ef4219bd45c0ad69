//! Moderation (seed §3): one door, `check(user, content)`, that every path taking user
//! content will go through.
//!
//! Built so far (issue 3 in progress):
//! - [`category`] — the categories scored and the always-blocked ones;
//! - [`mode`] — STRICT / LIGHT / OPTIONAL from plan, choice, KYC and consent (§3.1 step 1);
//! - [`normalize`] — folding text against evasion (case, accents, leetspeak, zero-width
//!   and look-alike characters, repeated letters, spaced-out letters);
//! - [`prefilter`] — the lexicon pass (§3.1 step 2) with Aho-Corasick over folded text;
//! - [`flood`] — per-user flood and repeated-message detection;
//! - [`policy`] — the per-mode thresholds and the §3.2 decision matrix;
//! - [`service`] / [`http`] — the caller's resolved mode (`/api/v1/moderation/mode`),
//!   choosing one, audited as MODE_ACTIVATION.
//!
//! - [`incident`] — the incident (content hash only) and the severity action (warning,
//!   strike, suspension, ban + authority-report queue);
//! - [`check`] — the door itself for text, `POST /api/v1/moderation/check`;
//! - [`review`] — the MODERATOR queue (claim, decide, lift on false positive) and appeals.
//!
//! Not built yet: the trained local classifier and the remote backends (today only the
//! pre-filter scores), image hashing, URL checks, the operator CLI.

pub mod category;
pub mod check;
pub mod classifier;
pub mod cli;
pub mod flood;
pub mod http;
pub mod image;
pub mod incident;
pub mod mode;
pub mod normalize;
pub mod pdq;
pub mod pipeline;
pub mod policy;
pub mod prefilter;
pub mod review;
pub mod service;
pub mod urls;
