//! Conversation summaries: the second kind of long-term memory (`SUMMARY`, beside the
//! user's `FACT`s). Every [`crate::config::Config::summary_every`] messages, once a turn
//! has been answered, the brain writes a short third-person summary of the messages since
//! the last summary — what the user shared, planned and felt — which is moderated like a
//! reply, embedded, and kept with the pair's memories, where it is recalled by meaning
//! like a fact and can be seen, edited and deleted by the user. It runs in the background
//! (the answered turn does not wait), one at a time per companion.
//!
//! A summary must say something of what the user said ([`grounded`]: a word of its own
//! shared with the user's messages). The small local model sometimes writes greetings or
//! inventions instead; then the summary is extractive — the user's own sentences that
//! state something lasting ([`extractive`]) — rather than a made-up one.

use uuid::Uuid;

use super::llm::{ChatTurn, GenerateOptions, Role};
use super::store::{self, LoggedMessage};
use super::{memory, persona};
use crate::error::AppError;
use crate::http::extract::AuthUser;
use crate::moderation::check;
use crate::moderation::policy::Action;
use crate::state::AppState;

/// Most messages one summary reads.
pub const MAX_MESSAGES: u32 = 40;
/// Longest summary, in tokens.
const SUMMARY_TOKENS: usize = 64;

/// Whether a summary is due after message `seq`, the last one having covered up to
/// `last_summarised` (0 when none), every `every` messages (0 = never).
#[must_use]
pub fn due(seq: i64, last_summarised: i64, every: u32) -> bool {
    every > 0 && seq - last_summarised >= i64::from(every)
}

/// The prompt that asks for a summary of `messages`.
#[must_use]
pub fn prompt(companion: &str, messages: &[LoggedMessage]) -> Vec<ChatTurn> {
    let system = "You summarise conversations for a companion's memory. Write one or two short \
                  sentences, in the third person, about what the user shared: facts about their life, \
                  plans, worries and feelings. Only what the user said; invent nothing.";
    let mut transcript = String::new();
    for m in messages {
        let who = if m.role == "user" { "User" } else { companion };
        transcript.push_str(&format!("{who}: {}\n", m.content.trim()));
    }
    transcript.push_str("\nSummary of what the user shared:");
    vec![ChatTurn::new(Role::System, system), ChatTurn::new(Role::User, transcript)]
}

/// Summarises the conversation up to message `upto_seq` and keeps the summary.
/// Returns the summary, or `None` when the brain wrote nothing usable or moderation
/// withheld it.
pub async fn summarise(
    state: &AppState,
    user: &AuthUser,
    companion_id: Uuid,
    upto_seq: i64,
    last_summarised: i64,
) -> Result<Option<String>, AppError> {
    let runtime = &state.companions;
    let Some(embedder) = &runtime.embedder else { return Ok(None) };
    let (conn, key) = (state.db.conn(), &state.keys.content_key);
    let companion = store::owned(conn, user.user_id, companion_id).await?;
    let count = u32::try_from((upto_seq - last_summarised).clamp(1, i64::from(MAX_MESSAGES))).unwrap_or(MAX_MESSAGES);
    let messages: Vec<LoggedMessage> = store::recent(conn, key, companion_id, user.user_id, count + 2)
        .await?
        .into_iter()
        .filter(|m| m.seq > last_summarised && m.seq <= upto_seq)
        .collect();
    if messages.is_empty() {
        return Ok(None);
    }
    let options = GenerateOptions { max_tokens: SUMMARY_TOKENS, temperature: 0.0, ..runtime.options };
    let (pieces, _ignored) = tokio::sync::mpsc::unbounded_channel();
    let generated = runtime
        .brain
        .generate(&prompt(&companion.name, &messages), options, &pieces)
        .await
        .map_err(|e| AppError::Unavailable(format!("summary: {e}")))?;
    let (_, text) = persona::split_tag(&generated.text);
    let text: String = text.trim().chars().take(memory::MAX_MEMORY_CHARS).collect();
    let written = text.chars().filter(|c| c.is_alphabetic()).count() >= 8 && grounded(&text, &messages);
    let text = if written {
        text
    } else {
        match extractive(&messages) {
            Some(text) => text,
            None => return Ok(None),
        }
    };
    // Model-written text that will enter later prompts: the reply door (recorded for
    // review when flagged, never counted against the user).
    if check::check_reply(state, user, &text).await?.action == Action::Block {
        return Ok(None);
    }
    let vector = memory::embed(embedder, vec![text.clone()]).await?;
    let now = chrono::Utc::now();
    memory::remember(conn, key, companion_id, user.user_id, "SUMMARY", &text, &vector[0], Some(upto_seq), now).await?;
    Ok(Some(text))
}

/// Words too common to show that a summary is about what was said.
const COMMON: [&str; 40] = [
    "about", "after", "also", "been", "before", "could", "from", "have", "just", "like", "more", "really", "some",
    "than", "that", "their", "them", "then", "there", "they", "this", "very", "want", "were", "what", "when", "which",
    "with", "would", "your", "user", "said", "shared", "dans", "avec", "pour", "mais", "elle", "nous", "vous",
];

/// The words of `text` that can carry its meaning: four letters or more, lowercase, not
/// among the most common.
fn content_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
}

/// Whether `summary` shares a content word with the user's messages.
#[must_use]
pub fn grounded(summary: &str, messages: &[LoggedMessage]) -> bool {
    let said: std::collections::HashSet<String> = messages
        .iter()
        .filter(|m| m.role == "user")
        .flat_map(|m| content_words(&m.content).collect::<Vec<_>>())
        .collect();
    content_words(summary).any(|w| said.contains(&w))
}

/// The user's own statements (sentences of three words or more that are not questions),
/// in order, within a memory's length; `None` when there are none.
#[must_use]
pub fn extractive(messages: &[LoggedMessage]) -> Option<String> {
    let mut out = String::from("The user said:");
    let prefix = out.len();
    for m in messages.iter().filter(|m| m.role == "user") {
        let mut sentence = String::new();
        for c in m.content.chars() {
            sentence.push(c);
            if matches!(c, '.' | '!' | '?' | '\n') {
                let s = std::mem::take(&mut sentence);
                let s = s.trim();
                if !s.ends_with('?') && s.split_whitespace().count() >= 3 {
                    if out.chars().count() + s.chars().count() + 2 > memory::MAX_MEMORY_CHARS {
                        return Some(out).filter(|o| o.len() > prefix);
                    }
                    out.push(' ');
                    out.push_str(s);
                }
            }
        }
        let rest = sentence.trim();
        if !rest.is_empty() && rest.split_whitespace().count() >= 3 {
            if out.chars().count() + rest.chars().count() + 3 > memory::MAX_MEMORY_CHARS {
                break;
            }
            out.push(' ');
            out.push_str(rest);
            out.push('.');
        }
    }
    Some(out).filter(|o| o.len() > prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_due_every_n_messages_and_never_when_off() {
        assert!(!due(19, 0, 20));
        assert!(due(20, 0, 20));
        assert!(!due(39, 20, 20));
        assert!(due(41, 20, 20));
        assert!(!due(1_000, 0, 0));
    }

    fn msg(seq: i64, role: &str, content: &str) -> LoggedMessage {
        LoggedMessage {
            seq,
            role: role.into(),
            content: content.into(),
            emotion: None,
            model: None,
            moderation: "allow".into(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_summary_must_share_what_the_user_said_or_it_is_taken_from_their_words() {
        let talk = [
            msg(1, "user", "I adopted a puppy called Biscuit yesterday. Do you like dogs?"),
            msg(2, "assistant", "Good morning to you!"),
            msg(3, "user", "Ok"),
            msg(4, "user", "My driving test is on Friday"),
        ];
        assert!(grounded("The user adopted a puppy.", &talk));
        assert!(grounded("They worry about the driving exam.", &talk));
        assert!(!grounded("Good morning to you! Mira: good day to you!", &talk), "the reply's words do not count");
        assert!(!grounded("The user said that they have something.", &talk), "common words do not count");
        assert_eq!(
            extractive(&talk).as_deref(),
            Some("The user said: I adopted a puppy called Biscuit yesterday. My driving test is on Friday."),
            "questions and one-word answers are left out"
        );
        assert_eq!(extractive(&[msg(1, "user", "Hi?"), msg(2, "assistant", "Hello there my friend.")]), None);
        let long = "I really love walking along the river in the evening. ".repeat(20);
        let kept = extractive(&[msg(1, "user", &long)]).expect("some");
        assert!(kept.chars().count() <= memory::MAX_MEMORY_CHARS, "{}", kept.len());
    }

    #[test]
    fn the_prompt_names_the_speakers_and_keeps_their_order() {
        let p = prompt("Mira", &[msg(1, "user", "I start a new job on Monday."), msg(2, "assistant", "Exciting!")]);
        assert_eq!(p.len(), 2);
        let body = &p[1].content;
        let (user, mira) = (body.find("User: I start a new job").unwrap(), body.find("Mira: Exciting!").unwrap());
        assert!(user < mira, "{body}");
    }
}
