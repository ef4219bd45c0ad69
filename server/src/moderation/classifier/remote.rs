//! Remote classifier backends over HTTP (reqwest), each with a timeout:
//!
//! - [`OpenAiModeration`]: `POST {base}/v1/moderations` with `{"model", "input"}`, the
//!   omni-moderation answer `results[0].category_scores`. Sub-categories fold into ours
//!   by maximum (`harassment/threatening` → harassment, `self-harm/intent` and
//!   `/instructions` → self-harm, `illicit` and `illicit/violent` → illicit/drugs). It has
//!   no terrorism category; the local model fills that in. Images go as a `data:` URL.
//! - [`LlamaGuard`]: `POST {base}/v1/chat/completions` with the text as the user turn;
//!   the reply is `safe`, or `unsafe` and a line of codes (`S1,S10`) from the Llama Guard 3
//!   taxonomy, mapped to our categories with score 1 (and 0 for the rest it covers).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{BoxFuture, Classifier, ClassifierError, ImageInput, Scores};
use crate::moderation::category::Category;

/// Shared HTTP settings of a remote backend.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, e.g. `https://api.openai.com`.
    pub base_url: String,
    /// Bearer token, when the endpoint needs one.
    pub api_key: Option<String>,
    /// Model name sent in the request.
    pub model: String,
    http: reqwest::Client,
}

impl Endpoint {
    /// A client for `base_url` with a per-request `timeout`.
    pub fn new(base_url: &str, api_key: Option<String>, model: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { base_url: base_url.trim_end_matches('/').to_owned(), api_key, model: model.to_owned(), http })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, ClassifierError> {
        let mut request = self.http.post(format!("{}{path}", self.base_url)).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| ClassifierError::Remote(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClassifierError::Remote(format!("{path}: HTTP {status}")));
        }
        response.json::<Value>().await.map_err(|e| ClassifierError::Remote(format!("{path}: {e}")))
    }
}

/// An OpenAI-compatible moderation endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiModeration {
    endpoint: Endpoint,
}

const OPENAI_COVERS: &[Category] = &[
    Category::Sexual,
    Category::SexualMinors,
    Category::Hate,
    Category::HateThreatening,
    Category::Harassment,
    Category::Violence,
    Category::ViolenceGraphic,
    Category::SelfHarm,
    Category::IllicitDrugs,
];

/// Their category names → ours.
const OPENAI_NAMES: &[(&str, Category)] = &[
    ("sexual", Category::Sexual),
    ("sexual/minors", Category::SexualMinors),
    ("hate", Category::Hate),
    ("hate/threatening", Category::HateThreatening),
    ("harassment", Category::Harassment),
    ("harassment/threatening", Category::Harassment),
    ("violence", Category::Violence),
    ("violence/graphic", Category::ViolenceGraphic),
    ("self-harm", Category::SelfHarm),
    ("self-harm/intent", Category::SelfHarm),
    ("self-harm/instructions", Category::SelfHarm),
    ("illicit", Category::IllicitDrugs),
    ("illicit/violent", Category::IllicitDrugs),
];

impl OpenAiModeration {
    /// A backend on `endpoint`.
    #[must_use]
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }

    async fn moderate(&self, input: Value) -> Result<Scores, ClassifierError> {
        let answer =
            self.endpoint.post("/v1/moderations", &json!({"model": self.endpoint.model, "input": input})).await?;
        parse_openai(&answer)
    }
}

/// Reads `results[0].category_scores` of an omni-moderation answer.
pub fn parse_openai(answer: &Value) -> Result<Scores, ClassifierError> {
    let bad = |why: &str| ClassifierError::Remote(format!("moderation answer: {why}"));
    let scores = answer
        .pointer("/results/0/category_scores")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no results[0].category_scores"))?;
    let mut out: Scores = OPENAI_COVERS.iter().map(|&c| (c, 0.0)).collect();
    for (name, value) in scores {
        let Some(&(_, category)) = OPENAI_NAMES.iter().find(|(n, _)| n == name) else { continue };
        let score = value.as_f64().ok_or_else(|| bad("a score is not a number"))? as f32;
        if !(0.0..=1.0).contains(&score) {
            return Err(bad("a score is outside [0, 1]"));
        }
        let slot = out.entry(category).or_insert(0.0);
        *slot = slot.max(score);
    }
    Ok(out)
}

impl Classifier for OpenAiModeration {
    fn name(&self) -> &'static str {
        "openai-moderation"
    }

    fn covers(&self) -> &'static [Category] {
        OPENAI_COVERS
    }

    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
        Box::pin(self.moderate(json!(text)))
    }

    fn classify_image<'a>(&'a self, image: ImageInput<'a>) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
        let url =
            format!("data:{};base64,{}", image.mime, base64::engine::general_purpose::STANDARD.encode(image.bytes));
        Box::pin(self.moderate(json!([{"type": "image_url", "image_url": {"url": url}}])))
    }
}

/// A Llama-Guard-style chat endpoint.
#[derive(Debug, Clone)]
pub struct LlamaGuard {
    endpoint: Endpoint,
}

const LLAMA_GUARD_COVERS: &[Category] = &[
    Category::Sexual,
    Category::SexualMinors,
    Category::Hate,
    Category::Violence,
    Category::SelfHarm,
    Category::IllicitDrugs,
];

/// Llama Guard 3 hazard codes → ours. S1 violent crimes, S2 non-violent crimes (drug
/// trade among them), S3 sex-related crimes, S4 child sexual exploitation, S9
/// indiscriminate weapons, S10 hate, S11 suicide and self-harm, S12 sexual content. The
/// others (defamation, advice, privacy, IP, elections, code abuse) are not ours to score.
const LLAMA_GUARD_CODES: &[(&str, &[Category])] = &[
    ("S1", &[Category::Violence]),
    ("S2", &[Category::IllicitDrugs]),
    ("S3", &[Category::Sexual]),
    ("S4", &[Category::SexualMinors, Category::Sexual]),
    ("S9", &[Category::Violence]),
    ("S10", &[Category::Hate]),
    ("S11", &[Category::SelfHarm]),
    ("S12", &[Category::Sexual]),
];

impl LlamaGuard {
    /// A backend on `endpoint`.
    #[must_use]
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }
}

/// Reads a Llama Guard verdict from a chat-completion answer.
pub fn parse_llama_guard(answer: &Value) -> Result<Scores, ClassifierError> {
    let content = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| ClassifierError::Remote("chat answer: no choices[0].message.content".into()))?;
    let mut lines = content.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out: Scores = LLAMA_GUARD_COVERS.iter().map(|&c| (c, 0.0)).collect();
    match lines.next().map(str::to_ascii_lowercase).as_deref() {
        Some("safe") => Ok(out),
        Some("unsafe") => {
            let codes = lines.next().unwrap_or_default();
            for code in codes.split(',').map(|c| c.trim().to_ascii_uppercase()) {
                if let Some((_, categories)) = LLAMA_GUARD_CODES.iter().find(|(c, _)| *c == code) {
                    for &category in *categories {
                        out.insert(category, 1.0);
                    }
                }
            }
            Ok(out)
        }
        _ => Err(ClassifierError::Remote(format!("chat answer is neither safe nor unsafe: {:.40}", content))),
    }
}

impl Classifier for LlamaGuard {
    fn name(&self) -> &'static str {
        "llama-guard"
    }

    fn covers(&self) -> &'static [Category] {
        LLAMA_GUARD_COVERS
    }

    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
        Box::pin(async move {
            let body = json!({
                "model": self.endpoint.model,
                "messages": [{"role": "user", "content": text}],
                "temperature": 0,
                "max_tokens": 16,
            });
            let answer = self.endpoint.post("/v1/chat/completions", &body).await?;
            parse_llama_guard(&answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omni_moderation_answers_fold_into_our_categories() {
        let answer = json!({"results": [{"flagged": true, "category_scores": {
            "sexual": 0.1, "harassment": 0.2, "harassment/threatening": 0.7, "self-harm/intent": 0.9,
            "illicit/violent": 0.4, "something-new": 0.5
        }}]});
        let s = parse_openai(&answer).expect("parsed");
        assert_eq!(s[&Category::Harassment], 0.7);
        assert_eq!(s[&Category::SelfHarm], 0.9);
        assert_eq!(s[&Category::IllicitDrugs], 0.4);
        assert_eq!(s[&Category::Hate], 0.0);
        assert!(!s.contains_key(&Category::Terrorism));
        assert!(parse_openai(&json!({"results": []})).is_err());
        assert!(parse_openai(&json!({"results": [{"category_scores": {"sexual": 3.0}}]})).is_err());
    }

    #[test]
    fn llama_guard_verdicts_map_codes() {
        let chat = |s: &str| json!({"choices": [{"message": {"role": "assistant", "content": s}}]});
        let safe = parse_llama_guard(&chat("safe")).expect("parsed");
        assert!(safe.values().all(|&v| v == 0.0));
        let unsafe_ = parse_llama_guard(&chat("\nunsafe\nS4,S10")).expect("parsed");
        assert_eq!(unsafe_[&Category::SexualMinors], 1.0);
        assert_eq!(unsafe_[&Category::Sexual], 1.0);
        assert_eq!(unsafe_[&Category::Hate], 1.0);
        assert_eq!(unsafe_[&Category::Violence], 0.0);
        assert!(parse_llama_guard(&chat("I cannot help with that")).is_err());
    }
}
