//! Gateway key commands: the reference's `user ...-api-key` subcommands (flattened into the
//! `user` group) and the seeds' `apikey rotate` group. The operations are in
//! [`crate::admin::keys`].

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::output::report;
use crate::admin::{keys, AdminError};

/// A user by `--user-id` or `--email`.
#[derive(Debug, Clone, Args)]
pub struct UserArg {
    /// User id.
    #[arg(long)]
    pub user_id: Option<String>,
    /// User email.
    #[arg(long)]
    pub email: Option<String>,
}

impl UserArg {
    fn get(&self) -> Result<&str, AdminError> {
        self.user_id
            .as_deref()
            .or(self.email.as_deref())
            .ok_or_else(|| AdminError::Invalid("--user-id or --email is required".into()))
    }
}

/// A project by `--project-id` or `--project-name`.
#[derive(Debug, Clone, Args)]
pub struct ProjectArg {
    /// Project id.
    #[arg(long)]
    pub project_id: Option<String>,
    /// Project name.
    #[arg(long)]
    pub project_name: Option<String>,
}

impl ProjectArg {
    fn get(&self) -> Option<&str> {
        self.project_id.as_deref().or(self.project_name.as_deref())
    }
}

/// The key subcommands of `user`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a gateway key for a user in a project (printed once; stored only as a hash).
    GenerateApiKey {
        #[command(flatten)]
        user: UserArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a key's details (never the key).
    GetApiKey {
        /// The key, or its id (`mgw_<id>`).
        #[arg(long)]
        api_key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a key by a new one for the same user and project.
    RotateApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Keep the old key working this many seconds (default: it stops at once).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a key (a running gateway refuses it at its next reload, within a second).
    DisableApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled key.
    EnableApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a key.
    DeleteApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete every key of a user.
    DeleteAllApiKeys {
        #[command(flatten)]
        user: UserArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a user's keys (ids and prefixes, never keys).
    ListApiKeys {
        #[command(flatten)]
        user: UserArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List every key.
    ListAllApiKeys {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store every plain-text key of the file (the reference's format) as a hash; the keys
    /// keep working.
    MigrateApiKeys {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `apikey`: the seeds' spelling.
#[derive(Debug, Subcommand)]
pub enum ApikeyAction {
    /// Replace a key by a new one (`user rotate-api-key`).
    Rotate {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Keep the old key working this many seconds.
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn key_text(v: &Value) -> String {
    let mut out = String::new();
    if let Some(k) = v
        .get("api_key")
        .and_then(Value::as_str)
        .filter(|_| v.get("key_id").is_some())
    {
        if v.get("storage").is_none() {
            out.push_str(&format!(
                "api_key: {k}\n(shown once: it is stored only as a hash)\n"
            ));
            return out;
        }
    }
    if let Some(k) = v.get("new_api_key").and_then(Value::as_str) {
        out.push_str(&format!(
            "new_api_key: {k}\n(shown once: it is stored only as a hash)\n"
        ));
        if let Some(t) = v.get("old_key_expires_at").and_then(Value::as_u64) {
            out.push_str(&format!("the old key works until {t} (Unix seconds)\n"));
        }
        return out;
    }
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Runs a key subcommand of `user`.
pub(crate) fn run(path: &Path, cmd: KeyCommand) -> i32 {
    match cmd {
        KeyCommand::GenerateApiKey {
            user,
            project,
            json,
        } => {
            let r = user.get().and_then(|u| {
                let p = project.get().ok_or_else(|| {
                    AdminError::Invalid("--project-id or --project-name is required".into())
                })?;
                keys::generate(path, u, p)
            });
            report(json, r, key_text)
        }
        KeyCommand::GetApiKey { api_key, json } => {
            report(json, keys::get(path, &api_key), key_text)
        }
        KeyCommand::RotateApiKey {
            api_key,
            grace,
            json,
        } => report(json, keys::rotate(path, &api_key, grace), key_text),
        KeyCommand::DisableApiKey { api_key, json } => {
            report(json, keys::set_disabled(path, &api_key, true), |v| {
                format!(
                    "API key {} disabled",
                    v["api_key"].as_str().unwrap_or_default()
                )
            })
        }
        KeyCommand::EnableApiKey { api_key, json } => {
            report(json, keys::set_disabled(path, &api_key, false), |v| {
                format!(
                    "API key {} enabled",
                    v["api_key"].as_str().unwrap_or_default()
                )
            })
        }
        KeyCommand::DeleteApiKey { api_key, json } => {
            report(json, keys::delete(path, &api_key), |v| {
                format!(
                    "API key {} deleted",
                    v["api_key"].as_str().unwrap_or_default()
                )
            })
        }
        KeyCommand::DeleteAllApiKeys { user, json } => {
            let r = user.get().and_then(|u| keys::delete_all(path, u));
            report(json, r, |v| format!("deleted {} API keys", v["deleted"]))
        }
        KeyCommand::ListApiKeys {
            user,
            project,
            json,
        } => {
            let r = user
                .get()
                .and_then(|u| keys::list(path, Some(u), project.get()));
            report(json, r, key_text)
        }
        KeyCommand::ListAllApiKeys { json } => report(json, keys::list(path, None, None), key_text),
        KeyCommand::MigrateApiKeys { json } => report(json, keys::migrate(path), |v| {
            format!("{} plain-text keys now stored as hashes", v["migrated"])
        }),
    }
}

/// Runs `apikey ...`.
pub(crate) fn run_apikey(path: &Path, action: ApikeyAction) -> i32 {
    match action {
        ApikeyAction::Rotate {
            api_key,
            grace,
            json,
        } => run(
            path,
            KeyCommand::RotateApiKey {
                api_key,
                grace,
                json,
            },
        ),
    }
}
