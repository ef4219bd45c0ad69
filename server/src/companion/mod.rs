//! The companion AI (seed §1.1 "Companion AI Controller", §5.2): what the companion feels
//! and, in later steps, how it behaves, remembers and talks.
//!
//! - [`emotion`] — the emotion state machine: twelve levels driven by the conversation's
//!   sentiment and by room events (proximity, gaze, gestures, touch), decaying to rest,
//!   giving the avatar's expression and the voice's rate and pitch;
//! - [`behaviour`] — the behaviour tree: approach and keep a comfortable distance, face
//!   and look at the user, converse, answer gestures, follow; proximity and gaze
//!   detection from the user's head pose, which also feed the emotions;
//! - [`llm`] — the language models: the embedded SmolLM2 and any OpenAI-compatible
//!   endpoint, streamed, with the local model answering when the endpoint fails.

pub mod behaviour;
pub mod emotion;
pub mod llm;
