//! The external backend: Redis, KeyDB or a `cachesrv` process, over the workspace's RESP client.
//!
//! Mirrors the reference gateway's external cache (`enkrypt_mcp_use_external_cache: true`,
//! `enkrypt_cache_host/port/db/password`). The client connects lazily and reconnects by itself;
//! each command is bounded by `timeout_settings.cache_timeout` (reconnect included) and each
//! connect by `connectivity_timeout`. With `enkrypt_cache_sentinels` the master is found
//! through Redis Sentinel and followed across failovers; with `enkrypt_cache_tls` (or a
//! `rediss://` `enkrypt_cache_url`) it speaks TLS. Outage handling (the breaker) lives in
//! [`super::health`], not here.
//!
//! Key scans use `SCAN MATCH enkrypt:* COUNT 1000`, never `KEYS`, so a shared Redis is not
//! blocked; deletes use `UNLINK` in batches.

use std::time::Duration;

use bytes::Bytes;
use protocol::client::{Client, ClientConfig, SentinelConfig, SetExpiry, SetOptions, TlsConfig};

use super::error::CacheError;
use super::{EntryCounts, Lookup, MemoryInfo};
use crate::config::model::{CommonConfig, SentinelSettings};
use crate::config::Secret;

/// Keys per SCAN step.
const SCAN_COUNT: usize = 1000;
/// Keys per MGET / UNLINK.
pub(super) const BATCH: usize = 200;

/// A RESP connection pool to the configured server.
pub(crate) struct External {
    client: Client,
    password: Option<Secret>,
    host: String,
    port: u16,
    db: u8,
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("External")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .finish()
    }
}

fn sentinel_config(s: &SentinelSettings) -> SentinelConfig {
    let mut c = SentinelConfig::new(s.addrs.clone(), s.master.clone());
    c.password = s.password.as_ref().map(|p| p.expose().to_string());
    c
}

impl External {
    /// A lazily connecting client to `host:port` (the embedded cache of another gateway);
    /// nothing is sent yet.
    pub(crate) fn new(
        host: &str,
        port: u16,
        db: u8,
        password: Option<Secret>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> External {
        let cfg = ClientConfig {
            host: host.to_string(),
            port,
            db: u32::from(db),
            password: password.as_ref().map(|p| p.expose().to_string()),
            client_name: Some("secure-mcp-gateway".into()),
            connect_timeout,
            command_timeout,
            pool_size: 2,
            ..ClientConfig::default()
        };
        External {
            client: Client::new(cfg),
            password,
            host: host.to_string(),
            port,
            db,
        }
    }

    /// The configured external cache: `enkrypt_cache_host/port/db/password`, through Redis
    /// Sentinel when `enkrypt_cache_sentinels` is set, over TLS when `enkrypt_cache_tls` is.
    pub(crate) fn configured(common: &CommonConfig) -> External {
        let mut x = External::new(
            &common.cache_host,
            common.cache_port,
            common.cache_db,
            common.cache_password.clone(),
            common.timeouts.connectivity,
            common.timeouts.cache,
        );
        let mut cfg = x.client.config().clone();
        cfg.username = common.cache_username.clone();
        cfg.sentinel = common.cache_sentinel.as_ref().map(sentinel_config);
        cfg.tls = common.cache_tls.then(|| TlsConfig {
            ca_file: common.cache_tls_ca_file.clone(),
            server_name: None,
        });
        x.client = Client::new(cfg);
        x
    }

    fn err(&self, e: protocol::Error) -> CacheError {
        let secret = self.password.as_ref().map(Secret::expose).unwrap_or("");
        CacheError::from_client(&e, &[secret])
    }

    /// `PING`.
    pub(crate) async fn ping(&self) -> Result<(), CacheError> {
        self.client.ping().await.map_err(|e| self.err(e))
    }

    /// `GET key`, compared with `known`.
    pub(crate) async fn get(&self, key: &str, known: Option<&[u8]>) -> Result<Lookup, CacheError> {
        match self.client.get(key).await.map_err(|e| self.err(e))? {
            None => Ok(Lookup::Missing),
            Some(b) if known == Some(&b[..]) => Ok(Lookup::Same),
            Some(b) => Ok(Lookup::Found(b)),
        }
    }

    /// `MGET` in batches.
    pub(crate) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            out.extend(self.client.mget(chunk).await.map_err(|e| self.err(e))?);
        }
        Ok(out)
    }

    /// `SET key value PX ttl`.
    pub(crate) async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let opts = SetOptions {
            expiry: Some(SetExpiry::Millis(ms)),
            condition: None,
        };
        self.client
            .set_with(key, value, opts)
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// `UNLINK` in batches; the number removed.
    pub(crate) async fn del(&self, keys: &[String]) -> Result<usize, CacheError> {
        let mut n = 0usize;
        for chunk in keys.chunks(BATCH) {
            let removed = self.client.unlink(chunk).await.map_err(|e| self.err(e))?;
            n += usize::try_from(removed).unwrap_or(0);
        }
        Ok(n)
    }

    /// One `SCAN cursor MATCH pattern COUNT 1000` step.
    pub(crate) async fn scan_step(
        &self,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Bytes>), CacheError> {
        self.client
            .scan(cursor, Some(pattern.as_bytes()), Some(SCAN_COUNT))
            .await
            .map_err(|e| self.err(e))
    }

    /// Keys matching `prefix*`, stopping after about `limit` keys returned.
    pub(crate) async fn keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), CacheError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor = 0;
        let mut out = Vec::new();
        loop {
            let (next, keys) = self.scan_step(cursor, &pattern).await?;
            out.extend(keys.iter().map(|k| String::from_utf8_lossy(k).into_owned()));
            if next == 0 {
                return Ok((out, false));
            }
            if out.len() >= limit {
                return Ok((out, true));
            }
            cursor = next;
        }
    }

    /// Counts `enkrypt:*` entries by kind, for at most `max_steps` SCAN steps.
    pub(crate) async fn count(&self, max_steps: usize) -> Result<EntryCounts, CacheError> {
        let mut c = EntryCounts::default();
        let mut cursor = 0;
        for _ in 0..max_steps.max(1) {
            let (next, keys) = self.scan_step(cursor, "enkrypt:*").await?;
            for k in &keys {
                c.classify(k);
            }
            if next == 0 {
                return Ok(c);
            }
            cursor = next;
        }
        c.truncated = true;
        Ok(c)
    }

    /// `INFO memory`: `used_memory`, `maxmemory`, `maxmemory_policy`.
    pub(crate) async fn memory(&self) -> Result<MemoryInfo, CacheError> {
        let text = self
            .client
            .info(Some("memory"))
            .await
            .map_err(|e| self.err(e))?;
        let field = |name: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        Ok(MemoryInfo {
            used: field("used_memory").and_then(|v| v.parse().ok()),
            maxmemory: field("maxmemory").and_then(|v| v.parse().ok()),
            policy: field("maxmemory_policy"),
        })
    }
}

/// Escapes glob metacharacters (`* ? [ ] \`) of a literal prefix.
pub(super) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
