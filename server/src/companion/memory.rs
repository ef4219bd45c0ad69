//! Long-term memory: facts the user told the companion, kept per user–companion pair and
//! recalled by meaning.
//!
//! - **Writing**: each user message is split into sentences; first-person statements
//!   that say something lasting ("my sister lives in Lyon", "j'adore le jazz") become
//!   facts ([`extract_facts`]). A fact close in meaning to one already kept (cosine ≥
//!   [`SAME_FACT`]) replaces it instead of piling up, so "I live in Paris" followed by
//!   "I live in Nantes now" keeps the newer one.
//! - **Recall**: the user's message is embedded and the nearest facts (cosine ≥
//!   [`RECALL_MIN`], at most [`RECALL_K`]) go into the reply's prompt, however long
//!   ago they were said.
//! - **Ownership**: the user can list, edit and delete every memory; text and embedding
//!   are sealed at rest like the conversation log (an embedding says much of its text).
//!
//! Embeddings come from MiniLM through the [`Embed`] trait (the same model file as the
//! moderation classifier, without its adapter — plain sentence similarity).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{self, get};
use crate::error::AppError;

/// Cosine at or above which a new fact replaces an old one.
pub const SAME_FACT: f32 = 0.9;
/// Cosine at or above which a fact is recalled.
pub const RECALL_MIN: f32 = 0.3;
/// Most facts recalled into one prompt.
pub const RECALL_K: usize = 4;
/// Longest memory, in characters.
pub const MAX_MEMORY_CHARS: usize = 500;

/// Sentence embeddings (unit length), one per text.
pub trait Embed: Send + Sync + std::fmt::Debug {
    /// Embeds `texts`.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}

#[cfg(feature = "local-classifier")]
impl Embed for crate::moderation::classifier::local::Embedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.embed_batch(texts).map_err(|e| e.to_string())
    }
}

/// Embeds on the blocking pool.
pub async fn embed(embedder: &Arc<dyn Embed>, texts: Vec<String>) -> Result<Vec<Vec<f32>>, AppError> {
    let embedder = Arc::clone(embedder);
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs)
    })
    .await
    .map_err(|e| AppError::Internal(format!("embedding task: {e}")))?
    .map_err(|e| AppError::Unavailable(format!("embedding model: {e}")))
}

/// The base MiniLM model for memory and sentiment, loaded once per models directory, or
/// `None` (logged) when it is missing.
#[cfg(feature = "local-classifier")]
#[must_use]
pub fn local_embedder(models_dir: &std::path::Path) -> Option<Arc<dyn Embed>> {
    use crate::moderation::classifier::local::Embedder;
    let load = || Embedder::load(models_dir).map(Arc::new);
    match crate::models::load_once(models_dir.display().to_string(), load) {
        Ok(model) => Some(model),
        Err(e) => {
            tracing::error!(error = %e, "sentence embedder not loaded; memories are recalled by recency only");
            None
        }
    }
}

/// Built without the `local-classifier` feature: no embedder.
#[cfg(not(feature = "local-classifier"))]
#[must_use]
pub fn local_embedder(_models_dir: &std::path::Path) -> Option<Arc<dyn Embed>> {
    None
}

/// Cosine of two unit vectors.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// First-person openings of a lasting statement, matched at a word start within the
/// first [`CUE_WITHIN`] words of a sentence ("let's talk about my garden" is not a fact).
/// "I'm" alone is not one: "I'm so happy today" passes; "I'm a nurse" stays.
const FACT_CUES: &[&str] = &[
    "my ",
    "i am a ",
    "i'm a ",
    "i am an ",
    "i'm an ",
    "i'm from",
    "i am from",
    "i'm allergic",
    "i am allergic",
    "i'm married",
    "i am married",
    "i'm vegetarian",
    "i'm vegan",
    "i work",
    "i live",
    "i was born",
    "i grew up",
    "i have ",
    "i've got",
    "i like",
    "i love",
    "i hate",
    "i enjoy",
    "i prefer",
    "i can't stand",
    "call me",
    "i study",
    "i moved",
    "je m'appelle",
    "je suis un ",
    "je suis une ",
    "je suis né",
    "je suis allergique",
    "je suis marié",
    "je suis végétarien",
    "je suis de ",
    "j'ai un",
    "j'ai deux",
    "j'ai trois",
    "j'aime",
    "j'adore",
    "je déteste",
    "je travaille",
    "j'habite",
    "je vis ",
    "mon ",
    "ma ",
    "mes ",
    "je préfère",
    "je fais du ",
    "je fais de la ",
    "j'étudie",
];
/// How many words into a sentence a cue may start.
const CUE_WITHIN: usize = 3;

/// The sentences of `text` worth remembering as facts.
#[must_use]
pub fn extract_facts(text: &str) -> Vec<String> {
    let mut facts = Vec::new();
    let mut sentence = String::new();
    let mut flush = |sentence: &mut String, question: bool| {
        let s = sentence.trim().trim_matches(|c: char| c == ',' || c == ';' || c == '-').trim().to_owned();
        sentence.clear();
        if question || s.split_whitespace().count() < 3 || s.chars().count() > MAX_MEMORY_CHARS {
            return;
        }
        let lower = s.to_lowercase().replace('’', "'");
        // Each word start within the first few words, with the rest of the sentence.
        let starts = std::iter::once(0)
            .chain(lower.char_indices().filter(|&(_, c)| c == ' ').map(|(i, _)| i + 1))
            .take(CUE_WITHIN);
        let cued = starts.into_iter().any(|at| FACT_CUES.iter().any(|cue| lower[at..].starts_with(cue)));
        if cued {
            facts.push(s);
        }
    };
    for c in text.chars() {
        match c {
            '.' | '!' | '\n' => flush(&mut sentence, false),
            '?' => flush(&mut sentence, true),
            _ => sentence.push(c),
        }
    }
    flush(&mut sentence, false);
    facts
}

/// A kept memory.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Memory {
    /// Its id.
    pub id: Uuid,
    /// `FACT` (told by the user) or `SUMMARY`.
    pub kind: String,
    /// The memory.
    pub content: String,
    /// The message it came from.
    pub source_seq: Option<i64>,
    /// First kept.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a sealed embedding starts with; rows written before embeddings were sealed hold
/// the bare little-endian floats.
const SEALED_VECTOR: &[u8; 4] = b"NXS1";

/// `v` sealed for `user`: [`SEALED_VECTOR`] ‖ [`crate::cipher::seal_bytes`] of its floats.
fn vector_bytes(key: &[u8; 32], user: Uuid, v: &[f32]) -> Result<Vec<u8>, AppError> {
    let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = SEALED_VECTOR.to_vec();
    out.extend(crate::cipher::seal_bytes(key, user, &raw)?);
    Ok(out)
}

/// The embedding a row holds: opened when sealed, read as it is when written before that.
fn vector_from(key: &[u8; 32], user: Uuid, bytes: &[u8]) -> Result<Vec<f32>, AppError> {
    let raw = match bytes.strip_prefix(SEALED_VECTOR) {
        Some(sealed) => crate::cipher::open_bytes(key, user, sealed)?,
        None => bytes.to_vec(),
    };
    Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// Every memory of the pair with its embedding, oldest first.
pub async fn all<C: ConnectionTrait>(
    c: &C,
    key: &[u8; 32],
    companion: Uuid,
    user: Uuid,
) -> Result<Vec<(Memory, Vec<f32>)>, AppError> {
    let rows = db::all(
        c,
        "SELECT id, kind, content_sealed, embedding, source_seq, created_at, updated_at FROM companion_memories
         WHERE companion_id = $1 AND user_id = $2 ORDER BY created_at, id",
        vec![companion.into(), user.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let sealed: Vec<u8> = get(row, "content_sealed")?;
            let embedding: Vec<u8> = get(row, "embedding")?;
            let memory = Memory {
                id: get(row, "id")?,
                kind: get(row, "kind")?,
                content: crate::cipher::open(key, user, &sealed)?,
                source_seq: get(row, "source_seq")?,
                created_at: get(row, "created_at")?,
                updated_at: get(row, "updated_at")?,
            };
            Ok((memory, vector_from(key, user, &embedding)?))
        })
        .collect()
}

/// Keeps `fact` (embedded as `vector`), replacing a kept one that says the same thing.
/// Returns the memory's id.
#[allow(clippy::too_many_arguments)] // one row's worth of columns
pub async fn remember<C: ConnectionTrait>(
    c: &C,
    key: &[u8; 32],
    companion: Uuid,
    user: Uuid,
    kind: &str,
    fact: &str,
    vector: &[f32],
    source_seq: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    let kept = all(c, key, companion, user).await?;
    let same = kept
        .iter()
        .filter(|(m, _)| m.kind == kind)
        .map(|(m, v)| (m.id, cosine(v, vector)))
        .filter(|&(_, sim)| sim >= SAME_FACT)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let sealed = crate::cipher::seal(key, user, fact)?;
    if let Some((id, _)) = same {
        db::exec(
            c,
            "UPDATE companion_memories SET content_sealed = $2, embedding = $3, source_seq = $4, updated_at = $5 WHERE id = $1",
            vec![id.into(), sealed.into(), vector_bytes(key, user, vector)?.into(), source_seq.into(), now.into()],
        )
        .await?;
        return Ok(id);
    }
    let id = Uuid::now_v7();
    db::exec(
        c,
        "INSERT INTO companion_memories (id, companion_id, user_id, kind, content_sealed, embedding, source_seq, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        vec![
            id.into(),
            companion.into(),
            user.into(),
            kind.into(),
            sealed.into(),
            vector_bytes(key, user, vector)?.into(),
            source_seq.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(id)
}

/// The memories nearest `query` in meaning, best first.
#[must_use]
pub fn recall<'m>(query: &[f32], memories: &'m [(Memory, Vec<f32>)]) -> Vec<&'m Memory> {
    let mut scored: Vec<(f32, &Memory)> =
        memories.iter().map(|(m, v)| (cosine(v, query), m)).filter(|(sim, _)| *sim >= RECALL_MIN).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(RECALL_K).map(|(_, m)| m).collect()
}

/// Rewrites memory `id` of the pair (re-embedded as `vector`).
#[allow(clippy::too_many_arguments)] // one row's worth of columns
pub async fn edit<C: ConnectionTrait>(
    c: &C,
    key: &[u8; 32],
    companion: Uuid,
    user: Uuid,
    id: Uuid,
    content: &str,
    vector: &[f32],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let n = db::exec(
        c,
        "UPDATE companion_memories SET content_sealed = $4, embedding = $5, updated_at = $6
         WHERE id = $1 AND companion_id = $2 AND user_id = $3",
        vec![
            id.into(),
            companion.into(),
            user.into(),
            crate::cipher::seal(key, user, content)?.into(),
            vector_bytes(key, user, vector)?.into(),
            now.into(),
        ],
    )
    .await?;
    if n == 0 {
        return Err(AppError::missing("memory"));
    }
    Ok(())
}

/// Forgets memory `id` of the pair.
pub async fn forget<C: ConnectionTrait>(c: &C, companion: Uuid, user: Uuid, id: Uuid) -> Result<(), AppError> {
    let n = db::exec(
        c,
        "DELETE FROM companion_memories WHERE id = $1 AND companion_id = $2 AND user_id = $3",
        vec![id.into(), companion.into(), user.into()],
    )
    .await?;
    if n == 0 {
        return Err(AppError::missing("memory"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lasting_first_person_statements_become_facts() {
        let facts = extract_facts(
            "Hi! My sister Clara lives in Lyon. How are you? I'm fine. I work as a nurse at night. \
             It rains today. J'adore le jazz manouche. Do you like cats?",
        );
        assert_eq!(
            facts,
            vec!["My sister Clara lives in Lyon", "I work as a nurse at night", "J'adore le jazz manouche"]
        );
    }

    #[test]
    fn questions_small_talk_and_floods_are_not_facts() {
        assert!(extract_facts("do you remember my name?").is_empty());
        assert!(extract_facts("i'm ok").is_empty());
        assert!(extract_facts("I'm sorry, I'm late").is_empty());
        assert!(extract_facts("I'm so happy today").is_empty(), "a mood passes");
        assert!(extract_facts("Let's chat about my garden for a moment").is_empty(), "not about the user");
        assert_eq!(extract_facts("Well, my cat is called Pixel"), vec!["Well, my cat is called Pixel"]);
        assert_eq!(extract_facts("I'm a nurse in Lille"), vec!["I'm a nurse in Lille"]);
        assert!(extract_facts(&"my ".repeat(400)).is_empty(), "over-long sentences are not kept");
        assert!(extract_facts("").is_empty());
        assert!(extract_facts("🙂🙂🙂 ... !!! ???").is_empty());
    }

    #[test]
    fn vectors_are_sealed_round_trip_and_recall_ranks_by_cosine() {
        let v = vec![0.25f32, -1.5, 3.0];
        let (key, ada, bob) = ([7u8; 32], Uuid::now_v7(), Uuid::now_v7());
        let sealed = vector_bytes(&key, ada, &v).expect("seal");
        let bare: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert!(!sealed.windows(4).any(|w| w == &bare[4..8]), "no float of the vector is stored in the clear");
        assert_eq!(vector_from(&key, ada, &sealed).expect("open"), v);
        assert!(vector_from(&key, bob, &sealed).is_err(), "bound to its user");
        assert!(vector_from(&[8u8; 32], ada, &sealed).is_err(), "bound to the key");
        // A row written before embeddings were sealed still reads.
        assert_eq!(vector_from(&key, ada, &bare).expect("legacy row"), v);
        let now = Utc::now();
        let mem = |content: &str| Memory {
            id: Uuid::now_v7(),
            kind: "FACT".into(),
            content: content.into(),
            source_seq: None,
            created_at: now,
            updated_at: now,
        };
        let kept =
            vec![(mem("far"), vec![0.0, 1.0]), (mem("near"), vec![0.96, 0.28]), (mem("nearest"), vec![1.0, 0.0])];
        let got: Vec<&str> = recall(&[1.0, 0.0], &kept).iter().map(|m| m.content.as_str()).collect();
        assert_eq!(got, vec!["nearest", "near"]);
    }
}
