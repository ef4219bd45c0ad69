//! Accounts: registration (adults only), email verification, sign-in with a short-lived
//! access token and a rotating refresh token, sign-out, password change, roles.
//!
//! - [`password`] — argon2id hashing, run off the async threads;
//! - [`session`] — access tokens (JWT, HS256) and refresh-token families: reusing a
//!   rotated refresh token revokes the whole family (the sign-in session);
//! - [`throttle`] — per-IP login rate limit (per-account lockout lives in the database);
//! - [`mail`] — verification mail over SMTP (lettre), or to the log in the embedded default;
//! - [`service`] — the operations, each in one database transaction;
//! - [`http`] — the `/api/v1/auth`, `/api/v1/users` and `/api/v1/admin/users` routes.

pub mod http;
pub mod mail;
pub mod password;
pub mod service;
pub mod session;
pub mod throttle;

use serde::{Deserialize, Serialize};

/// A user's role; each includes the powers of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// A regular user.
    User,
    /// Reviews moderation incidents.
    Moderator,
    /// Administers users, KYC decisions and plans.
    Admin,
}

impl Role {
    /// The database spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Moderator => "MODERATOR",
            Self::Admin => "ADMIN",
        }
    }

    /// Parses the database spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "USER" => Some(Self::User),
            "MODERATOR" => Some(Self::Moderator),
            "ADMIN" => Some(Self::Admin),
            _ => None,
        }
    }
}
