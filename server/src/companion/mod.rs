//! The companion AI (seed §1.1 "Companion AI Controller", §5.2, §6.1): who the companion
//! is, what it feels, how it behaves, what it remembers and how it talks.
//!
//! - [`profile`], [`store`], [`service`], [`http`] — the companion's profile (appearance,
//!   personality, voice, backstory, genetic profile, emotional state), `evolve()` with
//!   `freeze_traits`, sharing, and the API at `/api/v1/companions`;
//! - [`conversation`] — one turn of the seed's call loop: moderation of the message →
//!   memory → the brain → moderation of the reply → emotion → the sealed log;
//! - [`memory`] — long-term facts per user–companion pair, recalled by MiniLM similarity,
//!   which the user can view, edit and delete;
//! - [`persona`] — the prompt built from the profile, and the emotion tags of replies;
//! - [`listen`] — speech-to-text: whisper.cpp on Whisper tiny.en (English) and base
//!   (French, and language detection), WAV in;
//! - [`voice`] — the reply spoken by espeak-ng, rate and pitch moved by emotion, with
//!   the viseme track of the same synthesis, or by the Piper neural voice ([`piper`]);
//! - [`sentiment`] — valence and arousal of the user's words (a VADER-style lexicon);
//! - [`emotion`] — the emotion state machine: twelve levels driven by the conversation's
//!   sentiment and by room events (proximity, gaze, gestures, touch), decaying to rest,
//!   giving the avatar's expression and the voice's rate and pitch;
//! - [`behaviour`] — the behaviour tree: approach and keep a comfortable distance, face
//!   and look at the user, converse, answer gestures, follow; proximity and gaze
//!   detection from the user's head pose, which also feed the emotions;
//! - [`vetting`] — a streamed reply is moderated sentence by sentence before it leaves;
//! - [`llm`] — the language models: the embedded SmolLM2 and any OpenAI-compatible
//!   endpoint, streamed, with the local model answering when the endpoint fails.

pub mod behaviour;
pub mod conversation;
pub mod emotion;
pub mod http;
pub mod listen;
pub mod llm;
pub mod memory;
pub mod persona;
#[cfg(feature = "piper")]
pub mod piper;
pub mod profile;
pub mod sentiment;
pub mod service;
pub mod store;
pub mod summary;
pub mod vetting;
pub mod voice;
