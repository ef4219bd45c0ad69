//! The companion's emotion state machine (seed §5.2 `EmotionalState`, §1.1 "emotion state
//! machine"): twelve activation levels, one per [`Emotion`], that stimuli raise and time
//! lets fall back to a resting level.
//!
//! - **Stimuli** ([`Stimulus`]) come from the conversation (the sentiment of what the user
//!   said, emotion tags in the companion's own reply) and from the room (the user coming
//!   close or too close, leaving, meeting the companion's gaze, gestures, touch). Each
//!   maps to impulses on a few emotions ([`impulses`]) — one table, read top to bottom.
//! - **Decay**: every level relaxes exponentially towards its resting value with its own
//!   half-life: surprise is gone in seconds, anger in tens of seconds, sadness and love
//!   linger. Contentment rests at a small positive level, so a companion left alone
//!   settles back to content.
//! - **Temperament** scales the impulses: an expressive personality reacts more, an
//!   empathetic one feels more for a sad user.
//! - **State**: the current emotion is the strongest level; a new one takes over only when
//!   it beats the current one by a margin ([`SWITCH_MARGIN`]), so the face does not
//!   flicker between two close emotions. `since` says how long it has been current (the
//!   seed's `duration`), and the last few triggers are kept (the seed's `triggers`).
//! - **Outputs**: an [`EmotionMix`] for the avatar's face (every level above rest, so a
//!   joyful but slightly surprised companion shows both) and a [`VoiceModulation`] for
//!   text-to-speech (rate and pitch).
//!
//! Pure and deterministic: time is passed in (`advance(dt)`), never read.

use nexus_avatar::face::emotion::{Emotion, EmotionMix};
use serde::{Deserialize, Serialize};

/// How much stronger a challenger must be than the current emotion to replace it.
pub const SWITCH_MARGIN: f32 = 0.08;
/// Triggers remembered in the state.
pub const TRIGGER_MEMORY: usize = 8;
/// Distance (metres) under which the user is "close" (conversation distance).
pub const CLOSE_M: f32 = 1.2;
/// Distance (metres) under which the user is "too close" (intimate space, Hall 1966).
pub const TOO_CLOSE_M: f32 = 0.45;

/// A gesture the companion can see the user make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserGesture {
    /// A wave (hello or goodbye).
    Wave,
    /// A thumbs-up.
    ThumbsUp,
    /// An open hand held out to the companion.
    OfferedHand,
    /// Pointing at something.
    Point,
    /// A fist raised or shaken.
    Fist,
}

/// Where the user touched the companion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchRegion {
    /// Hand or arm.
    Hand,
    /// Shoulder or back.
    Shoulder,
    /// Head or face.
    Head,
}

/// Something that happened, as the emotion model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stimulus {
    /// The sentiment of what the user said: valence in [-1, 1], arousal in [0, 1].
    Sentiment {
        /// Negative to positive.
        valence: f32,
        /// Calm to agitated.
        arousal: f32,
    },
    /// An emotion tag in the companion's own reply (`[joy]`), intensity in [0, 1].
    Tag {
        /// The tagged emotion.
        emotion: Emotion,
        /// How strongly.
        intensity: f32,
    },
    /// The user's head is `distance_m` from the companion's.
    Proximity {
        /// Metres.
        distance_m: f32,
    },
    /// The user left the room or the conversation.
    UserLeft,
    /// The user has been looking at the companion's face for `seconds`.
    GazeHeld {
        /// Seconds of continuous gaze.
        seconds: f32,
    },
    /// A gesture.
    Gesture {
        /// Which.
        gesture: UserGesture,
    },
    /// A touch.
    Touch {
        /// Where.
        region: TouchRegion,
        /// A soft touch (a tap, a pat) rather than a shove.
        gentle: bool,
    },
}

/// Personality scales on the impulses (1.0 = neutral), from the profile's traits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Temperament {
    /// All impulses.
    pub expressiveness: f32,
    /// Empathy and sadness for a sad user.
    pub empathy: f32,
    /// Anger, frustration and disgust.
    pub irritability: f32,
}

impl Default for Temperament {
    fn default() -> Self {
        Self { expressiveness: 1.0, empathy: 1.0, irritability: 1.0 }
    }
}

impl Temperament {
    /// A temperament from personality trait words (English or French), each nudging one
    /// scale; unknown words change nothing.
    #[must_use]
    pub fn from_traits<S: AsRef<str>>(traits: &[S]) -> Self {
        let mut t = Self::default();
        for word in traits {
            match word.as_ref().trim().to_lowercase().as_str() {
                "expressive" | "extroverted" | "playful" | "enthusiastic" | "expressif" | "extraverti" | "joueur"
                | "enthousiaste" => t.expressiveness *= 1.25,
                "reserved" | "calm" | "introverted" | "stoic" | "réservé" | "calme" | "introverti" => {
                    t.expressiveness *= 0.8;
                }
                "empathetic" | "caring" | "kind" | "warm" | "empathique" | "attentionné" | "gentil" => {
                    t.empathy *= 1.3;
                }
                "patient" | "gentle" | "easygoing" | "doux" | "posé" => t.irritability *= 0.7,
                "hot-headed" | "grumpy" | "fiery" | "sanguin" | "grognon" => t.irritability *= 1.3,
                _ => {}
            }
        }
        t
    }
}

/// Resting level and half-life (seconds) of each emotion.
#[must_use]
pub const fn dynamics(emotion: Emotion) -> (f32, f32) {
    match emotion {
        Emotion::Contentment => (0.25, 60.0),
        Emotion::Surprise => (0.0, 2.0),
        Emotion::Excitement => (0.0, 8.0),
        Emotion::Fear => (0.0, 10.0),
        Emotion::Joy => (0.0, 15.0),
        Emotion::Disgust => (0.0, 12.0),
        Emotion::Anger | Emotion::Frustration => (0.0, 25.0),
        Emotion::Empathy => (0.0, 40.0),
        Emotion::Jealousy => (0.0, 45.0),
        Emotion::Sadness => (0.0, 60.0),
        Emotion::Love => (0.0, 120.0),
    }
}

/// The impulses a stimulus gives, before temperament: `(emotion, amount)` pairs.
#[must_use]
pub fn impulses(stimulus: &Stimulus) -> Vec<(Emotion, f32)> {
    use Emotion::{Anger, Contentment, Disgust, Empathy, Excitement, Fear, Frustration, Joy, Love, Sadness, Surprise};
    let unit = |x: f32| if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 };
    match *stimulus {
        Stimulus::Sentiment { valence, arousal } => {
            let valence = if valence.is_finite() { valence.clamp(-1.0, 1.0) } else { 0.0 };
            let arousal = unit(arousal);
            if valence >= 0.0 {
                // Kind words: joy, with excitement when they are lively and warmth when
                // they are strongly positive.
                vec![
                    (Joy, 0.6 * valence),
                    (Excitement, 0.4 * valence * arousal),
                    (Love, 0.25 * (valence - 0.6).max(0.0) / 0.4),
                    (Contentment, 0.2 * valence * (1.0 - arousal)),
                ]
            } else {
                let v = -valence;
                // A sad, quiet user moves the companion to empathy; a hostile, agitated
                // one hurts and then irritates it.
                vec![
                    (Empathy, 0.7 * v * (1.0 - arousal)),
                    (Sadness, 0.35 * v * (1.0 - arousal) + 0.3 * v * arousal),
                    (Frustration, 0.35 * v * arousal),
                    (Anger, 0.25 * v * (arousal - 0.5).max(0.0) * 2.0),
                ]
            }
        }
        Stimulus::Tag { emotion, intensity } => vec![(emotion, 0.5 * unit(intensity))],
        Stimulus::Proximity { distance_m } if distance_m.is_finite() && distance_m < TOO_CLOSE_M => {
            vec![(Surprise, 0.3), (Fear, 0.25)]
        }
        Stimulus::Proximity { distance_m } if distance_m.is_finite() && distance_m < CLOSE_M => {
            vec![(Joy, 0.15), (Contentment, 0.1)]
        }
        Stimulus::Proximity { .. } => Vec::new(),
        Stimulus::UserLeft => vec![(Sadness, 0.3)],
        Stimulus::GazeHeld { seconds } => {
            let held = unit(seconds / 4.0);
            vec![(Contentment, 0.1 * held), (Love, 0.12 * held)]
        }
        Stimulus::Gesture { gesture } => match gesture {
            UserGesture::Wave => vec![(Joy, 0.5), (Excitement, 0.25)],
            UserGesture::ThumbsUp => vec![(Joy, 0.45), (Contentment, 0.1)],
            UserGesture::OfferedHand => vec![(Joy, 0.3), (Love, 0.2)],
            UserGesture::Point => vec![(Surprise, 0.2)],
            UserGesture::Fist => vec![(Fear, 0.35), (Frustration, 0.15)],
        },
        Stimulus::Touch { region, gentle: true } => match region {
            TouchRegion::Hand => vec![(Love, 0.3), (Joy, 0.25)],
            TouchRegion::Shoulder => vec![(Contentment, 0.25), (Love, 0.15)],
            TouchRegion::Head => vec![(Surprise, 0.5), (Joy, 0.1)],
        },
        Stimulus::Touch { gentle: false, .. } => vec![(Surprise, 0.6), (Anger, 0.3), (Disgust, 0.2)],
    }
}

/// How emotion colours the voice: multipliers on speaking rate and pitch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoiceModulation {
    /// Speaking-rate factor (1.0 = the voice's own).
    pub rate: f32,
    /// Pitch factor.
    pub pitch: f32,
}

/// The seed's `EmotionalState`: current emotion, intensity, how long, what triggered it —
/// plus every level, which is what the machine runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmotionalState {
    /// The dominant emotion.
    pub current: Emotion,
    /// Its level, in [0, 1].
    pub intensity: f32,
    /// Seconds it has been current.
    pub duration_s: f32,
    /// The most recent stimuli, newest last.
    pub triggers: Vec<Stimulus>,
    /// Each emotion's level, in [`Emotion::ALL`] order.
    pub levels: [f32; 12],
    /// Impulse scales.
    #[serde(default)]
    pub temperament: Temperament,
}

impl Default for EmotionalState {
    fn default() -> Self {
        Self::with_temperament(Temperament::default())
    }
}

fn index(emotion: Emotion) -> usize {
    Emotion::ALL.iter().position(|&e| e == emotion).unwrap_or(0)
}

impl EmotionalState {
    /// A companion at rest (content) with this temperament.
    #[must_use]
    pub fn with_temperament(temperament: Temperament) -> Self {
        let levels = Emotion::ALL.map(|e| dynamics(e).0);
        Self {
            current: Emotion::Contentment,
            intensity: levels[index(Emotion::Contentment)],
            duration_s: 0.0,
            triggers: Vec::new(),
            levels,
            temperament,
        }
    }

    /// One emotion's level.
    #[must_use]
    pub fn level(&self, emotion: Emotion) -> f32 {
        self.levels[index(emotion)]
    }

    /// Applies a stimulus now.
    pub fn feel(&mut self, stimulus: Stimulus) {
        let t = self.temperament;
        for (emotion, amount) in impulses(&stimulus) {
            let mut scale = t.expressiveness;
            if matches!(emotion, Emotion::Empathy | Emotion::Sadness) {
                scale *= t.empathy;
            }
            if matches!(emotion, Emotion::Anger | Emotion::Frustration | Emotion::Disgust) {
                scale *= t.irritability;
            }
            let level = &mut self.levels[index(emotion)];
            // Saturating: a second impulse adds less to an already strong level.
            *level += (amount * scale).max(0.0) * (1.0 - *level);
            *level = level.clamp(0.0, 1.0);
        }
        if self.triggers.len() == TRIGGER_MEMORY {
            self.triggers.remove(0);
        }
        self.triggers.push(stimulus);
        self.choose();
    }

    /// Lets `dt` seconds pass: every level relaxes towards rest.
    pub fn advance(&mut self, dt: f32) {
        let dt = if dt.is_finite() { dt.max(0.0) } else { 0.0 };
        for (level, emotion) in self.levels.iter_mut().zip(Emotion::ALL) {
            let (rest, half_life) = dynamics(emotion);
            *level = rest + (*level - rest) * 0.5f32.powf(dt / half_life);
        }
        self.duration_s += dt;
        self.choose();
    }

    fn choose(&mut self) {
        let (best, level) = Emotion::ALL
            .into_iter()
            .zip(self.levels)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((Emotion::Contentment, 0.0));
        let current_level = self.level(self.current);
        if best != self.current && level > current_level + SWITCH_MARGIN {
            self.current = best;
            self.duration_s = 0.0;
        }
        self.intensity = self.level(self.current);
    }

    /// The face: every emotion above its resting level, by how far above.
    #[must_use]
    pub fn expression(&self) -> EmotionMix {
        let mut mix: Vec<(Emotion, f32)> = Emotion::ALL
            .into_iter()
            .zip(self.levels)
            .map(|(e, l)| (e, if e == Emotion::Contentment { l } else { l - dynamics(e).0 }))
            .filter(|&(_, l)| l > 0.05)
            .collect();
        mix.sort_by(|a, b| b.1.total_cmp(&a.1));
        EmotionMix(mix)
    }

    /// The voice: lively emotions speed up and raise the voice, sad and tender ones slow
    /// and lower it, anger speeds up and lowers it.
    #[must_use]
    pub fn voice(&self) -> VoiceModulation {
        let i = self.intensity;
        let (rate, pitch) = match self.current {
            Emotion::Excitement | Emotion::Joy | Emotion::Surprise => (0.15, 0.12),
            Emotion::Fear => (0.2, 0.15),
            Emotion::Anger | Emotion::Frustration => (0.1, -0.08),
            Emotion::Sadness => (-0.18, -0.1),
            Emotion::Empathy | Emotion::Love => (-0.08, -0.04),
            Emotion::Disgust | Emotion::Jealousy => (-0.05, -0.06),
            Emotion::Contentment => (0.0, 0.0),
        };
        VoiceModulation { rate: 1.0 + rate * i, pitch: 1.0 + pitch * i }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: &mut EmotionalState, seconds: f32) {
        for _ in 0..(seconds * 10.0) as usize {
            state.advance(0.1);
        }
    }

    #[test]
    fn a_companion_left_alone_is_content() {
        let mut s = EmotionalState::default();
        run(&mut s, 30.0);
        assert_eq!(s.current, Emotion::Contentment);
        assert!((s.intensity - 0.25).abs() < 1e-3);
        assert_eq!(s.voice(), VoiceModulation { rate: 1.0, pitch: 1.0 });
    }

    #[test]
    fn a_wave_brings_joy_that_fades_back_to_contentment() {
        let mut s = EmotionalState::default();
        s.feel(Stimulus::Gesture { gesture: UserGesture::Wave });
        assert_eq!(s.current, Emotion::Joy);
        assert!(s.level(Emotion::Excitement) > 0.2);
        let face = s.expression();
        assert_eq!(face.dominant().map(|(e, _)| e), Some(Emotion::Joy));
        assert!(s.voice().rate > 1.05 && s.voice().pitch > 1.04, "{:?}", s.voice());
        run(&mut s, 10.0);
        assert_eq!(s.current, Emotion::Joy, "joy lasts a while");
        run(&mut s, 40.0);
        assert_eq!(s.current, Emotion::Contentment, "and fades: {:?}", s.levels);
        assert!(s.duration_s < 40.0);
    }

    #[test]
    fn a_sad_user_moves_the_companion_to_empathy_and_a_hostile_one_to_frustration() {
        let mut sad = EmotionalState::default();
        sad.feel(Stimulus::Sentiment { valence: -0.8, arousal: 0.2 });
        assert_eq!(sad.current, Emotion::Empathy);
        assert!(sad.voice().rate < 1.0, "empathy slows the voice");

        let mut hurt = EmotionalState::default();
        for _ in 0..3 {
            hurt.feel(Stimulus::Sentiment { valence: -0.9, arousal: 0.9 });
            run(&mut hurt, 2.0);
        }
        assert!(matches!(hurt.current, Emotion::Frustration | Emotion::Sadness), "{:?}", hurt.current);
        assert!(hurt.level(Emotion::Anger) > 0.2, "repeated hostility angers: {:?}", hurt.levels);
        assert!(hurt.level(Emotion::Empathy) < hurt.level(Emotion::Frustration) / 2.0, "{:?}", hurt.levels);
    }

    #[test]
    fn surprise_is_brief_and_the_previous_mood_returns() {
        let mut s = EmotionalState::default();
        s.feel(Stimulus::Sentiment { valence: 0.9, arousal: 0.3 });
        assert_eq!(s.current, Emotion::Joy);
        s.feel(Stimulus::Touch { region: TouchRegion::Head, gentle: true });
        s.feel(Stimulus::Touch { region: TouchRegion::Head, gentle: true });
        assert_eq!(s.current, Emotion::Surprise);
        run(&mut s, 5.0);
        assert_eq!(s.current, Emotion::Joy, "{:?}", s.levels);
    }

    #[test]
    fn coming_too_close_startles_and_a_rough_touch_angers() {
        let mut s = EmotionalState::default();
        s.feel(Stimulus::Proximity { distance_m: 0.3 });
        assert!(s.level(Emotion::Fear) > 0.2 && s.level(Emotion::Surprise) > 0.25);
        let mut t = EmotionalState::default();
        t.feel(Stimulus::Touch { region: TouchRegion::Shoulder, gentle: false });
        run(&mut t, 4.0);
        assert_eq!(t.current, Emotion::Anger, "{:?}", t.levels);
        let mut friendly = EmotionalState::default();
        friendly.feel(Stimulus::Proximity { distance_m: 1.0 });
        assert!(friendly.level(Emotion::Fear) == 0.0);
    }

    #[test]
    fn gaze_and_gentle_touch_grow_love_which_lingers() {
        let mut s = EmotionalState::default();
        for _ in 0..4 {
            s.feel(Stimulus::GazeHeld { seconds: 4.0 });
            s.feel(Stimulus::Touch { region: TouchRegion::Hand, gentle: true });
            run(&mut s, 3.0);
        }
        assert_eq!(s.current, Emotion::Love, "{:?}", s.levels);
        run(&mut s, 60.0);
        assert!(s.level(Emotion::Love) > s.level(Emotion::Joy), "love outlasts joy: {:?}", s.levels);
    }

    #[test]
    fn temperament_scales_reactions_and_nothing_leaves_the_unit_range() {
        let caring = Temperament::from_traits(&["empathetic", "Calm"]);
        assert!(caring.empathy > 1.2 && caring.expressiveness < 1.0);
        let mut a = EmotionalState::with_temperament(caring);
        let mut b = EmotionalState::default();
        let sad = Stimulus::Sentiment { valence: -0.7, arousal: 0.1 };
        a.feel(sad);
        b.feel(sad);
        assert!(a.level(Emotion::Empathy) > b.level(Emotion::Empathy));

        let mut s = EmotionalState::default();
        for x in [f32::NAN, f32::INFINITY, -1e9, 1e9] {
            s.feel(Stimulus::Sentiment { valence: x, arousal: x });
            s.feel(Stimulus::Tag { emotion: Emotion::Fear, intensity: x });
            s.feel(Stimulus::Proximity { distance_m: x });
            s.advance(x);
        }
        for _ in 0..50 {
            s.feel(Stimulus::Gesture { gesture: UserGesture::Wave });
        }
        assert!(s.levels.iter().all(|l| (0.0..=1.0).contains(l)), "{:?}", s.levels);
        assert_eq!(s.triggers.len(), TRIGGER_MEMORY);
        let json = serde_json::to_string(&s).expect("serialises");
        let back: EmotionalState = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.current, s.current);
    }
}
