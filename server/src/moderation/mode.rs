//! The moderation mode (seed §3.1, step 1).
//!
//! - FREE / STANDARD → STRICT, forced;
//! - PREMIUM → STRICT or LIGHT, the user's choice (STRICT unless LIGHT is asked for);
//! - VIP → LIGHT by default; OPTIONAL if asked for and KYC level 3 is verified;
//! - VIP_PLUS → OPTIONAL only when asked for and every prerequisite holds (KYC 3 verified
//!   less than 6 months ago, adult consent signed this session, plan active, no recent
//!   violations), otherwise LIGHT.

use serde::{Deserialize, Serialize};

use crate::plans::Plan;

/// How much moderation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModerationMode {
    /// Everything the seed lists is blocked.
    Strict,
    /// Higher thresholds; warnings instead of blocks, except the always-blocked.
    Light,
    /// Legality only; no content analytics or logging.
    Optional,
}

impl ModerationMode {
    /// Stored / CLI spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::Light => "LIGHT",
            Self::Optional => "OPTIONAL",
        }
    }

    /// Parses [`Self::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Strict, Self::Light, Self::Optional].into_iter().find(|m| m.as_str() == s)
    }
}

/// Everything the mode depends on, gathered from the account services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeInputs {
    /// The effective plan (FREE once a paid period lapsed).
    pub plan: Plan,
    /// Whether that plan is in force.
    pub plan_active: bool,
    /// The mode the user asked for, if any.
    pub requested: Option<ModerationMode>,
    /// KYC level 3 verified (and unexpired).
    pub kyc3: bool,
    /// KYC level 3 verified less than 6 months ago.
    pub kyc3_recent: bool,
    /// Adult-content consent signed in the current session.
    pub consent_this_session: bool,
    /// A moderation violation in the recent past.
    pub recent_violations: bool,
}

/// Resolves the mode; pure, so the whole table is testable.
#[must_use]
pub fn resolve(i: &ModeInputs) -> ModerationMode {
    use ModerationMode::{Light, Optional, Strict};
    match i.plan {
        Plan::Free | Plan::Standard => Strict,
        Plan::Premium => {
            if i.requested == Some(Light) {
                Light
            } else {
                Strict
            }
        }
        Plan::Vip => match i.requested {
            Some(Optional) if i.kyc3 => Optional,
            Some(Strict) => Strict,
            _ => Light,
        },
        Plan::VipPlus => {
            let optional_ok = i.kyc3_recent && i.consent_this_session && i.plan_active && !i.recent_violations;
            match i.requested {
                Some(Strict) => Strict,
                Some(Optional) | None if optional_ok => Optional,
                _ => Light,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ModerationMode::{Light, Optional, Strict};
    use super::*;

    fn inputs(plan: Plan, requested: Option<ModerationMode>) -> ModeInputs {
        ModeInputs {
            plan,
            plan_active: true,
            requested,
            kyc3: true,
            kyc3_recent: true,
            consent_this_session: true,
            recent_violations: false,
        }
    }

    #[test]
    fn the_seed_decision_tree() {
        // (plan, requested, expected) with every prerequisite met.
        let table = [
            (Plan::Free, None, Strict),
            (Plan::Free, Some(Optional), Strict),
            (Plan::Standard, Some(Light), Strict),
            (Plan::Premium, None, Strict),
            (Plan::Premium, Some(Light), Light),
            (Plan::Premium, Some(Optional), Strict),
            (Plan::Vip, None, Light),
            (Plan::Vip, Some(Strict), Strict),
            (Plan::Vip, Some(Optional), Optional),
            (Plan::VipPlus, None, Optional),
            (Plan::VipPlus, Some(Light), Light),
            (Plan::VipPlus, Some(Strict), Strict),
        ];
        for (plan, requested, expected) in table {
            assert_eq!(resolve(&inputs(plan, requested)), expected, "{plan:?} {requested:?}");
        }
    }

    #[test]
    fn vip_plus_falls_back_to_light_when_any_prerequisite_is_missing() {
        let all = inputs(Plan::VipPlus, Some(Optional));
        let missing = [
            ModeInputs { kyc3_recent: false, ..all },
            ModeInputs { consent_this_session: false, ..all },
            ModeInputs { plan_active: false, ..all },
            ModeInputs { recent_violations: true, ..all },
        ];
        for case in missing {
            assert_eq!(resolve(&case), Light, "{case:?}");
        }
        let vip_without_kyc = ModeInputs { kyc3: false, ..inputs(Plan::Vip, Some(Optional)) };
        assert_eq!(resolve(&vip_without_kyc), Light);
    }
}
