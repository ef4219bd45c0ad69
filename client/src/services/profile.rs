//! Remembered sign-ins: per server, the account's email and its latest refresh token (and,
//! for the embedded server's local profile only, the generated password, so the local
//! account can always be signed into again). Kept in `profiles.json` in the client's data
//! directory, readable by the user alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One server's remembered sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The account's email.
    pub email: String,
    /// The latest refresh token (single use; replaced on every refresh).
    pub refresh_token: Option<String>,
    /// The generated password of the embedded server's local profile; never set for a
    /// remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_password: Option<String>,
}

/// All remembered sign-ins, keyed by server (`embedded` or the base URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileStore {
    /// By server key.
    pub profiles: BTreeMap<String, Profile>,
    #[serde(skip)]
    path: PathBuf,
}

impl ProfileStore {
    /// Reads `dir/profiles.json`; a missing or unreadable file is an empty store (a bad
    /// file only means signing in again, and is logged).
    #[must_use]
    pub fn open(dir: &Path) -> Self {
        let path = dir.join("profiles.json");
        let mut store = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Self>(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable profiles file");
                Self::default()
            }),
            Err(_) => Self::default(),
        };
        store.path = path;
        store
    }

    /// The profile for `server`.
    #[must_use]
    pub fn get(&self, server: &str) -> Option<&Profile> {
        self.profiles.get(server)
    }

    /// Sets and saves the profile for `server`.
    pub fn put(&mut self, server: &str, profile: Profile) -> std::io::Result<()> {
        self.profiles.insert(server.to_owned(), profile);
        self.save()
    }

    /// Forgets `server`'s refresh token (signed out or revoked) and saves.
    pub fn forget_token(&mut self, server: &str) -> std::io::Result<()> {
        if let Some(p) = self.profiles.get_mut(server) {
            p.refresh_token = None;
        }
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            use std::io::Write as _;
            opts.open(&tmp)?.write_all(&json)?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_persist_privately() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = ProfileStore::open(dir.path());
        assert!(store.get("embedded").is_none());
        let p =
            Profile { email: "me@local".into(), refresh_token: Some("r1".into()), local_password: Some("pw".into()) };
        store.put("embedded", p.clone()).expect("save");
        let again = ProfileStore::open(dir.path());
        assert_eq!(again.get("embedded"), Some(&p));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("profiles.json")).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the user may read it: {mode:o}");
        }
        store.forget_token("embedded").expect("forget");
        assert_eq!(ProfileStore::open(dir.path()).get("embedded").and_then(|p| p.refresh_token.clone()), None);
        std::fs::write(dir.path().join("profiles.json"), "{oops").expect("corrupt");
        assert!(ProfileStore::open(dir.path()).profiles.is_empty());
    }
}
