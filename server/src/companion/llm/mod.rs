//! The companion's language models behind one trait, [`ChatModel`]: a prompt of chat
//! turns in, the reply streamed out piece by piece.
//!
//! - [`local`] — the embedded default: SmolLM2-135M-Instruct (4-bit GGUF, PLATFORM.md)
//!   run in-process by candle on the CPU. Small, so its replies are simple, but they are
//!   generated, never canned.
//! - [`openai`] — any OpenAI-compatible `/v1/chat/completions` endpoint (base URL, model
//!   and key in configuration), streamed over server-sent events.
//!
//! [`Brain`] puts them together: the configured endpoint first, the local model when the
//! endpoint fails or is too slow to start answering, with the reason kept so the
//! companion can say what happened.

#[cfg(feature = "local-llm")]
pub mod local;
pub mod openai;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

/// A future boxed for use in a trait object.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions: the persona, memories, the moment.
    System,
    /// The user.
    User,
    /// The companion.
    Assistant,
}

impl Role {
    /// The role's name in chat templates and APIs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One turn of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTurn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl ChatTurn {
    /// A turn by `role`.
    #[must_use]
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

/// How to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens in the reply.
    pub max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Seed of the sampler (local model), for reproducible runs.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { max_tokens: 96, temperature: 0.7, seed: 0x6e65_7875 }
    }
}

/// Why a model gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The model is not there (weights missing, endpoint not configured or unreachable).
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// It did not start answering in time.
    #[error("model too slow: {0}")]
    Timeout(String),
    /// It answered with something unusable.
    #[error("model failed: {0}")]
    Failed(String),
}

/// A chat model: streams its reply to `pieces` as it is generated, and returns it whole.
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// The model's name, as recorded with each reply.
    fn name(&self) -> String;

    /// Generates the assistant's next turn after `prompt`.
    fn generate<'a>(
        &'a self,
        prompt: &'a [ChatTurn],
        options: GenerateOptions,
        pieces: &'a UnboundedSender<String>,
    ) -> BoxFuture<'a, Result<String, LlmError>>;
}

/// A reply and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The reply as the model wrote it.
    pub text: String,
    /// The model that wrote it.
    pub model: String,
    /// Set when the configured endpoint failed and the local model answered instead: why.
    pub fell_back: Option<LlmError>,
}

/// The configured endpoint, with the local model behind it.
#[derive(Debug, Clone, Default)]
pub struct Brain {
    primary: Option<Arc<dyn ChatModel>>,
    local: Option<Arc<dyn ChatModel>>,
}

impl Brain {
    /// `primary` is tried first; `local` answers when it fails (or when there is none).
    #[must_use]
    pub fn new(primary: Option<Arc<dyn ChatModel>>, local: Option<Arc<dyn ChatModel>>) -> Self {
        Self { primary, local }
    }

    /// Whether any model can answer.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.primary.is_some() || self.local.is_some()
    }

    /// Generates a reply, falling back to the local model when the endpoint fails.
    ///
    /// Pieces already streamed by a failing endpoint are followed by a `\u{0}` piece,
    /// which tells listeners to discard what they were shown; the local reply follows.
    pub async fn generate(
        &self,
        prompt: &[ChatTurn],
        options: GenerateOptions,
        pieces: &UnboundedSender<String>,
    ) -> Result<Generated, LlmError> {
        let mut fell_back = None;
        if let Some(primary) = &self.primary {
            match primary.generate(prompt, options, pieces).await {
                Ok(text) => return Ok(Generated { text, model: primary.name(), fell_back: None }),
                Err(e) => {
                    tracing::warn!(model = %primary.name(), error = %e, "chat endpoint failed; local model answers");
                    let _ = pieces.send(RESTART.to_owned());
                    fell_back = Some(e);
                }
            }
        }
        let Some(local) = &self.local else {
            return Err(fell_back.unwrap_or_else(|| LlmError::Unavailable("no chat model is configured".into())));
        };
        let text = local.generate(prompt, options, pieces).await?;
        Ok(Generated { text, model: local.name(), fell_back })
    }
}

/// The piece that tells a listener to discard what was streamed so far.
pub const RESTART: &str = "\u{0}";

/// The embedded chat model, loaded once per models directory and shared, or `None`
/// (logged) when its weights are missing.
#[cfg(feature = "local-llm")]
#[must_use]
pub fn local_model(models_dir: &std::path::Path) -> Option<Arc<dyn ChatModel>> {
    match crate::models::load_once(models_dir.display().to_string(), || local::LocalLlm::load(models_dir)) {
        Ok(model) => Some(Arc::new(model)),
        Err(e) => {
            tracing::error!(error = %e, "local chat model not loaded; the companion needs a chat endpoint");
            None
        }
    }
}

/// Built without the `local-llm` feature: no local chat model.
#[cfg(not(feature = "local-llm"))]
#[must_use]
pub fn local_model(_models_dir: &std::path::Path) -> Option<Arc<dyn ChatModel>> {
    tracing::error!("built without the local-llm feature; the companion needs a chat endpoint");
    None
}
