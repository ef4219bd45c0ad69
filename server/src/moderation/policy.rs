//! Thresholds per mode and the decision (seed §3.1 steps 3A/3B, §3.2 matrix).
//!
//! Scores are in [0, 1] per [`Category`]; a pre-filter hit counts as a score of 1 for its
//! category. Rules, in order:
//! 1. an always-blocked category above its legal threshold blocks in every mode, with an
//!    authority report and CRITICAL severity (sexual/minors > 0.01, the others > 0.50);
//! 2. self-harm never suspends: it blocks (STRICT) or warns (LIGHT) or is allowed
//!    (OPTIONAL), always with a wellbeing alert above the mode's threshold;
//! 3. otherwise a score above the mode's block threshold blocks, above its warn threshold
//!    warns. OPTIONAL has neither: legality only.
//!
//! Severity of a block: CRITICAL (rule 1), else HIGH at a top score ≥ 0.9, MEDIUM ≥ 0.7,
//! LOW below; self-harm and warnings are LOW.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::category::Category;
use super::mode::ModerationMode;

/// What happens to the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Passes.
    Allow,
    /// Passes with a warning shown to the user.
    Warn,
    /// Refused.
    Block,
}

impl Action {
    /// The lowercase name, as in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Block => "block",
        }
    }
}

/// How serious a decision is (drives the follow-up actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to act on.
    None,
    /// Warning only.
    Low,
    /// Warning that counts toward suspension.
    Medium,
    /// Temporary suspension.
    High,
    /// Permanent ban and authority report.
    Critical,
}

/// Who must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alert {
    /// The authority-report queue.
    Authorities,
    /// The wellbeing team.
    Wellbeing,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Allow, warn or block.
    pub action: Action,
    /// Categories that triggered the action or an alert, in category order.
    pub categories: Vec<Category>,
    /// Severity.
    pub severity: Severity,
    /// Alerts raised.
    pub alerts: Vec<Alert>,
}

/// Thresholds of one mode: above `block` blocks, above `warn` warns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeThresholds {
    /// Block thresholds.
    pub block: BTreeMap<Category, f32>,
    /// Warn thresholds.
    pub warn: BTreeMap<Category, f32>,
    /// Self-harm score above which the wellbeing team is alerted.
    pub wellbeing: f32,
}

/// Thresholds of every mode plus the legal thresholds of the always-blocked categories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// STRICT.
    pub strict: ModeThresholds,
    /// LIGHT.
    pub light: ModeThresholds,
    /// OPTIONAL.
    pub optional: ModeThresholds,
    /// Always-blocked categories: above this, blocked in every mode.
    pub always_blocked: BTreeMap<Category, f32>,
}

impl Default for Thresholds {
    /// The seed's numbers; where the seed names a category in the §3.2 matrix without a
    /// number (hate/threatening, harassment, gore, drugs), the nearest seed number is used.
    fn default() -> Self {
        use Category::{Harassment, Hate, HateThreatening, IllicitDrugs, SelfHarm, Sexual, Violence, ViolenceGraphic};
        let map = |pairs: &[(Category, f32)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        Self {
            strict: ModeThresholds {
                block: map(&[
                    (Sexual, 0.50),
                    (Hate, 0.30),
                    (HateThreatening, 0.30),
                    (Harassment, 0.40),
                    (Violence, 0.40),
                    (ViolenceGraphic, 0.40),
                    (IllicitDrugs, 0.50),
                    (SelfHarm, 0.30),
                ]),
                warn: BTreeMap::new(),
                wellbeing: 0.30,
            },
            light: ModeThresholds {
                block: BTreeMap::new(),
                warn: map(&[
                    (Sexual, 0.85),
                    (Hate, 0.70),
                    (HateThreatening, 0.70),
                    (Harassment, 0.70),
                    (Violence, 0.75),
                    (ViolenceGraphic, 0.75),
                    (IllicitDrugs, 0.75),
                    (SelfHarm, 0.60),
                ]),
                wellbeing: 0.60,
            },
            optional: ModeThresholds { block: BTreeMap::new(), warn: BTreeMap::new(), wellbeing: 0.60 },
            always_blocked: Category::ALL
                .into_iter()
                .filter(|c| c.always_blocked())
                .map(|c| (c, if c == Category::SexualMinors { 0.01 } else { 0.50 }))
                .collect(),
        }
    }
}

impl Thresholds {
    /// The score above which STRICT blocks `category`: its legal threshold if it is
    /// always blocked, else its STRICT block threshold (0.5 where none is set).
    #[must_use]
    pub fn strict_cut(&self, category: Category) -> f32 {
        self.always_blocked.get(&category).or_else(|| self.strict.block.get(&category)).copied().unwrap_or(0.5)
    }

    fn for_mode(&self, mode: ModerationMode) -> &ModeThresholds {
        match mode {
            ModerationMode::Strict => &self.strict,
            ModerationMode::Light => &self.light,
            ModerationMode::Optional => &self.optional,
        }
    }

    /// Decides on `scores` in `mode`.
    #[must_use]
    pub fn decide(&self, mode: ModerationMode, scores: &BTreeMap<Category, f32>) -> Decision {
        let t = self.for_mode(mode);
        let mut action = Action::Allow;
        let mut categories = Vec::new();
        let mut alerts = Vec::new();
        let mut critical = false;
        let mut top_block = 0.0f32;
        for (&category, &score) in scores {
            let score = if score.is_nan() { 1.0 } else { score.clamp(0.0, 1.0) };
            if let Some(&legal) = self.always_blocked.get(&category)
                && score > legal
            {
                action = Action::Block;
                critical = true;
                categories.push(category);
                alerts.push(Alert::Authorities);
                continue;
            }
            if category == Category::SelfHarm && score > t.wellbeing {
                alerts.push(Alert::Wellbeing);
            }
            let verdict = if t.block.get(&category).is_some_and(|&b| score > b) {
                Action::Block
            } else if t.warn.get(&category).is_some_and(|&w| score > w) {
                Action::Warn
            } else if category == Category::SelfHarm && score > t.wellbeing {
                Action::Allow // OPTIONAL: allowed, but the alert above stands
            } else {
                continue;
            };
            if verdict == Action::Block && category != Category::SelfHarm {
                top_block = top_block.max(score);
            }
            action = action.max(verdict);
            categories.push(category);
        }
        alerts.sort();
        alerts.dedup();
        let severity = match action {
            Action::Allow => Severity::None,
            _ if critical => Severity::Critical,
            Action::Warn => Severity::Low,
            Action::Block if top_block >= 0.9 => Severity::High,
            Action::Block if top_block >= 0.7 => Severity::Medium,
            Action::Block => Severity::Low,
        };
        Decision { action, categories, severity, alerts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category as C;
    use ModerationMode::{Light, Optional, Strict};

    fn decide(mode: ModerationMode, scores: &[(Category, f32)]) -> Decision {
        Thresholds::default().decide(mode, &scores.iter().copied().collect())
    }

    /// (content type, scores, expected (action, alerts) in STRICT, LIGHT, OPTIONAL).
    type MatrixRow = (&'static str, &'static [(Category, f32)], [(Action, &'static [Alert]); 3]);

    /// Seed §3.2, row by row: content type × mode → action and alerts.
    #[test]
    fn the_decision_matrix() {
        use Action::{Allow, Block, Warn};
        use Alert::{Authorities, Wellbeing};
        let rows: [MatrixRow; 9] = [
            ("sexual (mild)", &[(C::Sexual, 0.60)], [(Block, &[]), (Allow, &[]), (Allow, &[])]),
            ("sexual (explicit)", &[(C::Sexual, 0.95)], [(Block, &[]), (Warn, &[]), (Allow, &[])]),
            (
                "CSAM",
                &[(C::SexualMinors, 0.90)],
                [(Block, &[Authorities]), (Block, &[Authorities]), (Block, &[Authorities])],
            ),
            ("violence", &[(C::Violence, 0.80)], [(Block, &[]), (Warn, &[]), (Allow, &[])]),
            ("hate speech", &[(C::Hate, 0.80)], [(Block, &[]), (Warn, &[]), (Allow, &[])]),
            ("self-harm", &[(C::SelfHarm, 0.80)], [(Block, &[Wellbeing]), (Warn, &[Wellbeing]), (Allow, &[Wellbeing])]),
            (
                "terrorism",
                &[(C::Terrorism, 0.90)],
                [(Block, &[Authorities]), (Block, &[Authorities]), (Block, &[Authorities])],
            ),
            ("illegal drugs", &[(C::IllicitDrugs, 0.80)], [(Block, &[]), (Warn, &[]), (Allow, &[])]),
            ("gore/graphic", &[(C::ViolenceGraphic, 0.90)], [(Block, &[]), (Warn, &[]), (Allow, &[])]),
        ];
        for (what, scores, expected) in rows {
            for (mode, (action, alerts)) in [Strict, Light, Optional].into_iter().zip(expected) {
                let d = decide(mode, scores);
                assert_eq!((d.action, d.alerts.as_slice()), (action, alerts), "{what} in {mode:?}: {d:?}");
            }
        }
    }

    #[test]
    fn seed_thresholds_are_strict_inequalities() {
        assert_eq!(decide(Strict, &[(C::Sexual, 0.50)]).action, Action::Allow);
        assert_eq!(decide(Strict, &[(C::Sexual, 0.51)]).action, Action::Block);
        assert_eq!(decide(Strict, &[(C::Hate, 0.31)]).action, Action::Block);
        assert_eq!(decide(Strict, &[(C::Violence, 0.40)]).action, Action::Allow);
        assert_eq!(decide(Light, &[(C::SexualMinors, 0.02)]).action, Action::Block);
        assert_eq!(decide(Optional, &[(C::SexualMinors, 0.011)]).severity, Severity::Critical);
        assert_eq!(decide(Light, &[(C::SelfHarm, 0.55)]).alerts, []);
        assert_eq!(decide(Strict, &[(C::SelfHarm, 0.35)]).alerts, [Alert::Wellbeing]);
    }

    #[test]
    fn severity_and_robustness() {
        assert_eq!(decide(Strict, &[(C::Hate, 0.95)]).severity, Severity::High);
        assert_eq!(decide(Strict, &[(C::Hate, 0.75)]).severity, Severity::Medium);
        assert_eq!(decide(Strict, &[(C::Hate, 0.35)]).severity, Severity::Low);
        assert_eq!(decide(Strict, &[(C::SelfHarm, 0.99)]).severity, Severity::Low, "self-harm never suspends");
        assert_eq!(decide(Light, &[(C::Sexual, 0.9)]).severity, Severity::Low);
        assert_eq!(decide(Strict, &[]).action, Action::Allow);
        // NaN fails closed; out-of-range values are clamped.
        assert_eq!(decide(Optional, &[(C::Terrorism, f32::NAN)]).action, Action::Block);
        assert_eq!(decide(Strict, &[(C::Sexual, -3.0)]).action, Action::Allow);
        let both = decide(Strict, &[(C::Sexual, 0.9), (C::Terrorism, 0.6)]);
        assert_eq!(
            (both.categories.as_slice(), both.severity),
            ([C::Sexual, C::Terrorism].as_slice(), Severity::Critical)
        );
    }
}
