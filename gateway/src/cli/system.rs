//! `system backup|restore|reset|health-check`: see [`crate::admin::backup`] and
//! [`crate::admin::health`].

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;

use super::output;
use crate::admin::{backup, health};

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemAction {
    /// Write the whole config to a backup file (mode 0600).
    Backup {
        /// The backup file [default: enkrypt_mcp_config.backup.<UTC time>.json beside the config].
        #[arg(long, alias = "output-file", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the config with the one in a backup file (validated first; the current file is kept as .bak).
    Restore {
        /// The backup file (ours or the reference gateway's).
        #[arg(long, alias = "input-file", value_name = "FILE")]
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the config with a new default one (the current file is kept as .bak).
    Reset {
        /// Do it (nothing happens without it).
        #[arg(long, alias = "force")]
        confirm: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the config (dangling references, duplicates, counts) and, live, the cache, every
    /// upstream server and the guardrail API. Exit 1 when unhealthy.
    HealthCheck {
        /// Only the config checks: start nothing, connect to nothing.
        #[arg(long)]
        offline: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn system_cmd(path: &Path, action: SystemAction) -> i32 {
    match action {
        SystemAction::Backup { output, json } => {
            output::report(json, backup::backup(path, output.as_deref()), |v| {
                format!(
                    "Backup written to {} (mode 0600){}",
                    v["backup_file"].as_str().unwrap_or_default(),
                    if v["config_valid"] == Value::Bool(false) {
                        "\nNote: the config in it is not valid; `system restore` will refuse it"
                    } else {
                        ""
                    }
                )
            })
        }
        SystemAction::Restore { file, json } => {
            output::report(json, backup::restore(path, &file), |v| {
                let mut s = format!(
                    "Config {} restored from {}",
                    v["config_path"].as_str().unwrap_or_default(),
                    v["restored_from"].as_str().unwrap_or_default()
                );
                if let Some(p) = v["previous_config"].as_str() {
                    s.push_str(&format!("\nPrevious config kept as {p}"));
                }
                if let Some(k) = v["api_key"].as_str() {
                    s.push_str(&format!("\nGateway key (shown once): {k}"));
                }
                s.push_str("\nA running gateway picks it up at its next reload.");
                s
            })
        }
        SystemAction::Reset { confirm, json } => {
            output::report(json, backup::reset(path, confirm), |v| {
                let mut s = format!(
                    "Config {} reset to a new default one (new project, user and gateway key).",
                    v["config_path"].as_str().unwrap_or_default()
                );
                if let Some(p) = v["previous_config"].as_str() {
                    s.push_str(&format!("\nPrevious config kept as {p}"));
                }
                if let Some(k) = v["api_key"].as_str() {
                    s.push_str(&format!("\nGateway key (shown once): {k}"));
                }
                s.push_str("\nRe-run `secure-mcp-gateway install --client ...` to give clients the new key.");
                s
            })
        }
        SystemAction::HealthCheck { offline, json } => {
            match health::health_check(path, offline).await {
                Ok(v) => {
                    output::ok(json, &v, health::to_text);
                    if v["status"] == "healthy" {
                        0
                    } else {
                        1
                    }
                }
                Err(e) => output::fail(json, &e),
            }
        }
    }
}
