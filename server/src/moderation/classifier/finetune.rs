//! Fine-tuning the moderation encoder (a BERT model: multilingual-e5-small, or MiniLM)
//! with low-rank adapters (LoRA), on the CPU, with candle's autograd.
//!
//! Frozen sentence embeddings separate harmful from harmless text only so far: "the news
//! said the attack was condemned" sits next to the attack itself. Fine-tuning moves the
//! embedding, but the model's 22 M weights cannot live in the repository; a rank-`r`
//! update `W + B·A` of the six dense matrices of every layer can (≈ 330 k numbers at rank
//! 8). Training runs a differentiable copy of the BERT forward pass ([`Encoder`]: the
//! candle-transformers model detaches its layer norms, so no gradient would reach the
//! lower layers); at inference the adapter is merged into the weights ([`merge`]) and the
//! ordinary model runs at its ordinary speed.
//!
//! The classification head is the [`Heads`] form: one logistic unit per category over the
//! L2-normalised mean-pooled embedding and the hashed character n-grams, trained jointly
//! with the adapter on binary cross-entropy. Each head's bias is then calibrated on the
//! dataset's calibration split — lines the fit never saw — so that the seed's threshold
//! lets through a set share of the lines outside the category ([`calibrate`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::SCORED;
use super::heads::{Head, Heads, NGRAM_DIMS, NGRAM_WEIGHT, Provenance, calibrate, char_grams};
use super::local::Embedder;
use crate::moderation::category::Category;

/// The dense matrices of a BERT layer that get an adapter, by their tensor-name suffix.
pub const ADAPTED: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Scale of the normalised embedding fed to the heads (a unit vector's coordinates are
/// ~0.05; the heads see them ×10, as [`Heads`] stores with `std = 1 / EMBEDDING_SCALE`).
pub const EMBEDDING_SCALE: f32 = 10.0;

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct FineTune {
    /// The encoder: its directory under the models cache.
    pub encoder: &'static str,
    /// Adapter rank.
    pub rank: usize,
    /// Passes over the fit split.
    pub epochs: usize,
    /// Lines per step.
    pub batch: usize,
    /// AdamW learning rate of the adapters.
    pub adapter_lr: f64,
    /// AdamW learning rate of the heads.
    pub head_lr: f64,
    /// Weight decay of the heads.
    pub head_decay: f64,
    /// Calibration: share of the calibration lines outside a category allowed above its
    /// seed threshold.
    pub negative_pass_rate: f32,
    /// The same for the always-blocked categories, where recall comes first.
    pub always_blocked_pass_rate: f32,
    /// Seed of the initialisation and the shuffling.
    pub seed: u64,
}

impl Default for FineTune {
    fn default() -> Self {
        Self {
            encoder: super::local::MODERATION_ENCODER,
            rank: 8,
            epochs: 4,
            batch: 32,
            adapter_lr: 2e-3,
            head_lr: 5e-3,
            head_decay: 1e-4,
            negative_pass_rate: 0.005,
            always_blocked_pass_rate: 0.02,
            seed: 0x6e65_7875,
        }
    }
}

/// A line to learn from: its text and its true categories (empty = benign).
#[derive(Debug, Clone)]
pub struct Labelled<'a> {
    /// The text.
    pub text: &'a str,
    /// Its categories.
    pub labels: &'a [Category],
}

/// One adapter: `delta = B · A`, `A: rank × in`, `B: out × rank` (scale folded into `B`).
struct Lora {
    a: Var,
    b: Var,
}

/// The base model's tensors, frozen, plus the adapters being trained.
pub struct Encoder {
    base: HashMap<String, Tensor>,
    adapters: HashMap<String, Lora>,
    layers: usize,
    heads: usize,
    eps: f64,
    device: Device,
}

/// Minimal deterministic generator (SplitMix64) for initialisation and shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Normal(0, 1) by Box–Muller.
    fn normal(&mut self) -> f32 {
        let u = self.uniform().max(1e-7);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(gamma)?.broadcast_add(beta)
}

impl Encoder {
    /// The base model from `<models_dir>/<encoder>`, with fresh adapters of `rank`
    /// (A small random, B zero: training starts from the unchanged model).
    pub fn new(models_dir: &Path, encoder: &str, rank: usize, seed: u64) -> anyhow::Result<Self> {
        let dir = models_dir.join(encoder);
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        let get = |k: &str| config[k].as_u64().map(|v| v as usize).ok_or_else(|| anyhow::anyhow!("config.json: {k}"));
        let (layers, heads) = (get("num_hidden_layers")?, get("num_attention_heads")?);
        let eps = config["layer_norm_eps"].as_f64().unwrap_or(1e-12);
        let device = Device::Cpu;
        let base = candle_core::safetensors::load_buffer(&std::fs::read(dir.join("model.safetensors"))?, &device)?;
        let mut rng = Rng(seed);
        let mut adapters = HashMap::new();
        for layer in 0..layers {
            for module in ADAPTED {
                let name = format!("encoder.layer.{layer}.{module}");
                let (out, inp) = base
                    .get(&format!("{name}.weight"))
                    .ok_or_else(|| anyhow::anyhow!("model.safetensors: no {name}.weight"))?
                    .dims2()?;
                let a: Vec<f32> = (0..rank * inp).map(|_| rng.normal() * 0.01).collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (rank, inp), &device)?)?;
                let b = Var::zeros((out, rank), DType::F32, &device)?;
                adapters.insert(name, Lora { a, b });
            }
        }
        Ok(Self { base, adapters, layers, heads, eps, device })
    }

    fn tensor(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.base.get(name).ok_or_else(|| candle_core::Error::Msg(format!("model.safetensors: no {name}")))
    }

    /// `x · Wᵀ + b`, plus the adapter's `x · Aᵀ · Bᵀ` when `name` has one.
    fn dense(&self, name: &str, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.tensor(&format!("{name}.weight"))?;
        let b = self.tensor(&format!("{name}.bias"))?;
        let mut y = x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?;
        if let Some(lora) = self.adapters.get(name) {
            y = (y + x.broadcast_matmul(&lora.a.as_tensor().t()?)?.broadcast_matmul(&lora.b.as_tensor().t()?)?)?;
        }
        Ok(y)
    }

    /// Mean-pooled, L2-normalised sentence embeddings of a padded batch: `ids` and `mask`
    /// are `(batch, len)` (u32), `[CLS] … [SEP]` included. Differentiable in the adapters.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let words = self.tensor("embeddings.word_embeddings.weight")?;
        let positions = self.tensor("embeddings.position_embeddings.weight")?.narrow(0, 0, len)?;
        let types = self.tensor("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?;
        let x = words.index_select(&ids.flatten_all()?, 0)?.reshape((batch, len, ()))?;
        let x = x.broadcast_add(&positions)?.broadcast_add(&types)?;
        let mut x = layer_norm(
            &x,
            self.tensor("embeddings.LayerNorm.weight")?,
            self.tensor("embeddings.LayerNorm.bias")?,
            self.eps,
        )?;
        let mask_f = mask.to_dtype(DType::F32)?;
        // 0 where a token is real, a large negative number where it is padding.
        let attention_bias = ((mask_f.clone() - 1.0)? * 1e4)?.reshape((batch, 1, 1, len))?;
        let hidden = x.dim(2)?;
        let head_dim = hidden / self.heads;
        for layer in 0..self.layers {
            let p = format!("encoder.layer.{layer}");
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((batch, len, self.heads, head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = split(self.dense(&format!("{p}.attention.self.query"), &x)?)?;
            let k = split(self.dense(&format!("{p}.attention.self.key"), &x)?)?;
            let v = split(self.dense(&format!("{p}.attention.self.value"), &x)?)?;
            let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?.broadcast_add(&attention_bias)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch, len, hidden))?;
            let attended = self.dense(&format!("{p}.attention.output.dense"), &context)?;
            x = layer_norm(
                &(attended + &x)?,
                self.tensor(&format!("{p}.attention.output.LayerNorm.weight"))?,
                self.tensor(&format!("{p}.attention.output.LayerNorm.bias"))?,
                self.eps,
            )?;
            let inner = self.dense(&format!("{p}.intermediate.dense"), &x)?.gelu_erf()?;
            let out = self.dense(&format!("{p}.output.dense"), &inner)?;
            x = layer_norm(
                &(out + &x)?,
                self.tensor(&format!("{p}.output.LayerNorm.weight"))?,
                self.tensor(&format!("{p}.output.LayerNorm.bias"))?,
                self.eps,
            )?;
        }
        let m = mask_f.unsqueeze(2)?;
        let pooled = x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?;
        let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?;
        pooled.broadcast_div(&norm)
    }

    fn vars(&self) -> Vec<Var> {
        let mut names: Vec<&String> = self.adapters.keys().collect();
        names.sort();
        names.into_iter().flat_map(|n| [self.adapters[n].a.clone(), self.adapters[n].b.clone()]).collect()
    }

    /// The adapters as named tensors, `<layer module>.lora_a` / `.lora_b`, for
    /// [`candle_core::safetensors::save`].
    pub fn adapter_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (name, lora) in &self.adapters {
            out.insert(format!("{name}.lora_a"), lora.a.as_tensor().clone());
            out.insert(format!("{name}.lora_b"), lora.b.as_tensor().clone());
        }
        out
    }

    /// The base tensors with the adapters merged in: what [`Embedder`] runs.
    pub fn merged(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut weights = self.base.clone();
        merge(&mut weights, &self.adapter_tensors())?;
        Ok(weights)
    }
}

/// Adds each adapter's `B · A` to its weight matrix in `weights`.
pub fn merge(weights: &mut HashMap<String, Tensor>, adapter: &HashMap<String, Tensor>) -> candle_core::Result<()> {
    for (name, a) in adapter {
        let Some(module) = name.strip_suffix(".lora_a") else { continue };
        let b = adapter
            .get(&format!("{module}.lora_b"))
            .ok_or_else(|| candle_core::Error::Msg(format!("adapter: {module}.lora_a without lora_b")))?;
        let key = format!("{module}.weight");
        let w = weights.get(&key).ok_or_else(|| candle_core::Error::Msg(format!("adapter: no weight {key}")))?;
        let merged = (w + b.matmul(a)?)?;
        weights.insert(key, merged);
    }
    Ok(())
}

/// Tokenised lines as one padded batch: `(ids, mask)`, each `(batch, len)`.
fn batch_tensors(pieces: &[&Vec<u32>], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let len = pieces.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(pieces.len() * len);
    let mut mask = Vec::with_capacity(pieces.len() * len);
    for p in pieces {
        ids.extend(p.iter().copied().chain(std::iter::repeat_n(0, len - p.len())));
        mask.extend((0..len).map(|i| u32::from(i < p.len())));
    }
    Ok((Tensor::from_vec(ids, (pieces.len(), len), device)?, Tensor::from_vec(mask, (pieces.len(), len), device)?))
}

/// Dense `(batch, NGRAM_DIMS)` n-gram features, as [`char_grams`] gives them.
fn gram_tensor(texts: &[&str], device: &Device) -> candle_core::Result<Tensor> {
    let mut dense = vec![0.0f32; texts.len() * NGRAM_DIMS];
    for (row, text) in texts.iter().enumerate() {
        for (k, v) in char_grams(text) {
            dense[row * NGRAM_DIMS + k as usize] = v;
        }
    }
    Tensor::from_vec(dense, (texts.len(), NGRAM_DIMS), device)
}

/// Numerically stable mean binary cross-entropy on logits.
fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)? + softplus)?.mean_all()
}

/// What [`train`] produced.
pub struct Trained {
    /// Heads, calibrated, in the stored form.
    pub heads: Heads,
    /// The adapter tensors, to save next to the heads.
    pub adapter: HashMap<String, Tensor>,
}

/// Fine-tunes adapters and heads on `fit`, calibrates the heads on `calibration`, and
/// reports progress through `progress` (one line per epoch).
pub fn train(
    models_dir: &Path,
    fit: &[Labelled<'_>],
    calibration: &[Labelled<'_>],
    s: FineTune,
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<Trained> {
    let encoder = Encoder::new(models_dir, s.encoder, s.rank, s.seed)?;
    let tokenizer = Embedder::load_adapted(models_dir, s.encoder, None)?;
    let device = encoder.device.clone();
    let categories = SCORED.len();
    let head_w = Var::zeros((categories, tokenizer.dim()), DType::F32, &device)?;
    let head_b = Var::zeros(categories, DType::F32, &device)?;
    let gram_w = Var::zeros((categories, NGRAM_DIMS), DType::F32, &device)?;
    let mut adapter_opt =
        AdamW::new(encoder.vars(), ParamsAdamW { lr: s.adapter_lr, weight_decay: 0.0, ..ParamsAdamW::default() })?;
    let mut head_opt = AdamW::new(
        vec![head_w.clone(), head_b.clone(), gram_w.clone()],
        ParamsAdamW { lr: s.head_lr, weight_decay: s.head_decay, ..ParamsAdamW::default() },
    )?;
    let pieces = |lines: &[Labelled<'_>]| -> anyhow::Result<Vec<Vec<u32>>> {
        lines.iter().map(|l| tokenizer.framed_pieces(l.text).map_err(anyhow::Error::from)).collect()
    };
    let fit_pieces = pieces(fit)?;
    let logits = |ids: &Tensor, mask: &Tensor, texts: &[&str]| -> candle_core::Result<Tensor> {
        let v = (encoder.embed(ids, mask)? * f64::from(EMBEDDING_SCALE))?;
        let grams = (gram_tensor(texts, &device)? / f64::from(NGRAM_WEIGHT))?;
        v.matmul(&head_w.as_tensor().t()?)?
            .broadcast_add(head_b.as_tensor())?
            .add(&grams.matmul(&gram_w.as_tensor().t()?)?)
    };
    let mut rng = Rng(s.seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..fit.len()).collect();
    for epoch in 1..=s.epochs {
        let started = std::time::Instant::now();
        rng.shuffle(&mut order);
        let mut total = 0.0f64;
        for chunk in order.chunks(s.batch) {
            let batch: Vec<&Vec<u32>> = chunk.iter().map(|&i| &fit_pieces[i]).collect();
            let texts: Vec<&str> = chunk.iter().map(|&i| fit[i].text).collect();
            let (ids, mask) = batch_tensors(&batch, &device)?;
            let targets: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| SCORED.iter().map(move |c| if fit[i].labels.contains(c) { 1.0 } else { 0.0 }))
                .collect();
            let targets = Tensor::from_vec(targets, (chunk.len(), categories), &device)?;
            let loss = bce_with_logits(&logits(&ids, &mask, &texts)?, &targets)?;
            total += f64::from(loss.to_scalar::<f32>()?) * chunk.len() as f64;
            let grads = loss.backward()?;
            adapter_opt.step(&grads)?;
            head_opt.step(&grads)?;
        }
        progress(format!(
            "epoch {epoch}/{}: loss {:.4}, {:.0} s",
            s.epochs,
            total / fit.len().max(1) as f64,
            started.elapsed().as_secs_f64()
        ));
    }

    // Calibration on lines the fit never saw, through the merged model (what inference runs).
    let adapter = encoder.adapter_tensors();
    let merged = Embedder::from_weights(models_dir, s.encoder, encoder.merged()?)?;
    let head_w = head_w.as_tensor().to_vec2::<f32>()?;
    let head_b = head_b.as_tensor().to_vec1::<f32>()?;
    let gram_w = gram_w.as_tensor().to_vec2::<f32>()?;
    let dim = head_w[0].len();
    let mut heads = Heads {
        dim,
        ngram_dims: NGRAM_DIMS,
        mean: vec![0.0; dim],
        std: vec![1.0 / EMBEDDING_SCALE; dim],
        heads: SCORED
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let head = Head {
                    weights: head_w[i].clone(),
                    gram_weights: gram_w[i].iter().map(|w| w / NGRAM_WEIGHT).collect(),
                    bias: head_b[i],
                    calibration: 0.0,
                };
                (c, head)
            })
            .collect(),
        encoder: s.encoder.to_owned(),
        adapter: None,
        provenance: Provenance {
            embedding: format!("{} + LoRA rank {} on {} matrices per layer", s.encoder, s.rank, ADAPTED.len()),
            examples: fit.len(),
            settings: format!("{s:?}, n-grams 3-5 x {NGRAM_DIMS} buckets weight {NGRAM_WEIGHT}"),
        },
    };
    let mut logits_by_line: Vec<Vec<(Category, f32)>> = Vec::with_capacity(calibration.len());
    for chunk in calibration.chunks(32) {
        let texts: Vec<&str> = chunk.iter().map(|l| l.text).collect();
        for (embedding, text) in merged.embed_batch(&texts)?.into_iter().zip(&texts) {
            logits_by_line.push(heads.logits(&super::heads::Features::new(embedding, text)));
        }
    }
    for category in SCORED {
        let negatives: Vec<f32> = calibration
            .iter()
            .zip(&logits_by_line)
            .filter(|(line, _)| !line.labels.contains(&category))
            .filter_map(|(_, logits)| logits.iter().find(|(c, _)| *c == category).map(|&(_, l)| l))
            .collect();
        let pass = if category.always_blocked() { s.always_blocked_pass_rate } else { s.negative_pass_rate };
        let shift = calibrate(negatives, category, pass);
        if let Some(head) = heads.heads.get_mut(&category) {
            head.calibration = shift;
            head.bias += shift;
        }
    }
    progress(format!("calibrated on {} lines", calibration.len()));
    Ok(Trained { heads, adapter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moderation::classifier::local::{MODERATION_ENCODER, test_embedder_of};

    /// The training forward pass must compute what the inference model computes, and a
    /// merged adapter must equal running the adapter alongside the base.
    #[test]
    fn training_forward_matches_the_inference_model_and_merging_is_exact() {
        let Some(embedder) = test_embedder_of(MODERATION_ENCODER) else { return };
        let models = crate::moderation::classifier::default_models_dir();
        let mut encoder = Encoder::new(&models, MODERATION_ENCODER, 4, 7).expect("encoder");
        let texts = ["A cat is sitting on the mat.", "kill the process, then restart the server"];
        let pieces: Vec<Vec<u32>> = texts.iter().map(|t| embedder.framed_pieces(t).expect("pieces")).collect();
        let (ids, mask) = batch_tensors(&pieces.iter().collect::<Vec<_>>(), &Device::Cpu).expect("batch");
        let ours = encoder.embed(&ids, &mask).expect("embed").to_vec2::<f32>().expect("vec");
        let theirs = embedder.embed_batch(&texts).expect("embed");
        for (a, b) in ours.iter().zip(&theirs) {
            let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cos > 0.9999, "cosine {cos}");
        }
        // Give the adapters some non-zero B, then compare adapter-alongside with merged.
        let mut rng = Rng(3);
        for lora in encoder.adapters.values_mut() {
            let (out, rank) = lora.b.as_tensor().dims2().expect("dims");
            let values: Vec<f32> = (0..out * rank).map(|_| rng.normal() * 0.05).collect();
            lora.b.set(&Tensor::from_vec(values, (out, rank), &Device::Cpu).expect("tensor")).expect("set");
        }
        let adapted = encoder.embed(&ids, &mask).expect("embed").to_vec2::<f32>().expect("vec");
        let merged =
            Embedder::from_weights(&models, MODERATION_ENCODER, encoder.merged().expect("merged")).expect("embedder");
        let merged = merged.embed_batch(&texts).expect("embed");
        for ((a, m), base) in adapted.iter().zip(&merged).zip(&theirs) {
            let cos: f32 = a.iter().zip(m).map(|(x, y)| x * y).sum();
            assert!(cos > 0.9999, "merged vs adapted: cosine {cos}");
            let moved: f32 = a.iter().zip(base).map(|(x, y)| x * y).sum();
            assert!(moved < 0.9999, "the adapter changes the embedding: cosine to base {moved}");
        }
    }

    #[test]
    fn stable_cross_entropy_matches_the_definition() {
        let logits = Tensor::new(&[[-30.0f32, 0.0, 2.0]], &Device::Cpu).expect("t");
        let targets = Tensor::new(&[[0.0f32, 1.0, 1.0]], &Device::Cpu).expect("t");
        let got = bce_with_logits(&logits, &targets).expect("bce").to_scalar::<f32>().expect("scalar");
        let want = ((1.0f32 + (-30.0f32).exp()).ln() + 2f32.ln() + (1.0 + (-2.0f32).exp()).ln()) / 3.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}
