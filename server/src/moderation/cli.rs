//! Operator tools that need no server and no database:
//!
//! - `nexus-server moderate --mode strict|light|optional`: JSON lines `{"text": "…"}` on
//!   stdin, one JSON line per input on stdout with `action`, `scores`, `categories`,
//!   `severity`, `alerts` (and `engines`). A line that cannot be read gets
//!   `{"error": {"code", "message"}}` and the stream goes on.
//! - `nexus-server train-classifier`: fine-tunes the local classifier's adapter and heads
//!   on the dataset (run through `cargo xtask train-moderation`).

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

/// Fine-tunes the adapter and heads on the fit split of `dataset`, calibrates on its
/// calibration split, and writes the heads to `out` and the adapter next to them
/// (`<out stem>.adapter.safetensors`). `epochs` overrides the default when given.
#[cfg(feature = "local-classifier")]
pub fn train(dataset: &Path, out: &Path, models_dir: &Path, epochs: Option<usize>) -> anyhow::Result<()> {
    use sha2::{Digest as _, Sha256};

    use super::classifier::dataset::{Split, load_dir};
    use super::classifier::finetune::{self, FineTune, Labelled};
    use super::classifier::heads::AdapterRef;

    let examples = load_dir(dataset)?;
    let part = |split: Split| -> Vec<Labelled<'_>> {
        examples.iter().filter(|e| e.split() == split).map(|e| Labelled { text: &e.text, labels: &e.labels }).collect()
    };
    let (fit, calibration) = (part(Split::Fit), part(Split::Calibration));
    let mut settings = FineTune::default();
    if let Some(epochs) = epochs {
        settings.epochs = epochs;
    }
    tracing::info!(total = examples.len(), fit = fit.len(), calibration = calibration.len(), ?settings, "fine-tuning");
    let mut progress = |line: String| tracing::info!("{line}");
    let trained = finetune::train(models_dir, &fit, &calibration, settings, &mut progress)?;
    let stem = out.file_stem().map_or_else(|| "heads".into(), |s| s.to_string_lossy().into_owned());
    let adapter_name = format!("{stem}.adapter.safetensors");
    let adapter_path = out.with_file_name(&adapter_name);
    if let Some(parent) = adapter_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    candle_core::safetensors::save(&trained.adapter, &adapter_path)?;
    let sha256 = hex::encode(Sha256::digest(std::fs::read(&adapter_path)?));
    let mut heads = trained.heads;
    heads.adapter = Some(AdapterRef { file: adapter_name, sha256 });
    heads.save(out)?;
    tracing::info!(heads = %out.display(), adapter = %adapter_path.display(), "written");
    Ok(())
}

/// Built without the `local-classifier` feature: there is no model to train with.
#[cfg(not(feature = "local-classifier"))]
pub fn train(_dataset: &Path, _out: &Path, _models_dir: &Path, _epochs: Option<usize>) -> anyhow::Result<()> {
    anyhow::bail!("this build has no local model: rebuild with the `local-classifier` feature")
}
