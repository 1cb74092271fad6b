//! The network layer: listeners, connections and the periodic task, over the state every
//! connection shares ([`Shared`], in [`crate::state`]).
//!
//! [`Server::bind`] opens the `bind` addresses (an address with a leading `-` may be missing);
//! [`Server::serve`] starts `server-threads` event loops (`evloop`: threads of their own, each
//! with its `mio` poll) that accept and serve until [`Shared::request_shutdown`] (SIGTERM/SIGINT
//! in the binary, `SHUTDOWN`, or the embedding program), and blocks until they stopped;
//! [`Server::run`] does the same on a thread of its own for async callers, whatever their
//! executor (the server uses no async runtime). Accepting applies `maxclients` and protected
//! mode with Redis's replies. The periodic task is a thread that runs `hz` times a second: the
//! active expire cycle (a quarter of each period at most, as Redis), the `save` rules (starting
//! a background save) and the ops/sec sampler.
//! [`Server::load_rdb`] loads the RDB file before serving; the exit saves it when `save` rules
//! exist. With `metrics-port`, a thread of its own answers `GET /metrics` ([`metrics`]).

mod conn;
mod evloop;
pub mod metrics;
pub mod net;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::cmd;
use crate::config::Config;
use crate::state::Wake;
pub use crate::state::{ServerStats, Shared};

/// Wakes [`Server::serve`] and the periodic thread when shutdown is requested.
#[derive(Debug, Default)]
struct ShutdownWait {
    requested: Mutex<bool>,
    cv: Condvar,
}

impl ShutdownWait {
    /// Waits until shutdown is requested or `limit` passed; true when requested.
    fn wait(&self, limit: Duration) -> bool {
        let mut requested = self.requested.lock();
        if !*requested {
            let _ = self.cv.wait_for(&mut requested, limit);
        }
        *requested
    }
}

impl Wake for ShutdownWait {
    fn wake(&self) {
        *self.requested.lock() = true;
        self.cv.notify_all();
    }
}

/// Completes when [`Server::serve`], run on its own thread by [`Server::run`], returned.
#[derive(Debug, Default)]
struct Finished {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Finished {
    fn set(&self) {
        let waker = {
            let mut st = self.state.lock();
            st.0 = true;
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of [`Server::run`].
struct WhenFinished(Arc<Finished>);

impl Future for WhenFinished {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.0.state.lock();
        if st.0 {
            Poll::Ready(())
        } else {
            st.1 = Some(cx.waker().clone());
            Poll::Pending
        }
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
    /// The `user` lines or the ACL file are invalid.
    #[error("{0}")]
    Acl(String),
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
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let shared = cmd::shared(config);
        cmd::acl::load_startup(&shared).map_err(StartError::Acl)?;
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

    /// [`Server::serve`] on a thread of its own: the future completes when the server stopped.
    /// Needs no particular async runtime.
    pub async fn run(self) {
        let finished = Arc::new(Finished::default());
        let done = finished.clone();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("cachesrv-main".into())
            .spawn(move || {
                self.serve();
                done.set();
            });
        if let Err(e) = spawned {
            crate::log::log(
                crate::log::Level::Warning,
                &format!("cannot start the server thread: {e}"),
            );
            shared.request_shutdown();
            return;
        }
        WhenFinished(finished).await;
    }

    /// Serves until shutdown is requested, then stops the event loops and makes the exit save;
    /// blocks the calling thread meanwhile.
    pub fn serve(self) {
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
        let shutdown = Arc::new(ShutdownWait::default());
        shared.on_shutdown(shutdown.clone());
        let cron = {
            let (shared, shutdown) = (shared.clone(), shutdown.clone());
            std::thread::Builder::new()
                .name("cachesrv-cron".into())
                .spawn(move || cron(&shared, &shutdown))
        };
        if let Err(e) = &cron {
            crate::log::log(
                crate::log::Level::Warning,
                &format!("cannot start the periodic task: {e}"),
            );
        }
        // The wake-up is registered after the loops started: check the flag too.
        while !shared.is_shutting_down() {
            shutdown.wait(Duration::from_millis(100));
        }
        if let Ok(cron) = cron {
            let _ = cron.join();
        }
        // Every client was killed: give the loops a moment to close them (and to write what
        // they had pending), then stop them.
        let deadline = Instant::now() + Duration::from_millis(500);
        while shared.clients.count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        loops.stop();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !loops.finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // As Redis on SIGTERM: save when `save` rules exist (after SHUTDOWN's own save, again
        // only if keys changed since).
        let _ = shared.shutdown_save();
        shared.wait_bgsave();
        shared.aof_shutdown();
    }
}

/// The periodic task, until shutdown.
fn cron(shared: &Shared, shutdown: &ShutdownWait) {
    let mut last_ops = 0u64;
    let mut last_sample = Instant::now();
    let mut last_window = Instant::now();
    loop {
        let hz = shared.config.read().hz();
        let period = Duration::from_millis(1000 / hz.max(1));
        if shutdown.wait(period) || shared.is_shutting_down() {
            return;
        }
        shared.clock.refresh();
        // As Redis's slow cycle: at most 25% of the period.
        // DEBUG SET-ACTIVE-EXPIRE 0 stops the cycle; so does a client pause.
        if shared.active_expire.load(Ordering::Relaxed) && !crate::cmd::paused(shared) {
            shared.engine.active_expire_cycle(period / 4);
        }
        shared.persist_cron();
        shared.aof_cron();
        let elapsed = last_sample.elapsed();
        if elapsed >= Duration::from_millis(100) {
            let total = shared.stats.total_commands.load(Ordering::Relaxed);
            // CONFIG RESETSTAT may have zeroed the total since the last sample.
            let ops = total.saturating_sub(last_ops) as f64 / elapsed.as_secs_f64();
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
