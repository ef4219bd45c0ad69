//! Conversation summaries: the second kind of long-term memory (`SUMMARY`, beside the
//! user's `FACT`s). Every [`crate::config::Config::summary_every`] messages, once a turn
//! has been answered, the brain writes a short third-person summary of the messages since
//! the last summary — what the user shared, planned and felt — which is moderated like a
//! reply, embedded, and kept with the pair's memories, where it is recalled by meaning
//! like a fact and can be seen, edited and deleted by the user. It runs in the background
//! (the answered turn does not wait), one at a time per companion.

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
    if text.chars().filter(|c| c.is_alphabetic()).count() < 8 {
        return Ok(None);
    }
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

    #[test]
    fn the_prompt_names_the_speakers_and_keeps_their_order() {
        let at = chrono::Utc::now();
        let msg = |seq, role: &str, content: &str| LoggedMessage {
            seq,
            role: role.into(),
            content: content.into(),
            emotion: None,
            model: None,
            moderation: "allow".into(),
            created_at: at,
        };
        let p = prompt("Mira", &[msg(1, "user", "I start a new job on Monday."), msg(2, "assistant", "Exciting!")]);
        assert_eq!(p.len(), 2);
        let body = &p[1].content;
        let (user, mira) = (body.find("User: I start a new job").unwrap(), body.find("Mira: Exciting!").unwrap());
        assert!(user < mira, "{body}");
    }
}
