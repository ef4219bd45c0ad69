//! KYC operations: submit, decide (provider webhook or ADMIN), status, level queries.

use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit as _, Mac as _};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::cipher;
use crate::db::{self, get};
use crate::error::AppError;
use crate::state::AppState;

/// Identity document kinds accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DocumentType {
    /// National identity card.
    IdCard,
    /// Passport.
    Passport,
    /// Driving licence.
    DriversLicense,
}

impl DocumentType {
    fn as_str(self) -> &'static str {
        match self {
            Self::IdCard => "ID_CARD",
            Self::Passport => "PASSPORT",
            Self::DriversLicense => "DRIVERS_LICENSE",
        }
    }
}

/// A verification request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KycSubmission {
    /// Level asked for, 1–3.
    pub level: i32,
    /// Document kind.
    pub document_type: DocumentType,
    /// Document number: 4–64 of `A–Z a–z 0–9 -` (stored encrypted).
    pub document_number: String,
}

/// A verification as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KycVerification {
    /// Verification id.
    pub id: Uuid,
    /// Level.
    pub level: i32,
    /// PENDING, APPROVED, REJECTED or EXPIRED.
    pub status: String,
    /// Provider reference (what the provider's webhook names).
    pub provider_id: Option<String>,
    /// Document kind.
    pub document_type: Option<String>,
    /// Last four characters of the document number (decrypted on read).
    pub document_last4: Option<String>,
    /// When it was approved.
    pub verified_at: Option<DateTime<Utc>>,
    /// When the approval lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The caller's KYC state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KycStatus {
    /// Highest approved, unexpired level (0 if none).
    pub current_level: i32,
    /// Every verification.
    pub verifications: Vec<KycVerification>,
}

/// Submits a verification for `user`; it waits for the provider or an ADMIN.
pub async fn submit(state: &AppState, user: Uuid, sub: KycSubmission) -> Result<KycVerification, AppError> {
    if !(1..=3).contains(&sub.level) {
        return Err(AppError::invalid_field("level", "must be 1, 2 or 3"));
    }
    let number = sub.document_number.trim();
    if !(4..=64).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AppError::invalid_field("document_number", "4–64 of A–Z a–z 0–9 -"));
    }
    let sealed = cipher::seal(&state.keys.kyc_key, user, number)?;
    let now = Utc::now();
    let provider_id = format!("kyc_{}", Uuid::new_v4().simple());
    let txn = state.db.conn().begin().await?;
    let existing = db::one(
        &txn,
        "SELECT id, status, expires_at FROM kyc_verifications WHERE user_id = $1 AND level = $2",
        vec![user.into(), sub.level.into()],
    )
    .await?;
    let id = match existing {
        Some(row) => {
            let status: String = get(&row, "status")?;
            let expires: Option<DateTime<Utc>> = get(&row, "expires_at")?;
            match status.as_str() {
                "PENDING" => return Err(AppError::conflict("kyc_pending", "a verification of this level is pending")),
                "APPROVED" if expires.is_none_or(|e| e > now) => {
                    return Err(AppError::conflict("kyc_already_verified", "this level is already verified"));
                }
                _ => {}
            }
            let id: Uuid = get(&row, "id")?;
            db::exec(
                &txn,
                "UPDATE kyc_verifications SET status = 'PENDING', provider = 'WEBHOOK', provider_id = $2,
                        document_type = $3, document_number_encrypted = $4, verified_at = NULL,
                        expires_at = NULL, selfie_verified = FALSE, liveness_check = FALSE
                 WHERE id = $1",
                vec![id.into(), provider_id.into(), sub.document_type.as_str().into(), sealed.into()],
            )
            .await?;
            id
        }
        None => {
            let id = Uuid::now_v7();
            db::exec(
                &txn,
                "INSERT INTO kyc_verifications (id, user_id, level, provider, provider_id, status, document_type,
                                                document_number_encrypted, created_at)
                 VALUES ($1, $2, $3, 'WEBHOOK', $4, 'PENDING', $5, $6, $7)",
                vec![
                    id.into(),
                    user.into(),
                    sub.level.into(),
                    provider_id.into(),
                    sub.document_type.as_str().into(),
                    sealed.into(),
                    now.into(),
                ],
            )
            .await?;
            id
        }
    };
    let out = find(&txn, state, user, id).await?;
    txn.commit().await?;
    Ok(out)
}

const COLUMNS: &str =
    "id, user_id, level, status, provider_id, document_type, document_number_encrypted, verified_at, expires_at";

fn from_row(state: &AppState, row: &sea_orm::QueryResult) -> Result<KycVerification, AppError> {
    let user: Uuid = get(row, "user_id")?;
    let sealed: Option<Vec<u8>> = get(row, "document_number_encrypted")?;
    let last4 = sealed
        .map(|s| cipher::open(&state.keys.kyc_key, user, &s))
        .transpose()?
        .map(|n| n.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect());
    Ok(KycVerification {
        id: get(row, "id")?,
        level: get(row, "level")?,
        status: get(row, "status")?,
        provider_id: get(row, "provider_id")?,
        document_type: get(row, "document_type")?,
        document_last4: last4,
        verified_at: get(row, "verified_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

async fn find<C: ConnectionTrait>(c: &C, state: &AppState, user: Uuid, id: Uuid) -> Result<KycVerification, AppError> {
    let row = db::one(
        c,
        &format!("SELECT {COLUMNS} FROM kyc_verifications WHERE id = $1 AND user_id = $2"),
        vec![id.into(), user.into()],
    )
    .await?
    .ok_or_else(|| AppError::missing("verification"))?;
    from_row(state, &row)
}

/// The KYC state of `user`; approvals past their expiry are shown EXPIRED.
pub async fn status(state: &AppState, user: Uuid) -> Result<KycStatus, AppError> {
    let rows = db::all(
        state.db.conn(),
        &format!("SELECT {COLUMNS} FROM kyc_verifications WHERE user_id = $1 ORDER BY level"),
        vec![user.into()],
    )
    .await?;
    let now = Utc::now();
    let mut verifications = rows.iter().map(|r| from_row(state, r)).collect::<Result<Vec<_>, _>>()?;
    for v in &mut verifications {
        if v.status == "APPROVED" && v.expires_at.is_some_and(|e| e <= now) {
            v.status = "EXPIRED".into();
        }
    }
    let current_level = verifications.iter().filter(|v| v.status == "APPROVED").map(|v| v.level).max().unwrap_or(0);
    Ok(KycStatus { current_level, verifications })
}

/// Who decided a verification.
#[derive(Debug, Clone, Copy)]
pub enum Decider {
    /// The provider, through its signed webhook.
    Provider,
    /// An administrator.
    Admin(Uuid),
}

/// Approves or rejects a PENDING verification (audited as KYC_VERIFICATION).
pub async fn decide(state: &AppState, id: Uuid, approve: bool, by: Decider) -> Result<(), AppError> {
    let now = Utc::now();
    let expires = now + Duration::days(state.config.kyc_validity_days);
    let txn = state.db.conn().begin().await?;
    let row = db::one(
        &txn,
        "UPDATE kyc_verifications SET status = $2, verified_at = $3, expires_at = $4,
                selfie_verified = $5, liveness_check = $5
         WHERE id = $1 AND status = 'PENDING' RETURNING user_id, level",
        vec![
            id.into(),
            (if approve { "APPROVED" } else { "REJECTED" }).into(),
            approve.then_some(now).into(),
            approve.then_some(expires).into(),
            approve.into(),
        ],
    )
    .await?;
    let Some(row) = row else {
        let exists = db::one(&txn, "SELECT id FROM kyc_verifications WHERE id = $1", vec![id.into()]).await?;
        return Err(match exists {
            Some(_) => AppError::conflict("kyc_already_decided", "this verification was already decided"),
            None => AppError::missing("verification"),
        });
    };
    let user: Uuid = get(&row, "user_id")?;
    let level: i32 = get(&row, "level")?;
    let by_json = match by {
        Decider::Provider => serde_json::json!("provider"),
        Decider::Admin(admin) => serde_json::json!({ "admin": admin }),
    };
    audit::record(
        &txn,
        AuditEntry::new(AuditAction::KycVerification, Some(user), "KYC")
            .resource(id)
            .meta(serde_json::json!({ "level": level, "approved": approve, "by": by_json })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Whether `user` holds an approved, unexpired level-3 verification made within `within`.
pub async fn kyc3_verified_within<C: ConnectionTrait>(c: &C, user: Uuid, within: Duration) -> Result<bool, AppError> {
    let now = Utc::now();
    Ok(db::one(
        c,
        "SELECT id FROM kyc_verifications
         WHERE user_id = $1 AND level = 3 AND status = 'APPROVED' AND verified_at > $2
           AND (expires_at IS NULL OR expires_at > $3)",
        vec![user.into(), (now - within).into(), now.into()],
    )
    .await?
    .is_some())
}

/// Checks the provider's `X-SHA2-Signature` (hex HMAC-SHA256 of the raw body) in constant time.
pub fn verify_webhook_signature(secret: &str, body: &[u8], signature_hex: &str) -> Result<(), AppError> {
    let invalid = || AppError::bad_request("invalid_signature", "webhook signature does not match");
    let expected = hex::decode(signature_hex.trim()).map_err(|_| invalid())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| AppError::Internal("hmac key".into()))?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| invalid())
}

/// The provider's webhook body (Onfido-style).
#[derive(Debug, Deserialize)]
pub struct ProviderEvent {
    /// The event.
    pub payload: ProviderPayload,
}

/// Event payload.
#[derive(Debug, Deserialize)]
pub struct ProviderPayload {
    /// e.g. `check`.
    pub resource_type: String,
    /// e.g. `check.completed`.
    pub action: String,
    /// The object it is about.
    pub object: ProviderObject,
}

/// The checked object.
#[derive(Debug, Deserialize)]
pub struct ProviderObject {
    /// Our `provider_id`.
    pub id: String,
    /// `complete` when decided.
    pub status: String,
    /// `clear` (approve) or `consider` (reject).
    pub result: Option<String>,
}

/// Applies a verified provider event. Returns whether it changed anything.
pub async fn apply_provider_event(state: &AppState, event: ProviderEvent) -> Result<bool, AppError> {
    let p = event.payload;
    if p.resource_type != "check" || p.action != "check.completed" || p.object.status != "complete" {
        return Ok(false);
    }
    let approve = match p.object.result.as_deref() {
        Some("clear") => true,
        Some("consider") => false,
        _ => return Err(AppError::unprocessable("invalid_body", "object.result must be clear or consider")),
    };
    let row =
        db::one(state.db.conn(), "SELECT id FROM kyc_verifications WHERE provider_id = $1", vec![p.object.id.into()])
            .await?
            .ok_or_else(|| AppError::not_found("unknown_verification", "no verification with this provider id"))?;
    decide(state, get(&row, "id")?, approve, Decider::Provider).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signature_must_match_exactly() {
        let body = br#"{"payload":{}}"#;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(verify_webhook_signature("s3cret", body, &good).is_ok());
        assert!(verify_webhook_signature("other", body, &good).is_err());
        assert!(verify_webhook_signature("s3cret", b"{}", &good).is_err());
        assert!(verify_webhook_signature("s3cret", body, "zz").is_err());
    }
}
