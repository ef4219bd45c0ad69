//! Key material: taken from configuration when given, otherwise generated once and kept
//! in `<data-dir>/secrets.json` (mode 0600) so the embedded default needs no setup and a
//! restart keeps sessions, signatures and encrypted fields readable. Nothing secret is
//! ever committed or logged.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Every secret the server uses.
pub struct Keys {
    /// HMAC key of access tokens.
    pub jwt_secret: Vec<u8>,
    /// AES-256-GCM key of KYC document numbers.
    pub kyc_key: [u8; 32],
    /// AES-256-GCM key of companion conversations and memories.
    pub content_key: [u8; 32],
    /// Ed25519 key that signs consent records.
    pub consent_signing_key: ed25519_dalek::SigningKey,
    /// Shared secret of the KYC provider's webhook.
    pub kyc_webhook_secret: String,
    /// Stripe webhook signing secret.
    pub stripe_webhook_secret: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

#[derive(Default, Serialize, Deserialize)]
struct StoredSecrets {
    jwt_secret: Option<String>,
    kyc_key: Option<String>,
    #[serde(default)]
    content_key: Option<String>,
    consent_signing_key: Option<String>,
    kyc_webhook_secret: Option<String>,
    stripe_webhook_secret: Option<String>,
}

/// Errors while loading or creating key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A configured key is not valid base64 of the right length.
    #[error("{name}: {why}")]
    Invalid {
        /// Which key.
        name: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The secrets file could not be read or written.
    #[error("secrets file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// `n` bytes from the OS random source.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, KeyError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(buf)
}

fn decode_fixed<const N: usize>(name: &'static str, b64: &str) -> Result<[u8; N], KeyError> {
    let bytes = B64.decode(b64.trim()).map_err(|e| KeyError::Invalid { name, why: format!("not base64: {e}") })?;
    bytes
        .try_into()
        .map_err(|v: Vec<u8>| KeyError::Invalid { name, why: format!("expected {N} bytes, got {}", v.len()) })
}

impl Keys {
    /// Loads keys from `config`, filling gaps from (and into) `<data-dir>/secrets.json`.
    pub fn load(config: &Config) -> Result<Self, KeyError> {
        let dir = config.resolved_data_dir();
        let path = dir.join("secrets.json");
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        let mut stored: StoredSecrets = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| KeyError::Invalid { name: "secrets.json", why: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredSecrets::default(),
            Err(e) => return Err(io(e)),
        };
        let mut changed = false;
        let mut pick = |configured: &Option<String>,
                        slot: &mut Option<String>,
                        generate: &dyn Fn() -> Result<String, KeyError>|
         -> Result<String, KeyError> {
            if let Some(value) = configured {
                return Ok(value.clone());
            }
            if let Some(value) = slot {
                return Ok(value.clone());
            }
            let value = generate()?;
            *slot = Some(value.clone());
            changed = true;
            Ok(value)
        };
        let gen_b64 = |n| -> Result<String, KeyError> { Ok(B64.encode(random_bytes(n)?)) };
        let jwt = pick(&config.jwt_secret, &mut stored.jwt_secret, &|| gen_b64(48))?;
        let kyc = pick(&config.kyc_key, &mut stored.kyc_key, &|| gen_b64(32))?;
        let content = pick(&config.content_key, &mut stored.content_key, &|| gen_b64(32))?;
        let consent = pick(&config.consent_signing_key, &mut stored.consent_signing_key, &|| gen_b64(32))?;
        let kyc_hook =
            pick(&config.kyc_webhook_secret, &mut stored.kyc_webhook_secret, &|| Ok(hex::encode(random_bytes(32)?)))?;
        let stripe_hook = pick(&config.stripe_webhook_secret, &mut stored.stripe_webhook_secret, &|| {
            Ok(format!("whsec_{}", hex::encode(random_bytes(24)?)))
        })?;

        let jwt_secret =
            B64.decode(jwt.trim()).map_err(|e| KeyError::Invalid { name: "jwt_secret", why: e.to_string() })?;
        if jwt_secret.len() < 32 {
            return Err(KeyError::Invalid { name: "jwt_secret", why: "needs ≥ 32 bytes".into() });
        }
        let keys = Self {
            jwt_secret,
            kyc_key: decode_fixed("kyc_key", &kyc)?,
            content_key: decode_fixed("content_key", &content)?,
            consent_signing_key: ed25519_dalek::SigningKey::from_bytes(&decode_fixed("consent_signing_key", &consent)?),
            kyc_webhook_secret: kyc_hook,
            stripe_webhook_secret: stripe_hook,
        };
        if changed {
            write_private(&dir, &path, &stored).map_err(io)?;
            tracing::info!(path = %path.display(), "generated missing keys");
        }
        Ok(keys)
    }
}

fn write_private(dir: &Path, path: &Path, stored: &StoredSecrets) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(stored).map_err(std::io::Error::other)?;
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    #[cfg(not(unix))]
    std::fs::write(&tmp, &body)?;
    std::fs::rename(tmp, path)
}
