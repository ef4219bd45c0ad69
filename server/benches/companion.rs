//! The companion's call loop (seed §6.1), stage by stage, with the embedded models on
//! this machine's CPU: speech-to-text (whisper.cpp, tiny.en: the companion speaks
//! English) of a spoken clip made with espeak-ng → moderation of the transcript → the
//! local LLM (first token, whole reply) → moderation of the reply → text-to-speech with
//! its viseme track. Then speech-to-text of a French clip (Whisper base, told the
//! language, and detecting it), and the Piper voice on a fixed line.
//!
//! Each stage's p50 and p95 over the runs, and the time to the first reply audio as
//! ratios to the ~1 s a person takes to answer in conversation (Stivers et al. 2009
//! measured gaps of ~200 ms across ten languages; a full turn with a thought behind it
//! is nearer a second): `first_audio` when the reply is spoken once complete (`POST
//! …/voice`), `first_audio_streamed` when its first sentence is moderated and spoken
//! while the model writes the rest (`POST …/voice/stream`).
//!
//! Prints a readable report, then `result: <name> <value> <unit> <anchor> <anchor-value>`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::cast_precision_loss)]

use std::time::Instant;

use chrono::Utc;
use nexus_server::companion::emotion::EmotionalState;
use nexus_server::companion::llm::{ChatTurn, GenerateOptions};
use nexus_server::companion::profile::{Appearance, Companion, GeneticProfile, Personality, Voice};
use nexus_server::companion::vetting::{Next, Vetting};
use nexus_server::companion::{listen, llm, persona, voice};
use nexus_server::config::Config;
use nexus_server::moderation::mode::ModerationMode;
use nexus_server::moderation::pipeline::Moderator;

const RUNS: usize = 10;
const HUMAN_TURN_MS: f64 = 1_000.0;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded(dir.path().to_path_buf());
    let models = nexus_server::moderation::classifier::default_models_dir();
    let moderator = Moderator::from_config(&config).unwrap();
    let stt = listen::local_transcriber(&models).expect("run `cargo xtask fetch-models` (whisper)");
    let brain = llm::local_model(&models).expect("run `cargo xtask fetch-models` (SmolLM2)");
    let voices = voice::Voices::load(&models);
    let now = Utc::now();
    let companion = Companion {
        id: uuid::Uuid::now_v7(),
        owner_id: uuid::Uuid::now_v7(),
        name: "Mira".into(),
        appearance: Appearance::default(),
        personality: Personality::default(),
        voice: Voice { voice: "en-us+f3".into(), rate_wpm: 170, pitch: 55 },
        backstory: Some("Grew up by the sea and loves old maps.".into()),
        genetic_profile: GeneticProfile::from_seed(7),
        emotional_state: EmotionalState::default(),
        traits_frozen: false,
        is_public: false,
        created_at: now,
        last_evolution_date: None,
        updated_at: now,
    };
    let clip_text = "Hi Mira, I had a long day at work. Can you tell me something cheerful?";
    let settings = nexus_avatar::lip_sync::espeak::VoiceSettings { voice: "en-us".into(), rate_wpm: 160, pitch: 45 };
    let spoken = nexus_avatar::lip_sync::espeak::synthesize(clip_text, &settings).unwrap();
    let clip = voice::wav(&spoken.samples, spoken.sample_rate);
    println!("clip: {:.2} s of espeak-ng speech; {RUNS} runs after one warm-up", spoken.duration_s);

    let mut stages: Vec<(&str, Vec<f64>)> = [
        "stt",
        "moderation_in",
        "llm_first_token",
        "llm_reply",
        "moderation_out",
        "tts",
        "first_audio",
        "first_audio_streamed",
    ]
    .into_iter()
    .map(|s| (s, Vec::new()))
    .collect();
    let mut tokens = 0usize;
    let mut reply_ms = 0.0;
    for run in 0..=RUNS {
        let t0 = Instant::now();
        let samples = listen::decode_wav(&clip).unwrap();
        let transcript =
            listen::transcribe(&stt, samples, listen::Hint::for_companion(&companion.voice.voice, &companion.name))
                .await
                .unwrap();
        let t_stt = t0.elapsed();
        let _ = moderator.assess_text(ModerationMode::Strict, &transcript.text).await;
        let t_mod_in = t0.elapsed();
        let prompt = persona::prompt(&companion, &[], &Vec::<ChatTurn>::new(), &transcript.text);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        // As the streamed voice endpoint does: the first finished sentence is moderated
        // and spoken while the model goes on writing.
        let (moderator_s, voices_s, voice_s) = (moderator.clone(), voices.clone(), companion.voice.clone());
        let modulation = companion.emotional_state.voice();
        let first = tokio::spawn(async move {
            let (mut first, mut first_audio, mut n) = (None, None, 0);
            let mut vetting = Vetting::default();
            while let Some(piece) = rx.recv().await {
                first.get_or_insert_with(Instant::now);
                n += 1;
                if first_audio.is_none()
                    && let Next::Vet(text) = vetting.push(&piece)
                {
                    let _ = moderator_s.assess_text(ModerationMode::Strict, &text).await;
                    let _ = voice::speak(&voices_s, &voice_s, modulation, &text).await.unwrap();
                    first_audio = Some(Instant::now());
                }
            }
            (first, n, first_audio)
        });
        let options = GenerateOptions { seed: run as u64, ..GenerateOptions::default() };
        let reply = brain.generate(&prompt, options, &tx).await.unwrap();
        drop(tx);
        let t_llm = t0.elapsed();
        let (first_piece, pieces, first_sentence_audio) = first.await.unwrap();
        let (_, said) = persona::split_tag(&reply);
        let said = if said.is_empty() { "Hello!".to_owned() } else { said };
        let _ = moderator.assess_text(ModerationMode::Strict, &said).await;
        let t_mod_out = t0.elapsed();
        let speech = voice::speak(&voices, &companion.voice, companion.emotional_state.voice(), &said).await.unwrap();
        let t_tts = t0.elapsed();
        if run == 0 {
            println!("heard: {:?}\nreplied: {said:?} ({:.1} s of audio)", transcript.text, speech.duration_s);
            continue;
        }
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let first_token = first_piece.map_or(ms(t_llm), |t| ms(t - t0));
        let values = [
            ms(t_stt),
            ms(t_mod_in - t_stt),
            first_token - ms(t_mod_in),
            ms(t_llm - t_mod_in),
            ms(t_mod_out - t_llm),
            ms(t_tts - t_mod_out),
            ms(t_tts),
            // A reply of one sentence is spoken only once it is whole.
            first_sentence_audio.map_or(ms(t_tts), |t| ms(t - t0)),
        ];
        for ((_, v), x) in stages.iter_mut().zip(values) {
            v.push(x);
        }
        tokens += pieces;
        reply_ms += ms(t_llm - t_mod_in);
    }
    // Speech-to-text in French: a companion with a French voice (Whisper base, told the
    // language), and room voice, whose language Whisper base detects first.
    let spoken_fr = nexus_avatar::lip_sync::espeak::synthesize(
        "Bonsoir Léa. Je suis fatiguée ce soir, tu me racontes une histoire ?",
        &nexus_avatar::lip_sync::espeak::VoiceSettings { voice: "fr".into(), rate_wpm: 160, pitch: 45 },
    )
    .unwrap();
    let french = voice::wav(&spoken_fr.samples, spoken_fr.sample_rate);
    for (stage, hint) in
        [("stt_french", listen::Hint::for_companion("fr", "Léa")), ("stt_detected", listen::Hint::default())]
    {
        let mut v = Vec::new();
        for run in 0..=RUNS {
            let t0 = Instant::now();
            let transcript =
                listen::transcribe(&stt, listen::decode_wav(&french).unwrap(), hint.clone()).await.unwrap();
            if run == 0 {
                println!("{stage}: heard {:?} in {:?}", transcript.text, transcript.language);
            } else {
                v.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        stages.push((stage, v));
    }
    // The Piper neural voice on a fixed reply (its audio, and the espeak-ng timeline
    // warped onto it for the lips).
    if voices.piper.is_some() {
        let joe = Voice { voice: voice::PIPER_VOICE.into(), rate_wpm: 175, pitch: 50 };
        let line = "I love the old harbour at dawn, when the boats come back and the gulls are loud.";
        let mut v = Vec::new();
        for run in 0..=RUNS {
            let t0 = Instant::now();
            let spoken = voice::speak(&voices, &joe, EmotionalState::default().voice(), line).await.unwrap();
            if run == 0 {
                println!("piper: {:.1} s of audio by {}", spoken.duration_s, spoken.engine);
            } else {
                v.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        stages.push(("tts_piper", v));
    }
    println!("\n{:<18} {:>9} {:>9}", "stage", "p50 ms", "p95 ms");
    for (name, v) in &stages {
        println!("{name:<18} {:>9.1} {:>9.1}", percentile(v, 0.5), percentile(v, 0.95));
    }
    println!("local LLM: {:.1} pieces/s while generating", tokens as f64 / (reply_ms / 1000.0));
    for (name, v) in &stages {
        for (p, label) in [(0.5, "p50"), (0.95, "p95")] {
            println!("result: {name}_{label}_ms {:.1} ms human_turn_ms {HUMAN_TURN_MS}", percentile(v, p));
        }
    }
}
