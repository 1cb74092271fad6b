//! `secure-mcp-gateway`: see `gateway::cli`.

use clap::Parser;
use gateway::cli::{run, Cli};

/// Many short-lived JSON values and HTTP buffers per call: with glibc's allocator, malloc and
/// free were a sixth of the gateway's CPU per proxied call, with mimalloc a twentieth
/// (benches/README.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Level (RUST_LOG, ENKRYPT_LOG_LEVEL, the config's enkrypt_log_level) and format.
    // Telemetry too, for `start` when the config enables it.
    let telemetry = gateway::logging::init(cli.config.as_deref(), cli.serves());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    // Default: half the cores (at least one). A proxy's work is short and hops between tasks;
    // fewer workers mean fewer cross-thread wake-ups, and the host's MCP servers and cache
    // need cores too (benches/README.md has the figures). `--threads` or
    // `TOKIO_WORKER_THREADS` override it.
    let threads = cli.threads().or_else(|| {
        std::env::var_os("TOKIO_WORKER_THREADS")
            .is_none()
            .then(|| std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)))
    });
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(run(cli));
    // What is queued goes to the collector, waiting 5 s at most.
    if let Some(t) = telemetry {
        t.shutdown(std::time::Duration::from_secs(5));
    }
    match r {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
