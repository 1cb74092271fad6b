//! The network layer: listeners, connections, the periodic task, and the state every
//! connection shares ([`Shared`]).
//!
//! [`Server::bind`] opens the `bind` addresses (an address with a leading `-` may be missing);
//! [`Server::run`] starts `server-threads` event loops (`evloop`: threads of their own, not
//! tokio tasks) that accept and serve until [`Shared::request_shutdown`] (SIGTERM/SIGINT in
//! the binary, `SHUTDOWN`, or the embedding program). Accepting applies `maxclients` and
//! protected mode with Redis's replies. The periodic task runs on the caller's tokio runtime
//! `hz` times a second: the active expire cycle (a quarter of each period at most, as Redis)
//! and the ops/sec sampler.

pub mod clients;
mod conn;
mod evloop;
pub mod net;
pub mod pubsub;
pub mod session;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use protocol::ParserLimits;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cmd::{CommandStats, SlowLog};
use crate::config::Config;
use crate::engine::{CachedClock, Engine, EngineConfig, EvictionPolicy};
use clients::Clients;
use pubsub::{Mailbox, PubSub};

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
    /// `requirepass`, cached for the hot path.
    pub requirepass: RwLock<Option<Bytes>>,
    /// Connected clients.
    pub clients: Clients,
    /// Pub/sub subscriptions.
    pub pubsub: PubSub,
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
    shutdown: Notify,
    shutting_down: AtomicBool,
    timeout_secs: AtomicU64,
    query_limit: AtomicUsize,
    max_bulk: AtomicUsize,
    maxclients: AtomicUsize,
    protected: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("engine", &self.engine)
            .finish()
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A bind address could not be opened.
    #[error("Could not create server TCP listening socket {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A bind entry is not an address.
    #[error("Invalid bind address '{0}'")]
    BadAddress(String),
    /// Nothing to listen on.
    #[error("Failed listening on any bind address")]
    NoListener,
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Shared {
    /// Shared state for this configuration.
    pub fn new(config: Config) -> Arc<Shared> {
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
        crate::cmd::timing::calibrate();
        let clock = Arc::new(CachedClock::default());
        let shared = Arc::new(Shared {
            engine: Engine::with_clock(ec, clock.clone()),
            clock,
            requirepass: RwLock::new(config.requirepass().map(Bytes::from)),
            clients: Clients::default(),
            pubsub: PubSub::default(),
            monitors: RwLock::new(Vec::new()),
            monitoring: AtomicBool::new(false),
            stats: ServerStats::default(),
            command_stats: CommandStats::default(),
            slowlog: Mutex::new(SlowLog::default()),
            slowlog_threshold: AtomicU64::new(u64::MAX),
            started: Instant::now(),
            start_unix: now.as_secs(),
            run_id,
            peak_memory: AtomicU64::new(0),
            port: AtomicUsize::new(config.port() as usize),
            shutdown: Notify::new(),
            shutting_down: AtomicBool::new(false),
            timeout_secs: AtomicU64::new(0),
            query_limit: AtomicUsize::new(0),
            max_bulk: AtomicUsize::new(0),
            maxclients: AtomicUsize::new(0),
            protected: AtomicBool::new(true),
            config: RwLock::new(config),
        });
        shared.apply_config();
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
        *self.requirepass.write() = c.requirepass().map(Bytes::from);
        self.timeout_secs.store(c.timeout(), Ordering::Relaxed);
        self.query_limit
            .store(c.query_buffer_limit(), Ordering::Relaxed);
        self.max_bulk
            .store(c.proto_max_bulk_len(), Ordering::Relaxed);
        self.maxclients.store(c.maxclients(), Ordering::Relaxed);
        self.protected.store(c.protected_mode(), Ordering::Relaxed);
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

    /// Asks [`Server::run`] to stop.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.notify_waiters();
        for c in self.clients.all() {
            c.kill();
        }
    }

    /// True once shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Binds every `bind` address of the config on its `port` (0 picks a free port, the same
    /// for every address when possible).
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let shared = Shared::new(config);
        let (binds, mut port, backlog) = {
            let c = shared.config.read();
            (c.bind(), c.port(), c.tcp_backlog())
        };
        let mut listeners = Vec::new();
        for entry in binds {
            let (addr, optional) = net::parse_bind(&entry, port)
                .ok_or_else(|| StartError::BadAddress(entry.clone()))?;
            match net::listen(addr, backlog) {
                Ok(l) => {
                    if port == 0 {
                        port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                    }
                    listeners.push(l);
                }
                Err(_) if optional => {}
                Err(source) => {
                    return Err(StartError::Bind {
                        addr: addr.to_string(),
                        source,
                    })
                }
            }
        }
        if listeners.is_empty() {
            return Err(StartError::NoListener);
        }
        shared.port.store(port as usize, Ordering::Relaxed);
        Ok(Server { shared, listeners })
    }

    /// The shared state (engine, config, clients).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The addresses listened on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until shutdown is requested: `server-threads` event loops (threads of their
    /// own) serve the connections, this task runs the periodic work.
    pub async fn run(self) {
        let Server { shared, listeners } = self;
        let (threads, affinity) = {
            let c = shared.config.read();
            (c.server_threads(), c.server_thread_affinity())
        };
        let listeners = listeners
            .into_iter()
            .filter_map(|l| l.into_std().ok())
            .collect();
        let loops = match evloop::Loops::start(shared.clone(), listeners, threads, affinity) {
            Ok(l) => l,
            Err(e) => {
                crate::log::log(
                    crate::log::Level::Warning,
                    &format!("cannot start the event loops: {e}"),
                );
                shared.request_shutdown();
                return;
            }
        };
        let cron = tokio::spawn(cron(shared.clone()));
        while !shared.is_shutting_down() {
            let notified = shared.shutdown.notified();
            if shared.is_shutting_down() {
                break;
            }
            notified.await;
        }
        cron.abort();
        // Every client was killed: give the loops a moment to close them (and to write what
        // they had pending), then stop them.
        let deadline = Instant::now() + Duration::from_millis(500);
        while shared.clients.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        loops.stop();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !loops.finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn cron(shared: Arc<Shared>) {
    let mut last_ops = 0u64;
    let mut last_sample = Instant::now();
    loop {
        let hz = shared.config.read().hz();
        let period = Duration::from_millis(1000 / hz.max(1));
        tokio::time::sleep(period).await;
        shared.clock.refresh();
        // As Redis's slow cycle: at most 25% of the period.
        let budget = period / 4;
        let s = shared.clone();
        // The cycle is CPU work under shard locks: keep it off the reactor's hot path.
        let _ = tokio::task::spawn_blocking(move || s.engine.active_expire_cycle(budget)).await;
        let elapsed = last_sample.elapsed();
        if elapsed >= Duration::from_millis(100) {
            let total = shared.stats.total_commands.load(Ordering::Relaxed);
            let ops = (total - last_ops) as f64 / elapsed.as_secs_f64();
            shared
                .stats
                .ops_per_sec
                .store(ops as u64, Ordering::Relaxed);
            last_ops = total;
            last_sample = Instant::now();
        }
    }
}
