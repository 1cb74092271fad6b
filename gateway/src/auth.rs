//! Authentication: a gateway key resolves to an identity (user, project, mcp_config).
//!
//! Keys are compared in constant time against every configured key (`config::keys`); a
//! session remembers only the MD5 digest of its key, compared in constant time too. Error
//! messages never contain the key.

use md5::{Digest, Md5};

use crate::config::KeyError;
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
}

impl AuthError {
    /// The message for the client (never the key).
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "Authentication required: send the gateway key as 'Authorization: Bearer <key>' (or the 'apikey' / 'ENKRYPT_GATEWAY_KEY' header)",
            AuthError::Unknown => "Invalid gateway key",
            AuthError::Disabled => "This gateway key is disabled",
        }
    }
}

pub(crate) fn digest(key: &str) -> [u8; 16] {
    Md5::digest(key.as_bytes()).into()
}

impl Gateway {
    /// Resolves a gateway key to an identity (constant-time comparison over every key).
    pub fn authenticate(&self, key: Option<&str>) -> Result<Identity, AuthError> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        let cfg = self.config();
        let r = cfg.resolve_key(key).map_err(|e| match e {
            KeyError::Disabled => AuthError::Disabled,
            _ => AuthError::Unknown,
        })?;
        Ok(Identity {
            key_digest: digest(key),
            project_id: r.project_id().to_string(),
            user_id: r.user_id().to_string(),
            mcp_config_id: r.mcp_config_id().to_string(),
        })
    }

    /// True when `key` is the key the session was opened with.
    pub fn same_key(session: &Session, key: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(k) = key.map(str::trim) else {
            return false;
        };
        bool::from(digest(k).ct_eq(&session.identity.key_digest))
    }
}
