//! An in-memory network path with loss, delay and jitter, driven by explicit time, for
//! tests and `cargo xtask bench net`: the real-time plane's messages cross it exactly as
//! they would cross UDP — dropped, delayed and reordered, never corrupted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::sync::Micros;

/// One direction of a simulated path.
#[derive(Debug)]
pub struct LossyPath {
    loss: f64,
    delay_us: Micros,
    jitter_us: Micros,
    rng: u64,
    in_flight: BinaryHeap<Reverse<(Micros, u64, Vec<u8>)>>,
    sent: u64,
    dropped: u64,
}

impl LossyPath {
    /// A path losing `loss` (0–1) of messages, each delayed by `delay_us` plus a uniform
    /// extra in `[0, jitter_us]`; `seed` makes runs repeatable.
    #[must_use]
    pub fn new(loss: f64, delay_us: Micros, jitter_us: Micros, seed: u64) -> Self {
        Self {
            loss: loss.clamp(0.0, 1.0),
            delay_us,
            jitter_us,
            rng: seed | 1,
            in_flight: BinaryHeap::new(),
            sent: 0,
            dropped: 0,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for a network simulation.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Put `bytes` on the path at `now`.
    pub fn send(&mut self, now: Micros, bytes: Vec<u8>) {
        self.sent += 1;
        if self.unit() < self.loss {
            self.dropped += 1;
            return;
        }
        let extra = (self.unit() * self.jitter_us as f64) as Micros;
        let order = self.sent;
        self.in_flight.push(Reverse((now + self.delay_us + extra, order, bytes)));
    }

    /// Everything that has arrived by `now`, in arrival order.
    pub fn arrivals(&mut self, now: Micros) -> Vec<(Micros, Vec<u8>)> {
        let mut out = Vec::new();
        while self.in_flight.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            if let Some(Reverse((at, _, bytes))) = self.in_flight.pop() {
                out.push((at, bytes));
            }
        }
        out
    }

    /// Messages sent and dropped so far.
    #[must_use]
    pub const fn counts(&self) -> (u64, u64) {
        (self.sent, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_the_asked_share_and_delays_within_bounds() {
        let mut path = LossyPath::new(0.1, 20_000, 50_000, 7);
        for i in 0..10_000u64 {
            path.send(i * 1000, i.to_le_bytes().to_vec());
        }
        let (sent, dropped) = path.counts();
        assert_eq!(sent, 10_000);
        assert!((900..1100).contains(&dropped), "{dropped}");
        let arrived = path.arrivals(u64::MAX);
        assert_eq!(arrived.len() as u64, sent - dropped);
        let mut reordered = 0;
        for w in arrived.windows(2) {
            let a = u64::from_le_bytes(w[0].1.clone().try_into().unwrap());
            let b = u64::from_le_bytes(w[1].1.clone().try_into().unwrap());
            reordered += usize::from(b < a);
        }
        assert!(reordered > 100, "50 ms of jitter at 1 kHz reorders");
        for (at, bytes) in arrived {
            let sent_at = u64::from_le_bytes(bytes.try_into().unwrap()) * 1000;
            assert!((20_000..=70_000).contains(&(at - sent_at)));
        }
    }
}

/// A two-client relay through a server over lossy paths: client A sends its scripted
/// avatar, the server relays it in per-client snapshots, client B interpolates it and
/// draws it at its display rate. What B draws is compared with what A really did.
#[derive(Debug, Clone, Copy)]
pub struct RelayRun {
    /// Share of messages lost on every path.
    pub loss: f64,
    /// Fixed one-way delay per path, µs.
    pub delay_us: Micros,
    /// Extra uniform random delay per message, µs.
    pub jitter_us: Micros,
    /// Simulated seconds.
    pub seconds: f32,
    /// A's tracking/send rate, Hz.
    pub send_hz: f32,
    /// Server snapshot rate, Hz.
    pub tick_hz: f32,
    /// B's display rate, Hz.
    pub render_hz: f32,
    /// RNG seed.
    pub seed: u64,
}

/// What a [`RelayRun`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayReport {
    /// Median position error of head and hands as drawn, metres, at the best-fitting
    /// display latency.
    pub p50_error_m: f32,
    /// 99th percentile of the same.
    pub p99_error_m: f32,
    /// The same p99 when B simply draws the newest snapshot it has (no interpolation).
    pub p99_error_newest_m: f32,
    /// The display latency that fits best (how far in the past B draws A), µs.
    pub latency_us: Micros,
    /// Frames drawn from extrapolation rather than interpolation, share.
    pub extrapolated: f32,
    /// Bytes A sent per second (pose updates).
    pub up_bytes_per_s: f32,
    /// Bytes the server sent B per second (snapshots).
    pub down_bytes_per_s: f32,
    /// The interpolation delay B had settled on at the end, µs.
    pub final_delay_us: Micros,
}

impl RelayRun {
    /// Run it.
    #[must_use]
    pub fn run(&self) -> RelayReport {
        use crate::link::{ClientLink, Inbound, ServerLink};
        use crate::realtime::{ClockPing, Realtime};
        use crate::sync::{ClockSync, InterpolationBuffer};

        let origin = glam::Vec3::new(0.0, 0.0, -1.5);
        let mut a = ClientLink::new(1);
        let mut server_a = ServerLink::new(1);
        let mut server_b = ServerLink::new(2);
        let mut b = ClientLink::new(2);
        let mut up_a = LossyPath::new(self.loss, self.delay_us, self.jitter_us, self.seed);
        let mut up_b = LossyPath::new(self.loss, self.delay_us, self.jitter_us, self.seed ^ 0x1111);
        let mut down_b = LossyPath::new(self.loss, self.delay_us, self.jitter_us, self.seed ^ 0x2222);
        let mut down_a = LossyPath::new(self.loss, self.delay_us, self.jitter_us, self.seed ^ 0x3333);
        let mut latest_a = None;
        let mut clock = ClockSync::new();
        let mut buffer: InterpolationBuffer<crate::state::AvatarState> = InterpolationBuffer::new();
        let mut newest: Option<(Micros, crate::state::AvatarState)> = None;
        let (mut up_bytes, mut down_bytes) = (0usize, 0usize);
        let period = |hz: f32| (1e6 / hz) as Micros;
        let (send_p, tick_p, render_p, ping_p) =
            (period(self.send_hz), period(self.tick_hz), period(self.render_hz), 250_000);
        let (mut next_send, mut next_tick, mut next_render, mut next_ping) = (0, 0, 0, 0);
        let end = (self.seconds * 1e6) as Micros;
        let mut drawn: Vec<(Micros, [glam::Vec3; 3], [glam::Vec3; 3])> = Vec::new();
        let mut extrapolated = 0usize;
        let history = crate::baseline::History::new();
        let step = 250;
        let mut now: Micros = 0;
        while now < end {
            if now >= next_send {
                let state = crate::scripted::avatar(1, now as f32 / 1e6, origin);
                if let Ok(bytes) = a.pose_update(&state, None, now) {
                    up_bytes += bytes.len();
                    up_a.send(now, bytes);
                }
                // B sends its own avatar too: its updates carry its snapshot acks.
                let mine = crate::scripted::avatar(2, now as f32 / 1e6, -origin);
                if let Ok(bytes) = b.pose_update(&mine, None, now) {
                    up_b.send(now, bytes);
                }
                next_send += send_p;
            }
            for (_, bytes) in up_a.arrivals(now) {
                if let Ok(Inbound::Pose { avatar, captured_at, .. }) = server_a.receive(&bytes, now) {
                    latest_a = Some((avatar, captured_at));
                }
            }
            if now >= next_ping {
                let ping = Realtime::ClockPing(ClockPing { client_time_us: now });
                if let Ok(bytes) = crate::realtime::encode(&ping, &history, 2) {
                    up_b.send(now, bytes);
                }
                next_ping += ping_p;
            }
            for (_, bytes) in down_a.arrivals(now) {
                let _ = a.receive(&bytes);
            }
            for (_, bytes) in up_b.arrivals(now) {
                if let Ok(Inbound::Other(Realtime::ClockPing(p))) = server_b.receive(&bytes, now) {
                    let pong = Realtime::ClockPong(crate::realtime::ClockPong {
                        client_time_us: p.client_time_us,
                        server_time_us: now,
                    });
                    if let Ok(bytes) = crate::realtime::encode(&pong, &history, 0) {
                        down_b.send(now, bytes);
                    }
                }
            }
            if now >= next_tick {
                if let Some((avatar, captured_at)) = &latest_a
                    && let Ok(datagrams) = server_b.snapshot(now, &[(1, avatar, *captured_at)], None)
                {
                    for d in datagrams {
                        down_bytes += d.len();
                        down_b.send(now, d);
                    }
                }
                // A's snapshot (B is outside this run's interest) still carries A's acks.
                if let Ok(datagrams) = server_a.snapshot(now, &[], None) {
                    for d in datagrams {
                        down_a.send(now, d);
                    }
                }
                next_tick += tick_p;
            }
            for (_, bytes) in down_b.arrivals(now) {
                match b.receive(&bytes) {
                    Ok(Realtime::Snapshot(s)) => {
                        for e in s.entries {
                            let state = e.avatar.to_state();
                            let at = s.server_time_us.saturating_sub(u64::from(e.age) * 100);
                            if newest.as_ref().is_none_or(|(t, _)| at > *t) {
                                newest = Some((at, state.clone()));
                            }
                            buffer.push(at, now, state);
                        }
                    }
                    Ok(Realtime::ClockPong(p)) => {
                        clock.add_sample(p.client_time_us, p.server_time_us, now);
                        if let Some(rtt) = clock.rtt() {
                            buffer.set_base_latency(rtt / 2);
                        }
                    }
                    _ => {}
                }
            }
            if now >= next_render {
                let server_now = clock.server_time(now).unwrap_or(now);
                if let (Some(sample), Some((_, latest))) = (buffer.sample(server_now), &newest)
                    && now > 1_000_000
                {
                    extrapolated += usize::from(sample.extrapolated);
                    drawn.push((now, points(&sample.state), points(latest)));
                }
                next_render += render_p;
            }
            now += step;
        }
        let truth = |t: Micros| points(&crate::scripted::avatar(1, t as f32 / 1e6, origin));
        let errors_at = |offset: Micros, pick: usize| -> Vec<f32> {
            drawn
                .iter()
                .filter(|(t, _, _)| *t >= offset)
                .map(|(t, interp, newest)| {
                    let shown = if pick == 0 { interp } else { newest };
                    let real = truth(t - offset);
                    (0..3).map(|i| shown[i].distance(real[i])).fold(0.0, f32::max)
                })
                .collect()
        };
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        let best = |pick: usize| {
            (0..=400)
                .map(|ms| ms * 1000)
                .min_by(|&x, &y| mean(&errors_at(x, pick)).total_cmp(&mean(&errors_at(y, pick))))
                .unwrap_or(0)
        };
        let pct = |mut v: Vec<f32>, p: f32| {
            v.sort_by(f32::total_cmp);
            v.get(((v.len() as f32 - 1.0) * p).round() as usize).copied().unwrap_or(f32::NAN)
        };
        let latency_us = best(0);
        let interp = errors_at(latency_us, 0);
        let newest_err = errors_at(best(1), 1);
        RelayReport {
            p50_error_m: pct(interp.clone(), 0.5),
            p99_error_m: pct(interp, 0.99),
            p99_error_newest_m: pct(newest_err, 0.99),
            latency_us,
            extrapolated: extrapolated as f32 / drawn.len().max(1) as f32,
            up_bytes_per_s: up_bytes as f32 / self.seconds,
            down_bytes_per_s: down_bytes as f32 / self.seconds,
            final_delay_us: buffer.delay(),
        }
    }
}

fn points(s: &crate::state::AvatarState) -> [glam::Vec3; 3] {
    let hand = |i: usize| s.parts[i].map_or(s.head.position, |p| p.position);
    [s.head.position, hand(0), hand(1)]
}
