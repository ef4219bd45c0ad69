//! Per-category logistic heads: the last layer of the local classifier. Pure Rust, no
//! model runtime.
//!
//! **Features** of a text: its sentence embedding (384 dims, standardised with the stored
//! mean and deviation) next to hashed character 3-, 4- and 5-grams (4,096 buckets,
//! `1 + ln(count)`, L2-normalised, scaled by [`NGRAM_WEIGHT`]). The embedding carries
//! meaning; the n-grams carry the words themselves, which matters for disguised
//! spellings and names (and mattered for French when the encoder was English-only MiniLM).
//!
//! **Training** is [`super::finetune`]: the heads are fitted together with a low-rank
//! adapter of the embedding model, whose file the heads name ([`AdapterRef`]).
//!
//! **Calibration to the policy**: the seed's thresholds (sexual/minors > 0.01, hate >
//! 0.30, …) are fixed; what training controls is where the scores fall. Each head's bias
//! is shifted ([`calibrate`]) so that, on lines the fit never saw, the seed's threshold
//! lets through a set share of the lines outside that category.
//!
//! Stored as JSON in `assets/moderation/classifier/heads.json`, written by
//! `cargo xtask train-moderation`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use super::Scores;
use crate::moderation::category::Category;
use crate::moderation::policy::Thresholds;

/// Hashed n-gram buckets.
pub const NGRAM_DIMS: usize = 4096;
/// Scale of the n-gram block relative to the standardised embedding.
pub const NGRAM_WEIGHT: f32 = 20.0;

/// A text's features: the embedding (raw, standardised inside) and sparse n-grams.
#[derive(Debug, Clone)]
pub struct Features {
    /// Sentence embedding.
    pub embedding: Vec<f32>,
    /// `(bucket, value)` pairs, already weighted.
    pub grams: Vec<(u32, f32)>,
}

impl Features {
    /// Features of `text` with its embedding.
    #[must_use]
    pub fn new(embedding: Vec<f32>, text: &str) -> Self {
        Self { embedding, grams: char_grams(text) }
    }
}

/// Hashed character 3–5-grams of the lower-cased, accent-stripped text with punctuation
/// turned into spaces; FNV-1a of each gram's UTF-8 bytes picks the bucket.
#[must_use]
pub fn char_grams(text: &str) -> Vec<(u32, f32)> {
    let lowered: String = text.to_lowercase().nfkd().filter(|c| !is_combining_mark(*c)).collect();
    let words: Vec<String> =
        lowered.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
    let padded: Vec<char> = format!(" {} ", words.join(" ")).chars().collect();
    let mut counts: BTreeMap<u32, f32> = BTreeMap::new();
    let mut buf = String::new();
    for n in 3..=5 {
        for window in padded.windows(n) {
            buf.clear();
            buf.extend(window);
            let bucket = (super::dataset::fnv1a(buf.as_bytes()) % NGRAM_DIMS as u64) as u32;
            *counts.entry(bucket).or_insert(0.0) += 1.0;
        }
    }
    let mut grams: Vec<(u32, f32)> = counts.into_iter().map(|(k, c)| (k, 1.0 + c.ln())).collect();
    let norm = grams.iter().map(|(_, v)| v * v).sum::<f32>().sqrt().max(1e-9);
    for (_, v) in &mut grams {
        *v *= NGRAM_WEIGHT / norm;
    }
    grams
}

/// One category's logistic head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    /// Weights over the standardised embedding.
    pub weights: Vec<f32>,
    /// Weights over the n-gram buckets.
    pub gram_weights: Vec<f32>,
    /// Bias, calibration included.
    pub bias: f32,
    /// The calibration shift included in `bias` (for the record).
    pub calibration: f32,
}

impl Head {
    fn logit(&self, z: &[f32], grams: &[(u32, f32)]) -> f32 {
        dot(&self.weights, z) + grams.iter().map(|&(k, v)| self.gram_weights[k as usize] * v).sum::<f32>() + self.bias
    }
}

/// How the heads were trained (kept in the file for provenance).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// The embedding the heads expect.
    pub embedding: String,
    /// Training examples used.
    pub examples: usize,
    /// Hyper-parameters, in words.
    pub settings: String,
}

/// Every head, plus the feature standardisation they share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heads {
    /// Embedding dimension.
    pub dim: usize,
    /// N-gram buckets.
    pub ngram_dims: usize,
    /// Per-dimension mean of the training embeddings.
    pub mean: Vec<f32>,
    /// Per-dimension standard deviation of the training embeddings.
    pub std: Vec<f32>,
    /// One head per scored category.
    pub heads: BTreeMap<Category, Head>,
    /// The encoder the heads were trained on: its directory under the models cache
    /// (heads from before this field were trained on MiniLM).
    #[serde(default = "minilm")]
    pub encoder: String,
    /// The embedding model's adapter these heads were trained with, if any.
    #[serde(default)]
    pub adapter: Option<AdapterRef>,
    /// Provenance.
    pub provenance: Provenance,
}

fn minilm() -> String {
    "all-minilm-l6-v2".into()
}

/// The adapter file the heads were trained with, next to the heads file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdapterRef {
    /// File name, relative to the heads file's directory.
    pub file: String,
    /// SHA-256 of the file (hex): heads and adapter are only valid together.
    pub sha256: String,
}

/// The bias shift that puts the `1 - pass` quantile of `negatives` (logits of lines
/// outside `category`) on the seed's STRICT threshold for it.
#[must_use]
pub fn calibrate(mut negatives: Vec<f32>, category: Category, pass: f32) -> f32 {
    if negatives.is_empty() {
        return 0.0;
    }
    negatives.sort_by(f32::total_cmp);
    let quantile = negatives[((negatives.len() as f32 - 1.0) * (1.0 - pass)).round() as usize];
    logit(Thresholds::default().strict_cut(category)) - quantile
}

/// The bundled heads file.
#[must_use]
pub fn bundled_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/moderation/classifier/heads.json")
}

impl Heads {
    /// Reads a heads file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("heads {}: {e}", path.display()))?;
        let heads: Self = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("heads {}: {e}", path.display()))?;
        anyhow::ensure!(
            heads.mean.len() == heads.dim
                && heads.std.len() == heads.dim
                && heads.ngram_dims == NGRAM_DIMS
                && heads.heads.values().all(|h| h.weights.len() == heads.dim && h.gram_weights.len() == NGRAM_DIMS),
            "heads {}: dimensions disagree with this build",
            path.display()
        );
        Ok(heads)
    }

    /// Writes the heads as JSON.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string(self)? + "\n")?;
        Ok(())
    }

    /// Scores one text's features.
    #[must_use]
    pub fn score(&self, features: &Features) -> Scores {
        self.logits(features).into_iter().map(|(c, l)| (c, sigmoid(l))).collect()
    }

    /// Each category's logit for one text's features.
    #[must_use]
    pub fn logits(&self, features: &Features) -> Vec<(Category, f32)> {
        let z = standardise(&features.embedding, &self.mean, &self.std);
        self.heads.iter().map(|(&c, h)| (c, h.logit(&z, &features.grams))).collect()
    }
}

fn standardise(x: &[f32], mean: &[f32], std: &[f32]) -> Vec<f32> {
    x.iter().zip(mean).zip(std).map(|((v, m), s)| (v - m) / s).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f32) -> f32 {
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_are_normalised_and_ignore_case_and_accents() {
        let a = char_grams("Crème BRÛLÉE!");
        let b = char_grams("creme brulee");
        assert_eq!(a, b);
        let norm = a.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - NGRAM_WEIGHT).abs() < 1e-3);
        assert!(char_grams("").len() <= 1);
    }

    /// Calibration puts the chosen quantile of the negatives exactly on the seed's cut,
    /// and a stored file scores like the original.
    #[test]
    fn calibration_hits_the_seed_threshold_and_files_round_trip() {
        let negatives: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0 - 5.0).collect();
        let shift = calibrate(negatives.clone(), Category::Hate, 0.01);
        let passed = negatives.iter().filter(|&&l| sigmoid(l + shift) > 0.30 + 1e-6).count();
        assert!((9..=11).contains(&passed), "{passed} of 1000 pass the hate cut");
        assert_eq!(calibrate(Vec::new(), Category::Hate, 0.01), 0.0);

        let dim = 4;
        let head = |bias: f32| Head {
            weights: vec![0.5, -0.25, 0.0, 1.0],
            gram_weights: (0..NGRAM_DIMS).map(|k| (k % 7) as f32 / 70.0).collect(),
            bias,
            calibration: 0.0,
        };
        let heads = Heads {
            dim,
            ngram_dims: NGRAM_DIMS,
            mean: vec![0.0; dim],
            std: vec![0.1; dim],
            heads: [(Category::Hate, head(-1.0)), (Category::Sexual, head(0.5))].into_iter().collect(),
            encoder: "multilingual-e5-small".into(),
            adapter: Some(AdapterRef { file: "adapter.safetensors".into(), sha256: "00".into() }),
            provenance: Provenance { embedding: "test".into(), examples: 0, settings: String::new() },
        };
        let features = Features::new(vec![0.1, 0.2, -0.1, 0.05], "some words here");
        let scores = heads.score(&features);
        assert!(scores[&Category::Sexual] > scores[&Category::Hate], "bias orders the heads: {scores:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.json");
        heads.save(&path).expect("saved");
        let back = Heads::load(&path).expect("loaded");
        assert_eq!(back.score(&features), scores);
        assert_eq!(back.adapter.map(|a| a.file).as_deref(), Some("adapter.safetensors"));
        assert_eq!(back.encoder, "multilingual-e5-small");
        // Heads written before the encoder was named were trained on MiniLM.
        let mut old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        old.as_object_mut().expect("object").remove("encoder");
        std::fs::write(&path, old.to_string()).expect("written");
        assert_eq!(Heads::load(&path).expect("loaded").encoder, "all-minilm-l6-v2");
    }
}
