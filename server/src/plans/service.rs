//! Subscription operations: create (FREE), activate or renew a paid month, downgrade,
//! cancel, and the `is_active` / effective-plan rules.

use chrono::{DateTime, Months, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use super::Plan;
use crate::db::{self, get};
use crate::error::AppError;

/// SQL that stores euro cents bound at `$n` into a DECIMAL(10,2) column on both backends.
pub(crate) fn cents_param(n: usize) -> String {
    format!("CAST(${n} AS DECIMAL(12,2)) / 100.0")
}

/// SQL that reads a DECIMAL(10,2) column as integer cents on both backends.
pub(crate) fn cents_column(column: &str) -> String {
    format!("CAST(ROUND({column} * 100) AS BIGINT)")
}

/// Status of a subscription row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    /// Running (and renewing, if auto-renewal is on).
    Active,
    /// Cancelled: runs to its end date, then lapses.
    Canceled,
    /// Suspended by moderation or payments.
    Suspended,
    /// Lapsed.
    Expired,
}

impl SubscriptionStatus {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "CANCELED" => Some(Self::Canceled),
            "SUSPENDED" => Some(Self::Suspended),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A user's subscription.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// Row id.
    pub id: Uuid,
    /// Plan on record.
    pub plan: Plan,
    /// Status on record.
    pub status: SubscriptionStatus,
    /// Start of the current period.
    pub start_date: DateTime<Utc>,
    /// End of the paid period (none for FREE).
    pub end_date: Option<DateTime<Utc>>,
    /// Whether it renews.
    pub auto_renewal: bool,
    /// Monthly price in euro cents.
    pub monthly_price_cents: i64,
    /// Whether it is in force now.
    pub is_active: bool,
    /// The plan that applies now (FREE once a paid period has lapsed).
    pub effective_plan: Plan,
}

impl Subscription {
    /// In force at `now`: not suspended or expired, and inside its paid period.
    #[must_use]
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status, SubscriptionStatus::Active | SubscriptionStatus::Canceled)
            && self.end_date.is_none_or(|end| end > now)
    }
}

/// Creates the FREE subscription of a new account.
pub async fn create_free<C: ConnectionTrait>(c: &C, user: Uuid, now: DateTime<Utc>) -> Result<(), AppError> {
    let sql = format!(
        "INSERT INTO subscriptions (id, user_id, plan, start_date, end_date, auto_renewal,
                                    monthly_price, status, created_at, updated_at)
         VALUES ($1, $2, 'FREE', $3, NULL, FALSE, {}, 'ACTIVE', $3, $3)",
        cents_param(4)
    );
    db::exec(c, &sql, vec![Uuid::now_v7().into(), user.into(), now.into(), 0i64.into()]).await?;
    Ok(())
}

/// The subscription of `user`.
pub async fn get_subscription<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Subscription, AppError> {
    let sql = format!(
        "SELECT id, plan, status, start_date, end_date, auto_renewal, {} AS price
         FROM subscriptions WHERE user_id = $1",
        cents_column("monthly_price")
    );
    let row = db::one(c, &sql, vec![user.into()]).await?.ok_or_else(|| AppError::missing("subscription"))?;
    let plan = Plan::parse(&get::<String>(&row, "plan")?)
        .ok_or_else(|| AppError::Internal("unknown plan in database".into()))?;
    let status = SubscriptionStatus::parse(&get::<String>(&row, "status")?)
        .ok_or_else(|| AppError::Internal("unknown subscription status".into()))?;
    let mut sub = Subscription {
        id: get(&row, "id")?,
        plan,
        status,
        start_date: get(&row, "start_date")?,
        end_date: get(&row, "end_date")?,
        auto_renewal: get::<Option<bool>>(&row, "auto_renewal")?.unwrap_or(false),
        monthly_price_cents: get::<Option<i64>>(&row, "price")?.unwrap_or(0),
        is_active: false,
        effective_plan: Plan::Free,
    };
    let now = Utc::now();
    sub.is_active = sub.is_active_at(now);
    sub.effective_plan = if sub.is_active { sub.plan } else { Plan::Free };
    Ok(sub)
}

/// The plan that applies to `user` now.
pub async fn effective_plan<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Plan, AppError> {
    Ok(get_subscription(c, user).await?.effective_plan)
}

/// A paid month of `plan` was bought: an upgrade starts a new period now; the same plan,
/// still running, is extended from its current end (renewal).
pub async fn activate_period<C: ConnectionTrait>(
    c: &C,
    user: Uuid,
    plan: Plan,
    stripe_subscription_id: Option<String>,
) -> Result<Subscription, AppError> {
    if plan == Plan::Free {
        return Err(AppError::invalid_field("plan", "FREE is not sold"));
    }
    let current = get_subscription(c, user).await?;
    let now = Utc::now();
    let renewing = current.is_active && current.plan == plan;
    let start = if renewing { current.start_date } else { now };
    let from = if renewing { current.end_date.unwrap_or(now).max(now) } else { now };
    let end = from.checked_add_months(Months::new(1)).ok_or_else(|| AppError::Internal("date overflow".into()))?;
    let sql = format!(
        "UPDATE subscriptions SET plan = $2, status = 'ACTIVE', start_date = $3, end_date = $4,
                auto_renewal = TRUE, monthly_price = {},
                stripe_subscription_id = COALESCE($6, stripe_subscription_id), updated_at = $7
         WHERE user_id = $1",
        cents_param(5)
    );
    db::exec(
        c,
        &sql,
        vec![
            user.into(),
            plan.as_str().into(),
            start.into(),
            end.into(),
            plan.monthly_price_cents().into(),
            stripe_subscription_id.into(),
            now.into(),
        ],
    )
    .await?;
    get_subscription(c, user).await
}

/// Moves to a cheaper plan now; a paid plan keeps the current end date, FREE has none.
pub async fn downgrade<C: ConnectionTrait>(c: &C, user: Uuid, plan: Plan) -> Result<Subscription, AppError> {
    let current = get_subscription(c, user).await?;
    if plan >= current.effective_plan {
        return Err(AppError::conflict(
            "not_a_downgrade",
            format!("{} is not cheaper than {}", plan.as_str(), current.effective_plan.as_str()),
        ));
    }
    let end = if plan == Plan::Free { None } else { current.end_date };
    let sql = format!(
        "UPDATE subscriptions SET plan = $2, end_date = $3, monthly_price = {},
                auto_renewal = $5, status = 'ACTIVE', updated_at = $6
         WHERE user_id = $1",
        cents_param(4)
    );
    db::exec(
        c,
        &sql,
        vec![
            user.into(),
            plan.as_str().into(),
            end.into(),
            plan.monthly_price_cents().into(),
            (plan != Plan::Free).into(),
            Utc::now().into(),
        ],
    )
    .await?;
    get_subscription(c, user).await
}

/// Turns auto-renewal off; the paid period runs to its end date.
pub async fn cancel<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Subscription, AppError> {
    let current = get_subscription(c, user).await?;
    if current.effective_plan == Plan::Free {
        return Err(AppError::conflict("nothing_to_cancel", "the FREE plan cannot be cancelled"));
    }
    if current.status == SubscriptionStatus::Canceled {
        return Err(AppError::conflict("already_canceled", "the subscription is already cancelled"));
    }
    db::exec(
        c,
        "UPDATE subscriptions SET status = 'CANCELED', auto_renewal = FALSE, updated_at = $2
         WHERE user_id = $1",
        vec![user.into(), Utc::now().into()],
    )
    .await?;
    get_subscription(c, user).await
}

/// Marks lapsed paid periods EXPIRED; returns how many. Run periodically.
pub async fn expire_lapsed<C: ConnectionTrait>(c: &C, now: DateTime<Utc>) -> Result<u64, AppError> {
    Ok(db::exec(
        c,
        "UPDATE subscriptions SET status = 'EXPIRED', updated_at = $1
         WHERE status IN ('ACTIVE', 'CANCELED') AND end_date IS NOT NULL AND end_date <= $1",
        vec![now.into()],
    )
    .await?)
}
