//! Tool-discovery entries: key naming per scope, MCP cache hints, and the stored JSON value.
//!
//! Mirrors the reference gateway's `enkrypt:tools:{md5}` entries (seed "What Gets Cached?"):
//! one JSON object per (mcp_config, server), readable with `redis-cli GET`:
//!
//! ```json
//! {"server_name":"github","tools":[...],"cached_at":1760000000,"expires_at":1760014400,
//!  "ttl_ms":14400000,"scope":"shared","private":false,"group_key":"enkrypt:tools:<md5>"}
//! ```
//!
//! MCP cache hints honoured (and only these), read from the tools/list *result* object first,
//! then from its `_meta` (where a namespaced key such as `io.modelcontextprotocol/ttlMs` counts
//! as `ttlMs`):
//!
//! - `ttlMs` (a non-negative number): caps the entry's TTL at that many milliseconds; `0`
//!   means "do not store". Negative or non-numeric values are ignored.
//! - `cacheScope`: `"private"` or `"user"` (any case) stores the result per user, under
//!   [`tool_key`] with the user id; any other value, or none, means shared.
//!
//! Private results are stored twice: the tools under the per-user key, and a small *marker*
//! (`"private": true`, no `tools`) under the shared key, so a lookup reads the shared key first
//! and knows from the value whether to read the caller's own key. A private result without a
//! user id is never stored. Every entry carries `group_key` (the shared key of its server), so
//! per-user entries of a server can be found and cleared although their names are digests.
//!
//! Invariant: key names hold only the namespace and MD5 hex digests; user ids, config ids and
//! server names never appear in a key name.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::config::keys::{md5_hex, tool_cache_key, TOOLS_PREFIX};

/// Identifies one tool-discovery entry: a server of an mcp_config, optionally as seen by one
/// user (needed to read and write results the upstream marked private).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolsKey<'a> {
    /// The mcp_config id.
    pub config_id: &'a str,
    /// The upstream server's `server_name`.
    pub server_name: &'a str,
    /// The caller's user id, if known.
    pub user_id: Option<&'a str>,
}

impl<'a> ToolsKey<'a> {
    /// The entry of `server_name` in `config_id`, with no user.
    pub fn new(config_id: &'a str, server_name: &'a str) -> Self {
        ToolsKey {
            config_id,
            server_name,
            user_id: None,
        }
    }

    /// The same entry as seen by `user_id`.
    pub fn for_user(self, user_id: &'a str) -> Self {
        ToolsKey {
            user_id: Some(user_id),
            ..self
        }
    }

    /// The shared key: `enkrypt:tools:{md5(config_id:server_name)}`.
    pub fn shared_key(&self) -> String {
        tool_key(self.config_id, self.server_name, None)
    }

    /// The caller's private key, if a user id is set.
    pub fn user_key(&self) -> Option<String> {
        self.user_id
            .map(|u| tool_key(self.config_id, self.server_name, Some(u)))
    }
}

/// The cache key of a tool entry.
///
/// - shared: `enkrypt:tools:{md5hex(config_id ":" server_name)}` (the reference's key,
///   [`crate::config::keys::tool_cache_key`]);
/// - per user: `enkrypt:tools:{md5hex(config_id ":" server_name "\0user\0" user_id)}`. The NUL
///   separators keep it distinct from every shared key.
pub fn tool_key(config_id: &str, server_name: &str, user_id: Option<&str>) -> String {
    match user_id {
        None => tool_cache_key(config_id, server_name),
        Some(u) => format!(
            "{TOOLS_PREFIX}{}",
            md5_hex(&[
                config_id.as_bytes(),
                b":",
                server_name.as_bytes(),
                b"\0user\0",
                u.as_bytes(),
            ])
        ),
    }
}

/// The cache hints found in a tools/list result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheHints {
    /// `ttlMs`, if present and valid.
    pub ttl: Option<Duration>,
    /// `cacheScope` is `private` or `user`.
    pub private: bool,
}

impl CacheHints {
    /// Reads `ttlMs` and `cacheScope` from `result`, then from `result._meta`.
    pub fn from_result(result: &Value) -> CacheHints {
        let meta = result.get("_meta").and_then(Value::as_object);
        let ttl = find_hint(result, meta, "ttlMs").and_then(parse_ttl_ms);
        let private = find_hint(result, meta, "cacheScope")
            .and_then(Value::as_str)
            .is_some_and(|s| {
                let s = s.trim();
                s.eq_ignore_ascii_case("private") || s.eq_ignore_ascii_case("user")
            });
        CacheHints { ttl, private }
    }
}

fn find_hint<'v>(
    result: &'v Value,
    meta: Option<&'v Map<String, Value>>,
    name: &str,
) -> Option<&'v Value> {
    if let Some(v) = result.get(name) {
        return Some(v);
    }
    let meta = meta?;
    if let Some(v) = meta.get(name) {
        return Some(v);
    }
    meta.iter()
        .find(|(k, _)| k.rsplit('/').next() == Some(name) && k.contains('/'))
        .map(|(_, v)| v)
}

fn parse_ttl_ms(v: &Value) -> Option<Duration> {
    if let Some(n) = v.as_u64() {
        return Some(Duration::from_millis(n));
    }
    let f = v.as_f64()?;
    if f.is_finite() && f >= 0.0 {
        Duration::try_from_secs_f64(f / 1000.0).ok()
    } else {
        None
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A tools/list result turned into what is stored.
#[derive(Debug)]
pub(crate) struct BuiltEntry {
    /// The entry handed back to callers (the per-user entry for private results).
    pub entry: Value,
    /// Where `entry` goes; `None` when it must not be stored.
    pub entry_key: Option<String>,
    /// For private results: the marker written under the shared key.
    pub marker: Option<(String, Value)>,
    /// Effective TTL.
    pub ttl: Duration,
    /// The result was private (its entry may reach only its user).
    pub private: bool,
    /// Why it is not stored, when `entry_key` is `None`.
    pub not_stored: Option<NotStored>,
}

/// Why a tools result is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// The result has no `tools` array.
    NoTools,
    /// The TTL is zero (`ttlMs: 0`).
    ZeroTtl,
    /// The result is private (`cacheScope`) and no user id is known.
    PrivateWithoutUser,
}

impl NotStored {
    /// The reason, for logs and errors.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotStored::NoTools => "the result has no `tools` array",
            NotStored::ZeroTtl => "the TTL is zero (ttlMs hint 0)",
            NotStored::PrivateWithoutUser => {
                "the result is private (cacheScope) and no user id is known"
            }
        }
    }
}

/// Builds the stored entry for `result` (a tools/list result object, or a bare array of
/// tools). `base_ttl` is the configured TTL or the caller's override; the `ttlMs` hint caps it.
pub(crate) fn build(key: &ToolsKey<'_>, result: &Value, base_ttl: Duration) -> BuiltEntry {
    let hints = CacheHints::from_result(result);
    let ttl = match hints.ttl {
        Some(h) => base_ttl.min(h),
        None => base_ttl,
    };
    let tools = match result {
        Value::Array(a) => Some(Value::Array(a.clone())),
        Value::Object(o) => match o.get("tools") {
            Some(Value::Array(a)) => Some(Value::Array(a.clone())),
            _ => None,
        },
        _ => None,
    };
    let shared_key = key.shared_key();
    let now = unix_secs();
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let expires_at = now.saturating_add(ttl.as_secs());
    let scope = if hints.private { "private" } else { "shared" };
    let make = |tools: Option<Value>| {
        let mut m = Map::new();
        m.insert("server_name".into(), Value::from(key.server_name));
        if let Some(t) = tools {
            m.insert("tools".into(), t);
        }
        m.insert("cached_at".into(), Value::from(now));
        m.insert("expires_at".into(), Value::from(expires_at));
        m.insert("ttl_ms".into(), Value::from(ttl_ms));
        m.insert("scope".into(), Value::from(scope));
        m.insert("private".into(), Value::from(hints.private));
        m.insert("group_key".into(), Value::from(shared_key.as_str()));
        Value::Object(m)
    };
    let valid = tools.is_some();
    let entry = make(Some(tools.unwrap_or_else(|| Value::Array(Vec::new()))));
    let not_stored = if !valid {
        Some(NotStored::NoTools)
    } else if ttl_ms == 0 {
        Some(NotStored::ZeroTtl)
    } else if hints.private && key.user_id.is_none() {
        Some(NotStored::PrivateWithoutUser)
    } else {
        None
    };
    let (entry_key, marker) = match (not_stored, hints.private) {
        (Some(_), _) => (None, None),
        (None, false) => (Some(shared_key.clone()), None),
        (None, true) => (key.user_key(), Some((shared_key.clone(), make(None)))),
    };
    BuiltEntry {
        entry,
        entry_key,
        marker,
        ttl,
        private: hints.private,
        not_stored,
    }
}

/// True when a stored value is a private marker (the tools live under per-user keys).
pub(crate) fn is_private_marker(v: &Value) -> bool {
    v.get("private").and_then(Value::as_bool) == Some(true) && v.get("tools").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_digests_and_distinct() {
        let shared = tool_key("cfg-123", "github", None);
        assert_eq!(shared, "enkrypt:tools:eaaea06c00e0cbb11d29c6f7988ad4d1");
        let private = tool_key("cfg-123", "github", Some("alice"));
        assert_ne!(shared, private);
        assert_ne!(private, tool_key("cfg-123", "github", Some("bob")));
        let digest = private.trim_start_matches(TOOLS_PREFIX);
        assert_eq!(digest.len(), 32);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn hints_from_result_and_meta() {
        let h = CacheHints::from_result(&json!({"tools": [], "ttlMs": 1500}));
        assert_eq!(h.ttl, Some(Duration::from_millis(1500)));
        assert!(!h.private);
        let h = CacheHints::from_result(&json!({"tools": [], "_meta": {"cacheScope": "User"}}));
        assert!(h.private);
        let h = CacheHints::from_result(
            &json!({"tools": [], "_meta": {"io.modelcontextprotocol/ttlMs": 20.5}}),
        );
        assert_eq!(h.ttl, Some(Duration::from_micros(20_500)));
        let h = CacheHints::from_result(&json!({"tools": [], "ttlMs": -1, "cacheScope": 3}));
        assert_eq!(h, CacheHints::default());
    }

    #[test]
    fn build_caps_ttl_and_splits_private() {
        let key = ToolsKey::new("c", "s");
        let b = build(
            &key,
            &json!({"tools": [{"name": "t"}], "ttlMs": 1000}),
            Duration::from_secs(60),
        );
        assert_eq!(b.ttl, Duration::from_secs(1));
        assert_eq!(b.entry_key.as_deref(), Some(key.shared_key().as_str()));
        assert!(b.marker.is_none());
        assert_eq!(b.entry["tools"][0]["name"], "t");

        let b = build(
            &key,
            &json!({"tools": [], "cacheScope": "private"}),
            Duration::from_secs(60),
        );
        assert!(
            b.entry_key.is_none() && b.not_stored.is_some(),
            "private without user"
        );

        let key = key.for_user("u1");
        let b = build(
            &key,
            &json!({"tools": [], "cacheScope": "private"}),
            Duration::from_secs(60),
        );
        assert_eq!(b.entry_key, key.user_key());
        let (mk, mv) = b.marker.expect("marker");
        assert_eq!(mk, key.shared_key());
        assert!(is_private_marker(&mv));
        assert!(!is_private_marker(&b.entry));
        assert_eq!(b.entry["group_key"], key.shared_key());

        let b = build(&key, &json!({"nope": 1}), Duration::from_secs(60));
        assert!(b.entry_key.is_none());
        let b = build(
            &key,
            &json!({"tools": [], "ttlMs": 0}),
            Duration::from_secs(60),
        );
        assert!(b.entry_key.is_none());
    }
}
