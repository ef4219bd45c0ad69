//! AES-256-GCM for fields kept encrypted at rest (KYC document numbers, companion
//! conversations, memories and their embeddings): `nonce (12 bytes) ‖ ciphertext+tag`, with the owning
//! user's id as associated data, so a sealed value moved to another user's row does not
//! open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use uuid::Uuid;

use crate::error::AppError;

const NONCE_LEN: usize = 12;

/// Encrypts `plaintext` for `user`.
pub fn seal(key: &[u8; 32], user: Uuid, plaintext: &str) -> Result<Vec<u8>, AppError> {
    seal_bytes(key, user, plaintext.as_bytes())
}

/// Decrypts what [`seal`] produced for `user`.
pub fn open(key: &[u8; 32], user: Uuid, sealed: &[u8]) -> Result<String, AppError> {
    String::from_utf8(open_bytes(key, user, sealed)?)
        .map_err(|_| AppError::Internal("sealed field is not UTF-8".into()))
}

/// Encrypts binary `plaintext` (e.g. an embedding) for `user`.
pub fn seal_bytes(key: &[u8; 32], user: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, AppError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| AppError::Internal(format!("field key: {e}")))?;
    let nonce_bytes = crate::secrets::random_bytes(NONCE_LEN).map_err(|e| AppError::Internal(e.to_string()))?;
    let nonce = Nonce::try_from(nonce_bytes.as_slice()).map_err(|_| AppError::Internal("nonce length".into()))?;
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad: user.as_bytes() })
        .map_err(|_| AppError::Internal("field encryption failed".into()))?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts what [`seal_bytes`] produced for `user`.
pub fn open_bytes(key: &[u8; 32], user: Uuid, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
    if sealed.len() <= NONCE_LEN {
        return Err(AppError::Internal("sealed field too short".into()));
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| AppError::Internal(format!("field key: {e}")))?;
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| AppError::Internal("nonce length".into()))?;
    cipher
        .decrypt(&nonce, Payload { msg: body, aad: user.as_bytes() })
        .map_err(|_| AppError::Internal("sealed field does not authenticate".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_user_and_key() {
        let key = [3u8; 32];
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = seal(&key, alice, "X1234567").expect("seal");
        assert!(!sealed.windows(8).any(|w| w == b"X1234567"), "plaintext must not appear");
        assert_eq!(open(&key, alice, &sealed).expect("open"), "X1234567");
        assert!(open(&key, bob, &sealed).is_err(), "bound to the user");
        assert!(open(&[4u8; 32], alice, &sealed).is_err(), "bound to the key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&key, alice, &flipped).is_err(), "tampering detected");
        assert_ne!(seal(&key, alice, "X1234567").expect("seal"), sealed, "fresh nonce each time");
    }
}
