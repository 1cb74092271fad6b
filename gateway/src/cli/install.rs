//! `install --client claude-desktop|cursor|claude-code|vscode`: see [`crate::admin::install`].

use std::path::Path;

use clap::Args;
use serde_json::Value;

use super::output;
use crate::admin::install::{self, Client, ClientTransport, Host, InstallOptions};
use crate::admin::AdminError;

/// Flags of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The MCP client whose config file gets the gateway.
    #[arg(long, value_enum)]
    pub client: Client,
    /// stdio: the client starts the gateway; http: it connects to a running one at --url.
    #[arg(long, value_enum, default_value_t = ClientTransport::Stdio)]
    pub transport: ClientTransport,
    /// Gateway URL for --transport http [default: http://localhost:8000/mcp/].
    #[arg(long)]
    pub url: Option<String>,
    /// The gateway key to install (default: the config's first enabled key).
    #[arg(long, alias = "apikey", value_name = "KEY")]
    pub api_key: Option<String>,
    /// Print the change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn install_cmd(path: &Path, a: InstallArgs) -> i32 {
    let r = (|| {
        let exe = std::env::current_exe().map_err(|e| {
            AdminError::Invalid(format!("cannot find this program's own path: {e}"))
        })?;
        let opts = InstallOptions {
            client: a.client,
            transport: a.transport,
            url: a.url,
            api_key: a.api_key,
            dry_run: a.dry_run,
            exe,
        };
        install::install(path, &opts, &Host::current()?)
    })();
    output::report(a.json, r, text)
}

fn text(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let entry = serde_json::to_string_pretty(&v["entry"]).unwrap_or_default();
    let head = if v["dry_run"] == Value::Bool(true) {
        format!(
            "Dry run: would write entry \"{}\" under \"{}\" in {} ({}):",
            s("server_name"),
            s("section"),
            s("path"),
            if s("action") == "unchanged" {
                "already there".to_string()
            } else {
                s("action")
            }
        )
    } else {
        format!(
            "{} entry \"{}\" under \"{}\" in {} (mode 0600):",
            match s("action").as_str() {
                "added" => "Added",
                "updated" => "Updated",
                _ => "Unchanged:",
            },
            s("server_name"),
            s("section"),
            s("path")
        )
    };
    let mut out = format!("{head}\n{entry}\n");
    if let Some(b) = v["backup"].as_str() {
        out.push_str(&format!("Previous file kept as {b}\n"));
    }
    if v["dry_run"] != Value::Bool(true) {
        out.push_str("Restart (or reload the MCP servers of) the client to use the gateway.\n");
    }
    out
}
