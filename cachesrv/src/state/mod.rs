//! The state the command layer works with, without sockets or a runtime: the keyspace, the
//! configuration, the connected clients, pub/sub, statistics, the slow log, and each client's
//! [`Session`].
//!
//! Nothing here knows of the network layer or of the command table: `server -> cmd -> state ->
//! engine`. Other threads reach a client through the [`Wake`] it was registered with (the
//! network layer's event loop implements it; an in-process client may ignore it).

pub mod acl;
pub mod aof;
pub mod aof_ops;
pub mod blocking;
pub mod clients;
pub mod climits;
pub mod errorstats;
pub mod latency;
pub mod notify;
pub mod pause;
pub mod persist;
pub mod pubsub;
pub mod scripts;
pub mod session;
pub mod stats;
pub mod tracking;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use protocol::ParserLimits;

use crate::config::Config;
use crate::engine::{CachedClock, Engine, EngineConfig, EvictionPolicy};
pub use aof_ops::{AofInfo, RewriteError};
pub use blocking::{BlockOn, Blocking, Unblock};
pub use clients::{ClientInfo, Clients, NO_COMMAND};
pub use persist::{BgsaveError, PersistInfo, Persistence, SaveFailed};
pub use pubsub::{Mailbox, PubSub, Push};
pub use scripts::Scripts;
pub use session::Session;
pub use stats::{CommandStats, SlowEntry, SlowLog};

/// Something to wake: a connection's event loop (a push arrived, the client was killed), or
/// whoever waits for shutdown. Called from any thread; must not block.
pub trait Wake: Send + Sync + std::fmt::Debug {
    /// Wakes it.
    fn wake(&self);
}

/// A [`Wake`] that does nothing: for a client that polls (an in-process runner).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

/// Server-wide counters for `INFO`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// `total_connections_received`.
    pub total_connections: AtomicU64,
    /// `rejected_connections`.
    pub rejected_connections: AtomicU64,
    /// `total_net_input_bytes`.
    pub net_input_bytes: AtomicU64,
    /// `total_net_output_bytes`.
    pub net_output_bytes: AtomicU64,
    /// `total_commands_processed`.
    pub total_commands: AtomicU64,
    /// `instantaneous_ops_per_sec`, sampled by the periodic task.
    pub ops_per_sec: AtomicU64,
}

/// State shared by every connection.
pub struct Shared {
    /// The keyspace.
    pub engine: Engine,
    /// The engine's clock, refreshed once per batch of commands.
    pub clock: Arc<CachedClock>,
    /// The configuration (`CONFIG GET/SET`).
    pub config: RwLock<Config>,
    /// ACL users and log.
    pub acl: acl::Acl,
    /// Shard channels (SSUBSCRIBE, SPUBLISH): a registry of their own, as in Redis.
    pub shard_pubsub: PubSub,
    /// Command latency histograms and the latency monitor.
    pub latency: latency::Latency,
    /// Error replies by code.
    pub errorstats: errorstats::ErrorStats,
    /// `requirepass`, cached for the hot path.
    pub requirepass: RwLock<Option<Bytes>>,
    /// Connected clients.
    pub clients: Clients,
    /// Pub/sub subscriptions.
    pub pubsub: PubSub,
    /// Clients blocked in BLPOP and the like.
    pub blocking: Blocking,
    /// MONITOR connections.
    pub monitors: RwLock<Vec<(u64, Mailbox)>>,
    /// Fast check: any MONITOR connection?
    pub monitoring: AtomicBool,
    /// Counters.
    pub stats: ServerStats,
    /// Per-command calls and time.
    pub command_stats: CommandStats,
    /// `SLOWLOG`.
    pub slowlog: Mutex<SlowLog>,
    /// The script cache, FUNCTION libraries and the running script.
    pub scripts: Scripts,
    /// `slowlog-log-slower-than` in microseconds, `u64::MAX` when off (read on the hot path).
    pub slowlog_threshold: AtomicU64,
    /// Server start.
    pub started: Instant,
    /// Server start, Unix seconds.
    pub start_unix: u64,
    /// `run_id` for INFO.
    pub run_id: String,
    /// Highest `used_memory` seen (INFO `used_memory_peak`).
    pub peak_memory: AtomicU64,
    /// The port actually bound (for INFO when `port 0`).
    pub port: AtomicUsize,
    /// RDB persistence state.
    pub persist: Persistence,
    /// The append-only file.
    pub aof: Arc<aof::Aof>,
    /// Keyspace notifications.
    pub notify: notify::Notify,
    /// `CLIENT PAUSE`.
    pub pause: pause::Pause,
    /// Client-side caching (`CLIENT TRACKING`).
    pub tracking: tracking::Tracking,
    /// Client output buffer limits and `maxmemory-clients`.
    pub climits: climits::ClientLimits,
    /// This state itself, for work that outlives a command (a background save).
    pub(crate) me: std::sync::Weak<Shared>,
    /// `zset-max-listpack-entries`, cached for the sorted-set commands.
    pub zset_max_entries: AtomicUsize,
    /// `zset-max-listpack-value`, cached for the sorted-set commands.
    pub zset_max_value: AtomicUsize,
    /// Woken once when shutdown is requested.
    shutdown_waiters: Mutex<Vec<Arc<dyn Wake>>>,
    shutting_down: AtomicBool,
    timeout_secs: AtomicU64,
    query_limit: AtomicUsize,
    max_bulk: AtomicUsize,
    maxclients: AtomicUsize,
    protected: AtomicBool,
    /// The active expire cycle runs (`DEBUG SET-ACTIVE-EXPIRE 0` stops it).
    pub active_expire: AtomicBool,
    hll_sparse_max: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("engine", &self.engine)
            .finish()
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Shared {
    /// Shared state for this configuration, with statistics for `commands` commands (the
    /// size of the command table: `cmd::shared` builds it so).
    pub fn new(config: Config, commands: usize) -> Arc<Shared> {
        let ec = EngineConfig {
            databases: config.databases(),
            maxmemory: config.maxmemory(),
            policy: EvictionPolicy::from_str(&config.maxmemory_policy())
                .unwrap_or(EvictionPolicy::NoEviction),
            samples: config.maxmemory_samples(),
            lfu_log_factor: config.lfu_log_factor(),
            lfu_decay_time: config.lfu_decay_time(),
            ..EngineConfig::default()
        };
        let now = unix_now();
        let run_id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rand::random::<u8>() as usize % 16]))
            .collect();
        let clock = Arc::new(CachedClock::default());
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            persist: Persistence::new(now.as_secs()),
            aof: Arc::new(aof::Aof::new()),
            notify: notify::Notify::default(),
            pause: pause::Pause::default(),
            tracking: tracking::Tracking::default(),
            climits: climits::ClientLimits::default(),
            engine: Engine::with_clock(ec, clock.clone()),
            clock,
            errorstats: Default::default(),
            latency: Default::default(),
            shard_pubsub: PubSub::default(),
            acl: acl::Acl::new(commands, config.requirepass().as_deref().map(str::as_bytes)),
            requirepass: RwLock::new(config.requirepass().map(Bytes::from)),
            clients: Clients::default(),
            pubsub: PubSub::default(),
            blocking: Blocking::default(),
            monitors: RwLock::new(Vec::new()),
            monitoring: AtomicBool::new(false),
            stats: ServerStats::default(),
            command_stats: CommandStats::new(commands),
            slowlog: Mutex::new(SlowLog::default()),
            scripts: Scripts::default(),
            slowlog_threshold: AtomicU64::new(u64::MAX),
            started: Instant::now(),
            start_unix: now.as_secs(),
            run_id,
            peak_memory: AtomicU64::new(0),
            port: AtomicUsize::new(config.port() as usize),
            zset_max_entries: AtomicUsize::new(128),
            zset_max_value: AtomicUsize::new(64),
            shutdown_waiters: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            timeout_secs: AtomicU64::new(0),
            query_limit: AtomicUsize::new(0),
            max_bulk: AtomicUsize::new(0),
            maxclients: AtomicUsize::new(0),
            protected: AtomicBool::new(true),
            hll_sparse_max: AtomicUsize::new(3000),
            active_expire: AtomicBool::new(true),
            config: RwLock::new(config),
        });
        shared
            .engine
            .set_key_events(Arc::new(notify::EngineEvents(Arc::downgrade(&shared))));
        shared.apply_config();
        shared.engine.set_removal_sink(shared.aof.clone());
        shared
    }

    /// Pushes the current config into the engine and the hot-path caches (after CONFIG SET).
    pub fn apply_config(&self) {
        let c = self.config.read();
        self.engine.set_maxmemory(c.maxmemory());
        if let Ok(p) = EvictionPolicy::from_str(&c.maxmemory_policy()) {
            self.engine.set_policy(p);
        }
        self.engine.set_samples(c.maxmemory_samples());
        self.engine.set_lfu_log_factor(c.lfu_log_factor());
        self.engine.set_lfu_decay_time(c.lfu_decay_time());
        self.latency.tracking.store(
            c.get("latency-tracking").is_some_and(|v| v == "yes"),
            Ordering::Relaxed,
        );
        self.latency.threshold_ms.store(
            c.get("latency-monitor-threshold")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            Ordering::Relaxed,
        );
        let pass = c.requirepass().map(Bytes::from);
        let mut cur = self.requirepass.write();
        if *cur != pass {
            // As Redis: `requirepass` is the default user's password.
            self.acl.set_default_password(pass.as_deref());
            *cur = pass;
        }
        self.timeout_secs.store(c.timeout(), Ordering::Relaxed);
        crate::log::set_level(&c.loglevel());
        self.query_limit
            .store(c.query_buffer_limit(), Ordering::Relaxed);
        self.max_bulk
            .store(c.proto_max_bulk_len(), Ordering::Relaxed);
        self.maxclients.store(c.maxclients(), Ordering::Relaxed);
        self.protected.store(c.protected_mode(), Ordering::Relaxed);
        self.hll_sparse_max
            .store(c.hll_sparse_max_bytes(), Ordering::Relaxed);
        self.notify.configure(c.keyspace_events());
        self.tracking.set_max_keys(
            c.get("tracking-table-max-keys")
                .map_or(0, |v| v.parse().unwrap_or(0)),
        );
        self.refresh_key_events();
        self.climits.configure(
            c.output_limits(),
            c.get("maxmemory-clients")
                .map_or(0, |v| v.parse().unwrap_or(0)),
        );
        self.aof
            .set_fsync(&c.get("appendfsync").unwrap_or_default());
        self.aof.set_lazyfree(
            c.get("lazyfree-lazy-expire").as_deref() == Some("yes"),
            c.get("lazyfree-lazy-eviction").as_deref() == Some("yes"),
        );
        drop(c);
        self.refresh_write_denial();
        let c = self.config.read();
        self.zset_max_entries
            .store(c.zset_max_listpack_entries(), Ordering::Relaxed);
        self.zset_max_value
            .store(c.zset_max_listpack_value(), Ordering::Relaxed);
        self.scripts
            .busy_threshold_ms
            .store(c.busy_reply_threshold(), Ordering::Relaxed);
        let mut log = self.slowlog.lock();
        log.configure(c.slowlog_slower_than(), c.slowlog_max_len());
        self.slowlog_threshold
            .store(log.threshold(), Ordering::Relaxed);
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The idle `timeout`, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.timeout_secs.load(Ordering::Relaxed) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    /// `client-query-buffer-limit`.
    pub fn query_buffer_limit(&self) -> usize {
        self.query_limit.load(Ordering::Relaxed)
    }

    /// Request parser limits from the config.
    pub fn parser_limits(&self) -> ParserLimits {
        ParserLimits {
            max_bulk: self.max_bulk.load(Ordering::Relaxed),
            ..ParserLimits::default()
        }
    }

    /// Asks the server (`server::Server::run`) to stop: wakes every shutdown waiter and kills
    /// every client.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for w in self.shutdown_waiters.lock().iter() {
            w.wake();
        }
        for c in self.clients.all() {
            c.kill();
        }
    }

    /// Registers `w` to be woken when shutdown is requested. Check
    /// [`Shared::is_shutting_down`] after registering: a request made before is not repeated.
    pub fn on_shutdown(&self, w: Arc<dyn Wake>) {
        self.shutdown_waiters.lock().push(w);
    }

    /// `maxclients`.
    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    /// `protected-mode`.
    pub fn protected_mode(&self) -> bool {
        self.protected.load(Ordering::Relaxed)
    }

    /// `hll-sparse-max-bytes`.
    pub fn hll_sparse_max_bytes(&self) -> usize {
        self.hll_sparse_max.load(Ordering::Relaxed)
    }

    /// True once shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}
