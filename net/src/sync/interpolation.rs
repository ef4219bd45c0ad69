//! Snapshot interpolation for remote avatars.
//!
//! Remote avatars are drawn a little in the past — at `server now − delay` — so that
//! almost always two real snapshots bracket the drawn instant and motion is blended, not
//! guessed. The delay adapts: it must cover the snapshot interval and how late snapshots
//! arrive (network jitter), and it changes only by stretching playback time by at most
//! 5 %, so the avatar slows or speeds up imperceptibly instead of jumping.

use std::collections::VecDeque;

use super::Micros;
use crate::state::{AvatarState, Pose};

/// Delay before anything is measured.
pub const DEFAULT_DELAY_US: Micros = 100_000;
/// The adaptive delay never goes below this.
pub const MIN_DELAY_US: Micros = 50_000;
/// The adaptive delay never goes above this.
pub const MAX_DELAY_US: Micros = 250_000;
/// How far past the newest snapshot motion is extrapolated before it freezes.
pub const MAX_EXTRAPOLATION_US: Micros = 50_000;
/// Snapshots kept per buffer; the oldest go first.
pub const BUFFER_CAPACITY: usize = 64;
/// Snapshots (the newest by server time) the jitter and interval estimates look at
/// (about 1 s at 72 Hz).
pub const JITTER_WINDOW: usize = 64;
/// The delay moves by at most `elapsed / DELAY_SLEW_DIVISOR` between samples (5 %).
pub const DELAY_SLEW_DIVISOR: Micros = 20;

/// A state that can be blended with another of its kind.
pub trait Interpolate: Clone {
    /// The state `t` of the way from `self` to `other`: `t` in [0, 1] interpolates,
    /// `t > 1` extrapolates along the same line.
    #[must_use]
    fn interpolate(&self, other: &Self, t: f32) -> Self;
}

impl Interpolate for AvatarState {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        self.lerp(other, t)
    }
}

impl Interpolate for Pose {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        self.lerp(other, t)
    }
}

/// What [`InterpolationBuffer::sample`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<T> {
    /// The state to draw.
    pub state: T,
    /// The server time it represents.
    pub render_time: Micros,
    /// Whether `render_time` lies past the newest snapshot, so the state is extrapolated
    /// (or, more than [`MAX_EXTRAPOLATION_US`] past it, frozen) rather than interpolated.
    pub extrapolated: bool,
}

/// One remote avatar's snapshots, ordered by server time, with an adaptive playback delay.
///
/// Target delay = base latency + 2 × mean snapshot interval + jitter, clamped to
/// [[`MIN_DELAY_US`], [`MAX_DELAY_US`]]. One interval is needed for a snapshot to bracket
/// the render time at all, the second survives one lost or late snapshot without
/// extrapolating; jitter is the 95th percentile of how much later than the fastest
/// recent arrival each snapshot came.
#[derive(Debug, Clone)]
pub struct InterpolationBuffer<T> {
    snapshots: VecDeque<(Micros, T)>,
    /// `(server_time, arrival − server_time)` of the newest arrivals, unordered.
    arrivals: Vec<(Micros, i64)>,
    scratch: Vec<i64>,
    delay: Micros,
    target: Micros,
    jitter: Micros,
    interval: Option<Micros>,
    base_latency: Micros,
    last_now: Option<Micros>,
    last_rendered: Option<Micros>,
}

impl<T: Interpolate> Default for InterpolationBuffer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Interpolate> InterpolationBuffer<T> {
    /// An empty buffer at [`DEFAULT_DELAY_US`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            snapshots: VecDeque::with_capacity(BUFFER_CAPACITY),
            arrivals: Vec::with_capacity(JITTER_WINDOW + 1),
            scratch: Vec::with_capacity(JITTER_WINDOW),
            delay: DEFAULT_DELAY_US,
            target: DEFAULT_DELAY_US,
            jitter: 0,
            interval: None,
            base_latency: 0,
            last_now: None,
            last_rendered: None,
        }
    }

    /// Add a snapshot stamped `server_time` that arrived at `arrival`.
    ///
    /// `arrival` may be on any clock that runs at the server's rate (the local clock is
    /// fine): only differences between arrivals are used. Out-of-order snapshots are put
    /// in place; a duplicate time is ignored; one older than the last rendered time is
    /// dropped unless it is newer than everything buffered (then it is still the best base
    /// for extrapolation). Late or not, every new snapshot counts towards the jitter.
    pub fn push(&mut self, server_time: Micros, arrival: Micros, state: T) {
        let index = self.snapshots.partition_point(|(time, _)| *time < server_time);
        if self.snapshots.get(index).is_some_and(|(time, _)| *time == server_time) {
            return;
        }
        self.record_arrival(server_time, arrival);
        if let Some(rendered) = self.last_rendered {
            let newest = self.snapshots.back().map(|(time, _)| *time);
            if server_time < rendered && newest.is_some_and(|newest| server_time < newest) {
                return;
            }
        }
        self.snapshots.insert(index, (server_time, state));
        while self.snapshots.len() > BUFFER_CAPACITY {
            self.snapshots.pop_front();
        }
    }

    /// Set the one-way server→client latency (e.g. half [`super::ClockSync::rtt`]).
    ///
    /// The render time is measured back from the server's *now*, while a snapshot reaches
    /// the client only this much later, so the target delay includes it. Default 0 (for a
    /// `server_now` that already lags the server, or a local server).
    pub fn set_base_latency(&mut self, one_way: Micros) {
        self.base_latency = one_way;
        self.update_target();
    }

    /// The state to draw at `server_now` (the client's estimate of the server clock),
    /// or `None` before the first snapshot.
    ///
    /// Render time is `server_now − delay`, never earlier than the previous render time.
    /// Before the oldest snapshot the oldest is held; between two it is interpolated; past
    /// the newest the last two are extended linearly for up to [`MAX_EXTRAPOLATION_US`],
    /// after which that extrapolated state is held (not snapped back).
    pub fn sample(&mut self, server_now: Micros) -> Option<Sample<T>> {
        self.adapt_delay(server_now);
        let mut render_time = server_now.saturating_sub(self.delay);
        if let Some(rendered) = self.last_rendered {
            render_time = render_time.max(rendered);
        }
        if self.snapshots.is_empty() {
            return None;
        }
        self.last_rendered = Some(render_time);
        // Keep the newest snapshot at or before the render time, and always the last two.
        while self.snapshots.len() > 2 && self.snapshots.get(1).is_some_and(|(time, _)| *time <= render_time) {
            self.snapshots.pop_front();
        }
        let (first_time, first) = self.snapshots.front()?;
        if render_time <= *first_time {
            return Some(Sample { state: first.clone(), render_time, extrapolated: false });
        }
        let Some((second_time, second)) = self.snapshots.get(1) else {
            return Some(Sample { state: first.clone(), render_time, extrapolated: true });
        };
        let span = (second_time - first_time) as f64;
        let (reach, extrapolated) = if render_time <= *second_time {
            (render_time - first_time, false)
        } else {
            let ahead = (render_time - second_time).min(MAX_EXTRAPOLATION_US);
            (second_time - first_time + ahead, true)
        };
        let t = (reach as f64 / span) as f32;
        Some(Sample { state: first.interpolate(second, t), render_time, extrapolated })
    }

    /// The current playback delay.
    #[must_use]
    pub fn delay(&self) -> Micros {
        self.delay
    }

    /// The delay the current delay is moving towards.
    #[must_use]
    pub fn target_delay(&self) -> Micros {
        self.target
    }

    /// The arrival jitter: the 95th percentile of lateness relative to the fastest recent
    /// arrival.
    #[must_use]
    pub fn jitter(&self) -> Micros {
        self.jitter
    }

    /// The mean server-time interval between recent snapshots, once two arrived.
    #[must_use]
    pub fn interval(&self) -> Option<Micros> {
        self.interval
    }

    /// Snapshots buffered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether no snapshot is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// Update the jitter and interval estimates with one arrival.
    fn record_arrival(&mut self, server_time: Micros, arrival: Micros) {
        let transit = (i128::from(arrival) - i128::from(server_time)).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        // In range after the clamp.
        let transit = i64::try_from(transit).unwrap_or(0);
        self.arrivals.push((server_time, transit));
        // Evict by server time, not arrival order, so the window (and so the delay) does
        // not depend on the order in which a burst of snapshots was delivered.
        while self.arrivals.len() > JITTER_WINDOW {
            let oldest = self.arrivals.iter().enumerate().min_by_key(|(_, (time, _))| *time).map(|(i, _)| i);
            if let Some(index) = oldest {
                self.arrivals.swap_remove(index);
            }
        }

        let count = self.arrivals.len();
        if count >= 2 {
            let (earliest, latest) = self
                .arrivals
                .iter()
                .fold((Micros::MAX, Micros::MIN), |(lo, hi), (time, _)| (lo.min(*time), hi.max(*time)));
            self.interval = Some((latest - earliest) / (count as Micros - 1));
        }

        let fastest = self.arrivals.iter().map(|(_, transit)| *transit).min().unwrap_or(0);
        self.scratch.clear();
        self.scratch.extend(self.arrivals.iter().map(|(_, transit)| transit.saturating_sub(fastest)));
        self.scratch.sort_unstable();
        // The ceil(0.95 n)-th smallest.
        let rank = (count * 95).div_ceil(100).saturating_sub(1);
        let lateness = self.scratch.get(rank).copied().unwrap_or(0);
        self.jitter = Micros::try_from(lateness).unwrap_or(0);
        self.update_target();
    }

    /// Recompute the target delay from the estimates.
    fn update_target(&mut self) {
        let Some(interval) = self.interval else { return };
        let wanted = self.base_latency.saturating_add(interval.saturating_mul(2)).saturating_add(self.jitter);
        self.target = wanted.clamp(MIN_DELAY_US, MAX_DELAY_US);
    }

    /// Move the delay towards the target by at most 5 % of the time since the last sample.
    fn adapt_delay(&mut self, now: Micros) {
        if let Some(previous) = self.last_now
            && now > previous
        {
            let max_step = (now - previous) / DELAY_SLEW_DIVISOR;
            if self.target > self.delay {
                self.delay += (self.target - self.delay).min(max_step);
            } else {
                self.delay -= (self.delay - self.target).min(max_step);
            }
        }
        self.last_now = Some(self.last_now.map_or(now, |previous| previous.max(now)));
    }
}

#[cfg(test)]
mod tests {
    use glam::{Quat, Vec3};

    use super::*;
    use crate::sync::test_support::XorShift;

    /// 72 Hz, rounded to whole microseconds.
    const SNAPSHOT_US: Micros = 13_889;
    /// 90 Hz render frames.
    const FRAME_US: Micros = 11_111;

    /// A pose moving along +X at 1 m/s.
    fn pose_at(time: Micros) -> Pose {
        let seconds = time as f32 / 1e6;
        Pose::new(Vec3::new(seconds, 1.6, -2.0), Quat::IDENTITY)
    }

    /// `(server now, delay, sample)` for every rendered frame.
    type Frames = Vec<(Micros, Micros, Sample<Pose>)>;

    /// Play `seconds` of 72 Hz snapshots, snapshot `i` arriving `latency(i)` after its
    /// stamp (arrival on the server clock), rendering at 90 Hz. Each frame first pushes
    /// what has arrived, sorted by stamp or, with `reverse_batches`, reversed.
    fn play(
        seconds: u64,
        mut latency: impl FnMut(u64) -> Micros,
        reverse_batches: bool,
    ) -> (InterpolationBuffer<Pose>, Frames) {
        let count = seconds * 1_000_000 / SNAPSHOT_US;
        let mut pending: Vec<(Micros, Micros)> =
            (0..count).map(|i| (i * SNAPSHOT_US, i * SNAPSHOT_US + latency(i))).collect();
        pending.sort_by_key(|(_, arrival)| *arrival);
        let mut buffer = InterpolationBuffer::new();
        let mut frames = Vec::new();
        let mut next = 0;
        let mut now = 0;
        while now < seconds * 1_000_000 {
            let start = next;
            while next < pending.len() && pending[next].1 <= now {
                next += 1;
            }
            let mut batch = pending[start..next].to_vec();
            batch.sort_by_key(|(time, _)| *time);
            if reverse_batches {
                batch.reverse();
            }
            for (time, arrival) in batch {
                buffer.push(time, arrival, pose_at(time));
            }
            if let Some(sample) = buffer.sample(now) {
                frames.push((now, buffer.delay(), sample));
            }
            now += FRAME_US;
        }
        (buffer, frames)
    }

    fn position_error(sample: &Sample<Pose>) -> f32 {
        (sample.state.position - pose_at(sample.render_time).position).length()
    }

    #[test]
    fn steady_snapshots_converge_to_the_minimum_delay_and_interpolate_exactly() {
        let (buffer, run) = play(4, |_| 20_000, false);
        assert_eq!(buffer.jitter(), 0);
        assert_eq!(buffer.interval(), Some(SNAPSHOT_US));
        assert!(buffer.delay() >= MIN_DELAY_US && buffer.delay() <= MIN_DELAY_US + 2_000, "delay {}", buffer.delay());
        let rendered: Vec<_> = run.iter().filter(|(now, _, _)| *now > 200_000).collect();
        assert!(rendered.len() > 300);
        for (_, _, sample) in rendered {
            assert!(!sample.extrapolated);
            assert!(position_error(sample) < 1e-4, "error at {}", sample.render_time);
        }
    }

    #[test]
    fn jitter_raises_the_delay_and_keeps_linear_motion_accurate() {
        let mut rng = XorShift::new(0x5EED);
        // 25 ms ± 25 ms: arrivals spread over 50 ms.
        let (buffer, run) = play(10, |_| rng.below(50_001), false);
        assert!(buffer.jitter() > 30_000, "jitter {}", buffer.jitter());
        assert!(buffer.delay() > 60_000, "delay {}", buffer.delay());
        assert!(buffer.delay() < MAX_DELAY_US);
        let worst =
            run.iter().filter(|(now, _, _)| *now > 200_000).map(|(_, _, s)| position_error(s)).fold(0.0, f32::max);
        assert!(worst < 0.01, "worst error {worst} m");
    }

    #[test]
    fn out_of_order_pushes_match_in_order() {
        let mut rng = XorShift::new(99);
        let delays: Vec<Micros> = (0..1_000).map(|_| 5_000 + rng.below(40_000)).collect();
        let (in_order, a) = play(5, |i| delays[i as usize % delays.len()], false);
        let (reversed, b) = play(5, |i| delays[i as usize % delays.len()], true);
        assert_eq!(a, b);
        assert_eq!(in_order.delay(), reversed.delay());
        assert_eq!(in_order.len(), reversed.len());
    }

    #[test]
    fn delay_changes_by_at_most_five_percent_of_elapsed_time() {
        let mut rng = XorShift::new(3);
        // Jitter that comes and goes makes the target swing both ways.
        let (_, run) = play(8, |i| if (i / 150) % 2 == 0 { 2_000 } else { rng.below(120_000) }, false);
        for pair in run.windows(2) {
            let ((t0, d0, _), (t1, d1, _)) = (&pair[0], &pair[1]);
            assert!(d0.abs_diff(*d1) * DELAY_SLEW_DIVISOR <= t1 - t0, "{d0} → {d1} over {} µs", t1 - t0);
        }
        let delays: Vec<_> = run.iter().map(|(_, d, _)| *d).collect();
        assert!(delays.iter().any(|d| *d > 80_000) && delays.iter().any(|d| *d < 60_000));
    }

    #[test]
    fn extrapolates_briefly_then_holds() {
        let mut buffer = InterpolationBuffer::new();
        assert!(buffer.sample(0).is_none());
        for i in 0..3u64 {
            buffer.push(1_000_000 + i * 20_000, 0, pose_at(1_000_000 + i * 20_000));
        }
        // Render time 30 ms past the newest snapshot (1.04 s): extrapolated, exact for a line.
        let s = buffer.sample(1_070_000 + DEFAULT_DELAY_US).unwrap();
        assert!(s.extrapolated);
        assert!(position_error(&s) < 1e-4);
        // Far past: frozen 50 ms past the newest.
        let s = buffer.sample(1_400_000).unwrap();
        assert!(s.extrapolated);
        let frozen = pose_at(1_040_000 + MAX_EXTRAPOLATION_US).position;
        assert!((s.state.position - frozen).length() < 1e-4);
    }

    #[test]
    fn avatar_states_interpolate_through_lerp() {
        let a = AvatarState::head_only(pose_at(0));
        let b = AvatarState::head_only(pose_at(1_000_000));
        let mut buffer = InterpolationBuffer::new();
        buffer.push(0, 0, a.clone());
        buffer.push(100_000, 0, b.clone());
        let s = buffer.sample(25_000 + DEFAULT_DELAY_US).unwrap();
        assert_eq!(s.state, a.lerp(&b, 0.25));
    }

    #[test]
    fn duplicates_late_snapshots_and_capacity() {
        let mut buffer = InterpolationBuffer::new();
        for i in 0..100u64 {
            buffer.push(i * 10_000, i * 10_000, pose_at(i * 10_000));
            buffer.push(i * 10_000, i * 10_000, pose_at(0));
        }
        assert_eq!(buffer.len(), BUFFER_CAPACITY);
        let s = buffer.sample(900_000 + DEFAULT_DELAY_US).unwrap();
        assert_eq!(s.render_time, 900_000);
        assert!(position_error(&s) < 1e-4, "duplicates did not replace the original");
        let before = buffer.len();
        buffer.push(895_000, 0, pose_at(0));
        assert_eq!(buffer.len(), before, "older than the render time");
        // Before the oldest snapshot the oldest is held.
        let mut fresh = InterpolationBuffer::new();
        fresh.push(500_000, 0, pose_at(500_000));
        let s = fresh.sample(400_000 + DEFAULT_DELAY_US).unwrap();
        assert!(!s.extrapolated);
        assert_eq!(s.state, pose_at(500_000));
    }
}
