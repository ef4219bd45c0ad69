//! Signing, listing, verifying and revoking consent records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::db::{self, Dialect as _, get};
use crate::error::AppError;
use crate::http::extract::{AuthUser, ClientMeta};
use crate::state::AppState;

/// The consent form version currently presented.
pub const CURRENT_VERSION: &str = "1.0";

/// What is consented to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentType {
    /// The OPTIONAL (unmoderated) mode of VIP+.
    UnmoderatedMode,
    /// Connected adult devices.
    AdultDevices,
}

impl ConsentType {
    /// Stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnmoderatedMode => "UNMODERATED_MODE",
            Self::AdultDevices => "ADULT_DEVICES",
        }
    }
}

/// A request to sign.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// What is consented to.
    pub consent_type: ConsentType,
    /// The form version the user read (must be the current one).
    pub version: String,
}

/// A signed consent record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentRecord {
    /// Record id.
    pub id: Uuid,
    /// User.
    pub user_id: Uuid,
    /// What was consented to.
    pub consent_type: String,
    /// Form version.
    pub version: String,
    /// Client address at signing.
    pub ip_address: String,
    /// Client user agent at signing.
    pub user_agent: Option<String>,
    /// Sign-in session it was signed in.
    pub session_id: Option<Uuid>,
    /// `ed25519:<base64 signature>` over the canonical encoding.
    pub digital_signature: String,
    /// When signed.
    pub signed_at: DateTime<Utc>,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether revoked.
    pub revoked: bool,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The exact bytes that are signed: one `key=value` line per field, fixed order, the
/// user agent as its SHA-256 (it is free text of any length).
#[must_use]
pub fn canonical_encoding(r: &ConsentRecord) -> Vec<u8> {
    let ua = r.user_agent.as_deref().map(|u| hex::encode(Sha256::digest(u.as_bytes()))).unwrap_or_default();
    format!(
        "nexus-consent/v1\nid={}\nuser_id={}\nconsent_type={}\nversion={}\nip={}\nuser_agent_sha256={}\nsession_id={}\nsigned_at={}\nexpires_at={}\n",
        r.id,
        r.user_id,
        r.consent_type,
        r.version,
        r.ip_address,
        ua,
        r.session_id.map(|s| s.to_string()).unwrap_or_default(),
        ts(r.signed_at),
        r.expires_at.map(ts).unwrap_or_default(),
    )
    .into_bytes()
}

/// Truncates to whole microseconds, the precision both databases keep.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Signs and stores a consent for the caller (audited as CONSENT_SIGNED).
pub async fn sign(
    state: &AppState,
    user: &AuthUser,
    req: ConsentRequest,
    meta: &ClientMeta,
) -> Result<ConsentRecord, AppError> {
    if req.version != CURRENT_VERSION {
        return Err(AppError::unprocessable(
            "consent_version_outdated",
            format!("the current consent form is version {CURRENT_VERSION}"),
        ));
    }
    let now = micros(Utc::now());
    let mut record = ConsentRecord {
        id: Uuid::now_v7(),
        user_id: user.user_id,
        consent_type: req.consent_type.as_str().to_owned(),
        version: req.version,
        ip_address: meta.ip.to_string(),
        user_agent: meta.user_agent.clone(),
        session_id: Some(user.session_id),
        digital_signature: String::new(),
        signed_at: now,
        expires_at: Some(now + Duration::days(state.config.consent_validity_days)),
        revoked: false,
        revoked_at: None,
    };
    let signature = state.keys.consent_signing_key.sign(&canonical_encoding(&record));
    record.digital_signature = format!("ed25519:{}", B64.encode(signature.to_bytes()));

    let txn = state.db.conn().begin().await?;
    let sql = format!(
        "INSERT INTO adult_content_consents (id, user_id, consent_type, version, ip_address, user_agent,
                 digital_signature, session_id, signed_at, expires_at, revoked, created_at)
         VALUES ($1, $2, $3, $4, {}, $6, $7, $8, $9, $10, FALSE, $9)",
        txn.get_database_backend().inet_param(5)
    );
    db::exec(
        &txn,
        &sql,
        vec![
            record.id.into(),
            record.user_id.into(),
            record.consent_type.clone().into(),
            record.version.clone().into(),
            record.ip_address.clone().into(),
            record.user_agent.clone().into(),
            record.digital_signature.clone().into(),
            record.session_id.into(),
            record.signed_at.into(),
            record.expires_at.into(),
        ],
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new(AuditAction::ConsentSigned, Some(user.user_id), "CONSENT")
            .resource(record.id)
            .client(meta)
            .meta(serde_json::json!({ "consent_type": record.consent_type, "version": record.version })),
    )
    .await?;
    txn.commit().await?;
    Ok(record)
}

fn select_sql<C: ConnectionTrait>(c: &C) -> String {
    format!(
        "SELECT id, user_id, consent_type, version, {} AS ip, user_agent, digital_signature, session_id,
                signed_at, expires_at, revoked, revoked_at
         FROM adult_content_consents",
        c.get_database_backend().inet_text("ip_address")
    )
}

fn from_row(row: &QueryResult) -> Result<ConsentRecord, AppError> {
    Ok(ConsentRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        consent_type: get(row, "consent_type")?,
        version: get(row, "version")?,
        ip_address: get(row, "ip")?,
        user_agent: get(row, "user_agent")?,
        session_id: get(row, "session_id")?,
        digital_signature: get(row, "digital_signature")?,
        signed_at: get(row, "signed_at")?,
        expires_at: get(row, "expires_at")?,
        revoked: get::<Option<bool>>(row, "revoked")?.unwrap_or(false),
        revoked_at: get(row, "revoked_at")?,
    })
}

/// The caller's consents, newest first.
pub async fn list<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<Vec<ConsentRecord>, AppError> {
    let rows =
        db::all(c, &format!("{} WHERE user_id = $1 ORDER BY signed_at DESC", select_sql(c)), vec![user.into()]).await?;
    rows.iter().map(from_row).collect()
}

async fn find<C: ConnectionTrait>(c: &C, user: Uuid, id: Uuid) -> Result<ConsentRecord, AppError> {
    let row = db::one(c, &format!("{} WHERE id = $1 AND user_id = $2", select_sql(c)), vec![id.into(), user.into()])
        .await?
        .ok_or_else(|| AppError::missing("consent"))?;
    from_row(&row)
}

/// Whether a stored record's signature verifies against the server's key.
pub fn signature_valid(state: &AppState, record: &ConsentRecord) -> bool {
    let Some(b64) = record.digital_signature.strip_prefix("ed25519:") else { return false };
    let Ok(bytes) = B64.decode(b64) else { return false };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
    let signature = Signature::from_bytes(&bytes);
    state.keys.consent_signing_key.verifying_key().verify(&canonical_encoding(record), &signature).is_ok()
}

/// Verifies one of the caller's records.
pub async fn verify(state: &AppState, user: Uuid, id: Uuid) -> Result<bool, AppError> {
    let record = find(state.db.conn(), user, id).await?;
    Ok(signature_valid(state, &record))
}

/// Revokes one of the caller's records (audited as CONSENT_REVOKED).
pub async fn revoke(state: &AppState, user: Uuid, id: Uuid, meta: &ClientMeta) -> Result<ConsentRecord, AppError> {
    let txn = state.db.conn().begin().await?;
    let changed = db::exec(
        &txn,
        "UPDATE adult_content_consents SET revoked = TRUE, revoked_at = $3 WHERE id = $1 AND user_id = $2 AND NOT revoked",
        vec![id.into(), user.into(), Utc::now().into()],
    )
    .await?;
    let record = find(&txn, user, id).await?;
    if changed == 0 {
        return Err(AppError::conflict("consent_already_revoked", "this consent is already revoked"));
    }
    audit::record(&txn, AuditEntry::new(AuditAction::ConsentRevoked, Some(user), "CONSENT").resource(id).client(meta))
        .await?;
    txn.commit().await?;
    Ok(record)
}

/// Whether `user` holds a valid, unrevoked, unexpired consent of `kind` signed in `session`.
pub async fn signed_this_session(
    state: &AppState,
    user: Uuid,
    session: Uuid,
    kind: ConsentType,
) -> Result<bool, AppError> {
    let now = Utc::now();
    let rows = db::all(
        state.db.conn(),
        &format!(
            "{} WHERE user_id = $1 AND session_id = $2 AND consent_type = $3 AND NOT revoked
               AND (expires_at IS NULL OR expires_at > $4)",
            select_sql(state.db.conn())
        ),
        vec![user.into(), session.into(), kind.as_str().into(), now.into()],
    )
    .await?;
    Ok(rows.iter().map(from_row).any(|r| r.is_ok_and(|r| signature_valid(state, &r))))
}
