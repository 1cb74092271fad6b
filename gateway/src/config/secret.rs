//! Secret values of the configuration: gateway keys and passwords.
//!
//! Invariant: neither [`Secret`] nor [`GatewayKey`] prints its content through `Debug`, and
//! neither implements `Display`; the only ways to the content are the explicit
//! [`Secret::expose`] / [`GatewayKey::expose`]. A gateway key shows as its first four characters
//! and `…` (the reference gateway logs keys as a short prefix too).

use std::fmt;

use super::error::redact_key;

/// A password or other secret string (`enkrypt_cache_password`,
/// `enkrypt_embedded_cache_password`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is sent to its one consumer (e.g. `AUTH`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A gateway API key: the JSON key of an `apikeys` entry, and what clients send as
/// `ENKRYPT_GATEWAY_KEY` or `Authorization: Bearer …`.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayKey(String);

impl GatewayKey {
    /// Wraps a key string.
    pub fn new(value: impl Into<String>) -> Self {
        GatewayKey(value.into())
    }

    /// The key itself; call only to hand it to the user once (e.g. after `generate-config`) or
    /// to hash it for a cache key.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The printable form: first four characters and `…`.
    pub fn redacted(&self) -> String {
        redact_key(&self.0)
    }
}

impl fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GatewayKey({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2-very-secret");
        let k = GatewayKey::new("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(format!("{k:?}"), "GatewayKey(abcd…)");
        assert_eq!(format!("{:?}", Some(&k)), "Some(GatewayKey(abcd…))");
    }
}
