//! The cache's status report ([`Cache::status`]): backend, reachability, counters, entries
//! per kind and memory, for `enkrypt_get_cache_status`, `cache status`, the dashboard and
//! `/metrics`.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{Active, Cache, CacheError, Inner};

/// Entries per kind, counted with SCAN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EntryCounts {
    /// `enkrypt:tools:*` (shared entries, private markers and per-user entries).
    pub tools: u64,
    /// `enkrypt:gateway_config:*`.
    pub gateway_config: u64,
    /// `enkrypt:key_to_id:*`.
    pub key_to_id: u64,
    /// The scan stopped at its bound; the counts are lower limits.
    pub truncated: bool,
}

/// The cache's state, for `enkrypt_get_cache_status` and health checks. Contains no secret.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    /// `"Embedded"` or `"External (Redis/KeyDB)"`.
    pub backend: &'static str,
    /// External: `enkrypt_cache_host`.
    pub host: Option<String>,
    /// External: `enkrypt_cache_port`.
    pub port: Option<u16>,
    /// External: `enkrypt_cache_db`; embedded: 0.
    pub db: Option<u8>,
    /// Embedded: the RESP port operators can reach with `redis-cli`.
    pub embedded_port: Option<u16>,
    /// The backend answered this status request.
    pub reachable: bool,
    /// The cache is running degraded (backend down, or the embedded RESP listener stopped).
    pub degraded: bool,
    /// Why it is degraded.
    pub degraded_reason: Option<String>,
    /// Since when (Unix seconds), for an outage.
    pub degraded_since: Option<u64>,
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were none.
    pub hit_ratio: f64,
    /// Failed backend calls.
    pub errors: u64,
    /// Calls skipped while an outage's backoff window was open.
    pub skipped: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Entries per kind; `None` when the backend could not be scanned.
    pub entries: Option<EntryCounts>,
    /// `used_memory` in bytes.
    pub used_memory: Option<u64>,
    /// `used_memory_human`, as Redis formats it (`1.05M`).
    pub used_memory_human: Option<String>,
    /// `maxmemory` in bytes (0 = no limit).
    pub maxmemory: Option<u64>,
    /// `maxmemory-policy`.
    pub maxmemory_policy: Option<String>,
    /// Tool entry TTL, hours.
    pub tool_cache_expiration_hours: f64,
    /// Gateway config and key mapping TTL, hours.
    pub gateway_cache_expiration_hours: f64,
    /// Discoveries running now.
    pub discoveries_in_flight: usize,
}

/// Memory figures of a backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryInfo {
    pub used: Option<u64>,
    pub maxmemory: Option<u64>,
    pub policy: Option<String>,
}

/// Redis's `used_memory_human` format: `512B`, `1.50K`, `256.00M`, `1.00G`...
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("T", 1 << 40),
        ("P", 1 << 50),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (unit, size)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(u64::MAX, |u| u.1);
        if n < next {
            return format!("{:.2}{unit}", n as f64 / *size as f64);
        }
    }
    format!("{n}B")
}

impl Cache {
    /// The cache's state: backend, reachability, counters, entries per kind and memory. For
    /// the external backend this sends `INFO memory` and a bounded `SCAN` (through the outage
    /// breaker, so it answers at once during an outage).
    pub async fn status(&self) -> CacheStatus {
        let inner = &*self.inner;
        let (mut reachable, memory, entries) = inner.probe_status().await;
        let listener_down = match inner.backend.active() {
            Active::Embedded(e) => !e.listening(),
            Active::External(_) => false,
        };
        if inner.closed.load(Ordering::Acquire) {
            reachable = false;
        }
        let h = inner.health.snapshot();
        let degraded_reason = if inner.closed.load(Ordering::Acquire) {
            Some("the cache was shut down".to_string())
        } else if let Some(r) = h.degraded.clone() {
            Some(r)
        } else if !reachable {
            h.last_error
                .clone()
                .or_else(|| Some("not reachable".into()))
        } else if listener_down {
            Some("the embedded RESP listener stopped; the in-process cache still works".into())
        } else {
            None
        };
        let lookups = h.hits + h.misses;
        let view = inner.view.clone();
        CacheStatus {
            backend: view.backend,
            host: view.host,
            port: view.port,
            db: view.db,
            embedded_port: view.embedded_port,
            reachable,
            degraded: degraded_reason.is_some(),
            degraded_reason,
            degraded_since: h.degraded_since,
            hits: h.hits,
            misses: h.misses,
            hit_ratio: if lookups == 0 {
                0.0
            } else {
                h.hits as f64 / lookups as f64
            },
            errors: h.errors,
            skipped: h.skipped,
            last_error: h.last_error,
            entries,
            used_memory: memory.as_ref().and_then(|m| m.used),
            used_memory_human: memory.as_ref().and_then(|m| m.used).map(human_bytes),
            maxmemory: memory.as_ref().and_then(|m| m.maxmemory),
            maxmemory_policy: memory.and_then(|m| m.policy),
            tool_cache_expiration_hours: inner.tool_ttl.as_secs_f64() / 3600.0,
            gateway_cache_expiration_hours: inner.gateway_ttl.as_secs_f64() / 3600.0,
            discoveries_in_flight: inner.flights.len(),
        }
    }
}

impl Inner {
    /// Reachability, memory and entry counts for [`Cache::status`].
    async fn probe_status(&self) -> (bool, Option<MemoryInfo>, Option<EntryCounts>) {
        if self.closed.load(Ordering::Acquire) {
            return (false, None, None);
        }
        let limit = self.opts.status_scan_limit;
        match self.backend.active() {
            Active::Embedded(e) => {
                let counts = e.count(limit);
                if let Err(err) = &counts {
                    self.health.failed(err);
                }
                (true, Some(e.memory()), counts.ok())
            }
            Active::External(x) => {
                let memory = self.external_call(x.memory()).await;
                let Ok(memory) = memory else {
                    return (false, None, None);
                };
                let steps = limit.div_ceil(1000);
                let counted =
                    tokio::time::timeout(self.cache_timeout, self.external_call(x.count(steps)))
                        .await;
                let counts = match counted {
                    Ok(Ok(c)) => Some(c),
                    Ok(Err(_)) => None,
                    Err(_) => {
                        let e = CacheError::Backend {
                            message: "counting entries timed out".into(),
                            outage: false,
                        };
                        self.health.failed(&e);
                        None
                    }
                };
                (true, Some(memory), counts)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_as_redis() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(256 * 1024 * 1024), "256.00M");
        assert_eq!(human_bytes(3 << 30), "3.00G");
    }
}
