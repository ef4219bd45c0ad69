//! Password hashing with argon2id.
//!
//! Parameters default to OWASP's first recommendation for argon2id (m = 19 MiB, t = 2,
//! p = 1): about 20–40 ms on one core of the build machine (see `cargo xtask bench login`),
//! cheap enough for interactive sign-in, and at 19 MiB per attempt it keeps GPU guessing
//! expensive. Hashing runs on the blocking pool so it never stalls request handling.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

use crate::error::AppError;

/// Hashes and verifies passwords with fixed argon2id parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A valid hash of a random password, verified against when the account does not
    /// exist so that unknown emails cost as much time as wrong passwords.
    timing_decoy_hash: String,
}

impl PasswordHasher {
    /// A hasher with `memory_kib` KiB of memory and `iterations` passes, one lane.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, AppError> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| AppError::Internal(format!("argon2 params: {e}")))?;
        let mut hasher = Self { params, timing_decoy_hash: String::new() };
        hasher.timing_decoy_hash = hasher.hash_blocking("nexus-timing-decoy-password")?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes on the current thread (benchmarks, start-up).
    pub fn hash_blocking(&self, password: &str) -> Result<String, AppError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("argon2 hash: {e}")))
    }

    /// Hashes on the blocking pool.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let (this, password) = (self.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || this.hash_blocking(&password))
            .await
            .map_err(|e| AppError::Internal(format!("hash task: {e}")))?
    }

    /// Verifies `password` against `hash` (or the timing decoy when `None`) on the blocking
    /// pool. A malformed stored hash counts as a mismatch and is logged.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AppError> {
        let exists = hash.is_some();
        let hash = hash.unwrap_or(&self.timing_decoy_hash).to_owned();
        let (this, password) = (self.clone(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            match this.argon2().verify_password(password.as_bytes(), hash.as_str()) {
                Ok(()) => true,
                Err(argon2::password_hash::Error::PasswordInvalid) => false,
                Err(e) => {
                    tracing::error!(error = %e, "stored password hash unreadable");
                    false
                }
            }
        })
        .await
        .map_err(|e| AppError::Internal(format!("verify task: {e}")))?;
        Ok(ok && exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::new(1024, 1).expect("params");
        let a = hasher.hash("correct horse battery").await.expect("hash");
        let b = hasher.hash("correct horse battery").await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salts must differ");
        assert!(hasher.verify("correct horse battery", Some(&a)).await.expect("verify"));
        assert!(!hasher.verify("correct horse batterY", Some(&a)).await.expect("verify"));
        assert!(!hasher.verify("anything", None).await.expect("verify"));
        assert!(!hasher.verify("anything", Some("not-a-hash")).await.expect("verify"));
    }
}
