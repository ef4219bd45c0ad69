//! The compliance audit log (seed §7.1 `audit_logs`). Services call [`record`] inside the
//! same transaction as the change it describes, so an audited change and its entry are
//! written together or not at all. Entries name actions and ids, never content.

pub mod http;

use std::net::IpAddr;

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{self, Dialect as _};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditAction {
    /// Successful sign-in.
    Login,
    /// Failed sign-in (wrong password, locked, unknown account).
    LoginFailed,
    /// Password changed.
    PasswordChange,
    /// KYC verification decided (webhook or admin).
    KycVerification,
    /// Adult-content consent signed.
    ConsentSigned,
    /// Consent revoked.
    ConsentRevoked,
    /// Moderation mode activated.
    ModeActivation,
    /// A user's role changed.
    RoleChange,
    /// A payment completed, failed or was refunded.
    Payment,
    /// An administrator adjusted a token balance.
    TokenAdjustment,
}

impl AuditAction {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::LoginFailed => "LOGIN_FAILED",
            Self::PasswordChange => "PASSWORD_CHANGE",
            Self::KycVerification => "KYC_VERIFICATION",
            Self::ConsentSigned => "CONSENT_SIGNED",
            Self::ConsentRevoked => "CONSENT_REVOKED",
            Self::ModeActivation => "MODE_ACTIVATION",
            Self::RoleChange => "ROLE_CHANGE",
            Self::Payment => "PAYMENT",
            Self::TokenAdjustment => "TOKEN_ADJUSTMENT",
        }
    }
}

/// One audit entry to write.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The user concerned, if any.
    pub user_id: Option<Uuid>,
    /// What happened.
    pub action: AuditAction,
    /// Kind of resource (`USER`, `KYC`, `CONSENT`, `PAYMENT`, `WALLET`).
    pub resource_type: &'static str,
    /// Its id.
    pub resource_id: Option<String>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Extra facts (ids, reasons, amounts — never content).
    pub metadata: serde_json::Value,
}

impl AuditEntry {
    /// An entry with no client information and empty metadata.
    #[must_use]
    pub fn new(action: AuditAction, user_id: Option<Uuid>, resource_type: &'static str) -> Self {
        Self {
            user_id,
            action,
            resource_type,
            resource_id: None,
            ip: None,
            user_agent: None,
            metadata: serde_json::Value::Object(Default::default()),
        }
    }

    /// Sets the resource id.
    #[must_use]
    pub fn resource(mut self, id: impl ToString) -> Self {
        self.resource_id = Some(id.to_string());
        self
    }

    /// Sets the client information.
    #[must_use]
    pub fn client(mut self, meta: &crate::http::extract::ClientMeta) -> Self {
        self.ip = Some(meta.ip);
        self.user_agent.clone_from(&meta.user_agent);
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn meta(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Writes `entry` on `c` (a connection or, usually, the caller's transaction).
pub async fn record<C: ConnectionTrait>(c: &C, entry: AuditEntry) -> Result<(), DbErr> {
    let sql = format!(
        "INSERT INTO audit_logs (id, user_id, action, resource_type, resource_id, ip_address,
                                 user_agent, metadata, created_at)
         VALUES ($1, $2, $3, $4, $5, {}, $7, $8, $9)",
        c.get_database_backend().inet_param(6)
    );
    db::exec(
        c,
        &sql,
        vec![
            Uuid::now_v7().into(),
            entry.user_id.into(),
            entry.action.as_str().into(),
            entry.resource_type.into(),
            entry.resource_id.into(),
            entry.ip.map(|ip| ip.to_string()).into(),
            entry.user_agent.into(),
            entry.metadata.into(),
            chrono::Utc::now().into(),
        ],
    )
    .await
    .map(|_| ())
}
