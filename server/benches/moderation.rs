//! Moderation evaluation and speed, on the held-out split of the project's dataset
//! (`assets/moderation/dataset`, split by `dataset::Example::held_out`):
//!
//! - per-category precision / recall of the full pipeline (pre-filter + local model) at
//!   the STRICT thresholds, next to the lexicon-only pre-filter on the same lines (the
//!   macro averages are anchored on the lexicon's; per-category figures on the ideal, 1);
//! - missed sexual/minors and terrorism lines in every mode (goal: zero);
//! - benign false blocks per mode, and on the hard benign cases alone (goal STRICT ≤ 2 %);
//! - evasion lines caught in STRICT, against the lexicon alone;
//! - the same false-block and missed-line figures on the fresh evaluation set
//!   (`assets/moderation/eval`, never trained on), prefixed `fresh_`;
//! - what zero misses would cost: for sexual/minors and terrorism, the share of benign
//!   lines that score at least as high as the lowest-scored line of the category — the
//!   false blocks that category alone would add if its cut were lowered until no line of
//!   it is missed (on both sets; independent of where calibration puts the cut);
//! - pre-filter p99 latency and the full pipeline's p99 latency and messages/s on one
//!   core (`cargo xtask bench moderation` sets RAYON_NUM_THREADS=1), against the seed's
//!   10 ms budget.
//!
//! Prints a readable report, then `result: <name> <value> <unit> <anchor> <anchor-value>`.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use nexus_server::config::Config;
use nexus_server::moderation::category::Category;
use nexus_server::moderation::classifier::SCORED;
use nexus_server::moderation::classifier::dataset::{Example, Kind, bundled_dir, eval_dir, load_dir};
use nexus_server::moderation::mode::ModerationMode;
use nexus_server::moderation::pipeline::{Assessment, Moderator};
use nexus_server::moderation::policy::Action;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

impl Counts {
    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => {}
        }
    }
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 { 1.0 } else { f64::from(self.tp) / f64::from(self.tp + self.fp) }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 { 1.0 } else { f64::from(self.tp) / f64::from(self.tp + self.fn_) }
    }
}

/// The two always-blocked categories the goals name.
const ALWAYS: [Category; 2] = [Category::SexualMinors, Category::Terrorism];

/// One line's final score for a category, and what the line is.
struct Scored {
    score: f32,
    of_category: bool,
    benign: bool,
}

/// Per always-blocked category, every line's final score for it.
#[derive(Default)]
struct Ranking {
    lines: [Vec<Scored>; 2],
}

impl Ranking {
    fn add(&mut self, a: &Assessment, e: &Example) {
        for (k, c) in ALWAYS.into_iter().enumerate() {
            let score = a.scores.get(&c).copied().unwrap_or(0.0);
            self.lines[k].push(Scored { score, of_category: e.has(c), benign: e.labels.is_empty() });
        }
    }

    /// For category `k`: the lowest score among its lines, and the share of benign lines
    /// scoring at least that.
    fn zero_miss_cost(&self, k: usize) -> (f32, f64) {
        let lines = &self.lines[k];
        let lowest = lines.iter().filter(|l| l.of_category).map(|l| l.score).fold(f32::INFINITY, f32::min);
        let benign = lines.iter().filter(|l| l.benign).count();
        let above = lines.iter().filter(|l| l.benign && l.score >= lowest).count();
        (lowest, if benign == 0 { 0.0 } else { above as f64 / benign as f64 })
    }
}

fn blocked_for(a: &Assessment, category: Category) -> bool {
    a.decision.action == Action::Block && a.decision.categories.contains(&category)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let config = Config::embedded(dir.path().to_path_buf());
    let moderator = Moderator::from_config(&config)?;
    anyhow::ensure!(moderator.classifier.is_available(), "local model missing: run `cargo xtask fetch-models`");
    let examples = load_dir(&bundled_dir())?;
    let held: Vec<&Example> = examples.iter().filter(|e| e.held_out() && e.kind != Kind::Evasion).collect();
    let evasion: Vec<&Example> = examples.iter().filter(|e| e.kind == Kind::Evasion).collect();
    println!(
        "dataset: {} lines, {} held out (+{} evasion lines, all held out), threads={}",
        examples.len(),
        held.len(),
        evasion.len(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
    );

    // Quality, STRICT cut, pipeline vs lexicon alone.
    let modes = [ModerationMode::Strict, ModerationMode::Light, ModerationMode::Optional];
    let mut pipeline = vec![Counts::default(); SCORED.len()];
    let mut lexicon = vec![Counts::default(); SCORED.len()];
    let mut benign_blocks = [0u32; 3];
    let mut hard_blocks = [0u32; 3];
    let mut missed = [[0u32; 3]; 2]; // [csam, terrorism][mode]
    let mut latencies = Vec::new();
    let mut ranking = Ranking::default();
    let (mut benign, mut hard) = (0u32, 0u32);
    let all_start = Instant::now();
    let mut assessed = 0u32;
    for e in &held {
        let lexicon_hits: Vec<Category> = moderator.prefilter.scan(&e.text).into_iter().map(|h| h.category).collect();
        for (mi, &mode) in modes.iter().enumerate() {
            let start = Instant::now();
            let a = moderator.assess_text(mode, &e.text).await;
            latencies.push(start.elapsed().as_secs_f64() * 1e3);
            assessed += 1;
            if mi == 0 {
                ranking.add(&a, e);
                for (ci, &c) in SCORED.iter().enumerate() {
                    let score = a.scores.get(&c).copied().unwrap_or(0.0);
                    pipeline[ci].add(score > moderator.thresholds.strict_cut(c), e.has(c));
                    lexicon[ci].add(lexicon_hits.contains(&c), e.has(c));
                }
            }
            if e.labels.is_empty() && a.decision.action == Action::Block {
                benign_blocks[mi] += 1;
                if e.kind == Kind::Hard {
                    hard_blocks[mi] += 1;
                }
                if mi == 0 {
                    println!("  false block ({:?}): {:?} -> {:?}", e.kind, e.text, a.decision.categories);
                }
            }
            if e.has(Category::SexualMinors) && !blocked_for(&a, Category::SexualMinors) {
                missed[0][mi] += 1;
                println!("  missed sexual/minors ({mode:?}): {:?}", e.text);
            }
            if e.has(Category::Terrorism) && !blocked_for(&a, Category::Terrorism) {
                missed[1][mi] += 1;
                println!("  missed terrorism ({mode:?}): {:?}", e.text);
            }
        }
        if e.labels.is_empty() {
            benign += 1;
            hard += u32::from(e.kind == Kind::Hard);
        }
    }
    let throughput = f64::from(assessed) / all_start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);

    // Evasion: caught = STRICT blocks it (any category); lexicon = any pre-filter hit.
    let (mut caught, mut lexicon_caught) = (0u32, 0u32);
    for e in &evasion {
        let a = moderator.assess_text(ModerationMode::Strict, &e.text).await;
        if a.decision.action == Action::Block {
            caught += 1;
        } else {
            println!("  evasion not blocked: {:?}", e.text);
        }
        lexicon_caught += u32::from(!moderator.prefilter.scan(&e.text).is_empty());
    }

    // The fresh set: what the model never saw, written apart from the dataset.
    let fresh = load_dir(&eval_dir())?;
    let (mut fresh_benign, mut fresh_blocks) = (0u32, [0u32; 3]);
    let mut fresh_missed = [[0u32; 3]; 2];
    let mut fresh_ranking = Ranking::default();
    for e in &fresh {
        for (mi, &mode) in modes.iter().enumerate() {
            let a = moderator.assess_text(mode, &e.text).await;
            if mi == 0 {
                fresh_ranking.add(&a, e);
            }
            if e.labels.is_empty() && a.decision.action == Action::Block {
                fresh_blocks[mi] += 1;
                if mi == 0 {
                    println!("  fresh false block ({:?}): {:?} -> {:?}", e.kind, e.text, a.decision.categories);
                }
            }
            for (k, c) in ALWAYS.into_iter().enumerate() {
                if e.has(c) && !blocked_for(&a, c) {
                    fresh_missed[k][mi] += 1;
                    if mi == 0 {
                        println!("  fresh missed {}: {:?}", c.as_str(), e.text);
                    }
                }
            }
        }
        fresh_benign += u32::from(e.labels.is_empty());
    }

    // Pre-filter alone (lexicon + URLs), every dataset line, several rounds.
    let mut pre = Vec::new();
    for _ in 0..20 {
        for e in &examples {
            let start = Instant::now();
            std::hint::black_box(moderator.prefilter.scan(&e.text));
            std::hint::black_box(moderator.urls.scan(&e.text));
            pre.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    pre.sort_by(f64::total_cmp);

    println!("\nper category, STRICT cut (pipeline | lexicon alone), held-out split:");
    println!("{:<22} {:>9} {:>7} {:>6}   {:>9} {:>7}", "category", "precision", "recall", "n", "precision", "recall");
    for (ci, c) in SCORED.iter().enumerate() {
        let n = pipeline[ci].tp + pipeline[ci].fn_;
        println!(
            "{:<22} {:>9.3} {:>7.3} {:>6}   {:>9.3} {:>7.3}",
            c.as_str(),
            pipeline[ci].precision(),
            pipeline[ci].recall(),
            n,
            lexicon[ci].precision(),
            lexicon[ci].recall()
        );
    }
    let macro_avg = |v: &[Counts], f: fn(Counts) -> f64| v.iter().map(|c| f(*c)).sum::<f64>() / v.len() as f64;
    println!("benign held-out lines: {benign} (hard cases {hard}); evasion lines: {}", evasion.len());
    for (mi, mode) in modes.iter().enumerate() {
        println!(
            "{mode:?}: benign false blocks {} ({} hard), missed sexual/minors {}, missed terrorism {}",
            benign_blocks[mi], hard_blocks[mi], missed[0][mi], missed[1][mi]
        );
    }

    let csam_n = held.iter().filter(|e| e.has(Category::SexualMinors)).count();
    let terror_n = held.iter().filter(|e| e.has(Category::Terrorism)).count();
    let rate = |n: u32, d: u32| if d == 0 { 0.0 } else { f64::from(n) / f64::from(d) };
    for (ci, c) in SCORED.iter().enumerate() {
        let name = c.as_str().replace('/', "_");
        println!(
            "result: precision.{name} {:.3} fraction lexicon_precision {:.3}",
            pipeline[ci].precision(),
            lexicon[ci].precision()
        );
        println!(
            "result: recall.{name} {:.3} fraction lexicon_recall {:.3}",
            pipeline[ci].recall(),
            lexicon[ci].recall()
        );
    }
    println!(
        "result: macro_recall {:.3} fraction lexicon_macro_recall {:.3}",
        macro_avg(&pipeline, Counts::recall),
        macro_avg(&lexicon, Counts::recall)
    );
    println!(
        "result: macro_precision {:.3} fraction lexicon_macro_precision {:.3}",
        macro_avg(&pipeline, Counts::precision),
        macro_avg(&lexicon, Counts::precision)
    );
    for (mi, mode) in ["strict", "light", "optional"].iter().enumerate() {
        println!("result: missed_sexual_minors_{mode} {} lines held_out_sexual_minors {csam_n}", missed[0][mi]);
        println!("result: missed_terrorism_{mode} {} lines held_out_terrorism {terror_n}", missed[1][mi]);
        println!(
            "result: benign_false_block_rate_{mode} {:.4} fraction goal_strict_2pct 0.02",
            rate(benign_blocks[mi], benign)
        );
    }
    println!(
        "result: hard_benign_false_block_rate_strict {:.4} fraction goal_strict_2pct 0.02",
        rate(hard_blocks[0], hard)
    );
    let fresh_csam = fresh.iter().filter(|e| e.has(Category::SexualMinors)).count();
    let fresh_terror = fresh.iter().filter(|e| e.has(Category::Terrorism)).count();
    println!("fresh set: {} lines, {fresh_benign} benign", fresh.len());
    for (mi, mode) in ["strict", "light", "optional"].iter().enumerate() {
        println!(
            "result: fresh_benign_false_block_rate_{mode} {:.4} fraction goal_strict_2pct 0.02",
            rate(fresh_blocks[mi], fresh_benign)
        );
        println!(
            "result: fresh_missed_sexual_minors_{mode} {} lines fresh_sexual_minors {fresh_csam}",
            fresh_missed[0][mi]
        );
        println!("result: fresh_missed_terrorism_{mode} {} lines fresh_terrorism {fresh_terror}", fresh_missed[1][mi]);
    }
    for (set, r) in [("", &ranking), ("fresh_", &fresh_ranking)] {
        for (k, c) in ALWAYS.into_iter().enumerate() {
            let (lowest, cost) = r.zero_miss_cost(k);
            let name = c.as_str().replace('/', "_");
            println!("{set}{name}: lowest-scored line {lowest:.5}; benign lines at or above it {:.1} %", cost * 100.0);
            println!("result: {set}zero_miss_benign_block_rate_{name} {cost:.4} fraction goal_strict_2pct 0.02");
        }
    }
    println!("lexicon alone hits {lexicon_caught} of {} evasion lines", evasion.len());
    println!("result: evasion_blocked_strict {:.3} fraction ideal 1", rate(caught, evasion.len() as u32));
    println!("result: prefilter_p99_us {:.2} us seed_budget_10ms_in_us 10000", percentile(&pre, 0.99));
    println!("result: pipeline_p50_ms {:.2} ms seed_budget_10ms 10", percentile(&latencies, 0.5));
    println!("result: pipeline_p99_ms {:.2} ms seed_budget_10ms 10", percentile(&latencies, 0.99));
    println!("result: pipeline_msgs_per_s_one_core {throughput:.1} msgs/s msgs_per_s_at_10ms_each 100");
    Ok(())
}
