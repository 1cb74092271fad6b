//! The embedded backend: a `cachesrv` server in this process.
//!
//! The server listens for RESP on `127.0.0.1:<enkrypt_embedded_cache_port>` (and `::1` when
//! available) with `requirepass` and protected mode, so operators can inspect it with
//! `redis-cli -p 6380 -a <pw> --scan --pattern 'enkrypt:*'`. The gateway itself is an
//! in-process client ([`cachesrv::cmd::Runner`]): its commands (`GET`, `SET ... PX`, `MGET`,
//! `UNLINK`, `SCAN`) go through the server's own dispatcher, with no socket, so they follow
//! every rule a network client's do (memory limit and eviction, expiry, stats, keyspace events,
//! the AOF) without the gateway repeating any of them.
//!
//! Server settings: 16 databases (the gateway uses db 0), `maxmemory` (256mb by default) with
//! `allkeys-lru`, no persistence (`save ""`, `appendonly no`) unless a data directory is given
//! (`enkrypt_embedded_cache_dir`): then `dump.rdb` there is loaded before serving, and saved
//! by Redis's default `save` rules and at shutdown, so a restarted gateway starts warm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cachesrv::cmd::Runner;
use cachesrv::server::StartError;
use cachesrv::{Config, Server, Shared};
use parking_lot::Mutex;
use protocol::Frame;
use tokio::task::JoinHandle;

use super::error::{redact, CacheError};
use super::external::{glob_escape, BATCH};
use super::{EntryCounts, Lookup, MemoryInfo};
use crate::config::keys::{GATEWAY_CONFIG_PREFIX, KEY_TO_ID_PREFIX, TOOLS_PREFIX};

/// The database the gateway uses.
const DB: usize = 0;
/// The `save` rules when a data directory is set (Redis's defaults).
const SAVE_RULES: &str = "3600 1 300 100 60 10000";
/// `COUNT` of a SCAN step.
const SCAN_STEP: usize = 1024;
/// In-process clients kept for reuse.
const POOL: usize = 8;
/// Their `CLIENT SETNAME`.
const CLIENT_NAME: &str = "enkrypt-gateway";

/// A running embedded cache server.
pub(crate) struct Embedded {
    shared: Arc<Shared>,
    /// Idle in-process clients.
    runners: Mutex<Vec<Runner>>,
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

/// The [`CacheError`] of an error reply.
fn reply_error(e: &[u8]) -> CacheError {
    let text = String::from_utf8_lossy(e);
    if text.starts_with("OOM ") {
        CacheError::OutOfMemory
    } else if text.starts_with("WRONGTYPE ") {
        CacheError::BadEntry("the key holds a non-string value (WRONGTYPE)".into())
    } else {
        CacheError::Backend {
            message: text.into_owned(),
            outage: false,
        }
    }
}

/// A reply of a shape the command never gives (named by its type only: a value may be
/// anything the cache holds).
fn unexpected(command: &str, reply: &Frame) -> CacheError {
    let kind = match reply {
        Frame::Simple(_) => "a status",
        Frame::Integer(_) => "an integer",
        Frame::Bulk(_) => "a string",
        Frame::Null => "null",
        Frame::Array(_) => "an array",
        _ => "an unexpected type",
    };
    CacheError::Backend {
        message: format!("{command} answered {kind}"),
        outage: false,
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
        let server = Server::bind(config).map_err(|e| match e {
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
                .enter()
                .db(DB)
                .map(|d| d.dbsize())
                .unwrap_or(0);
            tracing::info!(keys, "embedded cache loaded from its data directory");
        }
        let shared = server.shared().clone();
        let task = tokio::spawn(server.run());
        Ok(Embedded {
            shared,
            runners: Mutex::new(Vec::new()),
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

    /// Runs one command as an in-process client of the server ([`Runner`]: the same dispatcher,
    /// rules and side effects as a RESP connection: memory limit and eviction, expiry, stats,
    /// keyspace events, the AOF when enabled) and returns its reply; an error reply is a
    /// [`CacheError`]. Clients are reused; each shows in `CLIENT LIST` as `enkrypt-gateway`.
    fn run(&self, argv: &[&[u8]]) -> Result<Frame, CacheError> {
        self.open()?;
        let pooled = self.runners.lock().pop();
        let mut runner = match pooled {
            Some(r) => r,
            None => {
                let mut r = Runner::internal(self.shared.clone());
                r.run(&["CLIENT", "SETNAME", CLIENT_NAME]);
                r
            }
        };
        let reply = runner.call(argv).into_iter().next();
        // A client killed by an operator (`CLIENT KILL`) is dropped; the next call makes another.
        if !runner.closed() {
            let mut pool = self.runners.lock();
            if pool.len() < POOL {
                pool.push(runner);
            }
        }
        match reply {
            Some(Frame::Error(e)) => Err(reply_error(&e)),
            Some(f) => Ok(f),
            None => Err(CacheError::Backend {
                message: "the embedded cache sent no reply".into(),
                outage: false,
            }),
        }
    }

    /// `GET key`. When its bytes equal `known`, says so instead of returning them.
    pub(crate) fn get(&self, key: &str, known: Option<&[u8]>) -> Result<Lookup, CacheError> {
        match self.run(&[b"GET", key.as_bytes()])? {
            Frame::Null => Ok(Lookup::Missing),
            Frame::Bulk(b) if known == Some(&b[..]) => Ok(Lookup::Same),
            Frame::Bulk(b) => Ok(Lookup::Found(b)),
            other => Err(unexpected("GET", &other)),
        }
    }

    /// `MGET` in batches.
    pub(crate) fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            let mut argv: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 1);
            argv.push(b"MGET");
            argv.extend(chunk.iter().map(|k| k.as_bytes()));
            let Frame::Array(values) = self.run(&argv)? else {
                return Err(CacheError::Backend {
                    message: "MGET answered with a non-array".into(),
                    outage: false,
                });
            };
            out.extend(values.into_iter().map(|v| match v {
                Frame::Bulk(b) => Some(b),
                _ => None,
            }));
        }
        Ok(out)
    }

    /// `SET key value PX ttl`.
    pub(crate) fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let ms = ms.to_string();
        match self.run(&[b"SET", key.as_bytes(), value, b"PX", ms.as_bytes()])? {
            Frame::Simple(_) => Ok(()),
            other => Err(unexpected("SET", &other)),
        }
    }

    /// `UNLINK` in batches; the number removed.
    pub(crate) fn del(&self, keys: &[String]) -> Result<usize, CacheError> {
        let mut n = 0usize;
        for chunk in keys.chunks(BATCH) {
            let mut argv: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 1);
            argv.push(b"UNLINK");
            argv.extend(chunk.iter().map(|k| k.as_bytes()));
            match self.run(&argv)? {
                Frame::Integer(i) => n += usize::try_from(i).unwrap_or(0),
                other => return Err(unexpected("UNLINK", &other)),
            }
        }
        Ok(n)
    }

    /// One `SCAN cursor MATCH pattern COUNT 1024` step: the next cursor and the keys found.
    fn scan_step(&self, cursor: u64, pattern: &[u8]) -> Result<(u64, Vec<Bytes>), CacheError> {
        let cur = cursor.to_string();
        let count = SCAN_STEP.to_string();
        let reply = self.run(&[
            b"SCAN",
            cur.as_bytes(),
            b"MATCH",
            pattern,
            b"COUNT",
            count.as_bytes(),
        ])?;
        let Frame::Array(mut parts) = reply else {
            return Err(unexpected("SCAN", &reply));
        };
        let keys = match parts.pop() {
            Some(Frame::Array(keys)) => keys
                .into_iter()
                .filter_map(|k| match k {
                    Frame::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let next = match parts.pop() {
            Some(Frame::Bulk(c)) => std::str::from_utf8(&c).ok().and_then(|c| c.parse().ok()),
            _ => None,
        };
        let Some(next) = next else {
            return Err(CacheError::Backend {
                message: "SCAN answered without a cursor".into(),
                outage: false,
            });
        };
        Ok((next, keys))
    }

    /// Runs SCAN with `pattern` to the end, or until about `limit` keys were visited (a step
    /// visits up to [`SCAN_STEP`]); `true` when cut short.
    fn scan_all(
        &self,
        pattern: &[u8],
        limit: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<bool, CacheError> {
        let mut cursor = 0;
        let mut visited = 0usize;
        loop {
            let (next, keys) = self.scan_step(cursor, pattern)?;
            for k in &keys {
                f(k);
            }
            visited += SCAN_STEP;
            if next == 0 {
                return Ok(false);
            }
            if visited >= limit {
                return Ok(true);
            }
            cursor = next;
        }
    }

    /// Keys starting with `prefix`, visiting at most about `limit` keys; `true` when cut short.
    pub(crate) fn keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), CacheError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let mut out = Vec::new();
        let truncated = self.scan_all(pattern.as_bytes(), limit, |k| {
            out.push(String::from_utf8_lossy(k).into_owned());
        })?;
        Ok((out, truncated))
    }

    /// Counts the gateway's entries by kind.
    pub(crate) fn count(&self, limit: usize) -> Result<EntryCounts, CacheError> {
        let mut c = EntryCounts::default();
        c.truncated = self.scan_all(b"enkrypt:*", limit, |k| c.classify(k))?;
        Ok(c)
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
