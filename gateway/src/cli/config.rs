//! `config ...`: mcp_configs, their servers and guardrail policies, the Enkrypt API key and
//! telemetry settings (the operations are in [`crate::admin::configs`] and
//! [`crate::admin::servers`]). Names and flags are the reference CLI's.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::output::{fail, ok, report};
use crate::admin::servers::{NewServer, PolicyArg, ServerUpdate};
use crate::admin::{configs, servers, AdminError, By};

/// `config` and its `--json`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// Which mcp_config: `--config-name` or `--config-id`.
#[derive(Debug, Clone, Args)]
pub struct ConfigSel {
    /// Configuration name.
    #[arg(long)]
    pub config_name: Option<String>,
    /// Configuration ID.
    #[arg(long)]
    pub config_id: Option<String>,
}

impl ConfigSel {
    fn by(&self) -> Result<By, AdminError> {
        By::config(self.config_name.clone(), self.config_id.clone())
    }
}

/// Transports of a remote server (`--transport`).
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum TransportFlag {
    /// Streamable HTTP (the default).
    StreamableHttp,
    /// Server-sent events.
    Sse,
}

/// `--type`, as VS Code / Claude configs name transports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeFlag {
    /// Streamable HTTP (needs --server-url).
    Http,
    /// Server-sent events (needs --server-url).
    Sse,
    /// A local command.
    Stdio,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// List all MCP configurations.
    List,
    /// Add a new (empty) MCP configuration; prints its id.
    Add {
        /// Configuration name.
        #[arg(long)]
        config_name: String,
    },
    /// Copy an MCP configuration under a new name.
    Copy {
        /// Source config name or ID.
        #[arg(long)]
        source_config: String,
        /// Target config name.
        #[arg(long)]
        target_config: String,
    },
    /// Rename an MCP configuration.
    Rename {
        #[command(flatten)]
        sel: ConfigSel,
        /// New config name.
        #[arg(long)]
        new_name: String,
    },
    /// Show a configuration (secret values masked).
    Get {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// Remove a configuration (refused while a project uses it).
    Remove {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// Validate a configuration with the gateway's own checks; exit 1 if it has problems.
    Validate {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// List the projects using a configuration.
    ListProjects {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// List the servers of a configuration.
    ListServers {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// Show one server (secret values masked).
    GetServer {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
    },
    /// Add a server: a local command (--server-command) or a remote URL (--server-url).
    AddServer {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
        /// Server command (stdio servers; omit for URL servers).
        #[arg(long)]
        server_command: Option<String>,
        /// Remote MCP server URL (e.g. https://mcp.example.com/mcp), instead of --server-command.
        // The doc comment is the `--help` text: the URL stays bare there.
        #[allow(rustdoc::bare_urls)]
        #[arg(long)]
        server_url: Option<String>,
        /// Transport for URL servers (default: streamable_http).
        #[arg(long, value_enum)]
        transport: Option<TransportFlag>,
        /// Server type (http, sse, stdio), as VS Code / Claude configs write it.
        #[arg(long = "type", value_enum)]
        server_type: Option<TypeFlag>,
        /// Server arguments, comma-separated (e.g. '-y,@org/package').
        #[arg(long, allow_hyphen_values = true)]
        args: Option<String>,
        /// Environment variables (JSON object).
        #[arg(long)]
        env: Option<String>,
        /// HTTP headers for URL servers (JSON object).
        #[arg(long)]
        headers: Option<String>,
        /// Tools configuration (JSON object).
        #[arg(long)]
        tools: Option<String>,
        /// Denied tools (JSON list of names, globs or {name, reason, description}).
        #[arg(long)]
        denied_tools: Option<String>,
        /// Server description.
        #[arg(long, default_value = "")]
        description: String,
        /// Input guardrails policy (JSON object).
        #[arg(long)]
        input_guardrails_config: Option<String>,
        /// Output guardrails policy (JSON object).
        #[arg(long)]
        output_guardrails_config: Option<String>,
    },
    /// Update a server's command, args, env, tools or description.
    UpdateServer {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
        /// Server command.
        #[arg(long)]
        server_command: Option<String>,
        /// Server arguments, comma-separated (e.g. '-y,@org/package').
        #[arg(long, allow_hyphen_values = true)]
        args: Option<String>,
        /// Environment variables (JSON object; replaces the whole env).
        #[arg(long)]
        env: Option<String>,
        /// Tools configuration (JSON object).
        #[arg(long)]
        tools: Option<String>,
        /// Server description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove a server from a configuration.
    RemoveServer {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name to remove.
        #[arg(long)]
        server_name: String,
    },
    /// Remove all servers from a configuration.
    RemoveAllServers {
        #[command(flatten)]
        sel: ConfigSel,
    },
    /// Replace a server's input guardrails policy.
    UpdateServerInputGuardrails {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
        /// JSON file with the policy.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        /// The policy as JSON text.
        #[arg(long)]
        policy: Option<String>,
    },
    /// Replace a server's output guardrails policy.
    UpdateServerOutputGuardrails {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
        /// JSON file with the policy.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        /// The policy as JSON text.
        #[arg(long)]
        policy: Option<String>,
    },
    /// Replace a server's input and/or output guardrails policies.
    UpdateServerGuardrails {
        #[command(flatten)]
        sel: ConfigSel,
        /// Server name.
        #[arg(long)]
        server_name: String,
        /// JSON file with the input policy.
        #[arg(long)]
        input_policy_file: Option<PathBuf>,
        /// The input policy as JSON text.
        #[arg(long)]
        input_policy: Option<String>,
        /// JSON file with the output policy.
        #[arg(long)]
        output_policy_file: Option<PathBuf>,
        /// The output policy as JSON text.
        #[arg(long)]
        output_policy: Option<String>,
    },
    /// Write a configuration to a file (mode 0600: it holds the servers' secrets).
    Export {
        #[command(flatten)]
        sel: ConfigSel,
        /// Output file path.
        #[arg(long)]
        output_file: PathBuf,
    },
    /// Add the configuration of an export file under a new name.
    Import {
        /// Input file path.
        #[arg(long)]
        input_file: PathBuf,
        /// Configuration name.
        #[arg(long)]
        config_name: String,
    },
    /// Search configurations by name or server name.
    Search {
        /// Search term.
        #[arg(long)]
        search_term: String,
    },
    /// Set the Enkrypt API key (guardrails).
    SetEnkryptApiKey {
        /// Enkrypt API key.
        #[arg(long)]
        api_key: String,
    },
    /// Say whether the Enkrypt API key is set, and where (the key is masked).
    GetEnkryptApiKey,
    /// Configure OpenTelemetry settings.
    ConfigureTelemetry {
        /// Enable or disable telemetry (true/false).
        #[arg(long, value_parser = truthy)]
        enabled: Option<bool>,
        /// OpenTelemetry collector URL (e.g. http://localhost:4317).
        #[arg(long)]
        url: Option<String>,
        /// Use an insecure connection (true/false).
        #[arg(long, value_parser = truthy)]
        insecure: Option<bool>,
    },
}

/// The reference's boolean flags: `true`, `1`, `yes` (any case) are true, anything else false.
fn truthy(s: &str) -> Result<bool, std::convert::Infallible> {
    Ok(matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    ))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn with_by<T>(
    sel: &ConfigSel,
    f: impl FnOnce(&By) -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    f(&sel.by()?)
}

/// Runs a `config` subcommand; returns the exit status.
pub(super) fn run(path: &Path, args: ConfigArgs) -> i32 {
    let json = args.json;
    match args.action {
        ConfigAction::List => report(json, configs::list(path), pretty),
        ConfigAction::Add { config_name } => report(json, configs::add(path, &config_name), |v| {
            format!("mcp_config_id: {}", s(v, "mcp_config_id"))
        }),
        ConfigAction::Copy {
            source_config,
            target_config,
        } => report(
            json,
            configs::copy(path, &source_config, &target_config),
            |v| {
                format!(
                    "Config '{source_config}' copied to '{target_config}' with ID: {}",
                    s(v, "mcp_config_id")
                )
            },
        ),
        ConfigAction::Rename { sel, new_name } => report(
            json,
            with_by(&sel, |b| configs::rename(path, b, &new_name)),
            |v| format!("Config '{}' renamed to '{new_name}'", s(v, "old_name")),
        ),
        ConfigAction::Get { sel } => report(json, with_by(&sel, |b| configs::get(path, b)), pretty),
        ConfigAction::Remove { sel } => {
            report(json, with_by(&sel, |b| configs::remove(path, b)), |v| {
                format!("Config '{}' removed successfully", s(v, "mcp_config_name"))
            })
        }
        ConfigAction::Validate { sel } => {
            match with_by(&sel, |b| configs::validate(path, Some(b))) {
                Err(e) => fail(json, &e),
                Ok(v) => {
                    let valid = v.get("valid").and_then(Value::as_bool) == Some(true);
                    let code = ok(json, &v, |v| {
                        let name = s(v, "mcp_config_name");
                        if valid {
                            format!("Config '{name}' is valid")
                        } else {
                            let mut t = format!("Config '{name}' validation failed:");
                            for i in v["issues"].as_array().into_iter().flatten() {
                                t.push_str(&format!("\n  - {}", i.as_str().unwrap_or_default()));
                            }
                            t
                        }
                    });
                    if valid {
                        code
                    } else {
                        eprintln!(
                            "error: config '{}' has {} problem(s)",
                            s(&v, "mcp_config_name"),
                            v["issues"].as_array().map_or(0, Vec::len)
                        );
                        1
                    }
                }
            }
        }
        ConfigAction::ListProjects { sel } => report(
            json,
            with_by(&sel, |b| configs::list_projects(path, b)),
            pretty,
        ),
        ConfigAction::ListServers { sel } => {
            report(json, with_by(&sel, |b| servers::list(path, b)), pretty)
        }
        ConfigAction::GetServer { sel, server_name } => report(
            json,
            with_by(&sel, |b| servers::get(path, b, &server_name)),
            pretty,
        ),
        ConfigAction::AddServer {
            sel,
            server_name,
            server_command,
            server_url,
            transport,
            server_type,
            args,
            env,
            headers,
            tools,
            denied_tools,
            description,
            input_guardrails_config,
            output_guardrails_config,
        } => {
            let new = NewServer {
                name: server_name,
                command: server_command,
                args,
                env,
                url: server_url,
                transport: transport.map(|t| {
                    match t {
                        TransportFlag::StreamableHttp => "streamable_http",
                        TransportFlag::Sse => "sse",
                    }
                    .to_string()
                }),
                server_type: server_type.map(|t| {
                    match t {
                        TypeFlag::Http => "http",
                        TypeFlag::Sse => "sse",
                        TypeFlag::Stdio => "stdio",
                    }
                    .to_string()
                }),
                headers,
                tools,
                denied_tools,
                description,
                input_guardrails: input_guardrails_config,
                output_guardrails: output_guardrails_config,
            };
            report(json, with_by(&sel, |b| servers::add(path, b, &new)), |v| {
                format!(
                    "Server '{}' added to config '{}'",
                    s(v, "server_name"),
                    sel.config_name.as_deref().unwrap_or(s(v, "mcp_config_id"))
                )
            })
        }
        ConfigAction::UpdateServer {
            sel,
            server_name,
            server_command,
            args,
            env,
            tools,
            description,
        } => {
            let u = ServerUpdate {
                command: server_command,
                args,
                env,
                tools,
                description,
            };
            report(
                json,
                with_by(&sel, |b| servers::update(path, b, &server_name, &u)),
                |_| format!("Server '{server_name}' updated"),
            )
        }
        ConfigAction::RemoveServer { sel, server_name } => report(
            json,
            with_by(&sel, |b| servers::remove(path, b, &server_name)),
            |_| format!("Server '{server_name}' removed"),
        ),
        ConfigAction::RemoveAllServers { sel } => {
            report(json, with_by(&sel, |b| servers::remove_all(path, b)), |v| {
                format!("Removed {} servers", v["removed"])
            })
        }
        ConfigAction::UpdateServerInputGuardrails {
            sel,
            server_name,
            policy_file,
            policy,
        } => {
            let p = PolicyArg {
                file: policy_file,
                json: policy,
            };
            guardrails(json, path, &sel, &server_name, Some((&p, "--policy")), None)
        }
        ConfigAction::UpdateServerOutputGuardrails {
            sel,
            server_name,
            policy_file,
            policy,
        } => {
            let p = PolicyArg {
                file: policy_file,
                json: policy,
            };
            guardrails(json, path, &sel, &server_name, None, Some((&p, "--policy")))
        }
        ConfigAction::UpdateServerGuardrails {
            sel,
            server_name,
            input_policy_file,
            input_policy,
            output_policy_file,
            output_policy,
        } => {
            let i = PolicyArg {
                file: input_policy_file,
                json: input_policy,
            };
            let o = PolicyArg {
                file: output_policy_file,
                json: output_policy,
            };
            guardrails(
                json,
                path,
                &sel,
                &server_name,
                Some((&i, "--input-policy")),
                Some((&o, "--output-policy")),
            )
        }
        ConfigAction::Export { sel, output_file } => report(
            json,
            with_by(&sel, |b| configs::export(path, b, &output_file)),
            |v| format!("Config exported to {}", s(v, "output_file")),
        ),
        ConfigAction::Import {
            input_file,
            config_name,
        } => report(
            json,
            configs::import(path, &input_file, &config_name),
            |v| {
                format!(
                    "Config imported as '{config_name}' with ID: {}",
                    s(v, "mcp_config_id")
                )
            },
        ),
        ConfigAction::Search { search_term } => {
            report(json, configs::search(path, &search_term), pretty)
        }
        ConfigAction::SetEnkryptApiKey { api_key } => {
            report(json, configs::set_enkrypt_api_key(path, &api_key), |_| {
                "Enkrypt API key updated successfully".to_string()
            })
        }
        ConfigAction::GetEnkryptApiKey => report(json, configs::get_enkrypt_api_key(path), pretty),
        ConfigAction::ConfigureTelemetry {
            enabled,
            url,
            insecure,
        } => report(
            json,
            configs::configure_telemetry(path, enabled, url.as_deref(), insecure),
            |v| {
                let parts: Vec<String> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, x)| format!("{k}={}", x.as_str().map_or(x.to_string(), String::from)))
                    .collect();
                format!("Telemetry configuration updated: {}", parts.join(", "))
            },
        ),
    }
}

fn guardrails(
    json: bool,
    path: &Path,
    sel: &ConfigSel,
    server: &str,
    input: Option<(&PolicyArg, &str)>,
    output: Option<(&PolicyArg, &str)>,
) -> i32 {
    report(
        json,
        with_by(sel, |b| {
            servers::update_guardrails(path, b, server, input, output)
        }),
        |v| {
            let sides: Vec<&str> = v["updated"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "Updated {} guardrails policies for server '{server}'",
                sides.join(" and ")
            )
        },
    )
}
