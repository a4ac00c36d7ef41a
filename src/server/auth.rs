//! Users and their tokens (`--users users.toml`): the file keeps each user's SHA-256 of the
//! token, never the token; `imgproc user add NAME` makes a random token, prints it once and
//! stores its hash. A request names its user with `Authorization: Bearer TOKEN` (or the page's
//! `imgproc_token` cookie); hashes are compared in constant time.
//!
//! Without `--users` the server has one user, `local`, and asks for no token (the default bind
//! is loopback).

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The one user of a server started without `--users`.
pub const LOCAL_USER: &str = "local";

/// One user's entry in `users.toml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UserEntry {
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// Jobs this user may have queued or running at once (the server's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_jobs: Option<u64>,
    /// Bytes of uploads this user may have queued or running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Who may use the server.
#[derive(Clone, Debug, Default)]
pub struct Users {
    /// `None`: no `--users`, everyone is [`LOCAL_USER`].
    entries: Option<BTreeMap<String, UserEntry>>,
}

impl Users {
    /// Everyone is [`LOCAL_USER`].
    pub fn open_to_all() -> Users {
        Users { entries: None }
    }

    pub fn load(path: &Path) -> Result<Users> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the users file", path.display()))?;
        let entries: BTreeMap<String, UserEntry> =
            toml::from_str(&text).with_context(|| format!("{}: not a users file", path.display()))?;
        for (name, e) in &entries {
            ensure!(
                e.token_sha256.len() == 64 && e.token_sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: user {name}: token_sha256 is not a hex SHA-256",
                path.display()
            );
        }
        Ok(Users { entries: Some(entries) })
    }

    pub fn needs_token(&self) -> bool {
        self.entries.is_some()
    }

    /// The user a token belongs to. Every entry is compared, so the time taken does not say
    /// which (or whether any) matched.
    pub fn user_of(&self, token: Option<&str>) -> Option<String> {
        let Some(entries) = &self.entries else { return Some(LOCAL_USER.to_string()) };
        let digest = hex(&Sha256::digest(token?.as_bytes()));
        let mut found = None;
        for (name, e) in entries {
            if constant_time_eq(digest.as_bytes(), e.token_sha256.to_ascii_lowercase().as_bytes()) {
                found = Some(name.clone());
            }
        }
        found
    }

    /// A user's limits (`None`: the server's defaults).
    pub fn limits(&self, user: &str) -> (Option<u64>, Option<u64>) {
        let e = self.entries.as_ref().and_then(|m| m.get(user));
        (e.and_then(|e| e.max_jobs), e.and_then(|e| e.max_bytes))
    }
}

/// Equal in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds (or replaces) `name` in the users file with a new random token, and returns the token.
pub fn add_user(path: &Path, name: &str) -> Result<String> {
    ensure!(
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
        "{name:?}: a user name is 1 to 64 letters, digits, '-', '_' or '.'"
    );
    let mut entries: BTreeMap<String, UserEntry> = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{}: not a users file", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => bail!("{}: cannot read the users file: {e}", path.display()),
    };
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .context("reading /dev/urandom for a token")?;
    let token = hex(&random);
    let entry = entries.entry(name.to_string()).or_default();
    entry.token_sha256 = hex(&Sha256::digest(token.as_bytes()));
    let text = toml::to_string(&entries).context("writing the users file")?;
    crate::codec::write_atomic(path, text.as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_user_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let alice = add_user(&path, "alice").unwrap();
        let bob = add_user(&path, "bob").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&alice) && !text.contains(&bob), "tokens themselves are never stored");
        let users = Users::load(&path).unwrap();
        assert_eq!(users.user_of(Some(&alice)).as_deref(), Some("alice"));
        assert_eq!(users.user_of(Some(&bob)).as_deref(), Some("bob"));
        assert_eq!(users.user_of(Some("wrong")), None);
        assert_eq!(users.user_of(None), None);
        assert_eq!(users.user_of(Some(&alice[..63])), None);
    }

    #[test]
    fn a_hostile_user_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "../x", "a b", "x\"y"] {
            assert!(add_user(&dir.path().join("u.toml"), name).is_err(), "{name:?}");
        }
    }
}
