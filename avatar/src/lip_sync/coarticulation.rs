//! The per-frame runtime: [`LipSync`] turns a [`VisemeTrack`] at a playback time, or a
//! stream of [`VisemeMix`]es, into blend shapes, with co-articulation and smoothing.

use serde::{Deserialize, Serialize};

use super::{VISEMES, Viseme, VisemeMix, VisemeTrack, smoothstep};
use crate::face::blend_shapes::BlendShapeWeights;

/// Tuning of [`LipSync`]. Out-of-range values are clamped where used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LipSyncConfig {
    /// How long before its start a viseme begins to shape the mouth (anticipatory
    /// co-articulation), seconds; at most half of the previous key. Default 0.05.
    pub attack_s: f32,
    /// The attack of closure visemes ([`Viseme::is_closure`]): lips start closing
    /// earlier. Default 0.07.
    pub closure_attack_s: f32,
    /// How long after its start a viseme takes to reach its full share while the
    /// previous one fades, seconds; at most half of its key. Default 0.05.
    pub release_s: f32,
    /// The largest share a viseme reaches before its start, in [0, 0.49]: below ½ so the
    /// viseme that started last always dominates. At its start the share steps from
    /// `anticipation` to `1 − anticipation`. Default 0.45 (a 0.1 step).
    pub anticipation: f32,
    /// Time constant of [`LipSync::push`]'s smoothing, seconds (0 = none). Default 0.01:
    /// a new viseme dominates τ·ln 2 ≈ 7 ms after it arrives.
    pub smoothing_s: f32,
    /// Scale on every mouth weight (1 = the recipes as they are). Default 1.
    pub intensity: f32,
}

impl Default for LipSyncConfig {
    fn default() -> Self {
        Self {
            attack_s: 0.05,
            closure_attack_s: 0.07,
            release_s: 0.05,
            anticipation: 0.45,
            smoothing_s: 0.01,
            intensity: 1.0,
        }
    }
}

/// Viseme mix → blend shapes, evaluated once per frame: [`Self::sample`] for a
/// [`VisemeTrack`] at a playback time (the companion's TTS), [`Self::push`] for a stream
/// of per-frame mixes (a user's live audio).
///
/// ```
/// use nexus_avatar::lip_sync::{LipSync, Viseme, VisemeKey, VisemeTrack};
///
/// let track = VisemeTrack::new(vec![
///     VisemeKey { start_s: 0.0, end_s: 0.1, viseme: Viseme::PP },
///     VisemeKey { start_s: 0.1, end_s: 0.3, viseme: Viseme::Aa },
/// ])
/// .expect("ordered keys");
/// let sync = LipSync::default();
/// // The vowel dominates from its first frame on: no look-behind delay.
/// assert_eq!(sync.mix(&track, 0.1).dominant(), Viseme::Aa);
/// let weights = sync.sample(&track, 0.2);
/// assert!(weights.0.iter().any(|w| *w > 0.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LipSync {
    config: LipSyncConfig,
    smoothed: VisemeMix,
}

impl Default for LipSync {
    fn default() -> Self {
        Self::new(LipSyncConfig::default())
    }
}

/// A track segment: a key, or the silence before the first or after the last key.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start_s: f32,
    end_s: f32,
    viseme: Viseme,
}

impl Segment {
    fn duration_s(self) -> f32 {
        self.end_s - self.start_s
    }
}

/// Shares of the previous, current and next segment at one instant (at most one
/// neighbour is ever active).
#[derive(Debug, Clone, Copy)]
struct Coarticulation {
    previous: Option<(Viseme, f32)>,
    current: (Viseme, f32),
    next: Option<(Viseme, f32)>,
}

impl Coarticulation {
    const SILENT: Self = Self { previous: None, current: (Viseme::Sil, 1.0), next: None };

    fn mix(&self) -> VisemeMix {
        let mut shares = [0.0; VISEMES];
        for (viseme, share) in [self.previous, Some(self.current), self.next].into_iter().flatten() {
            shares[viseme.index()] += share;
        }
        VisemeMix(shares)
    }
}

impl LipSync {
    /// A lip sync with `config`.
    #[must_use]
    pub fn new(config: LipSyncConfig) -> Self {
        Self { config, smoothed: VisemeMix::SILENT }
    }

    /// The tuning.
    #[must_use]
    pub fn config(&self) -> &LipSyncConfig {
        &self.config
    }

    /// The share of each viseme at time `t` of `track`, with co-articulation: the key
    /// containing `t` holds more than half (so [`VisemeMix::dominant`] is
    /// [`VisemeTrack::viseme_at`]), the next key fades in before its start and the
    /// previous one fades out after it.
    #[must_use]
    pub fn mix(&self, track: &VisemeTrack, t: f32) -> VisemeMix {
        self.coarticulate(track, t).mix()
    }

    /// The mouth's blend shapes at time `t` of `track` (seconds on the track's clock; for
    /// TTS, the audio playback position of the frame being rendered).
    #[must_use]
    pub fn sample(&self, track: &VisemeTrack, t: f32) -> BlendShapeWeights {
        let c = self.coarticulate(track, t);
        let full = 1.0 - self.anticipation();
        // A closure seals the lips while it is current or coming up, not after its release.
        let closure = [Some(c.current), c.next]
            .into_iter()
            .flatten()
            .map(|(viseme, share)| viseme.closure() * smoothstep(share / full))
            .fold(0.0_f32, f32::max);
        c.mix().blend(closure, self.config.intensity)
    }

    /// Streaming form for live audio: smooths towards `input` (a classifier's
    /// [`VisemeMix`] or a single [`Viseme`]) over `dt_s` seconds and returns the mouth's
    /// blend shapes. Call once per frame with the frame's delta time; with the default
    /// 10 ms time constant the new input dominates in the same frame at 72–90 Hz.
    pub fn push(&mut self, input: impl Into<VisemeMix>, dt_s: f32) -> BlendShapeWeights {
        let target = input.into().normalized();
        let tau = self.config.smoothing_s;
        let alpha = if dt_s.is_nan() || dt_s <= 0.0 {
            0.0
        } else if tau.is_nan() || tau <= 0.0 {
            1.0
        } else {
            1.0 - (-dt_s / tau).exp()
        };
        for (smoothed, goal) in self.smoothed.0.iter_mut().zip(target.0) {
            *smoothed += alpha * (goal - *smoothed);
        }
        self.current()
    }

    /// The blend shapes of the streaming state, without advancing it.
    #[must_use]
    pub fn current(&self) -> BlendShapeWeights {
        let closure = self.smoothed.closure(1.0 - self.anticipation());
        self.smoothed.blend(closure, self.config.intensity)
    }

    /// The streaming state's viseme mix.
    #[must_use]
    pub fn streaming_mix(&self) -> VisemeMix {
        self.smoothed
    }

    /// Forgets the streaming state (back to silence).
    pub fn reset(&mut self) {
        self.smoothed = VisemeMix::SILENT;
    }

    fn anticipation(&self) -> f32 {
        let a = self.config.anticipation;
        if a.is_finite() { a.clamp(0.0, 0.49) } else { 0.0 }
    }

    fn attack_for(&self, viseme: Viseme) -> f32 {
        non_negative(if viseme.is_closure() { self.config.closure_attack_s } else { self.config.attack_s })
    }

    fn coarticulate(&self, track: &VisemeTrack, t: f32) -> Coarticulation {
        let keys = track.keys();
        let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
            return Coarticulation::SILENT;
        };
        if !t.is_finite() {
            return Coarticulation::SILENT;
        }
        // Segment i ∈ [−1, n]: −1 is the silence before the first key, n the one after
        // the last. Keys are contiguous (the track fills gaps), so every t has one.
        let n = keys.len() as isize;
        let segment = |i: isize| -> Option<Segment> {
            if i == -1 {
                Some(Segment { start_s: f32::NEG_INFINITY, end_s: first.start_s, viseme: Viseme::Sil })
            } else if i == n {
                Some(Segment { start_s: last.end_s, end_s: f32::INFINITY, viseme: Viseme::Sil })
            } else {
                let key = keys.get(usize::try_from(i).ok()?)?;
                Some(Segment { start_s: key.start_s, end_s: key.end_s, viseme: key.viseme })
            }
        };
        let index = if t < first.start_s {
            -1
        } else if t >= last.end_s {
            n
        } else {
            keys.partition_point(|key| key.start_s <= t) as isize - 1
        };
        let Some(current) = segment(index) else {
            return Coarticulation::SILENT;
        };
        let a = self.anticipation();
        let release = |seg: Segment| non_negative(self.config.release_s).min(seg.duration_s() * 0.5);
        let attack = |before: Segment, after: Segment| self.attack_for(after.viseme).min(before.duration_s() * 0.5);

        // Just after the start: the previous segment fades out.
        if let Some(previous) = segment(index - 1) {
            let rel = release(current);
            let since = t - current.start_s;
            if since < rel {
                let y = share_after(since, attack(previous, current), rel, a);
                return Coarticulation {
                    previous: Some((previous.viseme, 1.0 - y)),
                    current: (current.viseme, y),
                    next: None,
                };
            }
        }
        // Just before the end: the next segment fades in.
        if let Some(next) = segment(index + 1) {
            let att = attack(current, next);
            let until = current.end_s - t;
            if until <= att {
                let y = share_before(-until, att, release(next), a);
                return Coarticulation {
                    previous: None,
                    current: (current.viseme, 1.0 - y),
                    next: Some((next.viseme, y)),
                };
            }
        }
        Coarticulation { previous: None, current: (current.viseme, 1.0), next: None }
    }
}

/// The incoming viseme's share `tau` ∈ [−attack, 0] seconds before its start: a cubic
/// Hermite rising from 0 (flat) to `a`, its end slope matched to [`share_after`]'s start.
fn share_before(tau: f32, attack: f32, release: f32, a: f32) -> f32 {
    if attack.is_nan() || attack <= 0.0 || a.is_nan() || a <= 0.0 {
        return 0.0;
    }
    let slope = 1.0 / (attack + release.max(0.0));
    let m = (slope * attack / a).min(3.0); // a Hermite end slope ≤ 3 keeps the cubic monotonic
    let u = ((tau + attack) / attack).clamp(0.0, 1.0);
    let h = (3.0 - 2.0 * u) * u * u + (u * u * u - u * u) * m;
    (a * h).clamp(0.0, a)
}

/// The incoming viseme's share `tau` ∈ [0, release) seconds after its start: a cubic
/// Hermite rising from `1 − a` to 1 (flat), its start slope matched to [`share_before`].
fn share_after(tau: f32, attack: f32, release: f32, a: f32) -> f32 {
    if release.is_nan() || release <= 0.0 || a.is_nan() || a <= 0.0 {
        return 1.0;
    }
    let slope = 1.0 / (attack.max(0.0) + release);
    let m = (slope * release / a).min(3.0);
    let v = (tau / release).clamp(0.0, 1.0);
    let g = (3.0 - 2.0 * v) * v * v + (v * v * v - 2.0 * v * v + v) * m;
    (1.0 - a + a * g).clamp(1.0 - a, 1.0)
}

fn non_negative(x: f32) -> f32 {
    if x.is_finite() { x.max(0.0) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::blend_shapes::BlendShape;
    use crate::lip_sync::VisemeKey;
    use crate::lip_sync::track::test_track as track;
    use proptest::prelude::*;

    #[test]
    fn a_started_viseme_dominates_from_its_start() {
        let sync = LipSync::default();
        let t = track(&[(0.0, 0.12, Viseme::Aa), (0.12, 0.2, Viseme::PP), (0.2, 0.35, Viseme::Ou)]);
        for key in t.keys() {
            let mix = sync.mix(&t, key.start_s);
            assert_eq!(mix.dominant(), key.viseme);
            assert!(mix.get(key.viseme) >= 0.55 - 1e-5);
            // Just before its start the key is on its way but not yet dominant.
            let before = sync.mix(&t, key.start_s - 0.005).get(key.viseme);
            assert!(before > 0.0 && before < 0.5, "{:?}: {before}", key.viseme);
        }
    }

    #[test]
    fn bilabials_close_the_lips_between_open_vowels() {
        let sync = LipSync::default();
        let t = track(&[(0.0, 0.2, Viseme::Aa), (0.2, 0.26, Viseme::PP), (0.26, 0.5, Viseme::Aa)]);
        let jaw = |time: f32| sync.sample(&t, time).get(BlendShape::JawOpen);
        assert!(jaw(0.1) > 0.5, "open vowel");
        assert!(jaw(0.195) < 0.3, "closing before the bilabial");
        for time in [0.2, 0.21, 0.23, 0.25] {
            assert!(jaw(time) < 0.06, "lips sealed during the bilabial at {time}: {}", jaw(time));
        }
        assert!(jaw(0.26) > 0.25, "opens as soon as the vowel starts");
        assert!(sync.sample(&t, 0.23).get(BlendShape::MouthPressLeft) > 0.3);
    }

    #[test]
    fn sample_is_nearly_continuous() {
        let sync = LipSync::default();
        let t = track(&[(0.0, 0.1, Viseme::Ih), (0.1, 0.13, Viseme::SS), (0.13, 0.4, Viseme::Oh)]);
        let mut previous = sync.sample(&t, -0.2);
        for step in 1..800 {
            let time = -0.2 + step as f32 * 0.001;
            let now = sync.sample(&t, time);
            let jump = previous.0.iter().zip(now.0).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            // The only steps are the share steps at starts (1 − 2·anticipation = 0.1).
            assert!(jump < 0.1, "jump {jump} at {time}");
            previous = now;
        }
        assert_eq!(sync.sample(&t, 10.0), BlendShapeWeights::ZERO);
        assert_eq!(sync.sample(&VisemeTrack::default(), 0.0), BlendShapeWeights::ZERO);
        assert_eq!(sync.sample(&t, f32::NAN), BlendShapeWeights::ZERO);
    }

    #[test]
    fn streaming_switches_within_one_frame() {
        for hz in [72.0_f32, 90.0] {
            let mut sync = LipSync::default();
            for _ in 0..10 {
                sync.push(Viseme::Aa, 1.0 / hz);
            }
            assert_eq!(sync.streaming_mix().dominant(), Viseme::Aa);
            let weights = sync.push(Viseme::Ou, 1.0 / hz);
            assert_eq!(sync.streaming_mix().dominant(), Viseme::Ou, "{hz} Hz");
            assert!(weights.get(BlendShape::MouthPucker) > 0.4);
        }
        let mut sync = LipSync::default();
        assert_eq!(sync.push(Viseme::E, 0.0), BlendShapeWeights::ZERO, "no time, no change");
        sync.push(VisemeMix([f32::NAN; VISEMES]), 0.011);
        assert_eq!(sync.streaming_mix().dominant(), Viseme::Sil);
        sync.push(Viseme::PP, 0.02);
        assert!(sync.current().get(BlendShape::JawOpen) < 0.05);
        sync.reset();
        assert_eq!(sync.streaming_mix(), VisemeMix::SILENT);
    }

    #[test]
    fn intensity_scales_and_config_parses_with_defaults() {
        let config: LipSyncConfig = serde_json::from_str(r#"{"intensity":0.5}"#).unwrap();
        assert_eq!(config.attack_s, LipSyncConfig::default().attack_s);
        let half = LipSync::new(config);
        let t = track(&[(0.0, 1.0, Viseme::Aa)]);
        let full = LipSync::default().sample(&t, 0.5).get(BlendShape::JawOpen);
        assert!((half.sample(&t, 0.5).get(BlendShape::JawOpen) - full * 0.5).abs() < 1e-6);
    }

    fn arb_track() -> impl Strategy<Value = VisemeTrack> {
        proptest::collection::vec((0.005_f32..0.3, 0usize..VISEMES), 1..12).prop_map(|keys| {
            let mut start = 0.0;
            let mut out = Vec::new();
            for (duration, v) in keys {
                out.push(VisemeKey { start_s: start, end_s: start + duration, viseme: Viseme::ALL[v] });
                start += duration;
            }
            VisemeTrack::new(out).unwrap()
        })
    }

    proptest! {
        #[test]
        fn the_sounding_viseme_always_dominates(t in arb_track(), time in -0.5_f32..4.0) {
            let sync = LipSync::default();
            let mix = sync.mix(&t, time);
            prop_assert_eq!(mix.dominant(), t.viseme_at(time));
            prop_assert!((mix.0.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            let weights = sync.sample(&t, time);
            prop_assert!(weights.0.iter().all(|w| (0.0..=1.0).contains(w)));
        }

        #[test]
        fn shares_rise_monotonically(attack in 0.001_f32..0.2, release in 0.001_f32..0.2, a in 0.05_f32..0.49) {
            let mut last = 0.0;
            for i in 0..=100 {
                let y = share_before(-attack + attack * i as f32 / 100.0, attack, release, a);
                prop_assert!(y >= last - 1e-6 && y <= a + 1e-6);
                last = y;
            }
            let mut last = 1.0 - a;
            for i in 0..=100 {
                let y = share_after(release * i as f32 / 100.0, attack, release, a);
                prop_assert!(y >= last - 1e-6 && y <= 1.0 + 1e-6);
                last = y;
            }
        }
    }
}
