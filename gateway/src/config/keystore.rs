//! Gateway keys stored safely: a key is kept only as HMAC-SHA-256 of the key under a secret
//! that lives beside the config ([`SECRET_FILE`], 32 random bytes as hex, mode 0600),
//! never in plain text.
//!
//! - A new key is `mgw_<id>_<secret>`: `<id>` (12 lower-case letters and digits) is public,
//!   shown in listings to tell keys apart; `<secret>` is 48 letters and digits (about 285
//!   bits), so a fast keyed hash is as strong as a slow password hash would be.
//! - Stored in the config's `apikey_hashes` section (ours; the reference ignores it):
//!   `{"<id>": {"key_hash": "<64 hex>", "project_id", "user_id", "created_at", ...}}`.
//!   `apikeys` entries of the reference's format (the key in plain text) keep working;
//!   `user migrate-api-keys` moves them here.
//! - Authentication computes one HMAC of the presented key and looks it up: constant in the
//!   number of keys, and the final comparison is constant-time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};

use super::document::{create_private_dir, parent_dir, set_private};
use super::error::ConfigError;
use super::generate::{fill_random, random_chars};

/// Our config section of hashed keys.
pub const APIKEY_HASHES: &str = "apikey_hashes";

/// The prefix of keys issued by this gateway.
pub const KEY_PREFIX: &str = "mgw_";

/// Characters of a new key's id and secret.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The secret keys are hashed under (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret([u8; 32]);

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret(****)")
    }
}

/// A stored key hash: HMAC-SHA-256 of the key.
pub type KeyHash = [u8; 32];

impl KeySecret {
    /// HMAC-SHA-256 of `key`.
    pub fn hash(&self, key: &str) -> KeyHash {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = match <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn from_hex(text: &str) -> Option<KeySecret> {
        let t = text.trim();
        if t.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(KeySecret(out))
    }

    fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The 32 bytes of a 64-digit hex hash.
pub fn hash_from_hex(text: &str) -> Option<KeyHash> {
    KeySecret::from_hex(text).map(|s| s.0)
}

/// The secret's file name, in the config's directory.
pub const SECRET_FILE: &str = "enkrypt_gateway_keys.secret";

/// Where the secret of the config at `config_path` lives: beside it, one per directory, so
/// the backups kept beside a config (`.bak.<secs>`) load with the same secret.
pub fn secret_path(config_path: &Path) -> PathBuf {
    parent_dir(config_path).join(SECRET_FILE)
}

/// Reads the secret of the config at `config_path`; `None` when there is none yet.
pub fn load_secret(config_path: &Path) -> Result<Option<KeySecret>, ConfigError> {
    let path = secret_path(config_path);
    match fs::read_to_string(&path) {
        Ok(text) => KeySecret::from_hex(&text)
            .map(Some)
            .ok_or_else(|| ConfigError::Read {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "expected 64 hex digits",
                ),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

/// The secret of the config at `config_path`, created (mode 0600) if there is none.
pub fn load_or_create_secret(config_path: &Path) -> Result<KeySecret, ConfigError> {
    if let Some(s) = load_secret(config_path)? {
        return Ok(s);
    }
    let path = secret_path(config_path);
    let dir = parent_dir(&path);
    create_private_dir(&dir)?;
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    let secret = KeySecret(bytes);
    let werr = |source: std::io::Error| ConfigError::Write {
        path: path.clone(),
        source,
    };
    // Created only if absent: two writers at once agree on the first one's secret.
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            set_private(&f).map_err(werr)?;
            f.write_all(secret.to_hex().as_bytes()).map_err(werr)?;
            f.write_all(b"\n").map_err(werr)?;
            f.sync_all().map_err(werr)?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_secret(config_path)?
            .ok_or_else(|| {
                werr(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the secret file is empty",
                ))
            }),
        Err(e) => Err(werr(e)),
    }
}

/// A new key and its public id.
pub fn new_key() -> Result<(String, String), ConfigError> {
    let id = random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", 12)?;
    let secret = random_chars(ALPHABET, 48)?;
    Ok((format!("{KEY_PREFIX}{id}_{secret}"), id))
}

/// The public id of a key issued by this gateway (`mgw_<id>_...`), if it is one.
pub fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some(id)
}

/// Moves every plain-text key of `doc`'s `apikeys` into `apikey_hashes` (same fields plus
/// `key_hash`; the id of a key of ours is its own, any other gets a new one). The keys keep
/// working. Returns the ids.
pub fn hash_plain_keys(
    doc: &mut super::document::ConfigDocument,
    secret: &KeySecret,
    stamp: Option<&str>,
) -> Result<Vec<String>, ConfigError> {
    use serde_json::{Map, Value};
    let plain: Vec<(String, Map<String, Value>)> = doc
        .root()
        .get("apikeys")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_object().map(|o| (k.clone(), o.clone())))
        .collect();
    let mut ids = Vec::new();
    for (key, mut fields) in plain {
        let id = match key_id(&key) {
            Some(id) => id.to_string(),
            None => random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", 12)?,
        };
        // `key_hash` first, then the entry's own fields in their order.
        let mut entry = Map::new();
        entry.insert("key_hash".into(), Value::String(to_hex(&secret.hash(&key))));
        fields.shift_remove("key_hash");
        entry.extend(fields);
        if let Some(t) = stamp {
            entry.insert("migrated_at".into(), Value::String(t.to_string()));
        }
        let root = doc.root_mut();
        let hashes = root
            .entry(APIKEY_HASHES.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(h) = hashes.as_object_mut() {
            h.insert(id.clone(), Value::Object(entry));
        }
        if let Some(k) = root.get_mut("apikeys").and_then(Value::as_object_mut) {
            k.shift_remove(&key);
        }
        ids.push(id);
    }
    Ok(ids)
}

/// What a listing may show of a legacy plain-text key: its first four characters.
pub fn legacy_hint(key: &str) -> String {
    super::error::redact_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ids_and_hashes() {
        let (k, id) = new_key().unwrap();
        assert_eq!(key_id(&k), Some(id.as_str()));
        assert_eq!(id.len(), 12);
        assert_eq!(k.len(), KEY_PREFIX.len() + 12 + 1 + 48);
        assert_ne!(new_key().unwrap().0, k);
        assert_eq!(key_id("plain-legacy-key"), None);
        assert_eq!(key_id("mgw__x"), None);

        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.json");
        assert!(load_secret(&cfg).unwrap().is_none());
        let s = load_or_create_secret(&cfg).unwrap();
        assert_eq!(load_or_create_secret(&cfg).unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(secret_path(&cfg))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(s.hash(&k), s.hash(&k));
        assert_ne!(s.hash(&k), s.hash("other"));
        let other = KeySecret([7; 32]);
        assert_ne!(other.hash(&k), s.hash(&k));
        assert_eq!(hash_from_hex(&to_hex(&s.hash(&k))), Some(s.hash(&k)));
        assert!(!format!("{s:?}").contains(&s.to_hex()));
    }
}
