//! `cachesrv [config-file] [--directive value ...]`: started like `redis-server`.

use std::process::ExitCode;

use cachesrv::log::{self, Level};
use cachesrv::{Config, Server};

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
    // SIGTERM and SIGINT are taken by one thread with `sigwait`: blocked here, before any
    // other thread starts, so every thread inherits the mask.
    let signals = match block_signals() {
        Ok(set) => set,
        Err(e) => {
            log::log(Level::Warning, &format!("cannot handle signals: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let threads = config.server_threads();
    let maxmemory = config.maxmemory();
    let policy = config.maxmemory_policy();
    let server = match Server::bind(config) {
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
    let shared = server.shared().clone();
    let waiter = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("cachesrv-signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait on a valid, initialised set, writing to a live c_int.
            let r = unsafe { libc::sigwait(&signals, &mut sig) };
            if r == 0 {
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                log::log(
                    Level::Warning,
                    &format!("Received {name} scheduling shutdown..."),
                );
            }
            waiter.request_shutdown();
        });
    if let Err(e) = spawned {
        log::log(Level::Warning, &format!("cannot handle signals: {e}"));
        return ExitCode::FAILURE;
    }
    let addrs: Vec<String> = server
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
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
    server.serve();
    log::log(Level::Warning, "cachesrv is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}

/// Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts); returns the set
/// for `sigwait`.
fn block_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only changes
    // this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        Ok(set)
    }
}
