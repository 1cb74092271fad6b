//! Authentication: a gateway key resolves to an identity (user, project, mcp_config).
//!
//! Keys are compared in constant time against every configured key (`config::keys`); a
//! session remembers only the MD5 digest of its key, compared in constant time too. Error
//! messages never contain the key.

use md5::{Digest, Md5};

use crate::config::model::{ApiKeyEntry, StoredKey};
use crate::config::{GatewayConfig, KeyError, ResolvedKey};
use crate::service::Gateway;
use crate::session::{Identity, Session};

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No gateway key was given.
    Missing,
    /// The key is not in the config.
    Unknown,
    /// The key is disabled.
    Disabled,
    /// A `project_id` / `user_id` sent beside the key is not the key's.
    Mismatch,
    /// The key's `expires_at` has passed.
    Expired,
    /// The key's user is no longer a member of the key's project.
    NotMember,
}

impl AuthError {
    /// The message for the client (never the key).
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "Authentication required: send the gateway key as 'Authorization: Bearer <key>' (or the 'apikey' / 'ENKRYPT_GATEWAY_KEY' header)",
            AuthError::Unknown => "Invalid gateway key",
            AuthError::Disabled => "This gateway key is disabled",
            AuthError::Expired => "This gateway key has expired",
            AuthError::NotMember => {
                "This gateway key's user is no longer a member of its project"
            }
            AuthError::Mismatch => "The project_id or user_id sent does not match the gateway key's",
        }
    }
}

pub(crate) fn digest(key: &str) -> [u8; 16] {
    Md5::digest(key.as_bytes()).into()
}

/// The identity `key` resolves to in `cfg`.
fn resolve(cfg: &GatewayConfig, key: &str) -> Result<Identity, AuthError> {
    let r = cfg.resolve_key(key).map_err(auth_error)?;
    Ok(identity_of(&r, digest(key)))
}

fn auth_error(e: KeyError) -> AuthError {
    match e {
        KeyError::Disabled => AuthError::Disabled,
        KeyError::Expired => AuthError::Expired,
        KeyError::NotMember => AuthError::NotMember,
        _ => AuthError::Unknown,
    }
}

/// Which entry a key is, across reloads (see [`Identity::key_ref`]). `plain_digest`: the
/// digest of the entry's plain key when the caller has it already.
fn key_ref(entry: &ApiKeyEntry, plain_digest: Option<&[u8; 16]>) -> String {
    match &entry.key {
        StoredKey::Hashed { id, .. } => format!("id:{id}"),
        StoredKey::Plain(k) => {
            let d = plain_digest.copied().unwrap_or_else(|| digest(k.expose()));
            format!("md5:{}", crate::config::keystore::to_hex(&d))
        }
    }
}

/// The identity of `r`, whose key has the digest `key_digest` (for a plain key, the digest of
/// the entry's own key: the two are the same bytes).
fn identity_of(r: &ResolvedKey<'_>, key_digest: [u8; 16]) -> Identity {
    Identity {
        key_digest,
        project_id: r.project_id().to_string(),
        user_id: r.user_id().to_string(),
        mcp_config_id: r.mcp_config_id().to_string(),
        key_ref: key_ref(r.entry, Some(&key_digest)),
        expires_at: r.entry.expires_at,
    }
}

impl Gateway {
    /// Resolves a gateway key to an identity (constant-time comparison over every key).
    pub fn authenticate(&self, key: Option<&str>) -> Result<Identity, AuthError> {
        let r = match key.map(str::trim).filter(|k| !k.is_empty()) {
            None => Err(AuthError::Missing),
            Some(key) => resolve(&self.config(), key),
        };
        self.telemetry.auth(r.as_ref().map(|_| ()).map_err(|e| *e));
        r
    }

    /// Re-checks every session against the current config (after a reload): a session whose
    /// key was deleted, rotated or disabled, or whose user, project or mcp_config is gone, is
    /// ended and forgotten (its next HTTP request gets 404, as MCP prescribes for an ended
    /// session; a stdio client gets authentication errors); the others take the identity
    /// their key resolves to now. Returns how many sessions were ended.
    pub fn revalidate_sessions(&self) -> usize {
        let cfg = self.config();
        // Each entry by its reference, then a lookup per session.
        let now: std::collections::HashMap<String, Result<ResolvedKey<'_>, AuthError>> = cfg
            .apikeys
            .iter()
            .map(|e| (key_ref(e, None), cfg.resolve_entry(e).map_err(auth_error)))
            .collect();
        let mut ended = Vec::new();
        for s in self.sessions.iter() {
            let current = s.identity();
            match now.get(&current.key_ref) {
                Some(Ok(r)) => s.set_identity(identity_of(r, current.key_digest)),
                other => {
                    let why = match other {
                        Some(Err(AuthError::Disabled)) => "its key was disabled",
                        Some(Err(AuthError::Expired)) => "its key expired",
                        Some(Err(AuthError::NotMember)) => "its user left the project",
                        Some(Err(_)) => "its user, project or mcp_config is gone",
                        _ => "its key was removed",
                    };
                    tracing::info!(project = %current.project_id, user = %current.user_id, "session ended at reload: {why}");
                    ended.push((s.key().clone(), why));
                }
            }
        }
        for (id, why) in &ended {
            if let Some((_, s)) = self.sessions.remove(id) {
                s.end_because(why);
            }
        }
        ended.len()
    }

    /// The reference's optional `project_id` / `user_id` claims (HTTP headers, or
    /// `ENKRYPT_PROJECT_ID` / `ENKRYPT_USER_ID` for stdio): when sent, they must be the key's.
    pub fn check_claims(
        identity: &Identity,
        project_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<(), AuthError> {
        let differs = |claim: Option<&str>, actual: &str| {
            claim.is_some_and(|c| !c.trim().is_empty() && c.trim() != actual)
        };
        if differs(project_id, &identity.project_id) || differs(user_id, &identity.user_id) {
            return Err(AuthError::Mismatch);
        }
        Ok(())
    }

    /// The digest a session keeps of `key` (see [`Gateway::same_key`]).
    pub fn key_digest(key: &str) -> [u8; 16] {
        digest(key.trim())
    }

    /// True when `key_digest` ([`Gateway::key_digest`] of a key, or an identity's) is the
    /// digest of the key the session was opened with.
    pub fn same_key(session: &Session, key_digest: &[u8; 16]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(key_digest.ct_eq(&session.identity().key_digest))
    }
}
