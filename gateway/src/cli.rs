//! The `secure-mcp-gateway` command line: `generate-config`, `start`, `cache status`,
//! `cache clear`, and the demo MCP server (`demo-server`) the default config points at.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::cache::Cache;
use crate::config::{self, resolve_config_path, GenerateOptions};
use crate::service::Gateway;

/// Secure MCP Gateway: authentication, cached tool discovery, guardrails and timeouts between
/// MCP clients and MCP servers.
#[derive(Debug, Parser)]
#[command(name = "secure-mcp-gateway", version, about)]
pub struct Cli {
    /// Config file (default: $ENKRYPT_CONFIG_PATH, else ~/.enkrypt/enkrypt_mcp_config.json).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Transports for `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Streamable HTTP at /mcp/.
    Http,
    /// stdin/stdout (for Claude Desktop, Cursor...).
    Stdio,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a working config: a project, a user, a gateway key and a demo upstream.
    GenerateConfig {
        /// Replace an existing file (it is backed up first).
        #[arg(long)]
        overwrite: bool,
        /// Print {"config_path", "api_key", "project_id", "user_id"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the gateway (generating a config first if there is none).
    Start {
        /// Address to listen on (HTTP). Default: 0.0.0.0 in a container (Docker, podman,
        /// Kubernetes), else 127.0.0.1.
        #[arg(long, env = "ENKRYPT_GATEWAY_HOST")]
        host: Option<String>,
        /// Port to listen on (HTTP).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Transport.
        #[arg(long, value_enum, default_value_t = TransportArg::Http)]
        transport: TransportArg,
        /// Worker threads (default: half the cores, at least one; `TOKIO_WORKER_THREADS` also works).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Inspect or clear the cache.
    Cache {
        /// What to do with the cache.
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Serve the demo MCP server (echo and test tools) on stdio, or on HTTP with --port.
    #[command(hide = true)]
    DemoServer {
        /// Serve streamable HTTP on this port instead of stdio.
        #[arg(long)]
        port: Option<u16>,
    },
}

/// `cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Hits, misses, entries per kind, backend and memory.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clear tool discovery entries (all servers, or one), or every gateway entry with --all.
    Clear {
        /// Only this server's tool entries.
        #[arg(long)]
        server: Option<String>,
        /// Every enkrypt:* entry (tools, gateway config, key mappings).
        #[arg(long)]
        all: bool,
    },
}

fn print_connect(path: &Path, key: &str, host: &str, port: u16) {
    eprintln!(
        "\nConfig written to {} (mode 0600).\nGateway key (shown once): {key}\n\n\
Connect an MCP client:\n  streamable HTTP: http://{host}:{port}/mcp/ with header 'Authorization: Bearer <key>'\n  \
stdio (Claude Desktop, Cursor): command `secure-mcp-gateway start --transport stdio` with env ENKRYPT_GATEWAY_KEY=<key>\n",
        path.display()
    );
}

impl Cli {
    /// Worker threads asked for on the command line.
    pub fn threads(&self) -> Option<usize> {
        match self.command {
            Command::Start { threads, .. } => threads.filter(|n| *n > 0),
            _ => None,
        }
    }
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let path = resolve_config_path(cli.config.as_deref());
    match cli.command {
        Command::GenerateConfig { overwrite, json } => {
            let w = match config::write_new(&path, &GenerateOptions::default(), overwrite) {
                Ok(w) => w,
                Err(config::ConfigError::Exists { .. }) => {
                    eprintln!("Config already exists at {} (use --overwrite to replace it; a backup is made first)", path.display());
                    return Ok(1);
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(b) = &w.backup {
                eprintln!("Backed up the old config to {}", b.display());
            }
            let g = &w.generated;
            if json {
                println!(
                    "{}",
                    json!({
                        "config_path": path.display().to_string(),
                        "api_key": g.api_key.expose(),
                        "project_id": g.project_id,
                        "user_id": g.user_id,
                    })
                );
            } else {
                print_connect(&path, g.api_key.expose(), "127.0.0.1", 8000);
            }
            Ok(0)
        }
        Command::Start {
            host,
            port,
            transport,
            ..
        } => {
            let bind = crate::bind::choose(host.as_deref(), &crate::bind::Signals::probe());
            if !path.exists() {
                let w = config::write_new(&path, &GenerateOptions::default(), false)
                    .with_context(|| format!("generating a config at {}", path.display()))?;
                let shown = if bind.host == crate::bind::ALL_INTERFACES {
                    crate::bind::LOOPBACK
                } else {
                    &bind.host
                };
                print_connect(&path, w.generated.api_key.expose(), shown, port);
            }
            start(&path, &bind, port, transport).await?;
            Ok(0)
        }
        Command::Cache { action } => cache_cmd(&path, action).await,
        Command::DemoServer { port } => {
            match port {
                None => crate::demo::serve_stdio().await?,
                Some(p) => {
                    let l = tokio::net::TcpListener::bind(("127.0.0.1", p)).await?;
                    crate::demo::serve_http(l).await?;
                }
            }
            Ok(0)
        }
    }
}

async fn start(
    path: &Path,
    bind: &crate::bind::Bind,
    port: u16,
    transport: TransportArg,
) -> anyhow::Result<()> {
    let (watcher, mut updates) = config::ConfigWatcher::start(path, Duration::from_millis(1000))
        .with_context(|| format!("loading {}", path.display()))?;
    let cfg = updates.borrow().clone();
    let cache = Arc::new(
        Cache::start(&cfg.common)
            .await
            .context("starting the cache")?,
    );
    let gw = Gateway::new((*cfg).clone(), path.to_path_buf(), cache.clone());
    {
        let gw = gw.clone();
        tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let next = updates.borrow().clone();
                tracing::info!("config reloaded");
                gw.set_config(next);
            }
        });
    }
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match transport {
        TransportArg::Stdio => {
            tokio::select! {
                r = crate::stdio::serve(gw.clone()) => r?,
                _ = shutdown => {}
            }
        }
        TransportArg::Http => {
            let host = bind.host.as_str();
            tracing::info!(host, reason = %bind.why, "HTTP listen address");
            let listener = tokio::net::TcpListener::bind((host, port))
                .await
                .with_context(|| format!("binding {host}:{port}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "listening");
            eprintln!("secure-mcp-gateway {} listening on http://{addr}/mcp/ (health: http://{addr}/health)", env!("CARGO_PKG_VERSION"));
            let gw2 = gw.clone();
            crate::http::serve(gw.clone(), listener, async move {
                shutdown.await;
                gw2.drain(Duration::from_secs(5)).await;
            })
            .await?;
        }
    }
    watcher.stop();
    // Stdio upstreams (and their process groups) stop with the gateway.
    gw.pool.close_all().await;
    cache.shutdown().await;
    Ok(())
}

async fn cache_cmd(path: &Path, action: CacheAction) -> anyhow::Result<i32> {
    let loaded = config::load(path).with_context(|| format!("loading {}", path.display()))?;
    let cache = match Cache::connect_remote(&loaded.config.common).await {
        Ok(c) => c,
        Err(e) => bail!("{e}"),
    };
    match action {
        CacheAction::Status { json } => {
            let st = cache.status().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!("{}", st.to_text());
            }
            Ok(if st.reachable { 0 } else { 1 })
        }
        CacheAction::Clear { server, all } => {
            let n = match (server, all) {
                (_, true) => cache.clear_all().await?,
                (Some(s), false) => {
                    let mut n = 0;
                    for mc in loaded.config.mcp_configs.values() {
                        if mc.server(&s).is_some() {
                            n += cache.clear_server(&mc.id, &s).await?;
                        }
                    }
                    n
                }
                (None, false) => cache.clear_all_tools().await?,
            };
            println!("Cleared {n} cache entries");
            Ok(0)
        }
    }
}
