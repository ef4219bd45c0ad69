//! `cargo xtask gen-avatar`: generates the project's rigged humanoid (skinned mesh, VRM
//! bone names, 52 ARKit morph targets, eyeballs on eye bones) as binary glTF.
//!
//! `--appearance '<json>'` (or a path to a JSON file) picks the seed's appearance
//! options, e.g. `{"presentation":"masculine","height":1.8,"skin_tone":"v",
//! "hair_color":"black","eye_color":"brown","top":[0.5,0.1,0.1],"bottom":[0.1,0.1,0.1]}`;
//! `--out PATH` sets the file (default `assets/avatars/companion.glb`).

use std::time::Instant;

use nexus_avatar::generate::{Appearance, Quality, generate, glb};

/// Runs the generator.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut appearance = Appearance::default();
    let mut out = crate::root().join("assets/avatars/companion.glb");
    let mut quality = Quality::FINAL;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--appearance" => {
                let value = it.next().ok_or_else(|| anyhow::anyhow!("--appearance needs a value"))?;
                let text =
                    if std::path::Path::new(value).is_file() { std::fs::read_to_string(value)? } else { value.clone() };
                appearance = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("--appearance: {e} (see `cargo xtask gen-avatar --help`)"))?;
            }
            "--out" => out = it.next().ok_or_else(|| anyhow::anyhow!("--out needs a path"))?.into(),
            "--preview" => quality = Quality::PREVIEW,
            "--help" | "-h" => {
                println!("cargo xtask gen-avatar [--appearance JSON|FILE] [--out PATH] [--preview]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    anyhow::ensure!(
        appearance.height.is_finite() && (1.2..=2.3).contains(&appearance.height),
        "height must be between 1.2 and 2.3 m"
    );
    println!("==> meshing the avatar (body, head, hands at {:?}) …", quality);
    let start = Instant::now();
    let avatar = generate(&appearance, quality);
    for mesh in &avatar.meshes {
        println!(
            "    {:<6} {:>6} vertices {:>6} triangles {:>2} morph targets",
            mesh.name,
            mesh.positions.len(),
            mesh.indices.len() / 3,
            mesh.morphs.len()
        );
    }
    let bytes = glb::write(&avatar);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &bytes)?;
    println!(
        "==> wrote {} ({:.1} MB) in {:.1} s",
        out.display(),
        bytes.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
