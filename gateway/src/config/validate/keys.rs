//! The key sections: `apikeys` (the reference's: the key in plain text is the JSON key) and
//! `apikey_hashes` (ours: `{"<id>": {"key_hash": "<64 hex>", ...}}`), both with `project_id`,
//! `user_id`, `created_at`, the reference's ways of disabling a key, and our `expires_at`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{describe, given, join, Validator, APIKEYS};
use crate::config::error::redact_key;
use crate::config::keystore;
use crate::config::model::{ApiKeyEntry, KeyIndex, StoredKey};
use crate::config::secret::GatewayKey;

use crate::config::keystore::APIKEY_HASHES;

/// A plain key's lookup in [`KeyIndex::plain`]: 128 bits of SipHash under two keys drawn at
/// random once per process (the same for every parse of the config, so two parses of one file
/// give equal indexes). It only finds the candidate entry, which then matches only if its key
/// compares equal in constant time; a random key keeps the probe's timing unrelated to any
/// configured key. A fraction of a SHA-256's cost, once per request.
pub(crate) fn plain_lookup(key: &str) -> u128 {
    use std::hash::BuildHasher;
    static STATES: std::sync::OnceLock<[std::hash::RandomState; 2]> = std::sync::OnceLock::new();
    let [a, b] =
        STATES.get_or_init(|| [std::hash::RandomState::new(), std::hash::RandomState::new()]);
    u128::from(a.hash_one(key)) << 64 | u128::from(b.hash_one(key))
}

impl Validator {
    pub(super) fn keys(
        &mut self,
        plain: Option<&Map<String, Value>>,
        hashed: Option<&Map<String, Value>>,
        project_ids: &HashSet<&str>,
        user_ids: &HashSet<&str>,
    ) -> (Vec<ApiKeyEntry>, KeyIndex) {
        let mut entries = Vec::new();
        let mut index = KeyIndex::default();
        for (key, val) in plain.into_iter().flatten() {
            // Always a dotted path: the redacted key is never a plain identifier.
            let path = format!("{APIKEYS}.{}", redact_key(key));
            if key.trim().is_empty() {
                self.err(path.clone(), "a gateway key must not be empty");
                continue;
            }
            let stored = StoredKey::Plain(GatewayKey::new(key.as_str()));
            if let Some(e) = self.key_entry(&path, stored, val, project_ids, user_ids) {
                index.plain.insert(plain_lookup(key), entries.len());
                entries.push(e);
            }
        }
        for (id, val) in hashed.into_iter().flatten() {
            let path = join(APIKEY_HASHES, id);
            if id.trim().is_empty() {
                self.err(path.clone(), "a key id must not be empty");
                continue;
            }
            let hash = match val.get("key_hash") {
                Some(Value::String(h)) => match keystore::hash_from_hex(h) {
                    Some(h) => h,
                    None => {
                        self.err(join(&path, "key_hash"), "expected 64 hex digits");
                        continue;
                    }
                },
                Some(other) => {
                    self.err(
                        join(&path, "key_hash"),
                        format!("expected 64 hex digits, got {}", describe(other)),
                    );
                    continue;
                }
                None => {
                    self.err(join(&path, "key_hash"), "missing");
                    continue;
                }
            };
            let stored = StoredKey::Hashed {
                id: id.clone(),
                hash,
            };
            if let Some(e) = self.key_entry(&path, stored, val, project_ids, user_ids) {
                if index.hashed.insert(hash, entries.len()).is_some() {
                    self.err(path, "the same key is stored twice");
                    continue;
                }
                entries.push(e);
            }
        }
        (entries, index)
    }

    fn key_entry(
        &mut self,
        path: &str,
        key: StoredKey,
        val: &Value,
        project_ids: &HashSet<&str>,
        user_ids: &HashSet<&str>,
    ) -> Option<ApiKeyEntry> {
        let before = self.issues.len();
        let Value::Object(obj) = val else {
            self.err(
                path.to_string(),
                format!("expected an object, got {}", describe(val)),
            );
            return None;
        };
        let project_id = self.required_string(obj, path, "project_id");
        if let Some(p) = &project_id {
            if !project_ids.contains(p.as_str()) {
                self.err(
                    join(path, "project_id"),
                    format!("unknown project {}", describe(&Value::String(p.clone()))),
                );
            }
        }
        let user_id = self.required_string(obj, path, "user_id");
        if let Some(u) = &user_id {
            if !user_ids.contains(u.as_str()) {
                self.err(
                    join(path, "user_id"),
                    format!("unknown user {}", describe(&Value::String(u.clone()))),
                );
            }
        }
        let created_at = self.opt_string(obj, path, "created_at");
        let disabled_flag = self.bool_field(obj, path, "disabled", false);
        let active = self.bool_field(obj, path, "is_active", true);
        let status_disabled = given(obj, "status")
            .and_then(Value::as_str)
            .map(|s| {
                let s = s.trim();
                ["disabled", "inactive", "revoked"]
                    .iter()
                    .any(|d| s.eq_ignore_ascii_case(d))
            })
            .unwrap_or(false);
        let expires_at = match given(obj, "expires_at") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    self.err(
                        join(path, "expires_at"),
                        format!("expected Unix seconds, got {}", describe(v)),
                    );
                    None
                }
            },
        };
        if self.issues.len() != before {
            return None;
        }
        Some(ApiKeyEntry {
            key,
            project_id: project_id?,
            user_id: user_id?,
            created_at,
            disabled: disabled_flag || !active || status_disabled,
            expires_at,
        })
    }
}
