//! Procedural legs: each foot stays planted on the ground until the body moves or turns
//! far enough from it, then steps — one foot at a time, along a short arc — to where the
//! hips need it. Foot trackers, when present, override this.

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

/// Stepping parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepConfig {
    /// Distance (fraction of leg length) between a planted foot and where it should be
    /// that triggers a step. 0.2 of an 84 cm leg is ~17 cm.
    pub distance: f32,
    /// Turn (radians) between a planted foot and the body that triggers a step.
    pub turn: f32,
    /// Duration of one step, seconds.
    pub duration: f32,
    /// Peak height of the foot's arc (fraction of leg length).
    pub lift: f32,
    /// How far ahead of the body's motion a step lands (seconds of velocity).
    pub lead: f32,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self { distance: 0.2, turn: 0.6, duration: 0.32, lift: 0.08, lead: 0.25 }
    }
}

/// One foot: where it is planted, and the step it is taking if any.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Foot {
    /// Ankle position when planted.
    pub planted: Vec3,
    /// Yaw of the planted foot (radians about +Y; 0 faces +Z).
    pub yaw: f32,
    /// The step in progress.
    pub step: Option<Step>,
}

/// A step from one planted spot to another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Start ankle position.
    pub from: Vec3,
    /// Landing ankle position.
    pub to: Vec3,
    /// Start yaw.
    pub from_yaw: f32,
    /// Landing yaw.
    pub to_yaw: f32,
    /// Progress, 0–1.
    pub progress: f32,
}

impl Foot {
    /// A foot planted at `at` facing `yaw`.
    #[must_use]
    pub fn planted(at: Vec3, yaw: f32) -> Self {
        Self { planted: at, yaw, step: None }
    }

    /// The ankle position and yaw this frame.
    #[must_use]
    pub fn current(&self, config: &StepConfig, leg_length: f32) -> (Vec3, f32) {
        match &self.step {
            None => (self.planted, self.yaw),
            Some(step) => {
                let t = step.progress.clamp(0.0, 1.0);
                let eased = t * t * (3.0 - 2.0 * t);
                let lift = (std::f32::consts::PI * t).sin() * config.lift * leg_length;
                let position = step.from.lerp(step.to, eased) + Vec3::Y * lift;
                (position, lerp_angle(step.from_yaw, step.to_yaw, eased))
            }
        }
    }

    /// Advances a step in progress by `dt`; lands it when done.
    pub fn advance(&mut self, config: &StepConfig, dt: f32) {
        if let Some(step) = &mut self.step {
            step.progress += dt / config.duration.max(1e-3);
            if step.progress >= 1.0 {
                self.planted = step.to;
                self.yaw = step.to_yaw;
                self.step = None;
            }
        }
    }

    /// How much this foot wants to step towards `desired` (0 = not at all, ≥ 1 = must).
    #[must_use]
    pub fn urge(&self, desired: Vec3, desired_yaw: f32, config: &StepConfig, leg_length: f32) -> f32 {
        let offset = (desired - self.planted) * Vec3::new(1.0, 0.0, 1.0);
        let by_distance = offset.length() / (config.distance * leg_length).max(1e-3);
        let by_turn = angle_difference(desired_yaw, self.yaw).abs() / config.turn.max(1e-3);
        by_distance.max(by_turn)
    }

    /// Starts a step to `to` facing `to_yaw`.
    pub fn start_step(&mut self, to: Vec3, to_yaw: f32) {
        self.step = Some(Step { from: self.planted, to, from_yaw: self.yaw, to_yaw, progress: 0.0 });
    }

    /// Whether a step is in progress.
    #[must_use]
    pub fn stepping(&self) -> bool {
        self.step.is_some()
    }
}

/// The rotation of a foot flat on the ground facing `yaw`.
#[must_use]
pub fn flat(yaw: f32) -> Quat {
    Quat::from_rotation_y(yaw)
}

/// `b − a` wrapped to (−π, π].
#[must_use]
pub fn angle_difference(b: f32, a: f32) -> f32 {
    let tau = std::f32::consts::TAU;
    let d = (b - a).rem_euclid(tau);
    if d > std::f32::consts::PI { d - tau } else { d }
}

/// Interpolates angles the short way round.
#[must_use]
pub fn lerp_angle(a: f32, b: f32, t: f32) -> f32 {
    a + angle_difference(b, a) * t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_lands_where_it_was_aimed_and_lifts_on_the_way() {
        let config = StepConfig::default();
        let mut foot = Foot::planted(Vec3::new(0.1, 0.07, 0.0), 0.0);
        let desired = Vec3::new(0.1, 0.07, 0.4);
        assert!(foot.urge(desired, 0.0, &config, 0.84) > 1.0);
        foot.start_step(desired, 0.2);
        let mut highest: f32 = 0.0;
        for _ in 0..40 {
            foot.advance(&config, 1.0 / 90.0);
            highest = highest.max(foot.current(&config, 0.84).0.y);
        }
        assert!(!foot.stepping());
        assert!((foot.planted - desired).length() < 1e-6);
        assert!((foot.yaw - 0.2).abs() < 1e-6);
        assert!(highest > 0.07 + 0.05, "the foot lifts during the step ({highest})");
    }

    #[test]
    fn angles_wrap() {
        assert!((angle_difference(3.0, -3.0) - (6.0 - std::f32::consts::TAU)).abs() < 1e-5);
        assert!((lerp_angle(3.0, -3.0, 0.5).abs() - std::f32::consts::PI).abs() < 0.01);
    }
}
