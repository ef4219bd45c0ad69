//! Eyes that look alive: blinking at human intervals, small saccades around the point
//! being looked at, and look-at turned into eye rotations and ARKit eye-look shapes.

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

use super::blend_shapes::{BlendShape as S, BlendShapeWeights};
use crate::rng::SplitMix64;

/// Eye behaviour parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EyeConfig {
    /// Mean time between blinks (adults blink ~15–20 times a minute in conversation).
    pub blink_interval_s: f32,
    /// Duration of one blink, closing and opening.
    pub blink_duration_s: f32,
    /// Shortest and longest fixation between saccades, seconds.
    pub fixation_s: (f32, f32),
    /// Saccade amplitude around the look-at target, radians.
    pub saccade_rad: f32,
    /// Most the eyes turn from the head's forward: yaw, pitch (radians).
    pub range: (f32, f32),
}

impl Default for EyeConfig {
    fn default() -> Self {
        Self {
            blink_interval_s: 3.5,
            blink_duration_s: 0.16,
            fixation_s: (0.35, 1.6),
            saccade_rad: 0.035,
            range: (0.55, 0.4),
        }
    }
}

/// Eye state between frames.
#[derive(Debug, Clone)]
pub struct Eyes {
    config: EyeConfig,
    rng: SplitMix64,
    time: f32,
    next_blink: f32,
    next_saccade: f32,
    saccade: (f32, f32),
}

/// The eyes this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeOutput {
    /// Eye rotation relative to the head (both eyes converge on the target).
    pub left: Quat,
    /// Right eye rotation relative to the head.
    pub right: Quat,
    /// Blink amount, 0 open – 1 closed.
    pub blink: f32,
}

impl Eyes {
    /// Eyes with their own random sequence (`seed`), so avatars don't blink in step.
    #[must_use]
    pub fn new(config: EyeConfig, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let next_blink = rng.uniform(0.5, config.blink_interval_s * 1.5);
        Self { config, rng, time: 0.0, next_blink, next_saccade: 0.2, saccade: (0.0, 0.0) }
    }

    /// Advances by `dt`. `head` is the head bone's world pose (+Z forward) and `eye_centre`
    /// the world point between the eyes; `target` is what to look at, if anything.
    pub fn update(
        &mut self,
        dt: f32,
        head: Quat,
        eye_centre: Vec3,
        target: Option<Vec3>,
        weights: &mut BlendShapeWeights,
    ) -> EyeOutput {
        let dt = if dt.is_finite() { dt.clamp(0.0, 0.5) } else { 0.0 };
        self.time += dt;
        let c = self.config;

        // Blinks: exponential intervals with a floor, a fast close and slower open.
        let since = self.time - self.next_blink;
        let blink = if since < 0.0 {
            0.0
        } else if since < c.blink_duration_s {
            let t = since / c.blink_duration_s;
            if t < 0.4 { t / 0.4 } else { 1.0 - (t - 0.4) / 0.6 }
        } else {
            let gap = -c.blink_interval_s * (1.0 - self.rng.unit()).max(1e-6).ln();
            self.next_blink = self.time + gap.max(0.8);
            0.0
        };

        // Saccades: jump to a new small offset after each fixation.
        if self.time >= self.next_saccade {
            let a = c.saccade_rad;
            self.saccade = (self.rng.uniform(-a, a), self.rng.uniform(-a * 0.6, a * 0.6));
            self.next_saccade = self.time + self.rng.uniform(c.fixation_s.0, c.fixation_s.1);
        }

        // Look-at in head space: yaw left(+)/right, pitch up(+)/down.
        let (mut yaw, mut pitch) = match target.map(|t| head.inverse() * (t - eye_centre)) {
            Some(dir) if dir.z > 1e-3 && dir.is_finite() => (dir.x.atan2(dir.z), dir.y.atan2(dir.x.hypot(dir.z))),
            _ => (0.0, 0.0),
        };
        yaw = (yaw + self.saccade.0).clamp(-c.range.0, c.range.0);
        pitch = (pitch + self.saccade.1).clamp(-c.range.1, c.range.1);
        let rotation = Quat::from_rotation_y(yaw) * Quat::from_rotation_x(-pitch);

        // ARKit shapes: "in" is towards the nose. The avatar's left is +X, so looking to
        // its left (+yaw) turns the left eye out and the right eye in.
        let h = (yaw / c.range.0).clamp(-1.0, 1.0);
        let v = (pitch / c.range.1).clamp(-1.0, 1.0);
        weights.set(S::EyeLookOutLeft, h.max(0.0));
        weights.set(S::EyeLookInRight, h.max(0.0));
        weights.set(S::EyeLookInLeft, (-h).max(0.0));
        weights.set(S::EyeLookOutRight, (-h).max(0.0));
        weights.set(S::EyeLookUpLeft, v.max(0.0));
        weights.set(S::EyeLookUpRight, v.max(0.0));
        weights.set(S::EyeLookDownLeft, (-v).max(0.0));
        weights.set(S::EyeLookDownRight, (-v).max(0.0));
        let lids = weights.get(S::EyeBlinkLeft).max(blink);
        weights.set(S::EyeBlinkLeft, lids);
        weights.set(S::EyeBlinkRight, weights.get(S::EyeBlinkRight).max(blink));
        EyeOutput { left: rotation, right: rotation, blink }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blinks_happen_at_human_rates() {
        let mut eyes = Eyes::new(EyeConfig::default(), 7);
        let (mut blinks, mut closed_before) = (0, false);
        for _ in 0..(60 * 90) {
            let mut w = BlendShapeWeights::ZERO;
            let out = eyes.update(1.0 / 90.0, Quat::IDENTITY, Vec3::ZERO, None, &mut w);
            let closed = out.blink > 0.9;
            if closed && !closed_before {
                blinks += 1;
            }
            closed_before = closed;
        }
        assert!((8..=30).contains(&blinks), "{blinks} blinks a minute");
    }

    #[test]
    fn eyes_turn_towards_the_target() {
        let mut eyes = Eyes::new(EyeConfig { saccade_rad: 0.0, ..EyeConfig::default() }, 1);
        let mut w = BlendShapeWeights::ZERO;
        // Target to the avatar's left (+X) and a bit up.
        let out = eyes.update(0.01, Quat::IDENTITY, Vec3::ZERO, Some(Vec3::new(0.5, 0.2, 1.0)), &mut w);
        let gaze = out.left * Vec3::Z;
        assert!(gaze.x > 0.3 && gaze.y > 0.1, "{gaze}");
        assert!(w.get(S::EyeLookOutLeft) > 0.5 && w.get(S::EyeLookInRight) > 0.5);
        assert_eq!(w.get(S::EyeLookInLeft), 0.0);
        // Behind the head: eyes rest forward.
        let out = eyes.update(0.01, Quat::IDENTITY, Vec3::ZERO, Some(Vec3::new(0.0, 0.0, -1.0)), &mut w);
        assert!((out.left * Vec3::Z - Vec3::Z).length() < 1e-4);
    }
}
