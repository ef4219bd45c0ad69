//! The decision pipeline without side effects: pre-filter (lexicon + URLs) → classifier
//! chain → thresholds of the mode → [`Decision`]. The door ([`super::check`]) adds the
//! account's mode, flood control, the incident and the action; the operator CLI
//! (`nexus-server moderate`) and the evaluation bench call this directly.
//!
//! Fail closed: when no classifier answers, the text is blocked (`unavailable` is set) —
//! an unscored message could carry an always-blocked category.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::classifier::remote::{Endpoint, LlamaGuard, OpenAiModeration};
use super::classifier::{Classifier, ClassifierChain, Scores};
use super::image::HashList;
use super::mode::ModerationMode;
use super::policy::{Action, Decision, Thresholds};
use super::prefilter::Prefilter;
use super::urls::UrlFilter;
use crate::config::Config;

/// Everything that decides.
#[derive(Debug, Clone)]
pub struct Moderator {
    /// Lexicon pre-filter (reloadable).
    pub prefilter: Arc<Prefilter>,
    /// Prohibited URL patterns.
    pub urls: Arc<UrlFilter>,
    /// Classifier backends.
    pub classifier: ClassifierChain,
    /// Thresholds per mode.
    pub thresholds: Arc<Thresholds>,
    /// Known prohibited images (PDQ).
    pub image_hashes: Arc<HashList>,
}

/// The outcome for one text.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Final scores: the classifier's, raised to 1 where the pre-filter matched.
    pub scores: Scores,
    /// The decision in the mode asked for.
    pub decision: Decision,
    /// Detectors that ran (`prefilter`, `urls`, then the classifier backends).
    pub engines: Vec<&'static str>,
    /// Set when no classifier answered and the text was blocked for that reason.
    pub unavailable: Option<String>,
}

impl Moderator {
    /// Builds the pipeline from configuration. A missing local model is not fatal (it is
    /// logged, and checks then fail closed unless a remote backend answers); a bad
    /// lexicon, URL list, thresholds file or backend name is.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let prefilter = match &config.lexicon_dir {
            Some(dir) => Prefilter::load(dir.clone())?,
            None => Prefilter::bundled()?,
        };
        let urls = match &config.url_list {
            Some(path) => UrlFilter::load(path)?,
            None => UrlFilter::bundled()?,
        };
        let thresholds = match &config.moderation_thresholds {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Thresholds::default(),
        };
        let local = local_backend(config);
        let timeout = Duration::from_millis(config.classifier_timeout_ms);
        let remote = |default_model: &str| -> anyhow::Result<Endpoint> {
            let url = config
                .classifier_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("NEXUS_CLASSIFIER={} needs NEXUS_CLASSIFIER_URL", config.classifier))?;
            let model = config.classifier_model.as_deref().unwrap_or(default_model);
            Endpoint::new(url, config.classifier_api_key.clone(), model, timeout)
        };
        let primary: Option<Arc<dyn Classifier>> = match config.classifier.as_str() {
            "local" => None,
            "openai" => Some(Arc::new(OpenAiModeration::new(remote("omni-moderation-latest")?))),
            "llama-guard" => Some(Arc::new(LlamaGuard::new(remote("llama-guard-3-8b")?))),
            other => anyhow::bail!("NEXUS_CLASSIFIER={other:?}: expected local, openai or llama-guard"),
        };
        let image_hashes = match &config.image_hash_list {
            Some(path) => HashList::load(path)?,
            None => HashList::default(),
        };
        Ok(Self {
            image_hashes: Arc::new(image_hashes),
            prefilter: Arc::new(prefilter),
            urls: Arc::new(urls),
            classifier: ClassifierChain::new(primary, local),
            thresholds: Arc::new(thresholds),
        })
    }

    /// Assesses `text` in `mode`.
    pub async fn assess_text(&self, mode: ModerationMode, text: &str) -> Assessment {
        let mut engines = vec!["prefilter", "urls"];
        let mut scores = Scores::new();
        for hit in self.prefilter.scan(text) {
            scores.insert(hit.category, 1.0);
        }
        for hit in self.urls.scan(text) {
            scores.insert(hit.category, 1.0);
        }
        let mut unavailable = None;
        match self.classifier.classify(text).await {
            Ok(classified) => {
                engines.extend(classified.engines);
                for (category, score) in classified.scores {
                    let slot = scores.entry(category).or_insert(0.0);
                    *slot = slot.max(score);
                }
            }
            Err(e) => unavailable = Some(e.to_string()),
        }
        self.finish(mode, scores, engines, unavailable)
    }

    /// Decides on scores already gathered (images use this after hashing).
    #[must_use]
    pub fn finish(
        &self,
        mode: ModerationMode,
        scores: Scores,
        engines: Vec<&'static str>,
        unavailable: Option<String>,
    ) -> Assessment {
        let mut decision = self.thresholds.decide(mode, &scores);
        if unavailable.is_some() {
            decision.action = Action::Block;
        }
        Assessment { scores, decision, engines, unavailable }
    }
}

/// The built-in model, or `None` (logged) when it cannot be loaded. Loaded models are
/// shared per (model dir, heads file) within the process, so several states (tests, a
/// client embedding the server) pay the 90 MB load once.
#[cfg(feature = "local-classifier")]
pub fn local_backend(config: &Config) -> Option<Arc<dyn Classifier>> {
    use super::classifier::default_models_dir;
    use super::classifier::local::LocalClassifier;
    let models = config.models_dir.clone().unwrap_or_else(default_models_dir);
    let heads = config.classifier_heads.clone().unwrap_or_else(super::classifier::heads::bundled_path);
    let key = format!("{}\n{}", models.display(), heads.display());
    match crate::models::load_once(key, || LocalClassifier::load(&models, &heads)) {
        Ok(local) => Some(Arc::new(local)),
        Err(e) => {
            tracing::error!(error = %e, "local moderation model not loaded; checks fail closed without a remote backend");
            None
        }
    }
}

/// Built without the `local-classifier` feature: no local model.
#[cfg(not(feature = "local-classifier"))]
pub fn local_backend(_config: &Config) -> Option<Arc<dyn Classifier>> {
    tracing::error!("built without the local-classifier feature; checks fail closed without a remote backend");
    None
}
