//! Visemes on a timeline: [`VisemeKey`]s validated into a [`VisemeTrack`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::Viseme;

/// One viseme held from `start_s` (inclusive) to `end_s` (exclusive), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VisemeKey {
    /// Start, seconds.
    pub start_s: f32,
    /// End, seconds; after the start.
    pub end_s: f32,
    /// The mouth shape.
    pub viseme: Viseme,
}

impl VisemeKey {
    /// Length in seconds.
    #[must_use]
    pub fn duration_s(&self) -> f32 {
        self.end_s - self.start_s
    }

    /// Whether `t` lies in `[start_s, end_s)`.
    #[must_use]
    pub fn contains(&self, t: f32) -> bool {
        self.start_s <= t && t < self.end_s
    }
}

/// Why keys or start times don't make a [`VisemeTrack`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrackError {
    /// A time is NaN or infinite.
    #[error("key {index}: time is not finite")]
    NotFinite {
        /// Index of the offending key or start.
        index: usize,
    },
    /// A key ends before it starts, or at its start.
    #[error("key {index}: ends at {end_s} s, not after its start {start_s} s")]
    Empty {
        /// Index of the offending key.
        index: usize,
        /// Its start.
        start_s: f32,
        /// Its end.
        end_s: f32,
    },
    /// Keys or starts are out of order, or overlap.
    #[error("key {index} starts at {start_s} s, before the previous one ends at {previous_s} s")]
    Unordered {
        /// Index of the offending key or start.
        index: usize,
        /// Its start.
        start_s: f32,
        /// The previous key's end (or the previous start).
        previous_s: f32,
    },
}

/// Visemes on a timeline: sorted, non-overlapping keys, gaps filled with
/// [`Viseme::Sil`] and touching keys of the same viseme merged (so [`Self::keys`] may
/// differ from the keys given, and consecutive keys always differ). Outside its keys the
/// track is silent. Deserialising validates the same way.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<VisemeKey>", into = "Vec<VisemeKey>")]
pub struct VisemeTrack {
    keys: Vec<VisemeKey>,
}

impl TryFrom<Vec<VisemeKey>> for VisemeTrack {
    type Error = TrackError;

    fn try_from(keys: Vec<VisemeKey>) -> Result<Self, TrackError> {
        Self::new(keys)
    }
}

impl From<VisemeTrack> for Vec<VisemeKey> {
    fn from(track: VisemeTrack) -> Self {
        track.keys
    }
}

impl VisemeTrack {
    /// A track from keys in time order; each must end after it starts and not start
    /// before the previous one ends.
    ///
    /// # Errors
    /// [`TrackError`] naming the first key that breaks these rules.
    pub fn new(keys: Vec<VisemeKey>) -> Result<Self, TrackError> {
        let mut out: Vec<VisemeKey> = Vec::with_capacity(keys.len());
        for (index, key) in keys.into_iter().enumerate() {
            if !key.start_s.is_finite() || !key.end_s.is_finite() {
                return Err(TrackError::NotFinite { index });
            }
            if key.end_s <= key.start_s {
                return Err(TrackError::Empty { index, start_s: key.start_s, end_s: key.end_s });
            }
            if let Some(last) = out.last_mut() {
                if key.start_s < last.end_s {
                    return Err(TrackError::Unordered { index, start_s: key.start_s, previous_s: last.end_s });
                }
                if key.start_s > last.end_s {
                    if last.viseme == Viseme::Sil {
                        last.end_s = key.start_s;
                    } else {
                        let gap = VisemeKey { start_s: last.end_s, end_s: key.start_s, viseme: Viseme::Sil };
                        out.push(gap);
                    }
                }
            }
            match out.last_mut() {
                Some(last) if last.viseme == key.viseme => last.end_s = key.end_s,
                _ => out.push(key),
            }
        }
        Ok(Self { keys: out })
    }

    /// A track from start times in order: each viseme lasts until the next start, the
    /// last one until `end_s`. Zero-length entries (equal starts, or a last start at
    /// `end_s`) are dropped — the later entry wins.
    ///
    /// # Errors
    /// [`TrackError::NotFinite`] for a NaN or infinite time; [`TrackError::Unordered`]
    /// when a start is earlier than the one before it, or `end_s` earlier than the last
    /// start (`index` is then the number of starts).
    pub fn from_starts(starts: impl IntoIterator<Item = (f32, Viseme)>, end_s: f32) -> Result<Self, TrackError> {
        let starts: Vec<(f32, Viseme)> = starts.into_iter().collect();
        let mut keys = Vec::with_capacity(starts.len());
        for (index, &(start_s, viseme)) in starts.iter().enumerate() {
            let end = starts.get(index + 1).map_or(end_s, |&(next, _)| next);
            if !start_s.is_finite() {
                return Err(TrackError::NotFinite { index });
            }
            if !end.is_finite() {
                return Err(TrackError::NotFinite { index: index + 1 });
            }
            if end < start_s {
                return Err(TrackError::Unordered { index: index + 1, start_s: end, previous_s: start_s });
            }
            if end > start_s {
                keys.push(VisemeKey { start_s, end_s: end, viseme });
            }
        }
        Self::new(keys)
    }

    /// The keys, in time order, contiguous from the first start to the last end.
    #[must_use]
    pub fn keys(&self) -> &[VisemeKey] {
        &self.keys
    }

    /// Whether the track has no keys (all silence).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Start of the first key (0 for an empty track).
    #[must_use]
    pub fn start_s(&self) -> f32 {
        self.keys.first().map_or(0.0, |key| key.start_s)
    }

    /// End of the last key (0 for an empty track).
    #[must_use]
    pub fn end_s(&self) -> f32 {
        self.keys.last().map_or(0.0, |key| key.end_s)
    }

    /// Index of the key that contains `t`, if any.
    #[must_use]
    pub fn key_index_at(&self, t: f32) -> Option<usize> {
        let after = self.keys.partition_point(|key| key.start_s <= t);
        let index = after.checked_sub(1)?;
        self.keys.get(index).filter(|key| key.contains(t)).map(|_| index)
    }

    /// The viseme at `t`: [`Viseme::Sil`] outside the keys (and for NaN).
    #[must_use]
    pub fn viseme_at(&self, t: f32) -> Viseme {
        self.key_index_at(t).and_then(|index| self.keys.get(index)).map_or(Viseme::Sil, |key| key.viseme)
    }
}

/// A track from `(start, end, viseme)` triples, for tests.
#[cfg(test)]
pub(crate) fn test_track(keys: &[(f32, f32, Viseme)]) -> VisemeTrack {
    VisemeTrack::new(keys.iter().map(|&(start_s, end_s, viseme)| VisemeKey { start_s, end_s, viseme }).collect())
        .expect("test track is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(start_s: f32, end_s: f32, viseme: Viseme) -> VisemeKey {
        VisemeKey { start_s, end_s, viseme }
    }

    #[test]
    fn fills_gaps_and_merges_touching_keys() {
        let t = VisemeTrack::new(vec![
            key(0.1, 0.2, Viseme::Aa),
            key(0.2, 0.3, Viseme::Aa),
            key(0.5, 0.6, Viseme::PP),
            key(0.7, 0.8, Viseme::Sil),
        ])
        .unwrap();
        assert_eq!(
            t.keys(),
            [
                key(0.1, 0.3, Viseme::Aa),
                key(0.3, 0.5, Viseme::Sil),
                key(0.5, 0.6, Viseme::PP),
                key(0.6, 0.8, Viseme::Sil)
            ]
        );
        assert_eq!((t.start_s(), t.end_s()), (0.1, 0.8));
        assert_eq!(t.viseme_at(0.4), Viseme::Sil);
        assert_eq!(t.viseme_at(0.5), Viseme::PP);
        assert_eq!(t.viseme_at(0.55), Viseme::PP);
        assert_eq!(t.viseme_at(0.6), Viseme::Sil);
        assert_eq!(t.viseme_at(f32::NAN), Viseme::Sil);
        assert_eq!(t.viseme_at(-1.0), Viseme::Sil);
        assert_eq!(t.key_index_at(0.8), None);
        assert_eq!(VisemeTrack::default().viseme_at(0.0), Viseme::Sil);
    }

    #[test]
    fn rejects_bad_keys() {
        let e = |start: f32, end: f32| key(start, end, Viseme::E);
        assert!(matches!(VisemeTrack::new(vec![e(0.2, 0.2)]), Err(TrackError::Empty { index: 0, .. })));
        assert!(matches!(
            VisemeTrack::new(vec![e(0.0, 0.3), e(0.2, 0.4)]),
            Err(TrackError::Unordered { index: 1, .. })
        ));
        assert!(matches!(VisemeTrack::new(vec![e(0.0, f32::INFINITY)]), Err(TrackError::NotFinite { index: 0 })));
    }

    #[test]
    fn from_starts_drops_zero_length_entries() {
        let t = VisemeTrack::from_starts(
            [(0.0, Viseme::Kk), (0.1, Viseme::E), (0.1, Viseme::Nn), (0.3, Viseme::Sil), (0.5, Viseme::Sil)],
            0.5,
        )
        .unwrap();
        let visemes: Vec<Viseme> = t.keys().iter().map(|k| k.viseme).collect();
        assert_eq!(visemes, [Viseme::Kk, Viseme::Nn, Viseme::Sil]);
        assert_eq!(t.end_s(), 0.5);
        assert!(matches!(
            VisemeTrack::from_starts([(0.2, Viseme::E), (0.1, Viseme::E)], 1.0),
            Err(TrackError::Unordered { index: 1, .. })
        ));
        assert!(matches!(
            VisemeTrack::from_starts([(0.2, Viseme::E)], 0.1),
            Err(TrackError::Unordered { index: 1, .. })
        ));
        assert!(matches!(
            VisemeTrack::from_starts([(f32::NAN, Viseme::E)], 0.1),
            Err(TrackError::NotFinite { index: 0 })
        ));
        assert!(VisemeTrack::from_starts(std::iter::empty::<(f32, Viseme)>(), 1.0).unwrap().is_empty());
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let t = VisemeTrack::new(vec![key(0.0, 0.1, Viseme::Oh), key(0.2, 0.3, Viseme::Ou)]).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        let back: VisemeTrack = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let bad = r#"[{"start_s":0.3,"end_s":0.1,"viseme":"Aa"}]"#;
        assert!(serde_json::from_str::<VisemeTrack>(bad).is_err());
    }
}
