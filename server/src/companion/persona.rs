//! The prompt a reply is written from, and the emotion tag a reply starts with.
//!
//! The system turn says who the companion is (name, traits — the user's words and the
//! evolved temperament's —, interests, humour, style, backstory), how it feels right now,
//! what it remembers about the user, and asks for a short reply that starts with its
//! feeling in brackets, e.g. `[joy]`. Then come the latest turns of the conversation.
//!
//! [`split_tag`] takes the tag off the reply (the user hears and reads the rest). Small
//! models forget the tag or put it elsewhere; any bracketed emotion name anywhere counts,
//! and every bracketed or starred stage direction is removed from what is said.

use nexus_avatar::face::emotion::Emotion;

use super::llm::{ChatTurn, Role};
use super::profile::Companion;

/// Conversation turns put into the prompt by default (`NEXUS_LLM_HISTORY_TURNS`).
pub const HISTORY_TURNS: usize = 12;

/// Builds the prompt: persona and memories, the last `HISTORY_TURNS` turns, then the
/// user's message.
#[must_use]
pub fn prompt(companion: &Companion, memories: &[&str], history: &[ChatTurn], message: &str) -> Vec<ChatTurn> {
    let mut turns = vec![ChatTurn::new(Role::System, system(companion, memories))];
    let start = history.len().saturating_sub(HISTORY_TURNS);
    turns.extend(history[start..].iter().cloned());
    turns.push(ChatTurn::new(Role::User, message));
    turns
}

fn system(companion: &Companion, memories: &[&str]) -> String {
    let p = &companion.personality;
    let mut traits: Vec<&str> = p.traits.iter().map(String::as_str).collect();
    for word in companion.genetic_profile.words() {
        if !traits.iter().any(|t| t.eq_ignore_ascii_case(word)) {
            traits.push(word);
        }
    }
    let mut s = format!("You are {}, the user's companion in virtual reality.", companion.name);
    if !traits.is_empty() {
        s.push_str(&format!(" You are {}.", traits.join(", ")));
    }
    if !p.interests.is_empty() {
        s.push_str(&format!(" You love {}.", p.interests.join(", ")));
    }
    s.push_str(&format!(" Your humour is {}; you speak in {}.", p.humor, p.style));
    if let Some(story) = companion.backstory.as_deref().filter(|b| !b.trim().is_empty()) {
        s.push_str(&format!(" Your story: {}", story.trim()));
    }
    let state = &companion.emotional_state;
    s.push_str(&format!(" Right now you feel {}.", state.current.name().to_lowercase()));
    if !memories.is_empty() {
        s.push_str("\nWhat you remember about the user:");
        for m in memories {
            s.push_str("\n- ");
            s.push_str(m);
        }
    }
    s.push_str(
        "\nReply in one to three short sentences, in the user's language. \
         Start your reply with your feeling in brackets, e.g. [joy] or [empathy].",
    );
    s
}

/// The emotion named by a bracketed tag in `reply` (the first one), and the reply with
/// every bracketed or starred aside removed and whitespace tidied.
#[must_use]
pub fn split_tag(reply: &str) -> (Option<Emotion>, String) {
    let mut emotion = None;
    let mut said = String::with_capacity(reply.len());
    let mut chars = reply.chars().peekable();
    while let Some(c) = chars.next() {
        let close = match c {
            '[' => ']',
            '*' if chars.peek().is_some_and(|n| n.is_alphabetic()) => '*',
            _ => {
                said.push(c);
                continue;
            }
        };
        let mut inner = String::new();
        let mut closed = false;
        for n in chars.by_ref() {
            if n == close {
                closed = true;
                break;
            }
            inner.push(n);
        }
        if !closed {
            // An unclosed bracket is text, not a tag.
            said.push(c);
            said.push_str(&inner);
            continue;
        }
        if emotion.is_none() {
            emotion = Emotion::from_name(inner.trim().trim_matches(':')).or_else(|| french(inner.trim()));
        }
    }
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    let said = said.trim_start_matches([':', '-', ',', ' ']).to_owned();
    (emotion, said)
}

/// French names of the emotions, as a French-speaking model may write them.
fn french(word: &str) -> Option<Emotion> {
    Some(match word.to_lowercase().as_str() {
        "joie" => Emotion::Joy,
        "tristesse" => Emotion::Sadness,
        "colère" | "colere" => Emotion::Anger,
        "peur" => Emotion::Fear,
        "surprise" => Emotion::Surprise,
        "dégoût" | "degout" => Emotion::Disgust,
        "amour" => Emotion::Love,
        "jalousie" => Emotion::Jealousy,
        "empathie" => Emotion::Empathy,
        "frustration" => Emotion::Frustration,
        "excitation" => Emotion::Excitement,
        "contentement" | "sérénité" => Emotion::Contentment,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::companion::emotion::EmotionalState;
    use crate::companion::profile::{Appearance, GeneticProfile, Personality, Voice};

    #[test]
    fn tags_are_read_and_removed_anywhere() {
        assert_eq!(split_tag("[joy] That's wonderful!"), (Some(Emotion::Joy), "That's wonderful!".into()));
        assert_eq!(split_tag("[Empathy]: I'm sorry."), (Some(Emotion::Empathy), "I'm sorry.".into()));
        assert_eq!(split_tag("Oh no. [sadness]"), (Some(Emotion::Sadness), "Oh no.".into()));
        assert_eq!(split_tag("*smiles* [joie] Bonjour !"), (Some(Emotion::Joy), "Bonjour !".into()));
        assert_eq!(split_tag("[whispers] [love] hi"), (Some(Emotion::Love), "hi".into()));
        assert_eq!(split_tag("No tag at all."), (None, "No tag at all.".into()));
        assert_eq!(split_tag("2 * 3 = 6 [unclosed"), (None, "2 * 3 = 6 [unclosed".into()));
        assert_eq!(split_tag(""), (None, String::new()));
    }

    #[test]
    fn the_prompt_carries_persona_feeling_memories_and_recent_turns_only() {
        let now = chrono::Utc::now();
        let companion = Companion {
            id: uuid::Uuid::now_v7(),
            owner_id: uuid::Uuid::now_v7(),
            name: "Mira".into(),
            appearance: Appearance::default(),
            personality: Personality { interests: vec!["astronomy".into()], ..Personality::default() },
            voice: Voice::default(),
            backstory: Some("Grew up on a lighthouse.".into()),
            genetic_profile: GeneticProfile::from_seed(3),
            emotional_state: EmotionalState::default(),
            traits_frozen: false,
            is_public: false,
            created_at: now,
            last_evolution_date: None,
            updated_at: now,
        };
        let history: Vec<ChatTurn> = (0..30).map(|i| ChatTurn::new(Role::User, format!("turn {i}"))).collect();
        let p = prompt(&companion, &["My sister lives in Lyon"], &history, "hello");
        assert_eq!(p.len(), 1 + HISTORY_TURNS + 1);
        let system = &p[0].content;
        for needle in [
            "You are Mira",
            "warm",
            "astronomy",
            "lighthouse",
            "feel contentment",
            "- My sister lives in Lyon",
            "[joy]",
        ] {
            assert!(system.contains(needle), "{needle} missing from {system}");
        }
        assert_eq!(p[1].content, "turn 18");
        assert_eq!(p.last().map(|t| t.content.as_str()), Some("hello"));
    }
}
