//! What each side remembers so that deltas can be decoded and chosen: received and sent
//! avatar states per (member slot, sequence number), and which sequence numbers the peer
//! has acknowledged (latest + a 32-bit window, as in most game netcode).

use std::collections::{HashMap, VecDeque};

use crate::pose_codec::QuantizedAvatar;
use crate::seq::{Seq, seq_newer};

/// How many states per slot a [`History`] keeps.
pub const HISTORY_DEPTH: usize = 64;

/// Avatar states per member slot, keyed by the sequence number they travelled under.
#[derive(Debug, Default, Clone)]
pub struct History {
    slots: HashMap<u16, VecDeque<(Seq, QuantizedAvatar)>>,
}

impl History {
    /// An empty history.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Remember `state` as slot `slot`'s state at `seq` (the oldest beyond
    /// [`HISTORY_DEPTH`] is forgotten).
    pub fn insert(&mut self, slot: u16, seq: Seq, state: QuantizedAvatar) {
        let ring = self.slots.entry(slot).or_default();
        // Sequence numbers almost always arrive new; a repeat replaces in place.
        if let Some(existing) = ring.iter_mut().rev().find(|(s, _)| *s == seq) {
            existing.1 = state;
            return;
        }
        ring.push_back((seq, state));
        while ring.len() > HISTORY_DEPTH {
            ring.pop_front();
        }
    }

    /// Slot `slot`'s state at `seq`, if still remembered.
    #[must_use]
    pub fn get(&self, slot: u16, seq: Seq) -> Option<&QuantizedAvatar> {
        self.slots.get(&slot)?.iter().rev().find(|(s, _)| *s == seq).map(|(_, q)| q)
    }

    /// The newest remembered state of `slot` whose sequence number `acked` accepts, with
    /// that number.
    #[must_use]
    pub fn newest_acked(&self, slot: u16, acked: &AckWindow) -> Option<(Seq, &QuantizedAvatar)> {
        self.slots.get(&slot)?.iter().rev().find(|(s, _)| acked.contains(*s)).map(|(s, q)| (*s, q))
    }

    /// Forget a slot (its member left).
    pub fn remove(&mut self, slot: u16) {
        self.slots.remove(&slot);
    }
}

/// Which sequence numbers have arrived: the newest, and a bit for each of the 32 before it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AckWindow {
    latest: Option<Seq>,
    bits: u32,
}

impl AckWindow {
    /// Nothing received yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { latest: None, bits: 0 }
    }

    /// A window as a peer sent it.
    #[must_use]
    pub const fn from_wire(latest: Seq, bits: u32) -> Self {
        Self { latest: Some(latest), bits }
    }

    /// Mark `seq` received. Returns false for a duplicate or one too old to track.
    pub fn record(&mut self, seq: Seq) -> bool {
        let Some(latest) = self.latest else {
            self.latest = Some(seq);
            self.bits = 0;
            return true;
        };
        if seq == latest {
            return false;
        }
        if seq_newer(seq, latest) {
            let shift = u32::from(seq.wrapping_sub(latest));
            self.bits = if shift >= 32 { 0 } else { (self.bits << shift) | (1 << (shift - 1)) };
            self.latest = Some(seq);
            return true;
        }
        let back = u32::from(latest.wrapping_sub(seq));
        if back > 32 {
            return false;
        }
        let bit = 1 << (back - 1);
        let fresh = self.bits & bit == 0;
        self.bits |= bit;
        fresh
    }

    /// Whether `seq` is known received.
    #[must_use]
    pub fn contains(&self, seq: Seq) -> bool {
        let Some(latest) = self.latest else { return false };
        if seq == latest {
            return true;
        }
        let back = u32::from(latest.wrapping_sub(seq));
        seq_newer(latest, seq) && back <= 32 && self.bits & (1 << (back - 1)) != 0
    }

    /// The newest received, if any.
    #[must_use]
    pub const fn latest(&self) -> Option<Seq> {
        self.latest
    }

    /// `(latest, bits)` as they go on the wire (0, 0 before anything arrived).
    #[must_use]
    pub fn to_wire(&self) -> (Seq, u32) {
        (self.latest.unwrap_or(0), self.bits)
    }

    /// Merge a peer's report of what it received (both are sets; keep the union within
    /// the newer window).
    pub fn merge(&mut self, other: &Self) {
        let Some(theirs) = other.latest else { return };
        self.record(theirs);
        for back in 1..=32u16 {
            if other.bits & (1 << (back - 1)) != 0 {
                self.record(theirs.wrapping_sub(back));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_tracks_out_of_order_and_wraps() {
        let mut w = AckWindow::new();
        assert!(!w.contains(0));
        for s in [65_534u16, 65_535, 1, 0] {
            assert!(w.record(s));
        }
        assert!(!w.record(0), "duplicate");
        assert_eq!(w.latest(), Some(1));
        for s in [65_534u16, 65_535, 0, 1] {
            assert!(w.contains(s), "{s}");
        }
        assert!(!w.contains(2));
        assert!(!w.contains(65_533));
        assert!(w.record(40));
        assert!(!w.contains(1), "slid out of the 32-wide window");
        let (latest, bits) = w.to_wire();
        assert_eq!(AckWindow::from_wire(latest, bits), w);
    }

    #[test]
    fn history_finds_the_newest_acked_state() {
        let q = crate::pose_codec::QuantizedAvatar::from_state(&crate::state::AvatarState::head_only(
            crate::state::Pose::IDENTITY,
        ));
        let mut h = History::new();
        for s in 10..20u16 {
            h.insert(3, s, q.clone());
        }
        let mut acked = AckWindow::new();
        acked.record(12);
        acked.record(15);
        assert_eq!(h.newest_acked(3, &acked).map(|(s, _)| s), Some(15));
        assert!(h.newest_acked(4, &acked).is_none());
        h.remove(3);
        assert!(h.get(3, 15).is_none());
    }
}
