//! Account operations. Each runs in one transaction, so a failure writes nothing.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Role;
use super::session::{new_opaque_token, token_hash};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::db::{self, Dialect as _, get};
use crate::error::AppError;
use crate::http::extract::ClientMeta;
use crate::state::AppState;

/// Minimum age to hold an account.
pub const MINIMUM_AGE_YEARS: u32 = 18;

/// What a new user submits.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Email address (unique, case-insensitive).
    pub email: String,
    /// Public name: 3–32 of `A–Z a–z 0–9 _ . -` (unique).
    pub username: String,
    /// 10–128 characters.
    pub password: String,
    /// `YYYY-MM-DD`; the user must be 18 or older.
    pub birth_date: NaiveDate,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserProfile {
    /// User id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Username.
    pub username: String,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Role.
    pub role: Role,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Account creation.
    pub created_at: DateTime<Utc>,
}

/// Tokens handed out at sign-in and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// One-time token to get the next pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

fn validate_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 255
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid { Ok(email) } else { Err(AppError::invalid_field("email", "not a valid address")) }
}

fn validate_username(username: &str) -> Result<(), AppError> {
    let ok = (3..=32).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(()) } else { Err(AppError::invalid_field("username", "3–32 of A–Z a–z 0–9 _ . -")) }
}

/// Checks a new password's length (10–128 characters).
pub fn validate_password(password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if (10..=128).contains(&n) { Ok(()) } else { Err(AppError::invalid_field("password", "10–128 characters")) }
}

/// Age in whole years on `today`.
#[must_use]
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> Option<u32> {
    today.years_since(birth)
}

fn profile_from(row: &sea_orm::QueryResult) -> Result<UserProfile, AppError> {
    Ok(UserProfile {
        id: get(row, "id")?,
        email: get(row, "email")?,
        username: get(row, "username")?,
        birth_date: get(row, "birth_date")?,
        role: Role::parse(&get::<String>(row, "role")?).ok_or_else(|| AppError::Internal("unknown role".into()))?,
        email_verified: get::<Option<bool>>(row, "email_verified")?.unwrap_or(false),
        created_at: get(row, "created_at")?,
    })
}

const PROFILE_COLUMNS: &str = "id, email, username, birth_date, role, email_verified, created_at";

/// A user's profile.
pub async fn profile<C: ConnectionTrait>(c: &C, user: Uuid) -> Result<UserProfile, AppError> {
    let row = db::one(c, &format!("SELECT {PROFILE_COLUMNS} FROM users WHERE id = $1"), vec![user.into()])
        .await?
        .ok_or_else(|| AppError::missing("user"))?;
    profile_from(&row)
}

/// Registers an adult: user, FREE subscription, empty wallet and a verification token in
/// one transaction; then mails the verification link.
pub async fn register(state: &AppState, reg: Registration) -> Result<UserProfile, AppError> {
    let email = validate_email(&reg.email)?;
    validate_username(&reg.username)?;
    validate_password(&reg.password)?;
    let now = Utc::now();
    let today = now.date_naive();
    match age_on(reg.birth_date, today) {
        None => return Err(AppError::invalid_field("birth_date", "is in the future")),
        Some(age) if age > 130 => return Err(AppError::invalid_field("birth_date", "is not plausible")),
        Some(age) if age < MINIMUM_AGE_YEARS => {
            return Err(AppError::unprocessable("underage", "Nexus is for adults (18+) only"));
        }
        Some(_) => {}
    }
    let hash = state.passwords.hash(&reg.password).await?;
    let id = Uuid::now_v7();
    let (verify_token, verify_hash) = new_opaque_token()?;

    let txn = state.db.conn().begin().await?;
    let taken = db::one(
        &txn,
        "SELECT email = $1 AS same_email FROM users WHERE email = $1 OR username = $2",
        vec![email.clone().into(), reg.username.clone().into()],
    )
    .await?;
    if let Some(row) = taken {
        return Err(if get::<bool>(&row, "same_email")? {
            AppError::conflict("email_taken", "an account with this email exists")
        } else {
            AppError::conflict("username_taken", "this username is taken")
        });
    }
    let inserted = db::exec(
        &txn,
        "INSERT INTO users (id, email, password_hash, username, birth_date, role, email_verified,
                            active, failed_login_count, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'USER', FALSE, TRUE, 0, $6, $6)",
        vec![
            id.into(),
            email.clone().into(),
            hash.into(),
            reg.username.clone().into(),
            reg.birth_date.into(),
            now.into(),
        ],
    )
    .await;
    match inserted {
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::conflict("account_exists", "email or username already taken"));
        }
        other => other?,
    };
    crate::plans::service::create_free(&txn, id, now).await?;
    crate::tokens::ledger::create_wallet(&txn, id, now).await?;
    db::exec(
        &txn,
        "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        vec![verify_hash.into(), id.into(), (now + Duration::hours(48)).into()],
    )
    .await?;
    let user = profile(&txn, id).await?;
    txn.commit().await?;

    send_verification(state, &email, &verify_token).await;
    Ok(user)
}

async fn send_verification(state: &AppState, email: &str, token: &str) {
    let link = format!("{}/api/v1/auth/verify-email?token={token}", state.config.public_url.trim_end_matches('/'));
    let body = format!("Welcome to Nexus.\n\nConfirm your email address:\n{link}\n\nThe link is valid for 48 hours.\n");
    if let Err(e) = state.mailer.send(email, "Confirm your Nexus email", body).await {
        tracing::warn!(error = %e, "verification mail not sent; the user can ask again");
    }
}

/// Issues a fresh verification link to an unverified user.
pub async fn resend_verification(state: &AppState, user: Uuid) -> Result<(), AppError> {
    let me = profile(state.db.conn(), user).await?;
    if me.email_verified {
        return Err(AppError::conflict("already_verified", "the email is already verified"));
    }
    let (token, hash) = new_opaque_token()?;
    db::exec(
        state.db.conn(),
        "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        vec![hash.into(), user.into(), (Utc::now() + Duration::hours(48)).into()],
    )
    .await?;
    send_verification(state, &me.email, &token).await;
    Ok(())
}

/// Consumes a verification token.
pub async fn verify_email(state: &AppState, token: &str) -> Result<(), AppError> {
    let now = Utc::now();
    let txn = state.db.conn().begin().await?;
    let row = db::one(
        &txn,
        "UPDATE email_verifications SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        vec![token_hash(token).into(), now.into()],
    )
    .await?
    .ok_or_else(|| AppError::bad_request("invalid_verification_token", "unknown, used or expired link"))?;
    let user: Uuid = get(&row, "user_id")?;
    db::exec(
        &txn,
        "UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1",
        vec![user.into(), now.into()],
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sign-in credentials.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

async fn login_failed(state: &AppState, user: Option<Uuid>, meta: &ClientMeta, reason: &str) -> Result<(), AppError> {
    let entry = AuditEntry::new(AuditAction::LoginFailed, user, "USER")
        .client(meta)
        .meta(serde_json::json!({ "reason": reason }));
    let entry = match user {
        Some(id) => entry.resource(id),
        None => entry,
    };
    audit::record(state.db.conn(), entry).await?;
    Ok(())
}

/// Signs in: per-IP rate limit, per-account lockout, argon2id check, new session.
pub async fn login(state: &AppState, creds: Credentials, meta: &ClientMeta) -> Result<TokenPair, AppError> {
    if let Err(wait) = state.login_limiter.check(meta.ip) {
        return Err(AppError::TooManyRequests {
            code: "rate_limited",
            message: "too many sign-in attempts from this address".into(),
            retry_after_secs: wait,
        });
    }
    let invalid = || AppError::unauthorized("invalid_credentials", "wrong email or password");
    let email = creds.email.trim().to_lowercase();
    let now = Utc::now();
    let row = db::one(
        state.db.conn(),
        "SELECT id, password_hash, active, locked_until, suspended_until FROM users WHERE email = $1",
        vec![email.into()],
    )
    .await?;
    let Some(row) = row else {
        // Same cost as a wrong password, so response time does not reveal accounts.
        state.passwords.verify(&creds.password, None).await?;
        login_failed(state, None, meta, "unknown_account").await?;
        return Err(invalid());
    };
    let user: Uuid = get(&row, "id")?;
    if let Some(until) = get::<Option<DateTime<Utc>>>(&row, "locked_until")?
        && until > now
    {
        login_failed(state, Some(user), meta, "locked").await?;
        return Err(AppError::TooManyRequests {
            code: "account_locked",
            message: "too many failed sign-ins; the account is locked for a while".into(),
            retry_after_secs: u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1),
        });
    }
    let hash: String = get(&row, "password_hash")?;
    if !state.passwords.verify(&creds.password, Some(&hash)).await? {
        let lock_until = now + Duration::seconds(state.config.lockout_secs);
        db::exec(
            state.db.conn(),
            "UPDATE users SET
                locked_until = CASE WHEN failed_login_count + 1 >= $2 THEN $3 ELSE locked_until END,
                failed_login_count = CASE WHEN failed_login_count + 1 >= $2 THEN 0 ELSE failed_login_count + 1 END,
                updated_at = $4
             WHERE id = $1",
            vec![user.into(), state.config.lockout_threshold.into(), lock_until.into(), now.into()],
        )
        .await?;
        login_failed(state, Some(user), meta, "wrong_password").await?;
        return Err(invalid());
    }
    if !get::<Option<bool>>(&row, "active")?.unwrap_or(false) {
        login_failed(state, Some(user), meta, "disabled").await?;
        return Err(AppError::forbidden("account_disabled", "this account is disabled"));
    }
    if let Some(until) = get::<Option<DateTime<Utc>>>(&row, "suspended_until")?
        && until > now
    {
        login_failed(state, Some(user), meta, "suspended").await?;
        return Err(AppError::forbidden("account_suspended", format!("this account is suspended until {until}")));
    }

    let txn = state.db.conn().begin().await?;
    db::exec(
        &txn,
        "UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = $2, updated_at = $2 WHERE id = $1",
        vec![user.into(), now.into()],
    )
    .await?;
    let session = Uuid::now_v7();
    let sql = format!(
        "INSERT INTO auth_sessions (id, user_id, ip_address, user_agent, created_at) VALUES ($1, $2, {}, $4, $5)",
        txn.get_database_backend().inet_param(3)
    );
    db::exec(
        &txn,
        &sql,
        vec![session.into(), user.into(), meta.ip.to_string().into(), meta.user_agent.clone().into(), now.into()],
    )
    .await?;
    let refresh = insert_refresh_token(&txn, state, session, now).await?;
    audit::record(
        &txn,
        AuditEntry::new(AuditAction::Login, Some(user), "USER")
            .resource(user)
            .client(meta)
            .meta(serde_json::json!({ "session_id": session })),
    )
    .await?;
    txn.commit().await?;
    Ok(TokenPair {
        access_token: state.tokens.issue(user, session)?,
        expires_in: state.tokens.ttl_secs(),
        refresh_token: refresh,
        token_type: "Bearer",
    })
}

async fn insert_refresh_token<C: ConnectionTrait>(
    c: &C,
    state: &AppState,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let (token, hash) = new_opaque_token()?;
    db::exec(
        c,
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        vec![
            Uuid::now_v7().into(),
            session.into(),
            hash.into(),
            now.into(),
            (now + Duration::days(state.config.refresh_token_ttl_days)).into(),
        ],
    )
    .await?;
    Ok(token)
}

/// Rotates a refresh token. Presenting an already-rotated token revokes its session.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair, AppError> {
    let now = Utc::now();
    let hash = token_hash(refresh_token);
    let txn = state.db.conn().begin().await?;
    let rotated = db::one(
        &txn,
        "UPDATE refresh_tokens SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
           AND session_id IN (SELECT id FROM auth_sessions WHERE revoked_at IS NULL)
         RETURNING session_id",
        vec![hash.clone().into(), now.into()],
    )
    .await?;
    let Some(row) = rotated else {
        let known = db::one(
            &txn,
            "SELECT r.session_id, r.used_at, s.revoked_at, s.user_id
             FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
            vec![hash.into()],
        )
        .await?;
        let Some(known) = known else {
            return Err(AppError::unauthorized("invalid_refresh_token", "unknown refresh token"));
        };
        if get::<Option<DateTime<Utc>>>(&known, "revoked_at")?.is_some() {
            return Err(AppError::unauthorized("session_revoked", "this session has ended"));
        }
        if get::<Option<DateTime<Utc>>>(&known, "used_at")?.is_some() {
            let session: Uuid = get(&known, "session_id")?;
            db::exec(
                &txn,
                "UPDATE auth_sessions SET revoked_at = $2, revoke_reason = 'refresh_token_reuse' WHERE id = $1",
                vec![session.into(), now.into()],
            )
            .await?;
            txn.commit().await?;
            tracing::warn!(%session, "refresh token reused; session revoked");
            return Err(AppError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been ended",
            ));
        }
        return Err(AppError::unauthorized("refresh_token_expired", "refresh token expired"));
    };
    let session: Uuid = get(&row, "session_id")?;
    let user_row = db::one(
        &txn,
        "SELECT u.id, u.active FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        vec![session.into()],
    )
    .await?
    .ok_or_else(|| AppError::Internal("session without user".into()))?;
    if !get::<Option<bool>>(&user_row, "active")?.unwrap_or(false) {
        return Err(AppError::forbidden("account_disabled", "this account is disabled"));
    }
    let user: Uuid = get(&user_row, "id")?;
    let next = insert_refresh_token(&txn, state, session, now).await?;
    txn.commit().await?;
    Ok(TokenPair {
        access_token: state.tokens.issue(user, session)?,
        expires_in: state.tokens.ttl_secs(),
        refresh_token: next,
        token_type: "Bearer",
    })
}

/// Ends a session.
pub async fn logout<C: ConnectionTrait>(c: &C, session: Uuid) -> Result<(), AppError> {
    db::exec(
        c,
        "UPDATE auth_sessions SET revoked_at = $2, revoke_reason = 'logout' WHERE id = $1 AND revoked_at IS NULL",
        vec![session.into(), Utc::now().into()],
    )
    .await?;
    Ok(())
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new password (10–128 characters).
    pub new_password: String,
}

/// Changes the password and ends every other session of the user.
pub async fn change_password(
    state: &AppState,
    user: Uuid,
    session: Uuid,
    change: PasswordChange,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    validate_password(&change.new_password)?;
    let row = db::one(state.db.conn(), "SELECT password_hash FROM users WHERE id = $1", vec![user.into()])
        .await?
        .ok_or_else(|| AppError::missing("user"))?;
    let hash: String = get(&row, "password_hash")?;
    if !state.passwords.verify(&change.current_password, Some(&hash)).await? {
        return Err(AppError::unauthorized("invalid_credentials", "current password is wrong"));
    }
    let new_hash = state.passwords.hash(&change.new_password).await?;
    let now = Utc::now();
    let txn = state.db.conn().begin().await?;
    db::exec(
        &txn,
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
        vec![user.into(), new_hash.into(), now.into()],
    )
    .await?;
    let ended = db::exec(
        &txn,
        "UPDATE auth_sessions SET revoked_at = $3, revoke_reason = 'password_change'
         WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL",
        vec![user.into(), session.into(), now.into()],
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new(AuditAction::PasswordChange, Some(user), "USER")
            .resource(user)
            .client(meta)
            .meta(serde_json::json!({ "other_sessions_ended": ended })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Who changes a role.
#[derive(Debug, Clone, Copy)]
pub enum RoleChanger<'a> {
    /// An administrator through the API.
    Admin(Uuid, &'a ClientMeta),
    /// The operator CLI (`nexus-server set-role`).
    OperatorCli,
}

/// Sets a user's role (audited as ROLE_CHANGE with who did it).
pub async fn set_role(
    state: &AppState,
    target: Uuid,
    role: Role,
    by: RoleChanger<'_>,
) -> Result<UserProfile, AppError> {
    let txn = state.db.conn().begin().await?;
    let before = profile(&txn, target).await?;
    db::exec(
        &txn,
        "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1",
        vec![target.into(), role.as_str().into(), Utc::now().into()],
    )
    .await?;
    let entry = AuditEntry::new(AuditAction::RoleChange, Some(target), "USER").resource(target);
    let (entry, by) = match by {
        RoleChanger::Admin(admin, meta) => (entry.client(meta), serde_json::json!(admin)),
        RoleChanger::OperatorCli => (entry, serde_json::json!("operator_cli")),
    };
    audit::record(&txn, entry.meta(serde_json::json!({ "by": by, "from": before.role.as_str(), "to": role.as_str() })))
        .await?;
    let after = profile(&txn, target).await?;
    txn.commit().await?;
    Ok(after)
}

/// Sets the role of the user with `email` (operator CLI).
pub async fn set_role_by_email(state: &AppState, email: &str, role: Role) -> Result<UserProfile, AppError> {
    let row =
        db::one(state.db.conn(), "SELECT id FROM users WHERE email = $1", vec![email.trim().to_lowercase().into()])
            .await?
            .ok_or_else(|| AppError::missing("user"))?;
    set_role(state, get(&row, "id")?, role, RoleChanger::OperatorCli).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years_and_rejects_future_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert_eq!(age_on(d("2008-11-26"), d("2026-11-25")), Some(17));
        assert_eq!(age_on(d("2008-11-25"), d("2026-11-25")), Some(18));
        assert_eq!(age_on(d("2027-01-01"), d("2026-11-25")), None);
    }

    #[test]
    fn email_and_username_rules() {
        assert_eq!(validate_email("  Ada@Example.COM ").expect("valid"), "ada@example.com");
        for bad in ["", "ada", "ada@", "@x.io", "a b@x.io", "a@x", "a@@x.io", "a@x.io."] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        assert!(validate_username("ada_l.9").is_ok());
        for bad in ["ab", "x'; DROP TABLE users;--", "émile", &"a".repeat(33)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }
}
