//! The gateway cache: tool discoveries, gateway configs and key mappings, with TTLs, in the
//! embedded `cachesrv` (default) or an external Redis/KeyDB.
//!
//! Mirrors the reference gateway's cache (seed "External Cache"): the same three entry kinds
//! and key layout (`enkrypt:tools:{md5}`, `enkrypt:gateway_config:{md5}`,
//! `enkrypt:key_to_id:{md5}`, built by [`crate::config::keys`] and [`tool_key`]), JSON values
//! that `redis-cli GET` shows readably, TTLs from `enkrypt_tool_cache_expiration` and
//! `enkrypt_gateway_cache_expiration` (hours, fractions allowed), `clear_cache` semantics
//! (tool entries by default, one server, or everything) and a status report whose backend
//! reads `Embedded` or `External (Redis/KeyDB)`.
//!
//! Modules: [`entry`] (tool entries, MCP cache hints), [`error`], `embedded` (in-process
//! engine plus a RESP listener for operators), `external` (the RESP client), `start` (starting
//! the backend; a second gateway on the embedded port shares the first one's cache), `health`
//! (counters and the outage breaker), `flight` (single-flight discovery), `status` (the status
//! report), `facade` (the convenience calls the service, meta tools and CLI use:
//! `discover_tools`, `clear_server`, `health`, `connect_remote`, ...).
//!
//! Design: the backend is a closed `enum`, not a trait object. There are exactly two backends,
//! both known here; an enum gives static dispatch and lets the embedded hot path stay a plain
//! synchronous engine call inside the async method (a `dyn` trait would need boxed futures on
//! every call, since async trait methods are not object safe).
//!
//! Invariants:
//! - cache failures never fail the gateway: every method returns them as values, and
//!   [`Cache::discover_with`] treats them as misses (the cache is then reported degraded);
//! - no lock, DashMap guard or engine gate is held across an `.await`;
//! - key names hold only namespaces and MD5 hex digests; no message carries a password or a
//!   gateway key.
//!
//! Hot path: a tool lookup keeps the last decoded value of each entry next to its raw bytes
//! (the *memo*); a hit compares the stored bytes with the memo's and hands out the shared
//! `Arc<Value>`, so a cached tools/list costs a hash, a lookup and a `memcmp`, not a JSON parse.

pub mod entry;
pub mod error;

mod embedded;
mod external;
mod facade;
mod flight;
mod health;
mod start;
mod status;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use serde_json::Value;

pub use entry::{tool_key, CacheHints, ToolsKey};
pub use error::CacheError;
pub use facade::{CacheHealth, ToolsEntryInfo};
pub(crate) use status::MemoryInfo;
pub use status::{human_bytes, CacheStatus, EntryCounts};

use crate::config::keys::{gateway_config_key, key_to_id_key, TOOLS_PREFIX};
use crate::config::Secret;
use embedded::Embedded;
use external::External;
use flight::{Flights, Role};
use health::{Health, Op};
use start::Sibling;

/// `CacheStatus::backend` of the embedded cache.
pub const BACKEND_EMBEDDED: &str = "Embedded";
/// `CacheStatus::backend` of an external Redis/KeyDB (the reference's wording).
pub const BACKEND_EXTERNAL: &str = "External (Redis/KeyDB)";

/// Namespace of every gateway key.
const NAMESPACE: &str = "enkrypt:";

/// Tunables that are not in the config file.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// How long an unreachable external backend is skipped after a failure (1 s).
    pub backoff: Duration,
    /// `maxmemory` of the embedded server, in redis.conf syntax (`256mb`).
    pub embedded_maxmemory: String,
    /// `bind` of the embedded server (`127.0.0.1 -::1`: loopback only).
    pub embedded_bind: String,
    /// Keys examined at most when counting entries for [`Cache::status`] (100 000).
    pub status_scan_limit: usize,
    /// Decoded tool entries kept for the hot path (4096).
    pub memo_capacity: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            backoff: Duration::from_secs(1),
            embedded_maxmemory: "256mb".into(),
            embedded_bind: "127.0.0.1 -::1".into(),
            status_scan_limit: 100_000,
            memo_capacity: 4096,
        }
    }
}

/// A raw read.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// No such key.
    Missing,
    /// The value equals the bytes the caller already had.
    Same,
    /// The value.
    Found(Bytes),
}

enum Backend {
    Embedded(Embedded),
    External(External),
    /// The embedded cache of another gateway on the same port (see `start`).
    Sibling(Box<Sibling>),
}

/// The backend a call goes to.
enum Active<'a> {
    Embedded(&'a Embedded),
    External(&'a External),
}

impl Backend {
    fn active(&self) -> Active<'_> {
        match self {
            Backend::Embedded(e) => Active::Embedded(e),
            Backend::External(x) => Active::External(x),
            Backend::Sibling(s) => match s.owned() {
                Some(e) => Active::Embedded(e),
                None => Active::External(s.remote()),
            },
        }
    }
}

struct Memo {
    raw: Bytes,
    value: Arc<Value>,
}

/// How the cache presents itself in status reports.
#[derive(Debug, Clone)]
struct View {
    backend: &'static str,
    host: Option<String>,
    port: Option<u16>,
    db: Option<u8>,
    embedded_port: Option<u16>,
}

impl View {
    /// The embedded cache on `port` (ours, or another gateway's reached over RESP).
    fn embedded(port: u16) -> View {
        View {
            backend: BACKEND_EMBEDDED,
            host: None,
            port: None,
            db: Some(0),
            embedded_port: Some(port),
        }
    }
}

struct Inner {
    backend: Backend,
    view: View,
    health: Health,
    flights: Flights,
    memo: DashMap<String, Arc<Memo>>,
    tool_ttl: Duration,
    gateway_ttl: Duration,
    cache_timeout: Duration,
    opts: CacheOptions,
    embedded_password: Option<Secret>,
    closed: AtomicBool,
    /// Counts the times every tool entry was declared stale ([`Cache::tools_changed`]): a
    /// discovery that saw it move while it ran does not leave its entry in the cache.
    tools_epoch: AtomicU64,
    /// The same per server name ([`Cache::server_tools_changed`]).
    server_epochs: DashMap<String, u64>,
}

/// Where the tools epochs stand for a discovery: the cache-wide one and its server's.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ToolsEpoch(u64, u64);

/// The outcome of one discovery, shared with its waiters.
struct FlightOutcome<E> {
    result: Result<Arc<Value>, E>,
    private: bool,
    owner: Option<String>,
}

impl<E> FlightOutcome<E> {
    fn visible_to(&self, user: Option<&str>) -> bool {
        !self.private || (user.is_some() && self.owner.as_deref() == user)
    }
}

/// The gateway cache. Cheap to clone (clones share the backend, counters and flights).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Cache");
        match &self.inner.backend {
            Backend::Embedded(e) => d.field("embedded", e),
            Backend::External(x) => d.field("external", x),
            Backend::Sibling(s) => d.field("sibling", s),
        };
        d.finish()
    }
}

/// Runs one backend call: refuses it after shutdown, applies the breaker to a RESP backend,
/// and records the outcome in the counters; an outage of a sibling's cache makes this gateway
/// try to take its port over.
macro_rules! call {
    ($inner:expr, $op:expr, $e:ident => $emb:expr, $x:ident => $ext:expr) => {{
        let inner: &Inner = $inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(CacheError::Closed);
        }
        match inner.backend.active() {
            Active::Embedded($e) => {
                let started = inner.health.start();
                let r = $emb;
                inner.health.timed($op, started);
                inner.health.record(&r);
                r
            }
            Active::External($x) => {
                let _permit = inner.health.admit()?;
                let started = inner.health.start();
                let r = $ext;
                inner.health.timed($op, started);
                inner.health.record(&r);
                if let Err(e) = &r {
                    inner.after_failure(e).await;
                }
                r
            }
        }
    }};
}

impl Cache {
    /// `"Embedded"` or `"External (Redis/KeyDB)"`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.view.backend
    }

    /// The embedded RESP port, if embedded.
    pub fn embedded_port(&self) -> Option<u16> {
        self.inner.view.embedded_port
    }

    /// The embedded server's password (configured or generated). A secret: hand it only to an
    /// operator who asked for it, never to a log.
    pub fn embedded_password(&self) -> Option<&Secret> {
        self.inner.embedded_password.as_ref()
    }

    /// Whether backend operations are timed for `/metrics` (on by default).
    pub fn set_timing(&self, on: bool) {
        self.inner.health.set_timed(on);
    }

    /// Each backend operation's durations (`get`, `set`, ...), for `/metrics`.
    pub fn op_durations(&self) -> Vec<(&'static str, crate::histogram::HistogramSnapshot)> {
        self.inner
            .health
            .durations()
            .into_iter()
            .map(|(op, h)| (op.as_str(), h))
            .collect()
    }

    /// True while the external backend is in an outage (calls are being skipped).
    pub fn is_degraded(&self) -> bool {
        self.inner.health.is_down()
    }

    /// The cached tools of a server for this caller: the stored entry
    /// (`{"server_name", "tools", "cached_at", ...}`), or `None` on a miss. For a private
    /// entry, only the caller's own (`key.user_id`) is returned.
    pub async fn get_tools(&self, key: &ToolsKey<'_>) -> Result<Option<Arc<Value>>, CacheError> {
        let r = self.inner.lookup_tools(key).await.map(|l| l.0);
        match &r {
            Ok(Some(_)) => self.inner.health.hit(),
            Ok(None) => self.inner.health.miss(),
            Err(_) => {}
        }
        r
    }

    /// Stores a server's tools/list `result` (or a bare tools array) for
    /// `enkrypt_tool_cache_expiration`, or `ttl_override`, capped by the result's `ttlMs`
    /// hint; a `cacheScope` of `private`/`user` stores it per user (see [`entry`]).
    ///
    /// `Ok(false)` when the hints forbid storing (`ttlMs: 0`, or private without a user id);
    /// [`CacheError::NotCacheable`] when the result has no `tools` array.
    pub async fn put_tools(
        &self,
        key: &ToolsKey<'_>,
        result: &Value,
        ttl_override: Option<Duration>,
    ) -> Result<bool, CacheError> {
        let built = entry::build(key, result, ttl_override.unwrap_or(self.inner.tool_ttl));
        match built.not_stored {
            Some(entry::NotStored::NoTools) => {
                return Err(CacheError::NotCacheable(
                    entry::NotStored::NoTools.as_str().into(),
                ))
            }
            Some(_) => return Ok(false),
            None => {}
        }
        self.inner.store(built).await.1.map(|()| true)
    }

    /// The cached gateway config of `gateway_key` (`enkrypt:gateway_config:{md5}`).
    pub async fn get_gateway_config(&self, gateway_key: &str) -> Result<Option<Value>, CacheError> {
        self.inner
            .get_counted(&gateway_config_key(gateway_key))
            .await
    }

    /// Caches the gateway config of `gateway_key` for `enkrypt_gateway_cache_expiration`.
    pub async fn put_gateway_config(
        &self,
        gateway_key: &str,
        value: &Value,
    ) -> Result<(), CacheError> {
        let key = gateway_config_key(gateway_key);
        self.inner
            .put_json(&key, value, self.inner.gateway_ttl)
            .await
    }

    /// The cached key-to-id mapping of `gateway_key` (`enkrypt:key_to_id:{md5}`).
    pub async fn get_key_to_id(&self, gateway_key: &str) -> Result<Option<Value>, CacheError> {
        self.inner.get_counted(&key_to_id_key(gateway_key)).await
    }

    /// Caches the key-to-id mapping of `gateway_key` for `enkrypt_gateway_cache_expiration`.
    pub async fn put_key_to_id(&self, gateway_key: &str, value: &Value) -> Result<(), CacheError> {
        let key = key_to_id_key(gateway_key);
        self.inner
            .put_json(&key, value, self.inner.gateway_ttl)
            .await
    }

    /// Removes entries, as the reference's `clear_cache`; returns the number of keys removed.
    ///
    /// - `all`: every `enkrypt:*` key (`server` is then ignored);
    /// - `server = Some((config_id, server_name))`: that server's tool entries, shared and
    ///   per-user;
    /// - otherwise: every tool entry (`enkrypt:tools:*`).
    pub async fn clear(
        &self,
        server: Option<(&str, &str)>,
        all: bool,
    ) -> Result<usize, CacheError> {
        let inner = &*self.inner;
        // Before the keys go: a discovery storing meanwhile takes its entry back.
        match server {
            Some((_, server_name)) if !all => self.server_tools_changed(server_name),
            _ => self.tools_changed(),
        }
        let n = if all {
            let keys = inner.keys_with_prefix(NAMESPACE).await?;
            inner.del(&keys).await?
        } else if let Some((config_id, server_name)) = server {
            let shared = tool_key(config_id, server_name, None);
            let keys = inner.keys_with_prefix(TOOLS_PREFIX).await?;
            let values = inner.get_many(&keys).await?;
            let mut targets: Vec<String> = keys
                .into_iter()
                .zip(values)
                .filter(|(k, v)| {
                    *k == shared
                        || v.as_deref().and_then(group_of).as_deref() == Some(shared.as_str())
                })
                .map(|(k, _)| k)
                .collect();
            if !targets.contains(&shared) {
                targets.push(shared);
            }
            inner.del(&targets).await?
        } else {
            let keys = inner.keys_with_prefix(TOOLS_PREFIX).await?;
            inner.del(&keys).await?
        };
        inner.memo.clear();
        Ok(n)
    }

    /// Declares every server's tool entries stored so far stale (changed server definitions,
    /// a clear of every entry), before they are deleted. A discovery that was running
    /// meanwhile hands its result to its callers but takes its entry back out of the cache
    /// once stored: its tools/list may predate the change, and the deletion may have run
    /// before its write.
    pub fn tools_changed(&self) {
        self.inner.tools_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// [`Cache::tools_changed`] for the servers named `server` only, in any mcp_config
    /// (`notifications/tools/list_changed`, a clear of that server's entries).
    pub fn server_tools_changed(&self, server: &str) {
        *self
            .inner
            .server_epochs
            .entry(server.to_string())
            .or_insert(0) += 1;
    }

    /// Discovery through the cache, one at a time per key.
    ///
    /// A hit returns the cached entry. On a miss, the first caller for the key runs `f` (the
    /// upstream tools/list) while concurrent callers wait for it; a success is stored (TTL and
    /// hints as [`Cache::put_tools`]) and every waiter gets the same entry; an error is not
    /// stored and is returned to every waiter. A private result (cacheScope) reaches only
    /// waiters of the same user; the others run their own discovery. Cache errors never fail
    /// discovery: they are counted and logged (once per outage) and the lookup counts as a miss.
    /// If the leading caller is cancelled, a waiter takes over. A result the tools were declared
    /// changed during ([`Cache::tools_changed`], [`Cache::server_tools_changed`]) is returned
    /// but not kept in the cache.
    ///
    /// The returned value is the entry shape (`{"server_name", "tools", "cached_at", ...}`),
    /// whether it came from the cache or from `f`.
    pub async fn discover_with<F, Fut, E>(&self, key: &ToolsKey<'_>, f: F) -> Result<Arc<Value>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let inner = &*self.inner;
        loop {
            let private_marker = match self.get_tools_marked(key).await {
                Ok((Some(v), _)) => return Ok(v),
                Ok((None, marker)) => marker,
                Err(_) => false,
            };
            let flight_key = match (private_marker, key.user_key()) {
                (true, Some(user_key)) => user_key,
                _ => key.shared_key(),
            };
            match inner.flights.join::<FlightOutcome<E>>(&flight_key) {
                Role::Waiter(rx) => {
                    if let Some(outcome) = flight::wait(rx).await {
                        if let Some(o) = (*outcome).downcast_ref::<FlightOutcome<E>>() {
                            if o.visible_to(key.user_id) {
                                return o.result.clone();
                            }
                        }
                    }
                    // The leader was cancelled, or its result is private to another user.
                    tokio::task::yield_now().await;
                }
                Role::Leader(leader) => {
                    // A flight that ended between the lookup and the join has stored its entry.
                    if let Ok((Some(v), _)) = inner.lookup_tools(key).await {
                        let private = v.get("private").and_then(Value::as_bool) == Some(true);
                        leader.finish(Arc::new(FlightOutcome::<E> {
                            result: Ok(v.clone()),
                            private,
                            owner: key.user_id.map(str::to_string),
                        }));
                        return Ok(v);
                    }
                    let epoch = inner.tools_epoch(key.server_name);
                    let outcome = match f().await {
                        Ok(result) => {
                            let built = entry::build(key, &result, inner.tool_ttl);
                            let private = built.private;
                            let entry = match built.not_stored {
                                Some(why) => {
                                    tracing::debug!(
                                        reason = why.as_str(),
                                        "discovery result not cached"
                                    );
                                    Arc::new(built.entry)
                                }
                                None => {
                                    inner
                                        .store_unless_changed(built, key.server_name, epoch)
                                        .await
                                }
                            };
                            FlightOutcome::<E> {
                                result: Ok(entry),
                                private,
                                owner: key.user_id.map(str::to_string),
                            }
                        }
                        Err(e) => FlightOutcome::<E> {
                            result: Err(e),
                            private: false,
                            owner: None,
                        },
                    };
                    let result = outcome.result.clone();
                    leader.finish(Arc::new(outcome));
                    return result;
                }
            }
        }
    }

    async fn get_tools_marked(
        &self,
        key: &ToolsKey<'_>,
    ) -> Result<(Option<Arc<Value>>, bool), CacheError> {
        let r = self.inner.lookup_tools(key).await;
        match &r {
            Ok((Some(_), _)) => self.inner.health.hit(),
            Ok((None, _)) => self.inner.health.miss(),
            Err(_) => {}
        }
        r
    }

    /// Stops the embedded server (its RESP listener and connections); later calls fail with
    /// [`CacheError::Closed`]. External: closes the pool for new calls.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if let Active::Embedded(e) = self.inner.backend.active() {
            e.shutdown().await;
        }
        self.inner.memo.clear();
    }
}

/// `group_key` of a stored tool entry, without decoding its tools.
fn group_of(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Group {
        group_key: Option<String>,
    }
    serde_json::from_slice::<Group>(raw).ok()?.group_key
}

fn encode(v: &Value) -> Result<Vec<u8>, CacheError> {
    serde_json::to_vec(v).map_err(|e| CacheError::NotCacheable(e.to_string()))
}

impl Inner {
    /// After a failed RESP call: when the backend is a sibling's cache that became
    /// unreachable, take its port over (see `start`).
    async fn after_failure(&self, e: &CacheError) {
        if let Backend::Sibling(s) = &self.backend {
            if e.is_outage() && s.owned().is_none() && s.take_over().await {
                self.health.record(&Ok(()));
            }
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        call!(self, Op::Ping, _e => Ok(()), x => x.ping().await)
    }

    async fn get_raw(&self, key: &str, known: Option<&[u8]>) -> Result<Lookup, CacheError> {
        call!(self, Op::Get, e => e.get(key, known), x => x.get(key, known).await)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        call!(self, Op::GetMany, e => e.get_many(keys), x => x.get_many(keys).await)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        call!(self, Op::Set, e => e.set(key, value, ttl), x => x.set(key, value, ttl).await)
    }

    async fn del(&self, keys: &[String]) -> Result<usize, CacheError> {
        if keys.is_empty() {
            return Ok(0);
        }
        call!(self, Op::Del, e => e.del(keys), x => x.del(keys).await)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, CacheError> {
        const NO_LIMIT: usize = usize::MAX;
        call!(self, Op::Scan,
            e => e.keys_with_prefix(prefix, NO_LIMIT),
            x => x.keys_with_prefix(prefix, NO_LIMIT).await)
        .map(|(keys, _)| keys)
    }

    /// A JSON value, memoized (tool entries).
    async fn get_json_memo(&self, key: &str) -> Result<Option<Arc<Value>>, CacheError> {
        let memo = self.memo.get(key).map(|m| Arc::clone(m.value()));
        let known = memo.as_ref().map(|m| &m.raw[..]);
        match self.get_raw(key, known).await? {
            Lookup::Missing => Ok(None),
            Lookup::Same => Ok(memo.map(|m| m.value.clone())),
            Lookup::Found(raw) => {
                let v = Arc::new(self.decode(&raw)?);
                self.remember(key, raw, v.clone());
                Ok(Some(v))
            }
        }
    }

    fn decode(&self, raw: &[u8]) -> Result<Value, CacheError> {
        serde_json::from_slice(raw).map_err(|e| {
            let err = CacheError::BadEntry(format!("not JSON: {e}"));
            self.health.failed(&err);
            err
        })
    }

    fn remember(&self, key: &str, raw: Bytes, value: Arc<Value>) {
        if self.opts.memo_capacity == 0 {
            return;
        }
        if self.memo.len() >= self.opts.memo_capacity && !self.memo.contains_key(key) {
            self.memo.clear();
        }
        self.memo
            .insert(key.to_string(), Arc::new(Memo { raw, value }));
    }

    /// Checks that a looked-up value is a tools entry.
    fn tools_entry(&self, v: Arc<Value>) -> Result<Arc<Value>, CacheError> {
        if v.get("tools").is_some_and(Value::is_array) {
            Ok(v)
        } else {
            let err = CacheError::BadEntry("a tool entry without a `tools` array".into());
            self.health.failed(&err);
            Err(err)
        }
    }

    /// Looks up a tool entry: the shared key, then, behind a private marker, the caller's
    /// own. Also says whether a private marker was seen.
    async fn lookup_tools(
        &self,
        key: &ToolsKey<'_>,
    ) -> Result<(Option<Arc<Value>>, bool), CacheError> {
        let Some(v) = self.get_json_memo(&key.shared_key()).await? else {
            return Ok((None, false));
        };
        if !entry::is_private_marker(&v) {
            return self.tools_entry(v).map(|v| (Some(v), false));
        }
        let Some(user_key) = key.user_key() else {
            return Ok((None, true));
        };
        match self.get_json_memo(&user_key).await? {
            Some(v) => self.tools_entry(v).map(|v| (Some(v), true)),
            None => Ok((None, true)),
        }
    }

    /// Writes a built tool entry (and its private marker); hands back the entry whether or
    /// not the write succeeded.
    async fn store(&self, built: entry::BuiltEntry) -> (Arc<Value>, Result<(), CacheError>) {
        let entry = Arc::new(built.entry);
        let r = self
            .store_parts(&entry, built.entry_key, built.marker, built.ttl)
            .await;
        (entry, r)
    }

    /// The tools epochs for a discovery of `server`.
    fn tools_epoch(&self, server: &str) -> ToolsEpoch {
        ToolsEpoch(
            self.tools_epoch.load(Ordering::SeqCst),
            self.server_epochs.get(server).map_or(0, |e| *e),
        )
    }

    /// [`Inner::store`] for a discovery of `server` begun at tools epochs `epoch`: when they
    /// moved since, the written keys are deleted again (checked after the write, so a deletion
    /// that ran before it is not undone by it).
    async fn store_unless_changed(
        &self,
        built: entry::BuiltEntry,
        server: &str,
        epoch: ToolsEpoch,
    ) -> Arc<Value> {
        let mut written: Vec<String> = built.entry_key.iter().cloned().collect();
        written.extend(built.marker.as_ref().map(|(k, _)| k.clone()));
        if self.tools_epoch(server) != epoch {
            tracing::debug!("discovery result not cached: the tools changed meanwhile");
            return Arc::new(built.entry);
        }
        let (entry, _) = self.store(built).await;
        if self.tools_epoch(server) != epoch {
            tracing::debug!("discovery result taken back: the tools changed meanwhile");
            for k in &written {
                self.memo.remove(k);
            }
            if let Err(e) = self.del(&written).await {
                tracing::debug!(error = %e, "could not take a discovery result back");
            }
        }
        entry
    }

    async fn store_parts(
        &self,
        entry: &Arc<Value>,
        entry_key: Option<String>,
        marker: Option<(String, Value)>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let Some(entry_key) = entry_key else {
            return Ok(());
        };
        let raw = Bytes::from(encode(entry)?);
        self.set(&entry_key, &raw, ttl).await?;
        self.remember(&entry_key, raw, entry.clone());
        if let Some((marker_key, marker)) = marker {
            let raw = Bytes::from(encode(&marker)?);
            self.set(&marker_key, &raw, ttl).await?;
            self.remember(&marker_key, raw, Arc::new(marker));
        }
        Ok(())
    }

    /// A JSON value (not memoized), counted as hit or miss.
    async fn get_counted(&self, key: &str) -> Result<Option<Value>, CacheError> {
        let r = match self.get_raw(key, None).await {
            Ok(Lookup::Found(raw)) => self.decode(&raw).map(Some),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        match &r {
            Ok(Some(_)) => self.health.hit(),
            Ok(None) => self.health.miss(),
            Err(_) => {}
        }
        r
    }

    async fn put_json(&self, key: &str, value: &Value, ttl: Duration) -> Result<(), CacheError> {
        if ttl.is_zero() {
            return Ok(());
        }
        let raw = encode(value)?;
        self.set(key, &raw, ttl).await
    }

    async fn external_call<T>(
        &self,
        fut: impl Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        let _permit = self.health.admit()?;
        let r = fut.await;
        self.health.record(&r);
        r
    }
}

#[cfg(test)]
mod tests;
