//! The companion's profile (seed §5.2 `Companion`, `Appearance`, `Personality`, plus the
//! voice and the genetic profile), its validation, and `evolve()`.
//!
//! **Evolution.** The genetic profile holds five temperament values in [0, 1] (the Big
//! Five: openness, conscientiousness, extraversion, agreeableness, neuroticism) that the
//! persona prompt puts into words. [`evolve`] drifts them, a little per day since the
//! last evolution, towards what the relationship has shown — the emotion levels the
//! companion has lived with: much joy and excitement make it more outgoing, empathy and
//! love warmer, fear, sadness and anger more anxious. `traits_frozen` stops all of it;
//! the traits the user chose are never rewritten.

use chrono::{DateTime, Utc};
use nexus_avatar::face::emotion::Emotion;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::emotion::{EmotionalState, Temperament};
use crate::error::AppError;

/// Longest name, in characters (the column is `VARCHAR(100)`).
pub const MAX_NAME_CHARS: usize = 100;
/// Longest backstory, in characters.
pub const MAX_BACKSTORY_CHARS: usize = 2_000;
/// Most traits or interests.
pub const MAX_WORDS: usize = 12;
/// Longest trait, interest, humour or style, in characters.
pub const MAX_WORD_CHARS: usize = 60;
/// Share of the distance to its target a temperament value covers per day of evolution.
pub const DRIFT_PER_DAY: f32 = 0.05;
/// Most days one evolution step accounts for.
pub const MAX_EVOLUTION_DAYS: i64 = 30;

/// How the companion looks (seed `Appearance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Appearance {
    /// e.g. `female`, `male`, `neutral`.
    pub gender: String,
    /// e.g. `auburn`.
    pub hair_color: String,
    /// e.g. `green`.
    pub eye_color: String,
    /// e.g. `light`, `olive`, `dark`.
    pub skin_tone: String,
    /// A VRM avatar to use instead of the generated one.
    pub avatar_url: Option<String>,
}

impl Default for Appearance {
    fn default() -> Self {
        Self {
            gender: "neutral".into(),
            hair_color: "brown".into(),
            eye_color: "brown".into(),
            skin_tone: "medium".into(),
            avatar_url: None,
        }
    }
}

/// Who the companion is (seed `Personality`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Personality {
    /// Trait words, e.g. `["warm", "curious", "playful"]` (English or French).
    pub traits: Vec<String>,
    /// What it likes to talk about.
    pub interests: Vec<String>,
    /// Its humour, e.g. `gentle teasing`.
    pub humor: String,
    /// How it talks, e.g. `short, warm sentences`.
    pub style: String,
}

impl Default for Personality {
    fn default() -> Self {
        Self {
            traits: vec!["warm".into(), "curious".into()],
            interests: Vec::new(),
            humor: "gentle".into(),
            style: "short, friendly sentences".into(),
        }
    }
}

/// How the companion sounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Voice {
    /// espeak-ng voice, e.g. `en-us`, `fr-fr`, `en-us+f3`.
    pub voice: String,
    /// Words per minute (80–450) before emotion modulates it.
    pub rate_wpm: u16,
    /// Pitch (0–99) before emotion modulates it.
    pub pitch: u8,
}

impl Default for Voice {
    fn default() -> Self {
        Self { voice: "en-us".into(), rate_wpm: 170, pitch: 50 }
    }
}

/// The temperament the companion was born with and that evolves (Big Five, each in
/// [0, 1]), and the seed of its procedural variation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneticProfile {
    /// Seed of procedural variation (avatar details, sampler).
    pub seed: u64,
    /// Curiosity, imagination.
    pub openness: f32,
    /// Order, reliability.
    pub conscientiousness: f32,
    /// Outgoing energy.
    pub extraversion: f32,
    /// Warmth, kindness.
    pub agreeableness: f32,
    /// Worry, moodiness.
    pub neuroticism: f32,
}

impl GeneticProfile {
    /// A profile drawn from `seed`: each value in [0.3, 0.7] (nobody starts extreme).
    #[must_use]
    pub fn from_seed(seed: u64) -> Self {
        // SplitMix64: a few well-mixed draws from one seed.
        let mut state = seed;
        let mut draw = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            #[allow(clippy::cast_precision_loss)] // 24 bits fit an f32 exactly
            let unit = (z >> 40) as f32 / (1u64 << 24) as f32;
            0.3 + 0.4 * unit
        };
        Self {
            seed,
            openness: draw(),
            conscientiousness: draw(),
            extraversion: draw(),
            agreeableness: draw(),
            neuroticism: draw(),
        }
    }

    /// Words for the values far from the middle, for the persona prompt and temperament.
    #[must_use]
    pub fn words(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut pick = |v: f32, high: &'static str, low: &'static str| {
            if v >= 0.62 {
                out.push(high);
            } else if v <= 0.38 {
                out.push(low);
            }
        };
        pick(self.openness, "curious", "down-to-earth");
        pick(self.conscientiousness, "thoughtful", "spontaneous");
        pick(self.extraversion, "expressive", "reserved");
        pick(self.agreeableness, "warm", "blunt");
        pick(self.neuroticism, "sensitive", "calm");
        out
    }
}

/// A stored companion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Companion {
    /// Its id.
    pub id: Uuid,
    /// Who made it.
    pub owner_id: Uuid,
    /// Its name.
    pub name: String,
    /// How it looks.
    pub appearance: Appearance,
    /// Who it is.
    pub personality: Personality,
    /// How it sounds.
    pub voice: Voice,
    /// Its story.
    pub backstory: Option<String>,
    /// Its evolving temperament.
    pub genetic_profile: GeneticProfile,
    /// How it feels (the emotion machine's state).
    #[schema(value_type = Object)]
    pub emotional_state: EmotionalState,
    /// Evolution stopped.
    pub traits_frozen: bool,
    /// Shared with every user.
    pub is_public: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last evolution step.
    pub last_evolution_date: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Companion {
    /// The temperament its emotions run with: the user's trait words and the genetic
    /// profile's words.
    #[must_use]
    pub fn temperament(&self) -> Temperament {
        let mut words: Vec<String> = self.personality.traits.clone();
        words.extend(self.genetic_profile.words().into_iter().map(str::to_owned));
        Temperament::from_traits(&words)
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), AppError> {
    if text.chars().count() > max {
        return Err(AppError::invalid_field(field, format!("at most {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid_field(field, "control characters are not allowed"));
    }
    Ok(())
}

/// Checks a name.
pub fn validate_name(name: &str) -> Result<(), AppError> {
    if name.trim().is_empty() {
        return Err(AppError::invalid_field("name", "must not be empty"));
    }
    check_text("name", name, MAX_NAME_CHARS)
}

/// Checks the free-text parts of a profile.
pub fn validate_parts(
    appearance: &Appearance,
    personality: &Personality,
    voice: &Voice,
    backstory: Option<&str>,
) -> Result<(), AppError> {
    for (field, value) in [
        ("appearance.gender", &appearance.gender),
        ("appearance.hair_color", &appearance.hair_color),
        ("appearance.eye_color", &appearance.eye_color),
        ("appearance.skin_tone", &appearance.skin_tone),
        ("personality.humor", &personality.humor),
        ("personality.style", &personality.style),
    ] {
        check_text(field, value, MAX_WORD_CHARS)?;
    }
    if let Some(url) = &appearance.avatar_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(AppError::invalid_field("appearance.avatar_url", "must be an http(s) URL"));
    }
    for (field, words) in
        [("personality.traits", &personality.traits), ("personality.interests", &personality.interests)]
    {
        if words.len() > MAX_WORDS {
            return Err(AppError::invalid_field(field, format!("at most {MAX_WORDS} entries")));
        }
        for w in words {
            if w.trim().is_empty() {
                return Err(AppError::invalid_field(field, "entries must not be empty"));
            }
            check_text(field, w, MAX_WORD_CHARS)?;
        }
    }
    if !(80..=450).contains(&voice.rate_wpm) {
        return Err(AppError::invalid_field("voice.rate_wpm", "between 80 and 450"));
    }
    if voice.pitch > 99 {
        return Err(AppError::invalid_field("voice.pitch", "between 0 and 99"));
    }
    if voice.voice.is_empty()
        || voice.voice.len() > 40
        || !voice.voice.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '_'))
    {
        return Err(AppError::invalid_field("voice.voice", "an espeak-ng voice name like en-us or fr-fr+f3"));
    }
    if let Some(story) = backstory {
        check_text("backstory", story, MAX_BACKSTORY_CHARS)?;
    }
    Ok(())
}

/// The text of a profile that moderation reads (it is shown to others when shared, and
/// goes into every prompt).
#[must_use]
pub fn moderated_text(name: &str, personality: &Personality, backstory: Option<&str>) -> String {
    let mut text = name.to_owned();
    for w in personality.traits.iter().chain(&personality.interests) {
        text.push_str(". ");
        text.push_str(w);
    }
    for part in [&personality.humor, &personality.style] {
        text.push_str(". ");
        text.push_str(part);
    }
    if let Some(story) = backstory {
        text.push_str(". ");
        text.push_str(story);
    }
    text
}

/// One evolution step at `now`: the genetic profile drifts towards the temperament the
/// emotional state shows, by [`DRIFT_PER_DAY`] for each whole day since the last step
/// (at most [`MAX_EVOLUTION_DAYS`]). Returns whether anything changed: nothing does when
/// the traits are frozen or less than a day has passed.
pub fn evolve(companion: &mut Companion, now: DateTime<Utc>) -> bool {
    if companion.traits_frozen {
        return false;
    }
    let since = companion.last_evolution_date.unwrap_or(companion.created_at);
    let days = (now - since).num_days().min(MAX_EVOLUTION_DAYS);
    if days < 1 {
        return false;
    }
    let s = &companion.emotional_state;
    let level = |e: Emotion| s.level(e);
    // Targets in [0, 1]: 0.5 when the emotions are at rest, moving with what was felt.
    let target = |up: f32, down: f32| (0.5 + up - down).clamp(0.0, 1.0);
    let g = &mut companion.genetic_profile;
    let targets = [
        (&mut g.extraversion, target(level(Emotion::Joy) + level(Emotion::Excitement), level(Emotion::Sadness))),
        (&mut g.agreeableness, target(level(Emotion::Empathy) + level(Emotion::Love), level(Emotion::Anger))),
        (
            &mut g.neuroticism,
            target(
                level(Emotion::Fear) + level(Emotion::Sadness) + level(Emotion::Jealousy) + level(Emotion::Frustration),
                level(Emotion::Contentment) - 0.25,
            ),
        ),
        (&mut g.openness, target(level(Emotion::Surprise) + level(Emotion::Excitement), level(Emotion::Disgust))),
        (&mut g.conscientiousness, target(level(Emotion::Contentment) - 0.25, level(Emotion::Frustration))),
    ];
    #[allow(clippy::cast_precision_loss)] // at most 30 days
    let share = 1.0 - (1.0 - DRIFT_PER_DAY).powi(days as i32);
    for (value, goal) in targets {
        *value = (*value + share * (goal - *value)).clamp(0.0, 1.0);
    }
    companion.last_evolution_date = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::companion::emotion::Stimulus;

    fn companion() -> Companion {
        let now = Utc::now();
        Companion {
            id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            name: "Mira".into(),
            appearance: Appearance::default(),
            personality: Personality::default(),
            voice: Voice::default(),
            backstory: None,
            genetic_profile: GeneticProfile::from_seed(7),
            emotional_state: EmotionalState::default(),
            traits_frozen: false,
            is_public: false,
            created_at: now - chrono::Duration::days(10),
            last_evolution_date: None,
            updated_at: now,
        }
    }

    #[test]
    fn genes_are_reproducible_moderate_and_varied() {
        let (a, b, c) = (GeneticProfile::from_seed(1), GeneticProfile::from_seed(1), GeneticProfile::from_seed(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for g in [a, c] {
            for v in [g.openness, g.conscientiousness, g.extraversion, g.agreeableness, g.neuroticism] {
                assert!((0.3..=0.7).contains(&v), "{v}");
            }
        }
    }

    #[test]
    fn a_joyful_relationship_makes_it_more_outgoing_and_frozen_traits_stay() {
        let mut c = companion();
        for _ in 0..6 {
            c.emotional_state.feel(Stimulus::Sentiment { valence: 0.9, arousal: 0.8 });
        }
        let before = c.genetic_profile;
        let mut frozen = c.clone();
        frozen.traits_frozen = true;
        assert!(!evolve(&mut frozen, Utc::now()));
        assert_eq!(frozen.genetic_profile, before);

        let now = Utc::now();
        assert!(evolve(&mut c, now));
        assert!(c.genetic_profile.extraversion > before.extraversion, "{:?} → {:?}", before, c.genetic_profile);
        assert_eq!(c.last_evolution_date, Some(now));
        // A second step the same day changes nothing.
        let after = c.genetic_profile;
        assert!(!evolve(&mut c, now + chrono::Duration::hours(3)));
        assert_eq!(c.genetic_profile, after);
        assert_eq!(c.personality, Personality::default(), "the user's words are never rewritten");
    }

    #[test]
    fn a_sad_relationship_makes_it_more_sensitive() {
        let mut c = companion();
        for _ in 0..6 {
            c.emotional_state.feel(Stimulus::Sentiment { valence: -0.9, arousal: 0.3 });
        }
        let before = c.genetic_profile.neuroticism;
        assert!(evolve(&mut c, Utc::now()));
        assert!(c.genetic_profile.neuroticism > before);
    }

    #[test]
    fn validation_names_the_field() {
        let (a, p, v) = (Appearance::default(), Personality::default(), Voice::default());
        assert!(validate_parts(&a, &p, &v, Some("A quiet librarian from Lyon.")).is_ok());
        let bad_voice = Voice { voice: "en; rm -rf /".into(), ..Voice::default() };
        let err = validate_parts(&a, &p, &bad_voice, None).unwrap_err();
        assert!(err.to_string().contains("voice.voice"), "{err}");
        let many = Personality { traits: vec!["x".into(); 13], ..Personality::default() };
        assert!(validate_parts(&a, &many, &v, None).is_err());
        assert!(validate_name(" ").is_err());
        assert!(validate_name(&"n".repeat(101)).is_err());
        assert!(validate_name("Mira\u{0}").is_err());
    }
}
