//! The token ledger: wallets, signed transactions, idempotent mutations and holds.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{self, Db, get};
use crate::error::AppError;

/// Error code of a lost idempotency-key race (retried once by [`apply`]).
const CONCURRENT: &str = "concurrent_update";

/// Largest single mutation.
pub const MAX_AMOUNT: i32 = 1_000_000;

/// Kind of ledger entry (seed §7.1 `token_transactions.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxKind {
    /// Bought with money.
    Purchase,
    /// Granted (plan allowance, reward, admin adjustment).
    Earn,
    /// Consumed.
    Spend,
    /// Given back (released hold, failed job).
    Refund,
    /// Removed at expiry or by an administrator.
    Expire,
}

impl TxKind {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purchase => "PURCHASE",
            Self::Earn => "EARN",
            Self::Spend => "SPEND",
            Self::Refund => "REFUND",
            Self::Expire => "EXPIRE",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Purchase, Self::Earn, Self::Spend, Self::Refund, Self::Expire].into_iter().find(|k| k.as_str() == s)
    }

    /// Whether this kind takes tokens away.
    #[must_use]
    pub fn is_debit(self) -> bool {
        matches!(self, Self::Spend | Self::Expire)
    }
}

/// One requested change to a wallet.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// Kind.
    pub kind: TxKind,
    /// Magnitude, 1..=[`MAX_AMOUNT`]; the sign follows from the kind.
    pub amount: i32,
    /// Unique per wallet; a replay returns the first result.
    pub idempotency_key: String,
    /// Free text shown in the history (≤ 500 characters).
    pub description: Option<String>,
    /// What it pays for (`IMAGE_GENERATION`, `TOKEN_HOLD`, `PAYMENT`, …).
    pub reference_type: Option<String>,
    /// Id of that thing.
    pub reference_id: Option<Uuid>,
}

impl Mutation {
    /// A mutation with no description or reference.
    #[must_use]
    pub fn new(kind: TxKind, amount: i32, idempotency_key: impl Into<String>) -> Self {
        Self {
            kind,
            amount,
            idempotency_key: idempotency_key.into(),
            description: None,
            reference_type: None,
            reference_id: None,
        }
    }

    /// Sets the reference.
    #[must_use]
    pub fn reference(mut self, kind: &str, id: Uuid) -> Self {
        self.reference_type = Some(kind.to_owned());
        self.reference_id = Some(id);
        self
    }

    fn signed_amount(&self) -> i32 {
        if self.kind.is_debit() { -self.amount } else { self.amount }
    }
}

/// A ledger entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    /// Entry id (time-ordered).
    pub id: Uuid,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: TxKind,
    /// Signed amount: negative for SPEND and EXPIRE.
    pub amount: i32,
    /// Balance right after this entry.
    pub balance_after: i32,
    /// Description.
    pub description: Option<String>,
    /// Reference kind.
    pub reference_type: Option<String>,
    /// Reference id.
    pub reference_id: Option<Uuid>,
    /// The idempotency key it was made with.
    pub idempotency_key: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Outcome of [`apply`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// The entry (the original one on a replay).
    pub entry: LedgerEntry,
    /// Whether this was a replay that changed nothing.
    pub replayed: bool,
}

/// A wallet's totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Wallet {
    /// Tokens available.
    pub balance: i32,
    /// Tokens ever bought or granted.
    pub total_earned: i32,
    /// Tokens spent, net of refunds.
    pub total_spent: i32,
}

const ENTRY_COLUMNS: &str = "t.id, t.type, t.amount, t.balance_after, t.description, t.reference_type, t.reference_id, t.idempotency_key, t.created_at";

fn entry_from(row: &QueryResult) -> Result<LedgerEntry, AppError> {
    Ok(LedgerEntry {
        id: get(row, "id")?,
        kind: TxKind::parse(&get::<String>(row, "type")?)
            .ok_or_else(|| AppError::Internal("unknown tx type".into()))?,
        amount: get(row, "amount")?,
        balance_after: get(row, "balance_after")?,
        description: get(row, "description")?,
        reference_type: get(row, "reference_type")?,
        reference_id: get(row, "reference_id")?,
        idempotency_key: get(row, "idempotency_key")?,
        created_at: get(row, "created_at")?,
    })
}

/// Creates the empty wallet of a new account.
pub async fn create_wallet<C: ConnectionTrait>(c: &C, user: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    db::exec(
        c,
        "INSERT INTO token_wallets (id, user_id, balance, total_earned, total_spent, created_at, updated_at)
         VALUES ($1, $2, 0, 0, 0, $3, $3)",
        vec![Uuid::now_v7().into(), user.into(), now.into()],
    )
    .await
    .map(|_| ())
}

/// The wallet of `user`.
pub async fn wallet<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Wallet, AppError> {
    let row = db::one(
        c,
        "SELECT balance, total_earned, total_spent FROM token_wallets WHERE user_id = $1",
        vec![user.into()],
    )
    .await?
    .ok_or_else(|| AppError::missing("wallet"))?;
    Ok(Wallet {
        balance: get::<Option<i32>>(&row, "balance")?.unwrap_or(0),
        total_earned: get::<Option<i32>>(&row, "total_earned")?.unwrap_or(0),
        total_spent: get::<Option<i32>>(&row, "total_spent")?.unwrap_or(0),
    })
}

fn validate(m: &Mutation) -> Result<(), AppError> {
    if !(1..=MAX_AMOUNT).contains(&m.amount) {
        return Err(AppError::invalid_field("amount", format!("must be 1..={MAX_AMOUNT}")));
    }
    if m.idempotency_key.is_empty() || m.idempotency_key.len() > 128 {
        return Err(AppError::invalid_field("idempotency_key", "1–128 characters"));
    }
    if m.description.as_ref().is_some_and(|d| d.chars().count() > 500) {
        return Err(AppError::invalid_field("description", "at most 500 characters"));
    }
    Ok(())
}

/// Applies `m` to `user`'s wallet inside `c` (the caller's transaction). Prefer [`apply`]
/// unless the mutation must commit together with other writes.
pub async fn apply_in<C: ConnectionTrait>(c: &C, user: Uuid, m: &Mutation) -> Result<Applied, AppError> {
    validate(m)?;
    let prior = db::one(
        c,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM token_transactions t JOIN token_wallets w ON w.id = t.wallet_id
             WHERE w.user_id = $1 AND t.idempotency_key = $2"
        ),
        vec![user.into(), m.idempotency_key.clone().into()],
    )
    .await?;
    if let Some(row) = prior {
        let entry = entry_from(&row)?;
        if entry.kind != m.kind || entry.amount != m.signed_amount() {
            return Err(AppError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different operation",
            ));
        }
        return Ok(Applied { entry, replayed: true });
    }
    let now = Utc::now();
    let updated = match m.kind {
        TxKind::Spend | TxKind::Expire => {
            let spent = if m.kind == TxKind::Spend { m.amount } else { 0 };
            db::one(
                c,
                "UPDATE token_wallets SET balance = balance - $2, total_spent = total_spent + $3, updated_at = $4
                 WHERE user_id = $1 AND balance >= $2 RETURNING id, balance",
                vec![user.into(), m.amount.into(), spent.into(), now.into()],
            )
            .await?
        }
        TxKind::Purchase | TxKind::Earn | TxKind::Refund => {
            let (earned, unspent) = if m.kind == TxKind::Refund { (0, m.amount) } else { (m.amount, 0) };
            db::one(
                c,
                "UPDATE token_wallets SET balance = balance + $2, total_earned = total_earned + $3,
                        total_spent = total_spent - $4, updated_at = $5
                 WHERE user_id = $1 AND balance <= 2147483647 - $2 RETURNING id, balance",
                vec![user.into(), m.amount.into(), earned.into(), unspent.into(), now.into()],
            )
            .await?
        }
    };
    let Some(row) = updated else {
        let exists = db::one(c, "SELECT balance FROM token_wallets WHERE user_id = $1", vec![user.into()]).await?;
        return Err(match (exists, m.kind.is_debit()) {
            (None, _) => AppError::missing("wallet"),
            (Some(_), true) => AppError::conflict("insufficient_tokens", "not enough tokens"),
            (Some(_), false) => AppError::conflict("balance_limit", "the balance would exceed its limit"),
        });
    };
    let wallet_id: Uuid = get(&row, "id")?;
    let balance_after: i32 = get(&row, "balance")?;
    let entry = LedgerEntry {
        id: Uuid::now_v7(),
        kind: m.kind,
        amount: m.signed_amount(),
        balance_after,
        description: m.description.clone(),
        reference_type: m.reference_type.clone(),
        reference_id: m.reference_id,
        idempotency_key: m.idempotency_key.clone(),
        created_at: now,
    };
    db::exec(
        c,
        "INSERT INTO token_transactions (id, wallet_id, type, amount, balance_after, description,
                                         reference_id, reference_type, idempotency_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        vec![
            entry.id.into(),
            wallet_id.into(),
            entry.kind.as_str().into(),
            entry.amount.into(),
            entry.balance_after.into(),
            entry.description.clone().into(),
            entry.reference_id.into(),
            entry.reference_type.clone().into(),
            entry.idempotency_key.clone().into(),
            now.into(),
        ],
    )
    .await
    .map_err(|e| {
        if db::is_unique_violation(&e) {
            AppError::conflict(CONCURRENT, "a concurrent request with this key is in progress; retry")
        } else {
            e.into()
        }
    })?;
    Ok(Applied { entry, replayed: false })
}

/// Runs `op` in a transaction; a unique-key race (two requests with one idempotency key)
/// is retried once, when the replay path then finds the winner's entry.
async fn in_txn<T, F>(db: &Db, op: F) -> Result<T, AppError>
where
    F: for<'t> Fn(
        &'t sea_orm::DatabaseTransaction,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, AppError>> + Send + 't>>,
{
    for attempt in 0..2 {
        let txn = db.conn().begin().await?;
        match op(&txn).await {
            Ok(value) => {
                txn.commit().await?;
                return Ok(value);
            }
            Err(e) if attempt == 0 && e.code() == CONCURRENT => txn.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    Err(AppError::conflict(CONCURRENT, "a concurrent request with this key is in progress; retry"))
}

/// Applies `m` to `user`'s wallet in its own transaction.
pub async fn apply(db: &Db, user: Uuid, m: &Mutation) -> Result<Applied, AppError> {
    in_txn(db, |txn| {
        let m = m.clone();
        Box::pin(async move { apply_in(txn, user, &m).await })
    })
    .await
}

/// One page of history, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// Entries.
    pub items: Vec<LedgerEntry>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<Uuid>,
}

/// A page of `user`'s history older than `before` (entry ids are time-ordered UUIDv7).
pub async fn history<C: ConnectionTrait>(
    c: &C,
    user: Uuid,
    limit: u32,
    before: Option<Uuid>,
) -> Result<HistoryPage, AppError> {
    let limit = limit.clamp(1, 200);
    let rows = db::all(
        c,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM token_transactions t JOIN token_wallets w ON w.id = t.wallet_id
             WHERE w.user_id = $1 AND ($2 IS NULL OR t.id < $2)
             ORDER BY t.id DESC LIMIT $3"
        ),
        vec![user.into(), before.into(), i64::from(limit).into()],
    )
    .await?;
    let items = rows.iter().map(entry_from).collect::<Result<Vec<_>, _>>()?;
    let next_before = (items.len() == limit as usize).then(|| items.last().map(|e| e.id)).flatten();
    Ok(HistoryPage { items, next_before })
}

/// State of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HoldStatus {
    /// Reserved.
    Held,
    /// Kept for good.
    Captured,
    /// Given back.
    Released,
}

/// A token reservation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hold {
    /// Hold id.
    pub id: Uuid,
    /// Tokens reserved.
    pub amount: i32,
    /// State.
    pub status: HoldStatus,
    /// What it is for.
    pub reference_type: Option<String>,
}

fn hold_from(row: &QueryResult) -> Result<Hold, AppError> {
    let status = match get::<String>(row, "status")?.as_str() {
        "HELD" => HoldStatus::Held,
        "CAPTURED" => HoldStatus::Captured,
        "RELEASED" => HoldStatus::Released,
        other => return Err(AppError::Internal(format!("unknown hold status {other}"))),
    };
    Ok(Hold { id: get(row, "id")?, amount: get(row, "amount")?, status, reference_type: get(row, "reference_type")? })
}

async fn find_hold<C: ConnectionTrait>(c: &C, user: Uuid, hold: Uuid) -> Result<Hold, AppError> {
    let row = db::one(
        c,
        "SELECT h.id, h.amount, h.status, h.reference_type FROM token_holds h
         JOIN token_wallets w ON w.id = h.wallet_id WHERE h.id = $1 AND w.user_id = $2",
        vec![hold.into(), user.into()],
    )
    .await?
    .ok_or_else(|| AppError::missing("hold"))?;
    hold_from(&row)
}

/// Reserves `amount` tokens (a SPEND entry referencing the hold).
pub async fn hold(
    db: &Db,
    user: Uuid,
    amount: i32,
    idempotency_key: &str,
    reference_type: Option<String>,
) -> Result<Hold, AppError> {
    in_txn(db, |txn| {
        let reference_type = reference_type.clone();
        let idempotency_key = idempotency_key.to_owned();
        Box::pin(async move {
            let id = Uuid::now_v7();
            let mut m = Mutation::new(TxKind::Spend, amount, idempotency_key).reference("TOKEN_HOLD", id);
            m.description = reference_type.clone().map(|r| format!("hold for {r}"));
            let applied = apply_in(txn, user, &m).await?;
            let hold_id =
                applied.entry.reference_id.ok_or_else(|| AppError::Internal("hold entry without reference".into()))?;
            if applied.replayed {
                return find_hold(txn, user, hold_id).await;
            }
            db::exec(
                txn,
                "INSERT INTO token_holds (id, wallet_id, amount, status, reference_type, created_at)
                 SELECT $1, id, $3, 'HELD', $4, $5 FROM token_wallets WHERE user_id = $2",
                vec![hold_id.into(), user.into(), amount.into(), reference_type.into(), Utc::now().into()],
            )
            .await?;
            find_hold(txn, user, hold_id).await
        })
    })
    .await
}

async fn settle(db: &Db, user: Uuid, hold_id: Uuid, to: &'static str) -> Result<Hold, AppError> {
    in_txn(db, |txn| {
        Box::pin(async move {
            let current = find_hold(txn, user, hold_id).await?;
            if current.status != HoldStatus::Held {
                return Err(AppError::conflict("hold_settled", "this hold was already captured or released"));
            }
            let changed = db::exec(
                txn,
                "UPDATE token_holds SET status = $2, settled_at = $3 WHERE id = $1 AND status = 'HELD'",
                vec![hold_id.into(), to.into(), Utc::now().into()],
            )
            .await?;
            if changed == 0 {
                return Err(AppError::conflict("hold_settled", "this hold was already captured or released"));
            }
            if to == "RELEASED" {
                let m = Mutation::new(TxKind::Refund, current.amount, format!("hold-release:{hold_id}"))
                    .reference("TOKEN_HOLD", hold_id);
                apply_in(txn, user, &m).await?;
            }
            find_hold(txn, user, hold_id).await
        })
    })
    .await
}

/// Keeps a held amount for good.
pub async fn capture(db: &Db, user: Uuid, hold: Uuid) -> Result<Hold, AppError> {
    settle(db, user, hold, "CAPTURED").await
}

/// Gives a held amount back (a REFUND entry).
pub async fn release(db: &Db, user: Uuid, hold: Uuid) -> Result<Hold, AppError> {
    settle(db, user, hold, "RELEASED").await
}

/// Sum of `user`'s ledger amounts (equals the balance when the ledger is consistent).
pub async fn ledger_sum<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<i64, AppError> {
    let row = db::one(
        c,
        "SELECT COALESCE(SUM(t.amount), 0) AS total FROM token_transactions t
         JOIN token_wallets w ON w.id = t.wallet_id WHERE w.user_id = $1",
        vec![user.into()],
    )
    .await?
    .ok_or_else(|| AppError::Internal("sum returned no row".into()))?;
    Ok(get::<i64>(&row, "total")?)
}
