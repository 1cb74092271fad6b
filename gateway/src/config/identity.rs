//! Gateway key -> identity (user, project, mcp_config), as the reference's `local_apikey` auth
//! provider resolves it from the `apikeys`, `projects` and `mcp_configs` sections.
//!
//! Invariants: a presented key is found with one hash and one map lookup (a SipHash under keys
//! random per process for the reference's plain-text keys, the keyed HMAC of
//! [`super::keystore`] for hashed ones), then compared in constant time (`subtle`): the time
//! taken does not depend on the number of keys, nor on how much of a key matched (a lookup
//! compares hashes, which reveal nothing of the key). A disabled or expired key is a distinct
//! error, so the auth layer can say so rather than "unknown". Errors carry no key material.

use subtle::ConstantTimeEq;

use super::model::ApiKeyEntry;
use super::model::{GatewayConfig, McpConfig, Project, StoredKey, User};

/// What a key of a project without an mcp_config reaches.
static NO_SERVERS: McpConfig = McpConfig::empty();

/// Why a presented key does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No configured key matches (also for an empty key).
    #[error("unknown gateway key")]
    Unknown,
    /// The key exists but is disabled (`disabled: true`, `is_active: false` or
    /// `status: "disabled"`).
    #[error("gateway key is disabled")]
    Disabled,
    /// The key's `expires_at` has passed (the old key of a rotation with a grace period).
    #[error("gateway key has expired")]
    Expired,
    /// The key's user is no longer a member of the key's project.
    #[error("the gateway key's user is not a member of its project")]
    NotMember,
}

/// The identity a gateway key stands for; borrows from the [`GatewayConfig`].
#[derive(Debug, Clone, Copy)]
pub struct ResolvedKey<'a> {
    /// The `apikeys` entry (its key prints redacted).
    pub entry: &'a ApiKeyEntry,
    /// The key's project.
    pub project: &'a Project,
    /// The key's user.
    pub user: &'a User,
    /// The project's mcp_config: the upstream servers this key may reach. A project without
    /// one (`"mcp_config_id": null`) gets [`McpConfig::empty`]: no servers, empty id.
    pub mcp_config: &'a McpConfig,
}

impl<'a> ResolvedKey<'a> {
    /// The project id.
    pub fn project_id(&self) -> &'a str {
        &self.project.id
    }

    /// The user id.
    pub fn user_id(&self) -> &'a str {
        &self.user.id
    }

    /// The mcp_config id (empty when the project has none).
    pub fn mcp_config_id(&self) -> &'a str {
        &self.mcp_config.id
    }
}

impl GatewayConfig {
    /// Resolves a presented gateway key (see the module header for the timing guarantees).
    pub fn resolve_key(&self, key: &str) -> Result<ResolvedKey<'_>, KeyError> {
        let entry = self.find_key(key).ok_or(KeyError::Unknown)?;
        self.resolve_entry(entry)
    }

    /// The identity of a key entry of this config, if it may be used now.
    pub fn resolve_entry<'a>(
        &'a self,
        entry: &'a ApiKeyEntry,
    ) -> Result<ResolvedKey<'a>, KeyError> {
        if entry.disabled {
            return Err(KeyError::Disabled);
        }
        if entry.expires_at.is_some_and(|t| unix_now() >= t) {
            return Err(KeyError::Expired);
        }
        // Validation guarantees these references; a hand-built config might break them.
        let project = self.project(&entry.project_id).ok_or(KeyError::Unknown)?;
        let user = self.user(&entry.user_id).ok_or(KeyError::Unknown)?;
        // A user removed from the project loses its keys' access to it.
        if !project.users.contains(&user.id) {
            return Err(KeyError::NotMember);
        }
        let mcp_config = match &project.mcp_config_id {
            Some(id) => self.mcp_config(id).ok_or(KeyError::Unknown)?,
            None => &NO_SERVERS,
        };
        Ok(ResolvedKey {
            entry,
            project,
            user,
            mcp_config,
        })
    }
}

impl GatewayConfig {
    /// The entry of a presented key (plain or hashed), whatever its state.
    pub fn find_key(&self, key: &str) -> Option<&ApiKeyEntry> {
        if key.is_empty() {
            return None;
        }
        let plain = super::validate::plain_lookup(key);
        if let Some(&i) = self.key_index.plain.get(&plain) {
            let e = self.apikeys.get(i)?;
            if let StoredKey::Plain(k) = &e.key {
                if bool::from(k.expose().as_bytes().ct_eq(key.as_bytes())) {
                    return Some(e);
                }
            }
        }
        let secret = self.key_secret.as_ref()?;
        let mac = secret.hash(key);
        let e = self.apikeys.get(*self.key_index.hashed.get(&mac)?)?;
        match &e.key {
            StoredKey::Hashed { hash, .. } if bool::from(hash.ct_eq(&mac)) => Some(e),
            _ => None,
        }
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const DOC: &str = r#"{
      "mcp_configs": {"m1": {"mcp_config_name": "x", "mcp_config": []}},
      "projects": {"p1": {"project_name": "P", "mcp_config_id": "m1", "users": ["u1"]},
                   "p2": {"project_name": "new", "mcp_config_id": null, "users": ["u1"]},
                   "p3": {"project_name": "left", "mcp_config_id": "m1", "users": []}},
      "users": {"u1": {"email": "a@b.c"}},
      "apikeys": {
        "key-ok-0123456789": {"project_id": "p1", "user_id": "u1"},
        "key-off-0123456789": {"project_id": "p1", "user_id": "u1", "disabled": true},
        "key-inactive-0123456789": {"project_id": "p1", "user_id": "u1", "is_active": false},
        "key-status-0123456789": {"project_id": "p1", "user_id": "u1", "status": "Disabled"},
        "key-new-0123456789": {"project_id": "p2", "user_id": "u1"},
        "key-left-0123456789": {"project_id": "p3", "user_id": "u1"}
      }
    }"#;

    #[test]
    fn resolves_known_keys_only() {
        let c = parse(DOC).unwrap().config;
        let r = c.resolve_key("key-ok-0123456789").unwrap();
        assert_eq!(
            (r.project_id(), r.user_id(), r.mcp_config_id()),
            ("p1", "u1", "m1")
        );
        assert_eq!(r.user.email.as_deref(), Some("a@b.c"));
        for bad in [
            "",
            "key-ok-012345678",
            "key-ok-0123456789x",
            "KEY-OK-0123456789",
        ] {
            assert_eq!(
                c.resolve_key(bad).unwrap_err(),
                super::KeyError::Unknown,
                "{bad}"
            );
        }
        let r = c.resolve_key("key-new-0123456789").unwrap();
        assert_eq!((r.project_id(), r.mcp_config_id()), ("p2", ""));
        assert!(r.mcp_config.servers.is_empty());
        // A user removed from the project: its key no longer reaches it.
        assert_eq!(
            c.resolve_key("key-left-0123456789").unwrap_err(),
            super::KeyError::NotMember
        );
        for off in [
            "key-off-0123456789",
            "key-inactive-0123456789",
            "key-status-0123456789",
        ] {
            assert_eq!(
                c.resolve_key(off).unwrap_err(),
                super::KeyError::Disabled,
                "{off}"
            );
        }
    }

    #[test]
    fn two_parses_of_one_document_index_its_keys_alike() {
        // A reload compares the configs: the keyed lookup hash is the same for every parse.
        let (a, b) = (parse(DOC).unwrap().config, parse(DOC).unwrap().config);
        assert_eq!(a.key_index.plain.len(), 6);
        assert_eq!(a.key_index, b.key_index);
        assert!(a == b);
    }
}
