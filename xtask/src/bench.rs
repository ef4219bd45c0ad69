//! `cargo xtask bench <area>`: runs a benchmark and ends with one line per figure,
//! `bench: <area>.<name> value=<v> unit=<u> anchor=<a> ratio=<r>`, where the anchor is
//! measured in the same run. Lines are also written to `<target>/bench/<area>.txt`.

use std::process::Command;

use crate::pg::PgCluster;
use crate::{cargo, run_step};

/// One figure, with its own anchor when the bench printed one.
struct Figure {
    name: String,
    value: f64,
    unit: String,
    anchor: Option<(String, f64)>,
}

/// Runs `cargo bench -p nexus-server --bench <bench>` and collects its `result:` lines,
/// `result: <name> <value> <unit> [<anchor-name> <anchor-value>]`.
fn bench_binary(bench: &str, env: &[(&str, String)]) -> anyhow::Result<Vec<Figure>> {
    bench_package("nexus-server", &[], bench, env)
}

/// [`bench_binary`] for any package, with extra cargo features.
fn bench_package(package: &str, features: &[&str], bench: &str, env: &[(&str, String)]) -> anyhow::Result<Vec<Figure>> {
    println!("==> cargo bench -p {package} --bench {bench} {}", features.join(" "));
    let mut cmd = cargo();
    // Linted as it is built (clippy -D warnings), as the test build is.
    crate::test::linted(&mut cmd).args(["bench", "-p", package, "--bench", bench]);
    if !features.is_empty() {
        // Only what the bench names: a default feature may pull in a whole engine.
        cmd.args(["--no-default-features", "--features", &features.join(",")]);
    }
    let out = cmd.envs(env.iter().cloned()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    anyhow::ensure!(out.status.success(), "bench {bench} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    Ok(stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("result: ")?.split_whitespace();
            let name = parts.next()?.to_owned();
            let value = parts.next()?.parse().ok()?;
            let unit = parts.next()?.to_owned();
            let anchor = match (parts.next(), parts.next().and_then(|v| v.parse().ok())) {
                (Some(anchor), Some(value)) => Some((anchor.to_owned(), value)),
                _ => None,
            };
            Some(Figure { name, value, unit, anchor })
        })
        .collect())
}

fn report(area: &str, anchor_name: &str, anchor: f64, figures: &[Figure]) -> anyhow::Result<()> {
    let lines: Vec<String> = figures
        .iter()
        .map(|f| {
            let (name, value) = f.anchor.as_ref().map_or((anchor_name, anchor), |(n, v)| (n.as_str(), *v));
            format!(
                "bench: {area}.{} value={} unit={} anchor={name} ratio={:.3}",
                f.name,
                f.value,
                f.unit,
                if value > 0.0 { f.value / value } else { f64::NAN }
            )
        })
        .collect();
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{area}.txt")), lines.join("\n") + "\n")?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn pgbench_tps(cluster: &PgCluster, clients: u32, secs: u32) -> anyhow::Result<f64> {
    let port = cluster.port().to_string();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str(), "-U", "postgres"];
    run_step(
        "pgbench -i -s 10",
        Command::new(cluster.bin("pgbench")).args(conn).args(["-i", "-q", "-s", "10", "postgres"]),
    )?;
    println!("==> pgbench -c {clients} -j 2 -T {secs} (TPC-B-like)");
    let out = Command::new(cluster.bin("pgbench"))
        .args(conn)
        .args(["-c", &clients.to_string(), "-j", "2", "-T", &secs.to_string(), "-n", "postgres"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output:\n{stdout}"))
}

/// Runs one area.
pub fn run(area: &str) -> anyhow::Result<()> {
    crate::setup::run()?;
    if !matches!(area, "avatar" | "net") {
        crate::models::run()?;
    }
    match area {
        "ledger" => {
            let clients = 64;
            let cluster = PgCluster::start()?;
            let tps = pgbench_tps(&cluster, clients, 15)?;
            let mut figures =
                vec![Figure { name: "pgbench_tps_c64".into(), value: tps, unit: "tps".into(), anchor: None }];
            figures.extend(bench_binary(
                "ledger",
                &[("NEXUS_BENCH_PG_URL", cluster.url("postgres")), ("NEXUS_BENCH_CLIENTS", clients.to_string())],
            )?);
            // Latency figures are not throughputs; only throughputs are compared to pgbench.
            figures.retain(|f| f.unit != "ms");
            report("ledger", "pgbench_tps_c64", tps, &figures)
        }
        "login" => {
            let figures = bench_binary("login", &[])?;
            let anchor = figures
                .iter()
                .find(|f| f.name == "argon2id_hash_ms")
                .map(|f| f.value)
                .ok_or_else(|| anyhow::anyhow!("login bench printed no argon2id_hash_ms"))?;
            report("login", "argon2id_hash_ms", anchor, &figures)
        }
        "moderation" => {
            // Every moderation figure names its own anchor: the seed's 10 ms budget for
            // speed, the lexicon-only baseline for quality, the goals for rates.
            let one_core = [("RAYON_NUM_THREADS", "1".to_owned()), ("CANDLE_NUM_THREADS", "1".to_owned())];
            let figures = bench_binary("moderation", &one_core)?;
            report("moderation", "none", f64::NAN, &figures)
        }
        "client" => client(),
        "avatar" => {
            // Each figure names its anchor: the per-avatar share of 10 % of a 90 Hz frame,
            // the frame itself for delays, a published figure or a same-run baseline.
            let figures = bench_package("nexus-avatar", &["espeak"], "avatar", &[])?;
            report("avatar", "none", f64::NAN, &figures)
        }
        "companion" => {
            // Every stage is anchored on the ~1 s of a human conversational turn.
            let figures = bench_binary("companion", &[])?;
            report("companion", "none", f64::NAN, &figures)
        }
        "net" => {
            // Each figure names its anchor: naive JSON of the same state, a published
            // per-avatar figure, a JSON relay of the same data, the 20 ms fan-out budget,
            // drawing the newest snapshot instead of interpolating.
            let figures = bench_binary("net", &[])?;
            report("net", "none", f64::NAN, &figures)
        }
        other => anyhow::bail!(
            "unknown bench area {other:?}; known: ledger, login, moderation, companion, client, avatar, net"
        ),
    }
}

/// Percentile `p` (0–100) of `v` (nearest rank).
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The client's frame loop in the café terrace: the recorded walk replayed in the
/// headless client (the dev-profile build `cargo xtask demo` runs, every crate at
/// opt-level 2), 640×480 on whatever Vulkan device there is (lavapipe here). CPU time of the
/// main-world update per frame against the 11.1 ms of a 90 Hz frame.
fn client() -> anyhow::Result<()> {
    run_step("cargo build -p nexus-client", cargo().args(["build", "-p", "nexus-client"]))?;
    let budget = 1000.0 / 90.0;
    let fig = |name: String, value: f64| Figure {
        name,
        value,
        unit: "ms".into(),
        anchor: Some(("frame_budget_90hz_ms".into(), budget)),
    };
    let mut figures = Vec::new();
    // The room as users see it, then the same replay without the companion's avatar: the
    // difference is what one animated, skinned, morphed avatar costs here.
    for (suffix, extra) in [("", None), ("_no_companion", Some("--no-companion"))] {
        let (update, frame) = client_run(extra)?;
        figures.push(fig(format!("app_update_p50_ms{suffix}"), percentile(&update, 50.0)));
        figures.push(fig(format!("app_update_p99_ms{suffix}"), percentile(&update, 99.0)));
        figures.push(fig(format!("frame_incl_software_render_p50_ms{suffix}"), percentile(&frame, 50.0)));
        figures.push(fig(format!("frame_incl_software_render_p99_ms{suffix}"), percentile(&frame, 99.0)));
    }
    report("client", "frame_budget_90hz_ms", budget, &figures)
}

/// One headless replay; per-frame update and whole-frame times after the first second.
fn client_run(extra: Option<&str>) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("client-data");
    let _ = std::fs::remove_dir_all(&data);
    let report_path = dir.join("client-frames.json");
    let bin = crate::target_dir().join("debug").join("nexus-client");
    run_step(
        &format!("nexus-client --headless {} (replaying assets/tracking/cafe_walk.jsonl)", extra.unwrap_or("")),
        Command::new(bin)
            .current_dir(crate::root())
            .args(["--headless", "--size", "640x480", "--demo-profile", "--frames", "288", "--replay"])
            .arg(crate::root().join("assets/tracking/cafe_walk.jsonl"))
            .arg("--data-dir")
            .arg(&data)
            .arg("--settings")
            .arg(data.join("settings.toml"))
            .arg("--bench-report")
            .arg(&report_path)
            .args(extra)
            .env("RUST_LOG", "warn"),
    )?;
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
    let series = |k: &str| -> Vec<f64> {
        json[k].as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
    };
    // The first frames in the room build pipelines and upload meshes; skip a second's worth.
    let update: Vec<f64> = series("update_ms").into_iter().skip(72).collect();
    let frame: Vec<f64> = series("frame_ms").into_iter().skip(72).collect();
    anyhow::ensure!(update.len() > 100, "too few frames measured ({})", update.len());
    Ok((update, frame))
}
