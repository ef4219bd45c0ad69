//! Operator tools that need no server and no database:
//!
//! - `nexus-server moderate --mode strict|light|optional`: JSON lines `{"text": "…"}` on
//!   stdin, one JSON line per input on stdout with `action`, `scores`, `categories`,
//!   `severity`, `alerts` (and `engines`). A line that cannot be read gets
//!   `{"error": {"code", "message"}}` and the stream goes on.
//! - `nexus-server train-classifier`: embeds the dataset's training split and fits the
//!   heads (run through `cargo xtask train-moderation`).

use std::io::{BufRead, Write};
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::mode::ModerationMode;
use super::pipeline::Moderator;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    text: String,
}

/// Longest accepted input line, in bytes (the API's body limit is smaller).
const MAX_LINE: usize = 1 << 20;

/// Reads JSON lines from `input` and writes one decision per line to `output`.
pub async fn moderate(
    moderator: &Moderator,
    mode: ModerationMode,
    mut input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<usize> {
    let mut buf = Vec::new();
    let mut count = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = match answer(moderator, mode, &buf).await {
            Ok(v) | Err(v) => v,
        };
        serde_json::to_writer(&mut output, &line)?;
        output.write_all(b"\n")?;
        output.flush()?;
        count += 1;
    }
    Ok(count)
}

async fn answer(
    moderator: &Moderator,
    mode: ModerationMode,
    raw: &[u8],
) -> Result<serde_json::Value, serde_json::Value> {
    let error = |code: &str, message: String| json!({"error": {"code": code, "message": message}});
    if raw.len() > MAX_LINE {
        return Err(error("content_too_long", format!("a line is at most {MAX_LINE} bytes")));
    }
    let text = std::str::from_utf8(raw).map_err(|e| error("invalid_utf8", e.to_string()))?;
    let input: Input = serde_json::from_str(text).map_err(|e| error("invalid_json", e.to_string()))?;
    if input.text.trim().is_empty() {
        return Err(error("empty_content", "nothing to check".into()));
    }
    let a = moderator.assess_text(mode, &input.text).await;
    let scores: serde_json::Map<String, serde_json::Value> =
        a.scores.iter().map(|(c, s)| (c.as_str().to_owned(), json!((f64::from(*s) * 1e4).round() / 1e4))).collect();
    let mut out = json!({
        "action": a.decision.action,
        "scores": scores,
        "categories": a.decision.categories,
        "severity": a.decision.severity,
        "alerts": a.decision.alerts,
        "engines": a.engines,
    });
    if let Some(why) = a.unavailable {
        out["unavailable"] = json!(why);
    }
    Ok(out)
}

/// Embeds the training split of `dataset` and writes fitted heads to `out`.
#[cfg(feature = "local-classifier")]
pub fn train(dataset: &Path, out: &Path, models_dir: &Path, embeddings_out: Option<&Path>) -> anyhow::Result<()> {
    use super::classifier::dataset::load_dir;
    use super::classifier::heads::{Features, Heads, TrainSettings};
    use super::classifier::local::Embedder;

    let examples = load_dir(dataset)?;
    let train: Vec<_> = examples.iter().filter(|e| !e.held_out()).collect();
    tracing::info!(total = examples.len(), train = train.len(), "embedding the training split");
    let embedder = Embedder::load(models_dir)?;
    let mut features = Vec::with_capacity(train.len());
    for chunk in train.chunks(32) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let embeddings = embedder.embed_batch(&texts)?;
        features.extend(embeddings.into_iter().zip(&texts).map(|(v, t)| Features::new(v, t)));
    }
    if let Some(path) = embeddings_out {
        dump_embeddings(&embedder, &examples, path)?;
    }
    let labels: Vec<_> = train.iter().map(|e| e.labels.clone()).collect();
    tracing::info!("fitting and calibrating the heads (5-fold)");
    let heads =
        Heads::train(&features, &labels, TrainSettings::default(), "all-MiniLM-L6-v2, mean-pooled, L2-normalised");
    heads.save(out)?;
    tracing::info!(out = %out.display(), "heads written");
    Ok(())
}

/// Writes every line's embeddings (as written and unmasked) as JSON lines, for analysis
/// of the heads outside this program.
#[cfg(feature = "local-classifier")]
fn dump_embeddings(
    embedder: &super::classifier::local::Embedder,
    examples: &[super::classifier::dataset::Example],
    path: &Path,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in examples {
        let unmasked = super::normalize::unmask(&e.text);
        let texts: Vec<&str> = std::iter::once(e.text.as_str()).chain(unmasked.as_deref()).collect();
        let vectors = embedder.embed_batch(&texts)?;
        let line = json!({
            "lang": e.lang, "kind": format!("{:?}", e.kind), "held_out": e.held_out(),
            "labels": e.labels, "vectors": vectors,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Built without the `local-classifier` feature: there is no model to train with.
#[cfg(not(feature = "local-classifier"))]
pub fn train(_dataset: &Path, _out: &Path, _models_dir: &Path, _embeddings_out: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!("this build has no local model: rebuild with the `local-classifier` feature")
}
