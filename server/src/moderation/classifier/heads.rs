//! Per-category logistic heads: the trained part of the local classifier. Pure Rust, no
//! model runtime.
//!
//! **Features** of a text: its MiniLM sentence embedding (384 dims, standardised with
//! the training mean and deviation) next to hashed character 3-, 4- and 5-grams (4,096
//! buckets, `1 + ln(count)`, L2-normalised, scaled by [`NGRAM_WEIGHT`]). The embedding
//! carries meaning; the n-grams carry the words themselves, which matters for French
//! (the MiniLM model was trained on English) and for disguised spellings.
//!
//! **Training** ([`Heads::train`]): one logistic regression per category, full-batch Adam
//! on L2-regularised cross-entropy.
//!
//! **Calibration to the policy**: the seed's thresholds (sexual/minors > 0.01, hate >
//! 0.30, …) are fixed; what the heads control is where their scores fall. Each head's
//! bias is shifted so that, on 5-fold out-of-fold predictions over the training split,
//! the seed's threshold lets through at most [`TrainSettings::negative_pass_rate`] of the
//! lines not in that category (a larger share for the always-blocked categories, where
//! recall comes first). The held-out split never takes part.
//!
//! Stored as JSON in `assets/moderation/classifier/heads.json`, written by
//! `cargo xtask train-moderation`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use super::{SCORED, Scores};
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
    /// Provenance.
    pub provenance: Provenance,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainSettings {
    /// Adam steps (full batch).
    pub epochs: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    /// Out-of-fold share of lines outside a category allowed above its seed threshold.
    pub negative_pass_rate: f32,
    /// The same for the always-blocked categories.
    pub always_blocked_pass_rate: f32,
    /// Folds for calibration.
    pub folds: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 600,
            learning_rate: 0.02,
            l2: 1e-2,
            negative_pass_rate: 0.005,
            always_blocked_pass_rate: 0.02,
            folds: 5,
        }
    }
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
        let z = standardise(&features.embedding, &self.mean, &self.std);
        self.heads.iter().map(|(&c, h)| (c, sigmoid(h.logit(&z, &features.grams)))).collect()
    }

    /// Fits and calibrates one head per [`SCORED`] category. `labels[i]` are the true
    /// categories of `features[i]` (empty = benign).
    #[must_use]
    pub fn train(features: &[Features], labels: &[Vec<Category>], s: TrainSettings, embedding_name: &str) -> Self {
        let n = features.len();
        let dim = features.first().map_or(0, |f| f.embedding.len());
        let mut mean = vec![0.0f32; dim];
        for f in features {
            for (m, v) in mean.iter_mut().zip(&f.embedding) {
                *m += v / n as f32;
            }
        }
        let mut std = vec![0.0f32; dim];
        for f in features {
            for ((sd, v), m) in std.iter_mut().zip(&f.embedding).zip(&mean) {
                *sd += (v - m).powi(2) / n as f32;
            }
        }
        for sd in &mut std {
            *sd = sd.sqrt().max(1e-6);
        }
        let rows: Vec<Row<'_>> =
            features.iter().map(|f| Row { z: standardise(&f.embedding, &mean, &std), grams: &f.grams }).collect();
        let thresholds = Thresholds::default();
        let mut heads = BTreeMap::new();
        for category in SCORED {
            let y: Vec<bool> = labels.iter().map(|l| l.contains(&category)).collect();
            let mut head = fit(&rows, &y, dim, s);
            // Out-of-fold logits of the lines outside the category.
            let mut negatives = Vec::new();
            for fold in 0..s.folds {
                let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % s.folds != fold);
                let fold_rows: Vec<Row<'_>> = train.iter().map(|&i| rows[i].clone()).collect();
                let fold_y: Vec<bool> = train.iter().map(|&i| y[i]).collect();
                let fold_head = fit(&fold_rows, &fold_y, dim, s);
                negatives.extend(test.iter().filter(|&&i| !y[i]).map(|&i| fold_head.logit(&rows[i].z, rows[i].grams)));
            }
            negatives.sort_by(f32::total_cmp);
            let pass = if category.always_blocked() { s.always_blocked_pass_rate } else { s.negative_pass_rate };
            let quantile = negatives[((negatives.len() as f32 - 1.0) * (1.0 - pass)).round() as usize];
            let cut = thresholds.strict_cut(category);
            head.calibration = logit(cut) - quantile;
            head.bias += head.calibration;
            heads.insert(category, head);
        }
        Self {
            dim,
            ngram_dims: NGRAM_DIMS,
            mean,
            std,
            heads,
            provenance: Provenance {
                embedding: embedding_name.to_owned(),
                examples: n,
                settings: format!("{s:?}, n-grams 3-5 x {NGRAM_DIMS} buckets weight {NGRAM_WEIGHT}"),
            },
        }
    }
}

#[derive(Clone)]
struct Row<'a> {
    z: Vec<f32>,
    grams: &'a [(u32, f32)],
}

fn fit(rows: &[Row<'_>], y: &[bool], dim: usize, s: TrainSettings) -> Head {
    let n = rows.len().max(1) as f32;
    let total = dim + NGRAM_DIMS + 1; // dense | grams | bias
    let mut w = vec![0.0f32; total];
    let (mut m, mut v, mut grad) = (vec![0.0f32; total], vec![0.0f32; total], vec![0.0f32; total]);
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    for step in 1..=s.epochs {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (row, &t) in rows.iter().zip(y) {
            let l = dot(&w[..dim], &row.z)
                + row.grams.iter().map(|&(k, x)| w[dim + k as usize] * x).sum::<f32>()
                + w[total - 1];
            let err = (sigmoid(l) - if t { 1.0 } else { 0.0 }) / n;
            for (g, x) in grad[..dim].iter_mut().zip(&row.z) {
                *g += err * x;
            }
            for &(k, x) in row.grams {
                grad[dim + k as usize] += err * x;
            }
            grad[total - 1] += err;
        }
        for (g, wi) in grad[..total - 1].iter_mut().zip(&w[..total - 1]) {
            *g += s.l2 * wi;
        }
        let (c1, c2) = (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
        for i in 0..total {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            w[i] -= s.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
        }
    }
    let bias = w[total - 1];
    Head { gram_weights: w[dim..dim + NGRAM_DIMS].to_vec(), weights: w[..dim].to_vec(), bias, calibration: 0.0 }
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

    /// Separable data: a positive marker in the embedding and in the words. The fit must
    /// rank positives above negatives, and the file must give the same scores back.
    #[test]
    fn fits_separable_data_and_round_trips() {
        let dim = 8;
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..120usize {
            let positive = i % 4 == 0;
            let mut x: Vec<f32> = (0..dim).map(|d| (((i * 31 + d * 17) % 13) as f32 - 6.0) / 20.0).collect();
            if positive {
                x[3] += 1.0;
            }
            let text = if positive { format!("zorglub message {i}") } else { format!("ordinary message {i}") };
            features.push(Features::new(x, &text));
            labels.push(if positive { vec![Category::Hate] } else { vec![] });
        }
        let s = TrainSettings { epochs: 200, ..TrainSettings::default() };
        let heads = Heads::train(&features, &labels, s, "test");
        let hate = |f: &Features| heads.score(f)[&Category::Hate];
        let min_pos =
            features.iter().zip(&labels).filter(|(_, l)| !l.is_empty()).map(|(f, _)| hate(f)).fold(1.0, f32::min);
        let max_neg =
            features.iter().zip(&labels).filter(|(_, l)| l.is_empty()).map(|(f, _)| hate(f)).fold(0.0, f32::max);
        assert!(min_pos > max_neg, "positives {min_pos} vs negatives {max_neg}");
        assert!(min_pos > 0.3, "the seed's hate threshold separates them: {min_pos}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.json");
        heads.save(&path).expect("saved");
        let back = Heads::load(&path).expect("loaded");
        assert_eq!(back.score(&features[0]), heads.score(&features[0]));
    }
}
