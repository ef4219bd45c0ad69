//! Access tokens and refresh-token families.
//!
//! An access token is a JWT (HS256) naming the user and the sign-in session (`sid`); it
//! lives `access_token_ttl_secs`. A refresh token is 32 random bytes, stored only as its
//! SHA-256. Each refresh marks the presented token used and issues a new one in the same
//! family; presenting a used token again means it leaked, so the whole family (the
//! session) is revoked. Every authenticated request also checks that its session is not
//! revoked, so sign-out and password changes take effect at once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::error::AppError;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The sign-in session (refresh-token family) id.
    pub sid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Issues and checks access tokens.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: i64,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with HMAC key `secret` and token lifetime `ttl_secs`.
    #[must_use]
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl_secs }
    }

    /// Token lifetime in seconds.
    #[must_use]
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A fresh access token for `user` in session `session`.
    pub fn issue(&self, user: Uuid, session: Uuid) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims { sub: user, sid: session, iat: now, exp: now + self.ttl_secs };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("jwt encode: {e}")))
    }

    /// Checks signature, algorithm and expiry of `token`.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                AppError::unauthorized("token_expired", "access token expired")
            }
            _ => AppError::unauthorized("invalid_token", "access token invalid"),
        })
    }
}

/// A new opaque secret (refresh token, verification token) and its stored SHA-256.
pub fn new_opaque_token() -> Result<(String, String), AppError> {
    let bytes = crate::secrets::random_bytes(32).map_err(|e| AppError::Internal(e.to_string()))?;
    let token = B64URL.encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// SHA-256 (hex) of an opaque token, as stored.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_other_keys() {
        let signer = TokenSigner::new(&[7u8; 32], 60);
        let (user, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let token = signer.issue(user, sid).expect("issue");
        let claims = signer.verify(&token).expect("verify");
        assert_eq!((claims.sub, claims.sid), (user, sid));

        let other = TokenSigner::new(&[8u8; 32], 60);
        assert_eq!(other.verify(&token).expect_err("other key").code(), "invalid_token");

        let mut tampered = token.clone();
        tampered.push('x');
        assert_eq!(signer.verify(&tampered).expect_err("tampered").code(), "invalid_token");

        let expired = TokenSigner::new(&[7u8; 32], -10).issue(user, sid).expect("issue");
        assert_eq!(signer.verify(&expired).expect_err("expired").code(), "token_expired");
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let (a, ha) = new_opaque_token().expect("token");
        let (b, _) = new_opaque_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 64);
    }
}
