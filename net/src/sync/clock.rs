//! Client↔server clock offset estimation, NTP style.
//!
//! The client stamps a ping with its local send time, the server answers with its own time,
//! and the client stamps the arrival. Assuming the two legs take equally long, the server's
//! clock read `server_time` at local time `send + rtt / 2`. Queueing delay is rarely
//! symmetric, so a sample's error is bounded by half its round trip: the estimate follows
//! the sample with the lowest round trip in a short window (min-RTT filter) and slews
//! towards it instead of jumping, so that render times derived from it stay smooth.

use std::collections::VecDeque;

use super::Micros;

/// How many recent samples the min-RTT filter looks at.
pub const CLOCK_WINDOW: usize = 16;

/// Samples needed before [`ClockSync::is_synced`] holds.
pub const MIN_SYNC_SAMPLES: usize = 3;

/// One ping/pong exchange, reduced to what the filter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClockSample {
    rtt: Micros,
    offset: i64,
}

/// Estimates `server clock − local clock` from ping/pong exchanges.
///
/// Feed every exchange to [`add_sample`](Self::add_sample); read the estimate with
/// [`offset`](Self::offset) or convert directly with [`server_time`](Self::server_time).
#[derive(Debug, Clone, Default)]
pub struct ClockSync {
    samples: VecDeque<ClockSample>,
    estimate: Option<i64>,
}

impl ClockSync {
    /// An estimator with no samples yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one exchange: the local send time, the server's time in its reply and the
    /// local receive time. A reply that claims to arrive before it was sent, or whose
    /// offset does not fit an `i64`, is ignored.
    pub fn add_sample(&mut self, client_send: Micros, server_time: Micros, client_recv: Micros) {
        let Some(rtt) = client_recv.checked_sub(client_send) else { return };
        let midpoint = i128::from(client_send) + i128::from(rtt / 2);
        let Ok(offset) = i64::try_from(i128::from(server_time) - midpoint) else { return };
        self.samples.push_back(ClockSample { rtt, offset });
        while self.samples.len() > CLOCK_WINDOW {
            self.samples.pop_front();
        }
        self.update_estimate();
    }

    /// Move the estimate towards the best sample in the window.
    ///
    /// The best sample proves the true offset lies within `offset ± rtt / 2` (one-way
    /// delays are never negative), so an estimate outside that interval is first pulled
    /// to its edge — the smallest jump the evidence forces — and then slewed half of the
    /// remaining way, which converges exactly in integer microseconds.
    fn update_estimate(&mut self) {
        let Some(best) = self.samples.iter().min_by_key(|s| s.rtt) else { return };
        let target = best.offset;
        let Some(current) = self.estimate else {
            self.estimate = Some(target);
            return;
        };
        let half = i64::try_from(best.rtt / 2).unwrap_or(i64::MAX);
        let low = target.saturating_sub(half);
        let high = target.saturating_add(half);
        let bounded = current.clamp(low, high);
        let remaining = i128::from(target) - i128::from(bounded);
        let step = if remaining / 2 == 0 { remaining } else { remaining / 2 };
        // `bounded + step` lies between `bounded` and `target`, so it fits an i64.
        self.estimate = Some(i64::try_from(i128::from(bounded) + step).unwrap_or(target));
    }

    /// Estimated `server clock − local clock` in microseconds, once any sample arrived.
    #[must_use]
    pub fn offset(&self) -> Option<i64> {
        self.estimate
    }

    /// The lowest round-trip time in the window.
    #[must_use]
    pub fn rtt(&self) -> Option<Micros> {
        self.samples.iter().map(|s| s.rtt).min()
    }

    /// The server's clock at local time `local`, saturating at 0 and `u64::MAX`.
    #[must_use]
    pub fn server_time(&self, local: Micros) -> Option<Micros> {
        self.estimate.map(|offset| saturate(i128::from(local) + i128::from(offset)))
    }

    /// The local clock at server time `server` (the inverse of [`server_time`](Self::server_time)).
    #[must_use]
    pub fn local_time(&self, server: Micros) -> Option<Micros> {
        self.estimate.map(|offset| saturate(i128::from(server) - i128::from(offset)))
    }

    /// Samples currently in the window.
    #[must_use]
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Whether enough samples arrived for the estimate to be trusted.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.samples.len() >= MIN_SYNC_SAMPLES
    }
}

/// Clamp a wide intermediate into the `Micros` range.
fn saturate(value: i128) -> Micros {
    Micros::try_from(value.max(0)).unwrap_or(Micros::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::test_support::XorShift;

    /// One exchange sent at local `send`, with the given leg delays and true offset.
    fn exchange(clock: &mut ClockSync, send: Micros, up: Micros, down: Micros, offset: i64) {
        let server = (i128::from(send + up) + i128::from(offset)) as Micros;
        clock.add_sample(send, server, send + up + down);
    }

    #[test]
    fn symmetric_delay_recovers_the_offset_exactly() {
        let mut clock = ClockSync::new();
        assert_eq!(clock.offset(), None);
        assert!(!clock.is_synced());
        for i in 0..20u64 {
            exchange(&mut clock, 1_000_000 + i * 50_000, 12_000 + i * 100, 12_000 + i * 100, 3_456_789);
            assert_eq!(clock.offset(), Some(3_456_789));
        }
        assert!(clock.is_synced());
        assert_eq!(clock.rtt(), Some(24_000 + 4 * 2 * 100));
        assert_eq!(clock.server_time(10), Some(3_456_799));
        assert_eq!(clock.local_time(3_456_799), Some(10));
    }

    #[test]
    fn min_rtt_filter_rejects_asymmetric_queueing() {
        for (seed, offset) in [(1u64, 987_654_321i64), (7, -5_000_000), (42, 0)] {
            let mut rng = XorShift::new(seed);
            let mut clock = ClockSync::new();
            let base: Micros = 20_000_000;
            for i in 0..300u64 {
                // Half the exchanges queue for up to 30 ms on one leg only.
                let (mut up, mut down) = (10_000, 10_000);
                if rng.below(2) == 0 {
                    let queue = rng.below(30_000);
                    if rng.below(2) == 0 { up += queue } else { down += queue }
                }
                exchange(&mut clock, base + i * 100_000, up, down, offset);
                if i >= CLOCK_WINDOW as u64 {
                    let error = (clock.offset().unwrap() - offset).abs();
                    assert!(error <= 1_000, "seed {seed} sample {i}: error {error} µs");
                }
            }
            assert_eq!(clock.rtt(), Some(20_000));
        }
    }

    #[test]
    fn negative_offsets_and_saturation() {
        let mut clock = ClockSync::new();
        for i in 0..4u64 {
            exchange(&mut clock, 10_000_000 + i * 1_000, 500, 500, -9_000_000);
        }
        assert_eq!(clock.offset(), Some(-9_000_000));
        assert_eq!(clock.server_time(9_500_000), Some(500_000));
        assert_eq!(clock.server_time(1_000), Some(0), "saturates rather than wrapping");
        assert!(clock.is_synced());
    }

    #[test]
    fn estimate_slews_instead_of_jumping() {
        let mut clock = ClockSync::new();
        // A noisy first sample (30 ms queued on the way up) …
        exchange(&mut clock, 0, 40_000, 10_000, 0);
        assert_eq!(clock.offset(), Some(15_000));
        // … then a clean one: first pulled into the ±10 ms bound, then half way.
        exchange(&mut clock, 100_000, 10_000, 10_000, 0);
        assert_eq!(clock.offset(), Some(5_000));
        exchange(&mut clock, 200_000, 10_000, 10_000, 0);
        assert_eq!(clock.offset(), Some(2_500));
        for i in 3..30 {
            exchange(&mut clock, i * 100_000, 10_000, 10_000, 0);
        }
        assert_eq!(clock.offset(), Some(0));
    }

    #[test]
    fn replies_from_the_past_are_ignored() {
        let mut clock = ClockSync::new();
        clock.add_sample(1_000, 5_000, 900);
        assert_eq!(clock.offset(), None);
        assert_eq!(clock.sample_count(), 0);
    }
}
