//! `cachesrv [config-file] [--directive value ...]`: started like `redis-server`.

use std::process::ExitCode;

use cachesrv::log::{self, Level};
use cachesrv::{Config, Server};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!("cachesrv v={}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: cachesrv [/path/to/redis.conf] [--directive value ...]\n\nExamples:\n  cachesrv --port 7777\n  cachesrv /etc/redis/redis.conf --maxmemory 256mb --maxmemory-policy allkeys-lru");
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    log::init(&config.loglevel(), &config.logfile());
    let threads = config.server_threads();
    // Connections are served by the server's own event loops (`server-threads` of them); this
    // runtime only runs the periodic task, the signal handler and the shutdown.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let maxmemory = config.maxmemory();
        let policy = config.maxmemory_policy();
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                log::log(Level::Warning, &e.to_string());
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = server.load_data() {
            log::log(Level::Warning, &e.to_string());
            return ExitCode::FAILURE;
        }
        // Handlers first: a SIGTERM sent as soon as the start line appears must stop the
        // server cleanly, not kill it.
        let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                log::log(Level::Warning, &format!("cannot handle signals: {e}"));
                return ExitCode::FAILURE;
            }
        };
        let shared = server.shared().clone();
        let addrs: Vec<String> = server.local_addrs().iter().map(ToString::to_string).collect();
        log::log(
            Level::Notice,
            &format!(
                "cachesrv {} started: port {}, {} server threads, maxmemory {} ({}), listening on {}",
                env!("CARGO_PKG_VERSION"),
                shared.port.load(std::sync::atomic::Ordering::Relaxed),
                threads,
                maxmemory,
                policy,
                addrs.join(", ")
            ),
        );
        if let Some(addr) = server.metrics_addr() {
            log::log(Level::Notice, &format!("metrics on http://{addr}/metrics"));
        }
        let signals = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => log::log(Level::Warning, "Received SIGTERM scheduling shutdown..."),
                _ = int.recv() => log::log(Level::Warning, "Received SIGINT scheduling shutdown..."),
            }
            signals.request_shutdown();
        });
        server.run().await;
        log::log(Level::Warning, "cachesrv is now ready to exit, bye bye...");
        ExitCode::SUCCESS
    })
}
