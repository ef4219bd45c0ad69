//! Interest management: which avatars the server sends one viewer this tick.
//!
//! The seed's distance bands — LOD0 under 5 m, LOD1 5–15 m, LOD2 15–30 m, nothing past
//! 30 m — set how often an avatar is sent: near ones every tick, farther ones every 2nd or
//! 4th. Outside the viewer's view cone the cadence drops further. Each avatar's phase is
//! shifted by its id so far avatars spread over ticks instead of bursting on one. The
//! nearest are kept when more than the cap are due.

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::state::Pose;

/// How the server thins out updates with distance and view direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InterestPolicy {
    /// `(max distance in metres, send every nth tick)`, nearest band first. A candidate
    /// belongs to the first band it is strictly closer than; past the last, it is not sent.
    pub bands: [(f32, u32); 3],
    /// At most this many avatars per viewer per tick (the nearest are kept).
    pub max_avatars: usize,
    /// Outside the view cone the cadence is multiplied by this (2: half as often).
    pub behind_penalty: u32,
    /// Cosine of half the field of view; a candidate whose direction makes a smaller
    /// cosine with the viewer's forward is out of view.
    pub fov_cos: f32,
}

impl Default for InterestPolicy {
    /// The seed's bands (every tick under 5 m, every 2nd under 15 m, every 4th under
    /// 30 m), 32 avatars, half as often out of a 120° view cone.
    fn default() -> Self {
        Self { bands: [(5.0, 1), (15.0, 2), (30.0, 4)], max_avatars: 32, behind_penalty: 2, fov_cos: 0.5 }
    }
}

/// An avatar the server could send.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The avatar's id (also its cadence phase).
    pub id: u32,
    /// Its head position, room frame.
    pub position: Vec3,
}

/// Replace `out` with the ids to send `viewer` at `tick`, nearest first.
///
/// A candidate is due when `(tick + id) % every == 0`, `every` being its band's cadence,
/// times [`InterestPolicy::behind_penalty`] when it lies outside the view cone around the
/// viewer's forward (−Z rotated by the viewer's rotation). A candidate at the viewer's own
/// position counts as in view; one with a non-finite position is skipped. Of the due
/// candidates the nearest [`InterestPolicy::max_avatars`] are kept (ties by id).
pub fn select(policy: &InterestPolicy, viewer: &Pose, candidates: &[Candidate], tick: u64, out: &mut Vec<u32>) {
    out.clear();
    let forward = (viewer.rotation * Vec3::NEG_Z).normalize_or_zero();
    let mut due: Vec<(f32, u32)> = candidates
        .iter()
        .filter_map(|candidate| {
            let offset = candidate.position - viewer.position;
            let distance = offset.length();
            if !distance.is_finite() {
                return None;
            }
            let (_, cadence) = policy.bands.iter().find(|(max, _)| distance < *max)?;
            let in_view = distance <= f32::EPSILON || offset.dot(forward) >= policy.fov_cos * distance;
            let penalty = if in_view { 1 } else { policy.behind_penalty.max(1) };
            let every = u64::from((*cadence).max(1)) * u64::from(penalty);
            (tick.wrapping_add(u64::from(candidate.id)) % every == 0).then_some((distance, candidate.id))
        })
        .collect();
    due.sort_by(|(da, ia), (db, ib)| da.total_cmp(db).then(ia.cmp(ib)));
    out.extend(due.iter().take(policy.max_avatars).map(|(_, id)| *id));
}

#[cfg(test)]
mod tests {
    use std::f32::consts::PI;

    use glam::Quat;

    use super::*;

    fn ahead(id: u32, metres: f32) -> Candidate {
        Candidate { id, position: Vec3::new(0.0, 1.6, -metres) }
    }

    fn viewer() -> Pose {
        Pose::new(Vec3::new(0.0, 1.6, 0.0), Quat::IDENTITY)
    }

    /// How many of `ticks` ticks each candidate is sent on.
    fn counts(policy: &InterestPolicy, viewer: &Pose, candidates: &[Candidate], ticks: u64) -> Vec<usize> {
        let mut out = Vec::new();
        let mut counts = vec![0; candidates.len()];
        for tick in 0..ticks {
            select(policy, viewer, candidates, tick, &mut out);
            for id in &out {
                let index = candidates.iter().position(|c| c.id == *id).unwrap();
                counts[index] += 1;
            }
        }
        counts
    }

    #[test]
    fn bands_set_the_cadence() {
        let candidates = [ahead(1, 2.0), ahead(2, 10.0), ahead(3, 20.0), ahead(4, 35.0), ahead(5, 30.0)];
        assert_eq!(counts(&InterestPolicy::default(), &viewer(), &candidates, 12), [12, 6, 3, 0, 0]);
    }

    #[test]
    fn far_avatars_spread_over_ticks() {
        let candidates: Vec<_> = (0..8).map(|id| ahead(id, 20.0)).collect();
        let mut out = Vec::new();
        for tick in 0..12 {
            select(&InterestPolicy::default(), &viewer(), &candidates, tick, &mut out);
            assert_eq!(out.len(), 2, "tick {tick}: {out:?}");
        }
    }

    #[test]
    fn cap_keeps_the_closest() {
        let candidates: Vec<_> = (0..40).map(|id| ahead(id, 4.9 - id as f32 * 0.1)).collect();
        let mut out = Vec::new();
        select(&InterestPolicy::default(), &viewer(), &candidates, 0, &mut out);
        assert_eq!(out.len(), 32);
        let expected: Vec<u32> = (8..40).rev().collect();
        assert_eq!(out, expected, "nearest first, the 8 farthest dropped");
    }

    #[test]
    fn behind_is_sent_less_often_than_ahead() {
        let policy = InterestPolicy::default();
        let front = ahead(1, 10.0);
        let behind = Candidate { id: 1, position: Vec3::new(0.0, 1.6, 10.0) };
        let sent_front = counts(&policy, &viewer(), &[front], 12)[0];
        let sent_behind = counts(&policy, &viewer(), &[behind], 12)[0];
        assert_eq!((sent_front, sent_behind), (6, 3));
        // Turned around, the viewer sees the one at +Z.
        let turned = Pose::new(viewer().position, Quat::from_rotation_y(PI));
        assert_eq!(counts(&policy, &turned, &[behind], 12)[0], 6);
        assert_eq!(counts(&policy, &turned, &[front], 12)[0], 3);
    }

    #[test]
    fn no_candidates_clear_the_output() {
        let mut out = vec![7, 8, 9];
        select(&InterestPolicy::default(), &viewer(), &[], 5, &mut out);
        assert!(out.is_empty());
        let broken = [Candidate { id: 1, position: Vec3::NAN }];
        select(&InterestPolicy::default(), &viewer(), &broken, 0, &mut out);
        assert!(out.is_empty());
    }
}
