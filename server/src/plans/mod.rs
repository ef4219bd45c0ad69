//! Subscription plans (seed §5.1 `SubscriptionPlan`, §7.1 `subscriptions`).
//!
//! Every account has one subscription row, FREE from registration. Paid plans are bought
//! through [`crate::payments`] (a completed checkout activates or renews a month); a user
//! can downgrade or cancel (auto-renewal off, the paid period runs to its end); an
//! expired paid period counts as FREE. [`service::effective_plan`] is what moderation and
//! pricing ask.

pub mod http;
pub mod service;

use serde::{Deserialize, Serialize};

/// A subscription plan, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Plan {
    /// Free tier.
    Free,
    /// Standard.
    Standard,
    /// Premium.
    Premium,
    /// VIP.
    Vip,
    /// VIP+ (the only plan that may unlock OPTIONAL moderation).
    VipPlus,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Self; 5] = [Self::Free, Self::Standard, Self::Premium, Self::Vip, Self::VipPlus];

    /// The stored spelling (seed: `FREE` … `VIP_PLUS`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "FREE",
            Self::Standard => "STANDARD",
            Self::Premium => "PREMIUM",
            Self::Vip => "VIP",
            Self::VipPlus => "VIP_PLUS",
        }
    }

    /// Parses the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Monthly price in euro cents. The seed fixes the plans but not their prices; these
    /// are the product's list prices.
    #[must_use]
    pub fn monthly_price_cents(self) -> i64 {
        match self {
            Self::Free => 0,
            Self::Standard => 999,
            Self::Premium => 1_999,
            Self::Vip => 3_999,
            Self::VipPlus => 7_999,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Plan;

    #[test]
    fn spelling_round_trips_and_prices_rise_with_the_plan() {
        for pair in Plan::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].monthly_price_cents() < pair[1].monthly_price_cents());
        }
        for plan in Plan::ALL {
            assert_eq!(Plan::parse(plan.as_str()), Some(plan));
        }
        assert_eq!(Plan::parse("VIP+"), None);
    }
}
