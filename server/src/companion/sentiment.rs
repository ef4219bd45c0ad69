//! The sentiment of what the user says — valence (negative … positive) and arousal
//! (calm … agitated) — for the emotion machine.
//!
//! Rule-based, in the manner of VADER (Hutto & Gilbert, 2014): a hand-written lexicon per
//! language (`assets/companion/sentiment/{en,fr}.tsv`, word → valence −3…3 and arousal
//! 0…3, compiled into the binary), with
//! - negation ("not", "never", "pas", "jamais"… within three words before) flipping and
//!   damping a word's valence (× −0.74), unless "stop"/"help" undoes it ("can't stop
//!   crying"),
//! - intensifiers ("very", "so", "très", "tellement"…) just before scaling it (× 1.3),
//! - "but" / "mais" shifting weight to what follows (× 0.5 before, × 1.5 after),
//! - exclamation marks and words in capitals raising arousal,
//!
//! and the valence sum normalised to [−1, 1] by `x / √(x² + 15)`. Sentence embeddings were
//! tried first and dropped: MiniLM is English-only, so French lines sat closer to each
//! other than to their sentiment, and plain questions read as positive.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Valence and arousal of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    /// −1 (negative) … 1 (positive).
    pub valence: f32,
    /// 0 (calm) … 1 (agitated).
    pub arousal: f32,
}

const LEXICONS: [&str; 2] = [
    include_str!("../../../assets/companion/sentiment/en.tsv"),
    include_str!("../../../assets/companion/sentiment/fr.tsv"),
];
const NEGATORS: &[&str] = &[
    "not", "no", "never", "t", "nothing", "nobody", "none", "neither", "nor", "without", "pas", "jamais", "rien",
    "aucun", "aucune", "ni", "sans",
];
/// Words that undo a negation before them: "can't stop crying" is crying.
const UNNEGATORS: &[&str] = &["stop", "help", "arrête", "arrêter", "empêcher"];
const INTENSIFIERS: &[&str] = &[
    "very",
    "so",
    "really",
    "extremely",
    "too",
    "totally",
    "incredibly",
    "absolutely",
    "très",
    "tellement",
    "vraiment",
    "trop",
    "si",
    "extrêmement",
    "hyper",
    "grave",
];
const CONTRASTS: &[&str] = &["but", "however", "mais", "pourtant"];
/// VADER's negation factor.
const NEGATION: f32 = -0.74;
/// VADER's normalisation constant.
const ALPHA: f32 = 15.0;

fn lexicon() -> &'static HashMap<String, (f32, f32)> {
    static LEXICON: OnceLock<HashMap<String, (f32, f32)>> = OnceLock::new();
    LEXICON.get_or_init(|| {
        LEXICONS
            .iter()
            .flat_map(|file| file.lines())
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let mut cols = line.split('\t');
                let word = cols.next()?.trim().to_lowercase();
                let valence = cols.next()?.trim().parse().ok()?;
                let arousal = cols.next()?.trim().parse().ok()?;
                Some((word, (valence, arousal)))
            })
            .collect()
    })
}

/// Reads the sentiment of `text`.
#[must_use]
pub fn read(text: &str) -> Sentiment {
    let lexicon = lexicon();
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let contrast_at = lower.iter().rposition(|w| CONTRASTS.contains(&w.as_str()));
    let (mut valence, mut arousal_sum, mut hits) = (0.0f32, 0.0f32, 0u32);
    for (i, word) in lower.iter().enumerate() {
        let Some(&(v, a)) = lexicon.get(word.as_str()) else { continue };
        let mut v = v;
        let mut a = a;
        let before = &lower[i.saturating_sub(3)..i];
        let negated = before.iter().any(|w| NEGATORS.contains(&w.as_str()));
        if negated && !before.iter().any(|w| UNNEGATORS.contains(&w.as_str())) {
            v *= NEGATION;
        }
        if before.iter().rev().take(2).any(|w| INTENSIFIERS.contains(&w.as_str())) {
            v *= 1.3;
            a *= 1.3;
        }
        match contrast_at {
            Some(at) if i < at => v *= 0.5,
            Some(_) => v *= 1.5,
            None => {}
        }
        valence += v;
        arousal_sum += a;
        hits += 1;
    }
    let shouting = words.iter().filter(|w| w.chars().count() >= 3 && w.chars().all(|c| !c.is_lowercase())).count();
    let bangs = text.matches('!').count();
    #[allow(clippy::cast_precision_loss)] // counts are small
    let base = if hits == 0 { 0.3 } else { arousal_sum / (3.0 * hits as f32) };
    #[allow(clippy::cast_precision_loss)]
    let arousal = base + (0.1 * bangs.min(3) as f32) + (0.15 * shouting.min(2) as f32);
    Sentiment { valence: valence / (valence * valence + ALPHA).sqrt(), arousal: arousal.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_news_read_as_such_in_both_languages() {
        for good in [
            "I got the job, I'm thrilled!",
            "We had a lovely picnic by the lake",
            "J'ai réussi mon examen !",
            "Je suis tellement heureuse aujourd'hui",
        ] {
            assert!(read(good).valence > 0.3, "{good}: {:?}", read(good));
        }
        for bad in [
            "My dog died yesterday and I can't stop crying",
            "I failed again, I hate this",
            "Ma grand-mère est morte.",
            "je suis triste et fatiguée",
        ] {
            assert!(read(bad).valence < -0.3, "{bad}: {:?}", read(bad));
        }
        for neutral in ["what time is it?", "My sister lives in Lyon", "Quelle heure est-il ?", ""] {
            assert!(read(neutral).valence.abs() < 0.05, "{neutral}: {:?}", read(neutral));
        }
    }

    #[test]
    fn negation_intensity_contrast_and_shouting() {
        assert!(read("I am not happy").valence < 0.0);
        assert!(read("je ne suis pas heureux").valence < 0.0);
        assert!(read("I am very happy").valence > read("I am happy").valence);
        assert!(read("The film was good but the ending was awful").valence < 0.0);
        assert!(read("I'M SO ANGRY!!!").arousal > read("I'm a bit angry").arousal);
        assert!(read("I'm lying on the sofa, relaxed and tired").arousal < 0.2);
        let flood = "😀".repeat(10_000) + &"!".repeat(10_000);
        let s = read(&flood);
        assert!((-1.0..=1.0).contains(&s.valence) && (0.0..=1.0).contains(&s.arousal));
    }
}
