//! Checkout creation and webhook event handling.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::db::{self, get};
use crate::error::AppError;
use crate::payments::stripe::SessionRequest;
use crate::plans::Plan;
use crate::plans::service::{activate_period, cents_column, cents_param};
use crate::state::AppState;
use crate::tokens::ledger::{self, Mutation, TxKind};

/// Token packs on sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenPack {
    /// 100 tokens.
    Small,
    /// 550 tokens.
    Medium,
    /// 1,200 tokens.
    Large,
}

impl TokenPack {
    /// Tokens and price in euro cents.
    #[must_use]
    pub fn contents(self) -> (i32, i64) {
        match self {
            Self::Small => (100, 499),
            Self::Medium => (550, 1_999),
            Self::Large => (1_200, 3_999),
        }
    }
}

/// What is bought.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Purchase {
    /// A pack of tokens.
    TokenPack {
        /// Which pack.
        pack: TokenPack,
    },
    /// One month of a paid plan (renewing).
    Subscription {
        /// Which plan.
        plan: Plan,
    },
}

/// A checkout session for the client to complete with the payment provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckoutSession {
    /// Checkout session id (what the provider's events name).
    pub id: String,
    /// Our payment id (the session's `client_reference_id`).
    pub payment_id: Uuid,
    /// `payment` or `subscription`.
    pub mode: &'static str,
    /// Amount in cents.
    pub amount_total: i64,
    /// Currency (lower case, as Stripe writes it).
    pub currency: &'static str,
    /// The provider's hosted payment page (absent when no provider is configured).
    pub url: Option<String>,
}

fn product_name(purchase: Purchase) -> String {
    match purchase {
        Purchase::TokenPack { pack } => format!("Nexus tokens: {} tokens", pack.contents().0),
        Purchase::Subscription { plan } => format!("Nexus {} (monthly)", plan.as_str()),
    }
}

/// Records a PENDING payment for `purchase` and returns its checkout session.
pub async fn create_checkout(state: &AppState, user: Uuid, purchase: Purchase) -> Result<CheckoutSession, AppError> {
    let (kind, mode, amount, metadata) = match purchase {
        Purchase::TokenPack { pack } => {
            let (tokens, cents) = pack.contents();
            (
                "TOKEN_PURCHASE",
                "payment",
                cents,
                serde_json::json!({ "kind": "token_pack", "pack": pack, "tokens": tokens }),
            )
        }
        Purchase::Subscription { plan } => {
            if plan == Plan::Free {
                return Err(AppError::invalid_field("plan", "FREE is not sold"));
            }
            (
                "SUBSCRIPTION",
                "subscription",
                plan.monthly_price_cents(),
                serde_json::json!({ "kind": "subscription", "plan": plan }),
            )
        }
    };
    let payment_id = Uuid::now_v7();
    let (session_id, url) = match &state.stripe {
        Some(stripe) => {
            let base = state.config.public_url.trim_end_matches('/');
            let created = stripe
                .create_session(&SessionRequest {
                    payment_id,
                    mode,
                    amount_cents: amount,
                    currency: "eur",
                    product_name: product_name(purchase),
                    success_url: format!("{base}/checkout/success?payment={payment_id}"),
                    cancel_url: format!("{base}/checkout/cancel?payment={payment_id}"),
                })
                .await?;
            (created.id, created.url)
        }
        None => (format!("cs_nexus_{}", payment_id.simple()), None),
    };
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO payment_transactions (id, user_id, type, amount, currency, status, stripe_checkout_session_id,
                                           metadata, created_at, updated_at)
         VALUES ($1, $2, $3, {}, 'EUR', 'PENDING', $5, $6, $7, $7)",
        cents_param(4)
    );
    db::exec(
        state.db.conn(),
        &sql,
        vec![
            payment_id.into(),
            user.into(),
            kind.into(),
            amount.into(),
            session_id.clone().into(),
            metadata.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(CheckoutSession { id: session_id, payment_id, mode, amount_total: amount, currency: "eur", url })
}

/// A provider event (the fields Nexus reads).
#[derive(Debug, Deserialize)]
pub struct WebhookEvent {
    /// Event id (`evt_…`), the deduplication key.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event data.
    pub data: EventData,
}

/// `data` of an event.
#[derive(Debug, Deserialize)]
pub struct EventData {
    /// The object the event is about.
    pub object: serde_json::Value,
}

/// What the webhook did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    /// Event id.
    pub event_id: String,
    /// Whether the event type is one Nexus acts on.
    pub handled: bool,
}

fn str_field<'a>(object: &'a serde_json::Value, field: &str) -> Result<&'a str, AppError> {
    object
        .get(field)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| AppError::unprocessable("invalid_body", format!("data.object.{field} missing")))
}

/// Applies a verified event in one transaction with its deduplication record.
pub async fn handle_event(state: &AppState, event: WebhookEvent) -> Result<WebhookOutcome, AppError> {
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(AppError::invalid_field("id", "1–255 characters"));
    }
    let txn = state.db.conn().begin().await?;
    let recorded = db::exec(
        &txn,
        "INSERT INTO payment_webhook_events (event_id, event_type, received_at) VALUES ($1, $2, $3)",
        vec![event.id.clone().into(), event.kind.chars().take(100).collect::<String>().into(), Utc::now().into()],
    )
    .await;
    match recorded {
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::conflict("duplicate_event", "this event was already processed"));
        }
        other => other?,
    };
    let object = &event.data.object;
    let handled = match event.kind.as_str() {
        "checkout.session.completed" => {
            checkout_completed(&txn, object).await?;
            true
        }
        "checkout.session.expired" | "checkout.session.async_payment_failed" => {
            let session = str_field(object, "id")?;
            set_status_by_session(&txn, session, "FAILED").await?;
            true
        }
        "invoice.paid" => {
            invoice_paid(&txn, object).await?;
            true
        }
        "charge.refunded" => {
            charge_refunded(&txn, object).await?;
            true
        }
        _ => false,
    };
    txn.commit().await?;
    Ok(WebhookOutcome { event_id: event.id, handled })
}

async fn payment_by_session(
    txn: &DatabaseTransaction,
    session: &str,
) -> Result<(Uuid, Option<Uuid>, String, i64, serde_json::Value), AppError> {
    let row = db::one(
        txn,
        &format!(
            "SELECT id, user_id, status, {} AS cents, metadata FROM payment_transactions WHERE stripe_checkout_session_id = $1",
            cents_column("amount")
        ),
        vec![session.into()],
    )
    .await?
    .ok_or_else(|| AppError::not_found("unknown_payment", "no payment for this checkout session"))?;
    Ok((
        get(&row, "id")?,
        get(&row, "user_id")?,
        get(&row, "status")?,
        get(&row, "cents")?,
        get::<Option<serde_json::Value>>(&row, "metadata")?.unwrap_or_default(),
    ))
}

async fn set_status_by_session(txn: &DatabaseTransaction, session: &str, status: &str) -> Result<(), AppError> {
    let (payment, user, current, ..) = payment_by_session(txn, session).await?;
    if current == "PENDING" {
        db::exec(
            txn,
            "UPDATE payment_transactions SET status = $2, updated_at = $3 WHERE id = $1",
            vec![payment.into(), status.into(), Utc::now().into()],
        )
        .await?;
        audit_payment(txn, user, payment, serde_json::json!({ "status": status })).await?;
    }
    Ok(())
}

async fn audit_payment(
    txn: &DatabaseTransaction,
    user: Option<Uuid>,
    payment: Uuid,
    meta: serde_json::Value,
) -> Result<(), AppError> {
    audit::record(txn, AuditEntry::new(AuditAction::Payment, user, "PAYMENT").resource(payment).meta(meta)).await?;
    Ok(())
}

async fn checkout_completed(txn: &DatabaseTransaction, object: &serde_json::Value) -> Result<(), AppError> {
    let session = str_field(object, "id")?;
    let (payment, user, status, cents, metadata) = payment_by_session(txn, session).await?;
    if status != "PENDING" {
        return Ok(()); // a different event about an already-settled payment
    }
    let paid = object.get("amount_total").and_then(serde_json::Value::as_i64);
    if paid != Some(cents) {
        return Err(AppError::unprocessable("amount_mismatch", format!("amount_total {paid:?} differs from {cents}")));
    }
    let user = user.ok_or_else(|| AppError::conflict("payment_without_user", "the account no longer exists"))?;
    let intent = object.get("payment_intent").and_then(serde_json::Value::as_str).map(str::to_owned);
    db::exec(
        txn,
        "UPDATE payment_transactions SET status = 'COMPLETED', payment_method = 'CARD', stripe_payment_intent_id = $2,
                updated_at = $3 WHERE id = $1",
        vec![payment.into(), intent.into(), Utc::now().into()],
    )
    .await?;
    match metadata.get("kind").and_then(serde_json::Value::as_str) {
        Some("token_pack") => {
            let tokens = metadata
                .get("tokens")
                .and_then(serde_json::Value::as_i64)
                .and_then(|t| i32::try_from(t).ok())
                .ok_or_else(|| AppError::Internal("token pack without tokens".into()))?;
            let mut m =
                Mutation::new(TxKind::Purchase, tokens, format!("payment:{payment}")).reference("PAYMENT", payment);
            m.description = Some("token pack".into());
            ledger::apply_in(txn, user, &m).await?;
        }
        Some("subscription") => {
            let plan = metadata
                .get("plan")
                .and_then(serde_json::Value::as_str)
                .and_then(Plan::parse)
                .ok_or_else(|| AppError::Internal("subscription payment without plan".into()))?;
            let stripe_sub = object.get("subscription").and_then(serde_json::Value::as_str).map(str::to_owned);
            activate_period(txn, user, plan, stripe_sub).await?;
        }
        _ => return Err(AppError::Internal("payment without a known kind".into())),
    }
    audit_payment(txn, Some(user), payment, serde_json::json!({ "status": "COMPLETED", "amount_cents": cents })).await
}

async fn invoice_paid(txn: &DatabaseTransaction, object: &serde_json::Value) -> Result<(), AppError> {
    let stripe_sub = str_field(object, "subscription")?;
    let row = db::one(
        txn,
        "SELECT user_id, plan FROM subscriptions WHERE stripe_subscription_id = $1",
        vec![stripe_sub.into()],
    )
    .await?
    .ok_or_else(|| AppError::not_found("unknown_subscription", "no subscription with this provider id"))?;
    let user: Uuid = get(&row, "user_id")?;
    let plan = Plan::parse(&get::<String>(&row, "plan")?).ok_or_else(|| AppError::Internal("unknown plan".into()))?;
    let cents = object.get("amount_paid").and_then(serde_json::Value::as_i64).unwrap_or(plan.monthly_price_cents());
    activate_period(txn, user, plan, None).await?;
    let payment = Uuid::now_v7();
    let now = Utc::now();
    db::exec(
        txn,
        &format!(
            "INSERT INTO payment_transactions (id, user_id, type, amount, currency, status, payment_method, metadata, created_at, updated_at)
             VALUES ($1, $2, 'SUBSCRIPTION', {}, 'EUR', 'COMPLETED', 'CARD', $4, $5, $5)",
            cents_param(3)
        ),
        vec![payment.into(), user.into(), cents.into(), serde_json::json!({ "kind": "renewal", "plan": plan }).into(), now.into()],
    )
    .await?;
    audit_payment(txn, Some(user), payment, serde_json::json!({ "status": "COMPLETED", "renewal": plan.as_str() }))
        .await
}

async fn charge_refunded(txn: &DatabaseTransaction, object: &serde_json::Value) -> Result<(), AppError> {
    let intent = str_field(object, "payment_intent")?;
    let refunded = object.get("amount_refunded").and_then(serde_json::Value::as_i64).unwrap_or(0);
    let row = db::one(
        txn,
        "SELECT id, user_id FROM payment_transactions WHERE stripe_payment_intent_id = $1",
        vec![intent.into()],
    )
    .await?
    .ok_or_else(|| AppError::not_found("unknown_payment", "no payment for this payment intent"))?;
    let payment: Uuid = get(&row, "id")?;
    let now = Utc::now();
    db::exec(
        txn,
        &format!(
            "UPDATE payment_transactions SET status = 'REFUNDED', refund_amount = {}, refunded_at = $3, updated_at = $3 WHERE id = $1",
            cents_param(2)
        ),
        vec![payment.into(), refunded.into(), now.into()],
    )
    .await?;
    audit_payment(
        txn,
        get(&row, "user_id")?,
        payment,
        serde_json::json!({ "status": "REFUNDED", "refunded_cents": refunded }),
    )
    .await
}

/// A payment as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentRecord {
    /// Payment id.
    pub id: Uuid,
    /// SUBSCRIPTION or TOKEN_PURCHASE.
    #[serde(rename = "type")]
    pub kind: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Currency.
    pub currency: String,
    /// PENDING, COMPLETED, FAILED or REFUNDED.
    pub status: String,
    /// When created.
    pub created_at: chrono::DateTime<Utc>,
}

/// The caller's payments, newest first.
pub async fn list<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Vec<PaymentRecord>, AppError> {
    let rows = db::all(
        c,
        &format!(
            "SELECT id, type, {} AS cents, currency, status, created_at FROM payment_transactions
             WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100",
            cents_column("amount")
        ),
        vec![user.into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PaymentRecord {
                id: get(r, "id")?,
                kind: get(r, "type")?,
                amount_cents: get(r, "cents")?,
                currency: get::<Option<String>>(r, "currency")?.unwrap_or_default(),
                status: get(r, "status")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}
