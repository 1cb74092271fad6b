//! The embedded backend: a `cachesrv` server in this process.
//!
//! The server listens for RESP on `127.0.0.1:<enkrypt_embedded_cache_port>` (and `::1` when
//! available) with `requirepass` and protected mode, so operators can inspect it with
//! `redis-cli -p 6380 -a <pw> --scan --pattern 'enkrypt:*'`. The gateway itself reads and
//! writes the engine in process: no socket and no RESP on the hot path.
//!
//! Engine contracts honoured (cachesrv `engine` module header): every engine call runs under
//! the engine's shared gate, taken here in sync code and never held across an `.await`;
//! `ensure_memory` runs before each write with no shard lock held (a refusal is
//! [`CacheError::OutOfMemory`]); closures passed to `with_key`/`scan` only copy data out. The
//! engine's cached clock is refreshed before each access so TTLs are exact to the millisecond,
//! as the server does per batch of commands.
//!
//! Server settings: 16 databases (the gateway uses db 0), `maxmemory` (256mb by default) with
//! `allkeys-lru`, no persistence (`save ""`, `appendonly no`) unless a data directory is given
//! (`enkrypt_embedded_cache_dir`): then `dump.rdb` there is loaded before serving, and saved
//! by Redis's default `save` rules and at shutdown, so a restarted gateway starts warm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cachesrv::engine::{Access, EngineError, Ttl, ValueRef};
use cachesrv::server::StartError;
use cachesrv::{Config, Server, Shared};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::error::{redact, CacheError};
use super::{unix_ms, EntryCounts, Lookup, MemoryInfo};
use crate::config::keys::{GATEWAY_CONFIG_PREFIX, KEY_TO_ID_PREFIX, TOOLS_PREFIX};

/// The database the gateway uses.
const DB: usize = 0;
/// The `save` rules when a data directory is set (Redis's defaults).
const SAVE_RULES: &str = "3600 1 300 100 60 10000";
/// Entries visited per SCAN step (one gate acquisition each).
const SCAN_STEP: usize = 1024;

/// A running embedded cache server.
pub(crate) struct Embedded {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
    port: u16,
    closed: AtomicBool,
    /// A data directory is set: the exit saves.
    persistent: bool,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("port", &self.port)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl From<EngineError> for CacheError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Oom(_) | EngineError::Full => CacheError::OutOfMemory,
            EngineError::WrongType => {
                CacheError::BadEntry("the key holds a non-string value (WRONGTYPE)".into())
            }
            other => CacheError::Backend {
                message: other.to_string(),
                outage: false,
            },
        }
    }
}

impl Embedded {
    /// Configures, binds and spawns the server. Must run inside a tokio runtime.
    pub(crate) async fn start(
        port: u16,
        password: &str,
        maxmemory: &str,
        bind: &str,
        dir: Option<&str>,
    ) -> Result<Embedded, CacheError> {
        let port_s = port.to_string();
        let mut args = vec![
            "--bind",
            bind,
            "--port",
            port_s.as_str(),
            "--requirepass",
            password,
            "--protected-mode",
            "yes",
            "--databases",
            "16",
            "--maxmemory",
            maxmemory,
            "--maxmemory-policy",
            "allkeys-lru",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        if let Some(d) = dir {
            std::fs::create_dir_all(d).map_err(|e| {
                CacheError::Embedded(format!(
                    "cannot create the embedded cache directory {d}: {e}"
                ))
            })?;
            // Redis's default save rules; the last `--save` wins.
            args.extend(["--dir", d, "--dbfilename", "dump.rdb", "--save", SAVE_RULES]);
        }
        let config = Config::from_args(&args)
            .map_err(|e| CacheError::Embedded(redact(&e.to_string(), &[password])))?;
        let server = Server::bind(config).await.map_err(|e| match e {
            StartError::Bind { addr, source } => CacheError::Bind {
                addr,
                port,
                reason: source.to_string(),
            },
            other => CacheError::Embedded(redact(&other.to_string(), &[password])),
        })?;
        let bound = server
            .local_addrs()
            .first()
            .map(|a| a.port())
            .unwrap_or(port);
        if dir.is_some() {
            // A cache that cannot be read back starts with what was read (whole keys only):
            // the gateway rediscovers the rest, it does not refuse to start.
            if let Err(e) = server.load_rdb() {
                tracing::warn!(
                    "the embedded cache's dump.rdb could not be loaded; starting without it: {}",
                    redact(&e.to_string(), &[password])
                );
            }
            let keys = server
                .shared()
                .engine
                .db(DB)
                .map(|d| d.dbsize())
                .unwrap_or(0);
            tracing::info!(keys, "embedded cache loaded from its data directory");
        }
        let shared = server.shared().clone();
        let task = tokio::spawn(server.run());
        Ok(Embedded {
            shared,
            task: Mutex::new(Some(task)),
            port: bound,
            closed: AtomicBool::new(false),
            persistent: dir.is_some(),
        })
    }

    /// The RESP port actually bound.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// False once the RESP listener has stopped (shutdown, or a `SHUTDOWN` command).
    pub(crate) fn listening(&self) -> bool {
        !self.shared.is_shutting_down()
            && self.task.lock().as_ref().is_some_and(|t| !t.is_finished())
    }

    fn open(&self) -> Result<(), CacheError> {
        if self.closed.load(Ordering::Acquire) {
            Err(CacheError::Closed)
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the gateway's database under the engine's shared gate, the clock fresh (the
    /// engine's contract for one access).
    fn with_db<R>(
        &self,
        f: impl FnOnce(&cachesrv::engine::DbHandle<'_>) -> Result<R, CacheError>,
    ) -> Result<R, CacheError> {
        self.open()?;
        let eng = &self.shared.engine;
        self.shared.clock.refresh();
        let _gate = eng.shared();
        f(&eng.db(DB)?)
    }

    /// Reads `key`. When its bytes equal `known`, says so instead of copying them.
    pub(crate) fn get(&self, key: &str, known: Option<&[u8]>) -> Result<Lookup, CacheError> {
        self.with_db(|db| {
            db.with_key(key.as_bytes(), Access::READ, |k| match k.as_str()? {
                None => Ok(Lookup::Missing),
                Some(b) if known == Some(b) => Ok(Lookup::Same),
                Some(b) => Ok(Lookup::Found(Bytes::copy_from_slice(b))),
            })
        })
    }

    /// Reads several keys without counting keyspace hits (internal scans).
    pub(crate) fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.with_db(|db| {
            Ok(keys
                .iter()
                .map(|key| {
                    db.with_key(key.as_bytes(), Access::READ.no_stats().no_touch(), |k| {
                        k.as_str().ok().flatten().map(Bytes::copy_from_slice)
                    })
                })
                .collect())
        })
    }

    /// `SET key value PX ttl`.
    pub(crate) fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.open()?;
        // Before the gate: eviction takes shard locks.
        self.shared
            .engine
            .ensure_memory()
            .map_err(|_| CacheError::OutOfMemory)?;
        let at = unix_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        self.with_db(|db| {
            db.with_key(key.as_bytes(), Access::WRITE, |k| {
                k.put_str(value, Ttl::At(at))
            })?;
            Ok(())
        })
    }

    /// Deletes `keys`; the number removed.
    pub(crate) fn del(&self, keys: &[String]) -> Result<usize, CacheError> {
        self.with_db(|db| {
            Ok(keys
                .iter()
                .filter(|key| db.with_key(key.as_bytes(), Access::WRITE, |k| k.delete()))
                .count())
        })
    }

    /// Keys starting with `prefix`, visiting at most `limit` keys; `true` when cut short.
    pub(crate) fn keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), CacheError> {
        self.open()?;
        let mut out = Vec::new();
        let truncated = self.scan_all(limit, |k, _| {
            if k.starts_with(prefix.as_bytes()) {
                out.push(String::from_utf8_lossy(k).into_owned());
            }
        })?;
        Ok((out, truncated))
    }

    /// Counts the gateway's entries by kind.
    pub(crate) fn count(&self, limit: usize) -> Result<EntryCounts, CacheError> {
        self.open()?;
        let mut c = EntryCounts::default();
        let truncated = self.scan_all(limit, |k, _| c.classify(k))?;
        c.truncated = truncated;
        Ok(c)
    }

    /// Runs the engine's SCAN over db 0 to the end, or until `limit` keys were visited, taking
    /// the gate per step. `f` runs under a shard lock: it must only copy data out.
    fn scan_all(
        &self,
        limit: usize,
        mut f: impl FnMut(&[u8], ValueRef<'_>),
    ) -> Result<bool, CacheError> {
        let eng = &self.shared.engine;
        self.shared.clock.refresh();
        let db = eng.db(DB)?;
        let mut cursor = 0;
        let mut visited = 0usize;
        loop {
            {
                let _gate = eng.shared();
                cursor = db.scan(cursor, SCAN_STEP, |k, v| {
                    visited += 1;
                    f(k, v)
                });
            }
            if cursor == 0 {
                return Ok(false);
            }
            if visited >= limit {
                return Ok(true);
            }
        }
    }

    /// `used_memory` and `maxmemory` from the engine.
    pub(crate) fn memory(&self) -> MemoryInfo {
        let eng = &self.shared.engine;
        MemoryInfo {
            used: Some(eng.used_memory()),
            maxmemory: Some(eng.maxmemory()),
            policy: Some(eng.policy().as_str().to_string()),
        }
    }

    /// Stops the RESP listener; later calls fail with [`CacheError::Closed`].
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        self.shared.request_shutdown();
        let task = self.task.lock().take();
        if let Some(t) = task {
            // With a data directory the exit saves `dump.rdb`: give it time.
            let limit = if self.persistent { 120 } else { 2 };
            let _ = tokio::time::timeout(Duration::from_secs(limit), t).await;
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if !self.shared.is_shutting_down() {
            self.shared.request_shutdown();
        }
    }
}

impl EntryCounts {
    /// Counts `key` under its kind.
    pub(crate) fn classify(&mut self, key: &[u8]) {
        if key.starts_with(TOOLS_PREFIX.as_bytes()) {
            self.tools += 1;
        } else if key.starts_with(GATEWAY_CONFIG_PREFIX.as_bytes()) {
            self.gateway_config += 1;
        } else if key.starts_with(KEY_TO_ID_PREFIX.as_bytes()) {
            self.key_to_id += 1;
        }
    }
}
