//! The embedded chat model: SmolLM2-135M-Instruct, 4-bit GGUF, run by candle's quantized
//! llama on the CPU. The GGUF file carries the tokenizer (byte-level BPE: vocabulary and
//! merges in its metadata), so nothing else is needed.
//!
//! The prompt is laid out in the model's ChatML template, but the special tokens are
//! inserted as ids, never parsed out of text: a user who types `<|im_end|>` gets those
//! characters, not a way out of their turn.
//!
//! Loading re-quantises the 4-bit matrices to 8 bits ([`requantized`]): candle's CPU
//! kernels for Q4_1 are scalar, its Q8_0 ones use SIMD.
//!
//! One generation runs at a time per model (it holds the attention cache); others queue.
//! The work runs on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::Tokenizer;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokio::sync::mpsc::UnboundedSender;

use super::{BoxFuture, ChatModel, ChatTurn, GenerateOptions, LlmError, Role};

/// Directory of the model under the models cache.
pub const MODEL_DIR: &str = "smollm2-135m-instruct";
/// The weights file in it.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Longest prompt fed to the model, in tokens; older turns are dropped first.
pub const PROMPT_BUDGET: usize = 1024;
/// Generated tokens the repeat penalty looks back over.
const REPEAT_WINDOW: usize = 64;
/// Repeat penalty (1 = none); small models loop without one.
const REPEAT_PENALTY: f32 = 1.15;

/// The loaded model, shareable (clones share one model and queue on it).
#[derive(Clone)]
pub struct LocalLlm {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
}

struct Inner {
    model: ModelWeights,
    tokenizer: Tokenizer,
    im_start: u32,
    im_end: u32,
    end_of_text: u32,
}

impl std::fmt::Debug for LocalLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalLlm({})", self.path.display())
    }
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> LlmError {
    LlmError::Unavailable(format!("{}: {e} (run `cargo xtask fetch-models`)", path.display()))
}

impl LocalLlm {
    /// Loads `<models_dir>/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub fn load(models_dir: &Path) -> Result<Self, LlmError> {
        let path = models_dir.join(MODEL_DIR).join(MODEL_FILE);
        let mut file = std::fs::File::open(&path).map_err(|e| unavailable(&path, e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| unavailable(&path, e))?;
        let tokenizer = tokenizer_from_gguf(&content).map_err(|e| unavailable(&path, e))?;
        let id =
            |token: &str| tokenizer.token_to_id(token).ok_or_else(|| unavailable(&path, format!("no {token} token")));
        let (im_start, im_end, end_of_text) = (id("<|im_start|>")?, id("<|im_end|>")?, id("<|endoftext|>")?);
        let (content, mut buffer) = requantized(&content, &mut file).map_err(|e| unavailable(&path, e))?;
        let model = ModelWeights::from_gguf(content, &mut buffer, &Device::Cpu).map_err(|e| unavailable(&path, e))?;
        let inner = Inner { model, tokenizer, im_start, im_end, end_of_text };
        Ok(Self { inner: Arc::new(Mutex::new(inner)), path })
    }
}

/// The model with its Q4_1 matrices re-quantised to Q8_0, as a GGUF in memory. candle has
/// SIMD kernels (AVX2, NEON) for Q8_0 but computes Q4_1 with plain scalar code, which
/// made prompts of a few hundred tokens take seconds; 4-bit values fit 8 bits exactly up
/// to the new per-block scale, so the model is practically unchanged, at 140 MB of memory
/// instead of 98.
fn requantized(
    content: &gguf_file::Content,
    file: &mut std::fs::File,
) -> candle_core::Result<(gguf_file::Content, std::io::Cursor<Vec<u8>>)> {
    use candle_core::quantized::{GgmlDType, QTensor};
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let tensor = content.tensor(file, name, &Device::Cpu)?;
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut buffer = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &refs)?;
    buffer.set_position(0);
    let content = gguf_file::Content::read(&mut buffer)?;
    Ok((content, buffer))
}

/// Rebuilds the byte-level BPE tokenizer stored in a GGUF file's metadata (`gpt2` model,
/// `smollm` pre-tokenizer: digits one by one, then GPT-2's byte-level split).
fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer, String> {
    let strings = |key: &str| -> Result<Vec<String>, String> {
        let values = content.metadata.get(key).ok_or(format!("no {key}"))?.to_vec().map_err(|e| e.to_string())?;
        values.iter().map(|v| v.to_string().cloned().map_err(|e| e.to_string())).collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let vocab: tokenizers::models::bpe::Vocab =
        tokens.into_iter().enumerate().map(|(i, t)| (t, u32::try_from(i).unwrap_or(u32::MAX))).collect();
    let merges = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())).ok_or(format!("bad merge {m:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    Ok(tokenizer)
}

impl Inner {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| LlmError::Failed(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The ChatML prompt's token ids, ending with the assistant's open turn. When it is
    /// over [`PROMPT_BUDGET`], the oldest turns after the first system turn go first.
    fn prompt_ids(&self, prompt: &[ChatTurn]) -> Result<Vec<u32>, LlmError> {
        let newline = self.encode("\n")?;
        let mut turns = prompt
            .iter()
            .map(|turn| {
                let mut ids = vec![self.im_start];
                ids.extend(self.encode(&format!("{}\n{}", turn.role.as_str(), turn.content))?);
                ids.push(self.im_end);
                ids.extend(&newline);
                Ok((turn.role, ids))
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        let mut open = vec![self.im_start];
        open.extend(self.encode("assistant\n")?);
        let total = |turns: &[(Role, Vec<u32>)]| turns.iter().map(|(_, ids)| ids.len()).sum::<usize>() + open.len();
        let first_dropable = usize::from(turns.first().is_some_and(|(role, _)| *role == Role::System));
        while total(&turns) > PROMPT_BUDGET && turns.len() > first_dropable + 1 {
            turns.remove(first_dropable);
        }
        let mut ids: Vec<u32> = turns.into_iter().flat_map(|(_, ids)| ids).collect();
        ids.extend(open);
        if ids.len() > PROMPT_BUDGET {
            ids.drain(..ids.len() - PROMPT_BUDGET);
        }
        Ok(ids)
    }

    fn generate(
        &mut self,
        prompt: &[ChatTurn],
        options: GenerateOptions,
        pieces: &UnboundedSender<String>,
    ) -> Result<String, LlmError> {
        let failed = |e: candle_core::Error| LlmError::Failed(format!("local model: {e}"));
        let ids = self.prompt_ids(prompt)?;
        self.model.clear_kv_cache();
        let sampling = if options.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            Sampling::TopP { p: 0.9, temperature: options.temperature }
        };
        let mut sampler = LogitsProcessor::from_sampling(options.seed, sampling);
        let mut input = Tensor::new(ids.as_slice(), &Device::Cpu).and_then(|t| t.unsqueeze(0)).map_err(failed)?;
        let mut position = 0;
        let mut generated: Vec<u32> = Vec::new();
        let mut shown = 0;
        for _ in 0..options.max_tokens {
            let logits = self.model.forward(&input, position).and_then(|l| l.squeeze(0)).map_err(failed)?;
            position += input.dim(1).map_err(failed)?;
            let recent = &generated[generated.len().saturating_sub(REPEAT_WINDOW)..];
            let logits =
                candle_transformers::utils::apply_repeat_penalty(&logits, REPEAT_PENALTY, recent).map_err(failed)?;
            let next = sampler.sample(&logits).map_err(failed)?;
            if next == self.im_end || next == self.end_of_text || next == self.im_start {
                break;
            }
            generated.push(next);
            let text = self.tokenizer.decode(&generated, true).map_err(|e| LlmError::Failed(e.to_string()))?;
            // A piece ending inside a multi-byte character waits for the next token.
            if text.len() > shown && text.is_char_boundary(shown) && !text.ends_with('\u{FFFD}') {
                let _ = pieces.send(text[shown..].to_owned());
                shown = text.len();
            }
            if position + 1 >= candle_transformers::models::quantized_llama::MAX_SEQ_LEN {
                break;
            }
            input = Tensor::new(&[next], &Device::Cpu).and_then(|t| t.unsqueeze(0)).map_err(failed)?;
        }
        let text = self.tokenizer.decode(&generated, true).map_err(|e| LlmError::Failed(e.to_string()))?;
        if text.len() > shown && text.is_char_boundary(shown) {
            let _ = pieces.send(text[shown..].to_owned());
        }
        Ok(text.trim().to_owned())
    }
}

impl ChatModel for LocalLlm {
    fn name(&self) -> String {
        "local:SmolLM2-135M-Instruct-Q4_1".to_owned()
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a [ChatTurn],
        options: GenerateOptions,
        pieces: &'a UnboundedSender<String>,
    ) -> BoxFuture<'a, Result<String, LlmError>> {
        let inner = Arc::clone(&self.inner);
        let prompt = prompt.to_vec();
        let pieces = pieces.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut inner = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                inner.generate(&prompt, options, &pieces)
            })
            .await
            .map_err(|e| LlmError::Failed(format!("local model task: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moderation::classifier::default_models_dir;

    fn model() -> LocalLlm {
        LocalLlm::load(&default_models_dir()).expect("run `cargo xtask fetch-models` first")
    }

    #[test]
    fn the_gguf_tokenizer_round_trips_text_and_keeps_special_tokens_out_of_user_text() {
        let llm = model();
        let inner = llm.inner.lock().unwrap();
        for text in ["Hello there, I'm Léa! 42 ways", "naïve café — 日本", "  spaced\n\nlines"] {
            let ids = inner.encode(text).unwrap();
            assert_eq!(inner.tokenizer.decode(&ids, false).unwrap(), text);
        }
        // Digits are split one by one (the smollm pre-tokenizer).
        assert_eq!(inner.encode("2026").unwrap().len(), 4);
        let ids = inner.encode("<|im_end|>").unwrap();
        assert!(!ids.contains(&inner.im_end), "typed special tokens must stay text: {ids:?}");
    }

    #[test]
    fn long_prompts_drop_the_oldest_turns_and_keep_the_persona() {
        let llm = model();
        let inner = llm.inner.lock().unwrap();
        let mut prompt = vec![ChatTurn::new(Role::System, "You are Mira.")];
        for i in 0..200 {
            prompt.push(ChatTurn::new(Role::User, format!("message number {i} with a few more words")));
        }
        let ids = inner.prompt_ids(&prompt).unwrap();
        assert!(ids.len() <= PROMPT_BUDGET);
        let text = inner.tokenizer.decode(&ids, false).unwrap();
        assert!(text.starts_with("<|im_start|>system\nYou are Mira.<|im_end|>"), "{}", &text[..40]);
        assert!(text.contains("message number 199") && !text.contains("message number 0 "));
    }

    #[tokio::test]
    async fn generates_a_streamed_reply_that_depends_on_the_prompt() {
        let llm = model();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let options = GenerateOptions { max_tokens: 24, temperature: 0.0, seed: 1 };
        let ask =
            |q: &str| vec![ChatTurn::new(Role::System, "You are a helpful assistant."), ChatTurn::new(Role::User, q)];
        let capital = llm.generate(&ask("What is the capital of France?"), options, &tx).await.unwrap();
        let mut streamed = String::new();
        while let Ok(piece) = rx.try_recv() {
            streamed.push_str(&piece);
        }
        assert_eq!(streamed.trim(), capital);
        assert!(capital.contains("Paris"), "{capital}");
        let other = llm.generate(&ask("Name a colour of the sky."), options, &tx).await.unwrap();
        assert_ne!(capital, other);
        assert!(!other.is_empty());
    }
}
