//! The `secure-mcp-gateway` command line: `generate-config`, `start`, `cache status|clear`, the
//! admin groups `config` ([`config`]), `project` ([`project`]) and `user` ([`user`]) with its
//! key subcommands ([`keys`]), `install`, `system backup|restore|reset|health-check`, and the
//! demo MCP server (`demo-server`) the default config points at. One file per command group;
//! the operations themselves live in the library ([`crate::admin`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::{resolve_config_path, GenerateOptions};

mod cache;
pub mod config;
mod install;
pub mod keys;
mod output;
pub mod project;
mod start;
mod system;
pub mod user;

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
        /// Serve the admin REST API (`/api/v1/...`) on this port too (off by default; needs
        /// `admin_apikey` in the config).
        #[arg(long)]
        admin_port: Option<u16>,
        /// Address of the admin API.
        #[arg(long, default_value = "127.0.0.1")]
        admin_host: String,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key); reloaded when the
        /// file changes.
        #[arg(long, env = "ENKRYPT_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "ENKRYPT_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve `GET /metrics` (Prometheus) on this port too, e.g. beside a stdio gateway
        /// (the HTTP transport also serves it on its own port).
        #[arg(long)]
        metrics_port: Option<u16>,
        /// Address of the `--metrics-port` listener.
        #[arg(long, default_value = "127.0.0.1")]
        metrics_host: String,
    },
    /// Gateway keys, the seeds' spelling (`apikey rotate`); see also `user ...-api-key`.
    Apikey(keys::ApikeyArgs),
    /// Inspect or clear the cache.
    Cache {
        /// What to do with the cache.
        #[command(subcommand)]
        action: CacheAction,
    },
    /// MCP configurations, their servers and guardrail policies; the Enkrypt API key and
    /// telemetry settings.
    Config(Box<config::ConfigArgs>),
    /// Projects: their MCP config and their users.
    Project(project::ProjectArgs),
    /// Users and their projects.
    User(user::UserArgs),
    /// Add the gateway to an MCP client's config file (Claude Desktop, Cursor, Claude Code, VS Code).
    Install(install::InstallArgs),
    /// Backup, restore, reset, health check.
    System {
        /// What to do.
        #[command(subcommand)]
        action: system::SystemAction,
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
    /// Whether the command serves MCP clients (`start`): the one that exports telemetry.
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Start { .. })
    }

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
            let w = match crate::config::write_new(&path, &GenerateOptions::default(), overwrite) {
                Ok(w) => w,
                Err(crate::config::ConfigError::Exists { .. }) => {
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
            admin_port,
            admin_host,
            tls_cert,
            tls_key,
            metrics_port,
            metrics_host,
            ..
        } => {
            let bind = crate::bind::choose(host.as_deref(), &crate::bind::Signals::probe());
            if !path.exists() {
                let w = crate::config::write_new(&path, &GenerateOptions::default(), false)
                    .with_context(|| format!("generating a config at {}", path.display()))?;
                let shown = if bind.host == crate::bind::ALL_INTERFACES {
                    crate::bind::LOOPBACK
                } else {
                    &bind.host
                };
                print_connect(&path, w.generated.api_key.expose(), shown, port);
            }
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => {
                    Some(crate::tls::Tls::new(&c, &k).map_err(anyhow::Error::msg)?)
                }
                _ => None,
            };
            let listeners = start::Listeners {
                admin: admin_port.map(|p| (admin_host, p)),
                metrics: metrics_port.map(|p| (metrics_host, p)),
            };
            start::start(&path, &bind, port, transport, listeners, tls).await?;
            Ok(0)
        }
        Command::Cache { action } => cache::cache_cmd(&path, action).await,
        Command::Apikey(args) => Ok(keys::run_apikey(&path, args)),
        Command::Config(args) => Ok(config::run(&path, *args)),
        Command::Project(args) => Ok(project::run(&path, args)),
        Command::User(args) => Ok(user::run(&path, args)),
        Command::Install(args) => Ok(install::install_cmd(&path, args)),
        Command::System { action } => Ok(system::system_cmd(&path, action).await),
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
