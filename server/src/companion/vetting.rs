//! A reply streamed while the model writes it, without letting anything unmoderated out:
//! the model's raw pieces are held until a sentence ends, then the reply so far (its
//! clean text, emotion tags taken out) goes through the moderation pipeline in the
//! user's mode, and only an allowed sentence is passed on. A withheld sentence stops
//! the stream and takes back what was shown (the turn's own moderation of the whole
//! reply then regenerates or replaces it, as for unstreamed turns).
//!
//! [`Vetting`] is the bookkeeping, free of I/O; [`vet`] runs it against the moderator.
//! Vetting a partial reply records nothing: no incident or strike comes from a piece;
//! the finished reply goes through the one door ([`crate::moderation::check`]).

use super::llm::RESTART;
use super::persona;
use crate::moderation::mode::ModerationMode;
use crate::moderation::policy::Action;
use crate::state::AppState;

/// What the listener is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vetted {
    /// More of the reply, to append to what was sent before.
    Piece(String),
    /// Forget what was sent so far.
    Reset,
}

/// What to do after a raw piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing to send yet.
    Wait,
    /// Tell the listener to forget what it was shown.
    Reset,
    /// Moderate this text (the whole reply so far), then call [`Vetting::decided`].
    Vet(String),
}

/// The state of one streamed reply.
#[derive(Debug, Default)]
pub struct Vetting {
    raw: String,
    shown: String,
    withheld: bool,
}

/// Characters that end a sentence.
const SENTENCE_END: [char; 4] = ['.', '!', '?', '…'];

impl Vetting {
    /// Takes the model's next raw piece (or [`RESTART`]).
    pub fn push(&mut self, piece: &str) -> Next {
        if piece == RESTART {
            // The endpoint failed mid-reply; the local model starts over.
            self.raw.clear();
            self.withheld = false;
            if self.shown.is_empty() {
                return Next::Wait;
            }
            self.shown.clear();
            return Next::Reset;
        }
        if self.withheld {
            return Next::Wait;
        }
        self.raw.push_str(piece);
        let (_, clean) = persona::split_tag(&self.raw);
        match finished_sentences(&clean) {
            Some(ready) if ready.len() > self.shown.len() || !ready.starts_with(self.shown.as_str()) => {
                Next::Vet(ready.to_owned())
            }
            _ => Next::Wait,
        }
    }

    /// Moderation's answer on `text` (from [`Next::Vet`]): what to send.
    pub fn decided(&mut self, text: String, allowed: bool) -> Vec<Vetted> {
        if !allowed {
            self.withheld = true;
            if self.shown.is_empty() {
                return Vec::new();
            }
            self.shown.clear();
            return vec![Vetted::Reset];
        }
        let sent = if let Some(more) = text.strip_prefix(self.shown.as_str()) {
            vec![Vetted::Piece(more.to_owned())]
        } else {
            // The text before changed (a tag closed): start the listener over.
            vec![Vetted::Reset, Vetted::Piece(text.clone())]
        };
        self.shown = text;
        sent
    }

    /// The text vetted and sent so far.
    #[must_use]
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `clean` up to the end of its last finished sentence: a sentence end followed by more
/// text (so "3.5" and a sentence still being written are not cut).
fn finished_sentences(clean: &str) -> Option<&str> {
    let mut end = None;
    let mut chars = clean.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if SENTENCE_END.contains(&c) && chars.peek().is_some_and(|&(_, n)| n.is_whitespace()) {
            end = Some(i + c.len_utf8());
        }
    }
    end.map(|e| &clean[..e])
}

/// Runs one raw piece through `vetting`, asking the moderator in `mode` when a sentence
/// ends. A moderator that cannot answer withholds (fail closed).
pub async fn vet(state: &AppState, mode: ModerationMode, vetting: &mut Vetting, piece: &str) -> Vec<Vetted> {
    match vetting.push(piece) {
        Next::Wait => Vec::new(),
        Next::Reset => vec![Vetted::Reset],
        Next::Vet(text) => {
            let assessment = state.moderator.assess_text(mode, &text).await;
            let allowed = assessment.unavailable.is_none() && assessment.decision.action != Action::Block;
            if !allowed {
                tracing::info!(categories = ?assessment.decision.categories, "a streamed sentence was withheld");
            }
            vetting.decided(text, allowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds pieces, allowing every sentence except those containing `bad`.
    fn run(pieces: &[&str], bad: &str) -> Vec<Vetted> {
        let mut v = Vetting::default();
        let mut out = Vec::new();
        for p in pieces {
            match v.push(p) {
                Next::Wait => {}
                Next::Reset => out.push(Vetted::Reset),
                Next::Vet(text) => {
                    let ok = bad.is_empty() || !text.contains(bad);
                    out.extend(v.decided(text, ok));
                }
            }
        }
        out
    }

    fn piece(s: &str) -> Vetted {
        Vetted::Piece(s.to_owned())
    }

    #[test]
    fn only_finished_sentences_leave_and_tags_never_do() {
        let out = run(&["[joy] Hel", "lo there", ". How", " are you", "? I'm 3.5", " metres tall", ". Bye"], "");
        assert_eq!(out, vec![piece("Hello there."), piece(" How are you?"), piece(" I'm 3.5 metres tall.")]);
    }

    #[test]
    fn a_withheld_sentence_takes_back_what_was_shown_and_stops_the_stream() {
        let out = run(&["Fine. ", "Then something bad", ". More", " text. And", " more."], "bad");
        assert_eq!(out, vec![piece("Fine."), Vetted::Reset]);
        // Nothing was shown yet: nothing to take back.
        assert!(run(&["All bad. ", "x"], "bad").is_empty());
    }

    #[test]
    fn a_restart_forgets_the_failed_endpoint_and_vets_the_local_model_afresh() {
        let out = run(&["Bad one. ", "Ok", RESTART, "Second try. ", "Yes"], "Bad");
        assert_eq!(out, vec![piece("Second try.")]);
        let out = run(&["First. ", "x", RESTART, "Second. ", "y"], "");
        assert_eq!(out, vec![piece("First."), Vetted::Reset, piece("Second.")]);
    }

    #[test]
    fn text_that_changes_before_the_shown_end_starts_the_listener_over() {
        let mut v = Vetting::default();
        assert_eq!(v.push("[smile. "), Next::Wait, "no sentence is finished until text follows it");
        let Next::Vet(t) = v.push("Hi") else { panic!("a sentence ended") };
        assert_eq!(t, "[smile.");
        assert_eq!(v.decided(t, true), vec![piece("[smile.")]);
        // The bracket closes: it was a tag after all, and the text before changes.
        let Next::Vet(t) = v.push("] Hello. Then") else { panic!("the text changed") };
        assert_eq!(t, "Hello.");
        assert_eq!(v.decided(t, true), vec![Vetted::Reset, piece("Hello.")]);
        assert_eq!(v.shown(), "Hello.");
    }
}
