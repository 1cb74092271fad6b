//! The network layer: listeners, connections and the periodic task, over the state every
//! connection shares ([`Shared`], in [`crate::state`]).
//!
//! [`Server::bind`] opens the `bind` addresses (an address with a leading `-` may be missing);
//! [`Server::run`] starts `server-threads` event loops (`evloop`: threads of their own, not
//! tokio tasks) that accept and serve until [`Shared::request_shutdown`] (SIGTERM/SIGINT in
//! the binary, `SHUTDOWN`, or the embedding program). Accepting applies `maxclients` and
//! protected mode with Redis's replies. The periodic task runs on the caller's tokio runtime
//! `hz` times a second: the active expire cycle (a quarter of each period at most, as Redis),
//! the `save` rules (starting a background save) and the ops/sec sampler.
//! [`Server::load_rdb`] loads the RDB file before serving; the exit saves it when `save` rules
//! exist. With `metrics-port`, a thread of its own answers `GET /metrics` ([`metrics`]).

mod conn;
mod evloop;
pub mod metrics;
pub mod net;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cmd;
use crate::config::Config;
use crate::state::Wake;
pub use crate::state::{ServerStats, Shared};

/// Wakes [`Server::run`] when shutdown is requested.
#[derive(Debug, Default)]
struct ShutdownNotify(Notify);

impl Wake for ShutdownNotify {
    fn wake(&self) {
        self.0.notify_waiters();
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
    /// The RDB file exists but cannot be loaded.
    #[error("Fatal error loading the DB: {0}. Exiting.")]
    Load(String),
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    /// The `metrics-port` listener, when one is configured.
    metrics: Option<std::net::TcpListener>,
}

impl Server {
    /// Binds every `bind` address of the config on its `port` (0 picks a free port, the same
    /// for every address when possible).
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let shared = cmd::shared(config);
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
        let metrics_port = shared.config.read().metrics_port();
        let metrics = if metrics_port == 0 {
            None
        } else {
            // On the first listened address's interface, as exposed as the RESP port.
            let ip = listeners
                .first()
                .and_then(|l| l.local_addr().ok())
                .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), |a| {
                    a.ip()
                });
            let addr = SocketAddr::new(ip, metrics_port);
            Some(
                std::net::TcpListener::bind(addr).map_err(|source| StartError::Bind {
                    addr: addr.to_string(),
                    source,
                })?,
            )
        };
        Ok(Server {
            shared,
            listeners,
            metrics,
        })
    }

    /// The `metrics-port` listener's address, when one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Loads `dir/dbfilename` into the keyspace if the file exists (the `cachesrv` binary does
    /// this before [`Server::run`]; an embedding program decides for itself).
    pub fn load_rdb(&self) -> Result<(), StartError> {
        self.shared
            .load_rdb()
            .map(drop)
            .map_err(|e| StartError::Load(e.to_string()))
    }

    /// Loads the data at start as `redis-server` does: with `appendonly yes`, the AOF (if its
    /// manifest exists; the RDB file is not read), then opens the AOF for appending (creating
    /// it if needed); otherwise `dir/dbfilename`.
    pub fn load_data(&self) -> Result<(), StartError> {
        if !self.shared.config.read().appendonly() {
            return self.load_rdb();
        }
        crate::cmd::aof_load::load(&self.shared).map_err(|e| StartError::Load(e.to_string()))?;
        self.shared
            .aof_open_at_start()
            .map_err(|e| StartError::Load(format!("Can't open the append-only file: {e}")))
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
        let Server {
            shared,
            listeners,
            metrics,
        } = self;
        if let Some(l) = metrics {
            if let Err(e) = metrics::spawn(shared.clone(), l) {
                crate::log::log(
                    crate::log::Level::Warning,
                    &format!("cannot start the metrics responder: {e}"),
                );
            }
        }
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
        let shutdown = Arc::new(ShutdownNotify::default());
        shared.on_shutdown(shutdown.clone());
        let cron = tokio::spawn(cron(shared.clone()));
        while !shared.is_shutting_down() {
            let notified = shutdown.0.notified();
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
        // As Redis on SIGTERM: save when `save` rules exist (after SHUTDOWN's own save, again
        // only if keys changed since).
        let s = shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = s.shutdown_save();
            s.wait_bgsave();
            s.aof_shutdown();
        })
        .await;
    }
}

async fn cron(shared: Arc<Shared>) {
    let mut last_ops = 0u64;
    let mut last_sample = Instant::now();
    let mut last_window = Instant::now();
    loop {
        let hz = shared.config.read().hz();
        let period = Duration::from_millis(1000 / hz.max(1));
        tokio::time::sleep(period).await;
        shared.clock.refresh();
        // As Redis's slow cycle: at most 25% of the period.
        let budget = period / 4;
        let s = shared.clone();
        // The cycle is CPU work under shard locks: keep it off the reactor's hot path.
        if !crate::cmd::paused(&shared) {
            let _ = tokio::task::spawn_blocking(move || s.engine.active_expire_cycle(budget)).await;
        }
        shared.persist_cron();
        shared.aof_cron();
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
        // `client_recent_max_output_buffer` covers the last 4 to 8 seconds.
        if last_window.elapsed() >= Duration::from_secs(4) {
            shared.climits.roll_window();
            last_window = Instant::now();
        }
    }
}
