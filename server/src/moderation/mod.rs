//! Moderation (seed §3): one door, [`check`], that every path taking user content goes
//! through, for text and images.
//!
//! - [`category`] — the categories scored and the always-blocked ones;
//! - [`mode`] — STRICT / LIGHT / OPTIONAL from plan, choice, KYC and consent (§3.1 step 1);
//!   [`service`] serves and audits it;
//! - [`normalize`] — folding text against evasion for the lexicon, unmasking it for the
//!   model;
//! - [`prefilter`] (lexicons, Aho-Corasick), [`urls`] (prohibited hosts) and [`flood`]
//!   (per-user flood and repeats) — the pre-filter of §3.1 step 2;
//! - [`classifier`] — the trait and its three backends (local multilingual-e5 model with trained
//!   heads, OpenAI-compatible moderation, Llama Guard), with fallback;
//! - [`pdq`] and [`image`] — perceptual hashing and the known-image list;
//! - [`policy`] — per-mode thresholds and the §3.2 decision matrix;
//! - [`pipeline`] — pre-filter → classifier → thresholds, without side effects (used by
//!   the door, the CLI and the evaluation bench);
//! - [`check`] — the door: flood control, mode, pipeline, then [`incident`] (hash only)
//!   and the severity action; [`review`] — the MODERATOR queue and appeals; [`wellbeing`]
//!   — the wellbeing-alert queue;
//! - [`cli`] — `nexus-server moderate` and `train-classifier`; [`http`] — the routes.

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
pub mod wellbeing;
