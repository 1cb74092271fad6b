//! Convenience calls for the gateway's service, meta tools and CLI, built on the core API in
//! the parent module (`discover_with`, `get_tools`, `clear`, `status`).
//!
//! Mirrors the reference gateway's cache operations: `get_cached_tools` (here
//! [`Cache::cached_tools`]), `clear_cache_for_servers` ([`Cache::clear_server`],
//! [`Cache::clear_all_tools`]), `clear_gateway_config_cache` ([`Cache::clear_gateway_config`]),
//! and the per-server part of `enkrypt_get_cache_status` ([`Cache::tools_entry_info`]).
//! [`Cache::connect_remote`] is what `secure-mcp-gateway cache status|clear` uses from another
//! process: the external server, or the embedded cache of a running gateway over its RESP port.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::entry::{unix_secs, ToolsKey};
use super::external::External;
use super::{human_bytes, Active, Backend, Cache, CacheError, CacheOptions, CacheStatus, View};
use crate::config::keys::{
    gateway_config_key, key_to_id_key, GATEWAY_CONFIG_PREFIX, KEY_TO_ID_PREFIX,
};
use crate::config::CommonConfig;

/// A quick health answer for `/health` (no key scan).
#[derive(Debug, Clone, Serialize)]
pub struct CacheHealth {
    /// `"Embedded"` or `"External (Redis/KeyDB)"`.
    pub backend: &'static str,
    /// The backend answered (`PING`), or the embedded engine is running.
    pub reachable: bool,
    /// Why not, or what is degraded.
    pub detail: Option<String>,
}

/// What the cache holds for one server, as the caller sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ToolsEntryInfo {
    /// An entry exists (shared, or the caller's own private one).
    pub exists: bool,
    /// Tools in it.
    pub tool_count: usize,
    /// The entry is private to the caller (cacheScope).
    pub private: bool,
    /// When it was stored (Unix seconds).
    pub cached_at: Option<u64>,
    /// When it expires (Unix seconds).
    pub expires_at: Option<u64>,
    /// Hours left.
    pub expires_in_hours: Option<f64>,
}

fn tools_key<'a>(config_id: &'a str, server: &'a str, user: Option<&'a str>) -> ToolsKey<'a> {
    ToolsKey {
        config_id,
        server_name: server,
        user_id: user,
    }
}

impl Cache {
    /// Same as [`Cache::new`]: starts the configured cache.
    pub async fn start(common: &CommonConfig) -> Result<Cache, CacheError> {
        Cache::new(common).await
    }

    /// A cache handle for tools running beside the gateway (the `cache` CLI): the external
    /// server when `enkrypt_mcp_use_external_cache` is set, else the embedded cache of a running
    /// gateway, reached over RESP on `127.0.0.1:<enkrypt_embedded_cache_port>` with
    /// `enkrypt_embedded_cache_password` (status reads `Embedded`). Starts no server.
    ///
    /// Fails when the embedded cache cannot be reached from outside: port 0 (any free port) or
    /// no configured password (one is generated at each start).
    pub async fn connect_remote(common: &CommonConfig) -> Result<Cache, CacheError> {
        let opts = CacheOptions::default();
        if common.use_external_cache {
            return Ok(Cache::external(common, opts));
        }
        let port = common.embedded_cache_port;
        if port == 0 {
            return Err(CacheError::Embedded(
                "`enkrypt_embedded_cache_port` is 0 (any free port), so the running gateway's \
                 cache cannot be found; set a fixed port"
                    .into(),
            ));
        }
        let Some(password) = common.embedded_cache_password.clone() else {
            return Err(CacheError::Embedded(
                "`enkrypt_embedded_cache_password` is not set, so the running gateway generated \
                 one; set it in the config to reach the embedded cache from the CLI"
                    .into(),
            ));
        };
        let x = External::new(
            "127.0.0.1",
            port,
            0,
            Some(password),
            common.timeouts.connectivity,
            common.timeouts.cache,
        );
        let view = View::embedded(port);
        Ok(Cache::assemble(
            Backend::External(x),
            view,
            None,
            common,
            opts,
        ))
    }

    /// [`Cache::discover_with`] for `server` of `config_id` as seen by `user`.
    pub async fn discover_tools<F, Fut, E>(
        &self,
        config_id: &str,
        server: &str,
        user: Option<&str>,
        f: F,
    ) -> Result<Arc<Value>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: Clone + Send + Sync + 'static,
    {
        self.discover_with(&tools_key(config_id, server, user), f)
            .await
    }

    /// The cached `tools` array of a server for `user`, if any. A peek: not counted in the hit
    /// ratio, and a cache failure reads as `None`.
    pub async fn cached_tools(
        &self,
        config_id: &str,
        server: &str,
        user: Option<&str>,
    ) -> Option<Value> {
        let key = tools_key(config_id, server, user);
        let (entry, _) = self.inner.lookup_tools(&key).await.ok()?;
        entry?.get("tools").cloned()
    }

    /// What the cache holds for a server (a peek, like [`Cache::cached_tools`]).
    pub async fn tools_entry_info(
        &self,
        config_id: &str,
        server: &str,
        user: Option<&str>,
    ) -> ToolsEntryInfo {
        let key = tools_key(config_id, server, user);
        let Ok((Some(entry), _)) = self.inner.lookup_tools(&key).await else {
            return ToolsEntryInfo::default();
        };
        let expires_at = entry.get("expires_at").and_then(Value::as_u64);
        ToolsEntryInfo {
            exists: true,
            tool_count: entry
                .get("tools")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            private: entry.get("private").and_then(Value::as_bool) == Some(true),
            cached_at: entry.get("cached_at").and_then(Value::as_u64),
            expires_at,
            expires_in_hours: expires_at.map(|e| e.saturating_sub(unix_secs()) as f64 / 3600.0),
        }
    }

    /// Tool pins (`enkrypt:tool_pin:*` values) for these keys, in order; `None` where absent
    /// or unreadable.
    pub async fn get_pins(&self, keys: &[String]) -> Result<Vec<Option<Value>>, CacheError> {
        let raw = self.inner.get_many(keys).await?;
        Ok(raw
            .into_iter()
            .map(|r| r.and_then(|b| serde_json::from_slice(&b).ok()))
            .collect())
    }

    /// Stores a tool pin. Pins outlive tool entries (a year): they are the memory of what a
    /// tool looked like when first seen; `cache clear --all` forgets them.
    pub async fn put_pin(&self, key: &str, value: &Value) -> Result<(), CacheError> {
        const PIN_TTL: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);
        self.inner.put_json(key, value, PIN_TTL).await
    }

    /// Removes a server's tool entries (shared and per-user); the number of keys removed.
    pub async fn clear_server(&self, config_id: &str, server: &str) -> Result<usize, CacheError> {
        self.clear(Some((config_id, server)), false).await
    }

    /// Removes every tool entry (`enkrypt:tools:*`).
    pub async fn clear_all_tools(&self) -> Result<usize, CacheError> {
        self.clear(None, false).await
    }

    /// Removes every gateway key (`enkrypt:*`).
    pub async fn clear_all(&self) -> Result<usize, CacheError> {
        self.clear(None, true).await
    }

    /// Removes the gateway config and key mapping entries of `id`: those keyed by
    /// `md5(id)` (when `id` is a gateway key), and those whose JSON value is `id` or has `id`
    /// as a top-level string field (e.g. `"mcp_config_id": id`, `"id": id`). Returns the
    /// number of keys removed.
    pub async fn clear_gateway_config(&self, id: &str) -> Result<usize, CacheError> {
        let inner = &*self.inner;
        let mut targets = vec![gateway_config_key(id), key_to_id_key(id)];
        for prefix in [GATEWAY_CONFIG_PREFIX, KEY_TO_ID_PREFIX] {
            let keys = inner.keys_with_prefix(prefix).await?;
            let values = inner.get_many(&keys).await?;
            targets.extend(
                keys.into_iter()
                    .zip(values)
                    .filter(|(_, v)| v.as_deref().is_some_and(|raw| mentions(raw, id)))
                    .map(|(k, _)| k),
            );
        }
        targets.sort();
        targets.dedup();
        inner.del(&targets).await
    }

    /// Forgets a server's tool entries (after `notifications/tools/list_changed`). Failures
    /// are counted in the status and otherwise ignored: the entry then expires by its TTL.
    pub async fn invalidate_tools(&self, config_id: &str, server: &str) {
        if let Err(e) = self.clear_server(config_id, server).await {
            tracing::debug!(error = %e, "tool cache invalidation failed");
        }
    }

    /// A quick health check for `/health`: a `PING` for the external backend (answered at once
    /// during an outage's backoff window), the engine's state for the embedded one.
    pub async fn health(&self) -> CacheHealth {
        let inner = &*self.inner;
        let backend = inner.view.backend;
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return CacheHealth {
                backend,
                reachable: false,
                detail: Some("the cache was shut down".into()),
            };
        }
        match inner.backend.active() {
            Active::Embedded(e) => CacheHealth {
                backend,
                reachable: true,
                detail: (!e.listening()).then(|| {
                    "the embedded RESP listener stopped; the in-process cache still works".into()
                }),
            },
            Active::External(_) => match inner.ping().await {
                Ok(()) => CacheHealth {
                    backend,
                    reachable: true,
                    detail: None,
                },
                Err(e) => CacheHealth {
                    backend,
                    reachable: false,
                    detail: Some(e.to_string()),
                },
            },
        }
    }
}

/// True when the JSON in `raw` is `id`, or an object with `id` as a top-level string value.
fn mentions(raw: &[u8], id: &str) -> bool {
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::String(s)) => s == id,
        Ok(Value::Object(o)) => o.values().any(|v| v.as_str() == Some(id)),
        _ => false,
    }
}

impl CacheStatus {
    /// A human-readable report (for `secure-mcp-gateway cache status`).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(s, "Type: {}", self.backend);
        match (&self.host, self.port, self.embedded_port) {
            (Some(h), Some(p), _) => {
                let _ = writeln!(s, "Server: {h}:{p} db {}", self.db.unwrap_or(0));
            }
            (_, _, Some(p)) => {
                let _ = writeln!(
                    s,
                    "RESP port: 127.0.0.1:{p} (redis-cli -p {p} -a <enkrypt_embedded_cache_password>)"
                );
            }
            _ => {}
        }
        let _ = writeln!(s, "Reachable: {}", yes_no(self.reachable));
        match &self.degraded_reason {
            Some(r) => {
                let _ = writeln!(s, "Degraded: yes ({r})");
            }
            None => {
                let _ = writeln!(s, "Degraded: no");
            }
        }
        match &self.entries {
            Some(e) => {
                let _ = writeln!(
                    s,
                    "Entries: tools {}, gateway_config {}, key_to_id {}{}",
                    e.tools,
                    e.gateway_config,
                    e.key_to_id,
                    if e.truncated { " (at least)" } else { "" }
                );
            }
            None => {
                let _ = writeln!(s, "Entries: unknown");
            }
        }
        let _ = writeln!(
            s,
            "Hits: {}  Misses: {}  Hit ratio: {:.1}%  Errors: {}",
            self.hits,
            self.misses,
            self.hit_ratio * 100.0,
            self.errors
        );
        if let Some(used) = self.used_memory {
            let max = match self.maxmemory {
                Some(0) | None => "no limit".to_string(),
                Some(m) => human_bytes(m),
            };
            let policy = self.maxmemory_policy.as_deref().unwrap_or("?");
            let _ = writeln!(
                s,
                "Memory: {} used, maxmemory {max} ({policy})",
                human_bytes(used)
            );
        }
        let _ = writeln!(
            s,
            "Expiration: tools {} h, gateway config {} h",
            self.tool_cache_expiration_hours, self.gateway_cache_expiration_hours
        );
        if let Some(e) = &self.last_error {
            let _ = writeln!(s, "Last error: {e}");
        }
        s
    }
}
