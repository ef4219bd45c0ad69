//! The classifier (seed §3.1 step 3): scores in [0, 1] for the ten [`SCORED`] categories,
//! behind one trait, [`Classifier`], with three backends:
//!
//! - [`local`] — built in, in-process on CPU: multilingual-e5-small sentence embeddings (candle), with a
//!   low-rank adapter fine-tuned for moderation ([`finetune`]), and one logistic head per
//!   category ([`heads`]), both trained by `cargo xtask train-moderation` on the project's
//!   labelled English + French dataset ([`dataset`]);
//! - [`remote::OpenAiModeration`] — an OpenAI-compatible `/v1/moderations` endpoint
//!   (omni-moderation response format; text and images);
//! - [`remote::LlamaGuard`] — a Llama-Guard-style chat endpoint answering `safe` or
//!   `unsafe` + category codes.
//!
//! [`ClassifierChain`] is what the pipeline calls: the configured backend first; if it
//! fails, the local model. Categories a remote backend does not score (Llama Guard has no
//! harassment, omni-moderation no terrorism) are filled in from the local model, so the
//! always-blocked ones are never left unscored. If no backend answers at all, the chain
//! says so and the pipeline fails closed (blocks).

pub mod dataset;
#[cfg(feature = "local-classifier")]
pub mod finetune;
pub mod heads;
#[cfg(feature = "local-classifier")]
pub mod local;
pub mod remote;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::category::Category;

/// The default models cache: `$NEXUS_MODELS_DIR`, else `~/.cache/nexus/models` (where
/// `cargo xtask fetch-models` puts them).
#[must_use]
pub fn default_models_dir() -> std::path::PathBuf {
    std::env::var_os("NEXUS_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("nexus/models"))
}

/// The categories a classifier scores (OpenAI omni-moderation names).
pub const SCORED: [Category; 10] = [
    Category::Sexual,
    Category::SexualMinors,
    Category::Hate,
    Category::HateThreatening,
    Category::Harassment,
    Category::Violence,
    Category::ViolenceGraphic,
    Category::SelfHarm,
    Category::IllicitDrugs,
    Category::Terrorism,
];

/// Scores per category, each in [0, 1].
pub type Scores = BTreeMap<Category, f32>;

/// Why a backend gave no scores.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// The backend is not set up (e.g. model files missing).
    #[error("classifier unavailable: {0}")]
    Unavailable(String),
    /// A remote backend failed (network, status, timeout, unreadable answer).
    #[error("remote classifier failed: {0}")]
    Remote(String),
    /// The local model failed while running.
    #[error("local model failed: {0}")]
    Model(String),
}

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An image to classify.
#[derive(Debug, Clone, Copy)]
pub struct ImageInput<'a> {
    /// Encoded bytes (PNG, JPEG, WebP…).
    pub bytes: &'a [u8],
    /// Its media type, e.g. `image/png`.
    pub mime: &'a str,
}

/// One classifier backend.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// Short name shown in `engines` (`local`, `openai-moderation`, `llama-guard`).
    fn name(&self) -> &'static str;

    /// The categories this backend really scores.
    fn covers(&self) -> &'static [Category];

    /// Scores `text`.
    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Scores, ClassifierError>>;

    /// Scores an image; backends without image support say [`ClassifierError::Unavailable`].
    fn classify_image<'a>(&'a self, _image: ImageInput<'a>) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
        Box::pin(async { Err(ClassifierError::Unavailable("this backend does not classify images".into())) })
    }
}

/// What the chain produced.
#[derive(Debug, Clone)]
pub struct Classified {
    /// Scores for every category some backend scored.
    pub scores: Scores,
    /// Backends whose scores were used, in order.
    pub engines: Vec<&'static str>,
    /// The configured remote backend failed and the local model stood in.
    pub fell_back: bool,
}

/// The configured backend with the local model behind it.
#[derive(Debug, Clone)]
pub struct ClassifierChain {
    primary: Option<Arc<dyn Classifier>>,
    local: Option<Arc<dyn Classifier>>,
}

impl ClassifierChain {
    /// `primary` is a remote backend (or `None` for local only); `local` is the built-in
    /// model when it could be loaded.
    #[must_use]
    pub fn new(primary: Option<Arc<dyn Classifier>>, local: Option<Arc<dyn Classifier>>) -> Self {
        Self { primary, local }
    }

    /// No backend at all: every check fails closed.
    #[must_use]
    pub fn none() -> Self {
        Self { primary: None, local: None }
    }

    /// Whether any backend is configured.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.primary.is_some() || self.local.is_some()
    }

    /// Whether a remote backend is configured.
    #[must_use]
    pub fn has_remote(&self) -> bool {
        self.primary.is_some()
    }

    /// Scores `text`: primary first, local for what it lacks or when it fails.
    pub async fn classify(&self, text: &str) -> Result<Classified, ClassifierError> {
        self.run(|backend| backend.classify(text)).await
    }

    /// Scores an image. The local model reads text only, so images need a remote backend;
    /// without one this is [`ClassifierError::Unavailable`] and the pipeline relies on the
    /// perceptual-hash list.
    pub async fn classify_image(&self, image: ImageInput<'_>) -> Result<Classified, ClassifierError> {
        let Some(primary) = &self.primary else {
            return Err(ClassifierError::Unavailable("no remote image classifier configured".into()));
        };
        let scores = primary.classify_image(image).await?;
        Ok(Classified { scores, engines: vec![primary.name()], fell_back: false })
    }

    async fn run<'a, F>(&'a self, call: F) -> Result<Classified, ClassifierError>
    where
        F: Fn(&'a dyn Classifier) -> BoxFuture<'a, Result<Scores, ClassifierError>>,
    {
        let mut engines = Vec::new();
        let mut scores = Scores::new();
        let mut fell_back = false;
        let mut first_error = None;
        if let Some(primary) = &self.primary {
            match call(primary.as_ref()).await {
                Ok(s) => {
                    scores = s;
                    engines.push(primary.name());
                }
                Err(e) => {
                    tracing::warn!(backend = primary.name(), error = %e, "classifier failed; using the local model");
                    fell_back = true;
                    first_error = Some(e);
                }
            }
        }
        let missing = SCORED.iter().any(|c| !scores.contains_key(c));
        if missing && let Some(local) = &self.local {
            match call(local.as_ref()).await {
                Ok(local_scores) => {
                    for (category, score) in local_scores {
                        scores.entry(category).or_insert(score);
                    }
                    engines.push(local.name());
                }
                Err(e) if engines.is_empty() => return Err(first_error.unwrap_or(e)),
                Err(e) => tracing::warn!(error = %e, "local model failed; remote scores only"),
            }
        }
        if engines.is_empty() {
            return Err(first_error.unwrap_or_else(|| ClassifierError::Unavailable("no classifier backend".into())));
        }
        Ok(Classified { scores, engines, fell_back })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend with fixed behaviour, to test the chain's wiring (not moderation quality).
    #[derive(Debug)]
    struct Fixed {
        name: &'static str,
        covers: &'static [Category],
        fail: bool,
        score: f32,
    }

    impl Classifier for Fixed {
        fn name(&self) -> &'static str {
            self.name
        }
        fn covers(&self) -> &'static [Category] {
            self.covers
        }
        fn classify<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
            Box::pin(async move {
                if self.fail {
                    return Err(ClassifierError::Remote("down".into()));
                }
                Ok(self.covers.iter().map(|&c| (c, self.score)).collect())
            })
        }
    }

    fn fixed(name: &'static str, covers: &'static [Category], fail: bool, score: f32) -> Arc<dyn Classifier> {
        Arc::new(Fixed { name, covers, fail, score })
    }

    #[tokio::test]
    async fn remote_gaps_are_filled_by_the_local_model() {
        let chain = ClassifierChain::new(
            Some(fixed("remote", &[Category::Sexual, Category::Hate], false, 0.9)),
            Some(fixed("local", &SCORED, false, 0.1)),
        );
        let out = chain.classify("x").await.expect("classified");
        assert_eq!(out.engines, ["remote", "local"]);
        assert_eq!(out.scores[&Category::Sexual], 0.9);
        assert_eq!(out.scores[&Category::Terrorism], 0.1);
        assert!(!out.fell_back);
    }

    #[tokio::test]
    async fn a_failing_remote_falls_back_and_nothing_fails_closed() {
        let chain =
            ClassifierChain::new(Some(fixed("remote", &SCORED, true, 0.0)), Some(fixed("local", &SCORED, false, 0.2)));
        let out = chain.classify("x").await.expect("classified");
        assert_eq!(out.engines, ["local"]);
        assert!(out.fell_back);
        let none = ClassifierChain::new(Some(fixed("remote", &SCORED, true, 0.0)), None);
        assert!(matches!(none.classify("x").await, Err(ClassifierError::Remote(_))));
        assert!(matches!(ClassifierChain::none().classify("x").await, Err(ClassifierError::Unavailable(_))));
    }
}
