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
    },
    /// Show a key's details (never the key).
    GetApiKey {
        /// The key, or its id (`mgw_<id>`).
        #[arg(long)]
        api_key: String,
    },
    /// Replace a key by a new one for the same user and project.
    RotateApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
        /// Keep the old key working this many seconds (default: it stops at once).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
    /// Disable a key (a running gateway refuses it at its next reload, within a second).
    DisableApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
    },
    /// Enable a disabled key.
    EnableApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
    },
    /// Delete a key.
    DeleteApiKey {
        /// The key, or its id.
        #[arg(long)]
        api_key: String,
    },
    /// Delete every key of a user.
    DeleteAllApiKeys {
        #[command(flatten)]
        user: UserArg,
    },
    /// List a user's keys (ids and prefixes, never keys).
    ListApiKeys {
        #[command(flatten)]
        user: UserArg,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// List every key.
    ListAllApiKeys,
    /// Store every plain-text key of the file (the reference's format) as a hash; the keys
    /// keep working.
    MigrateApiKeys,
}

/// `apikey` and its `--json`: the seeds' spelling.
#[derive(Debug, clap::Args)]
pub struct ApikeyArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: ApikeyAction,
}

/// `apikey` subcommands.
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
pub(crate) fn run(path: &Path, cmd: KeyCommand, json: bool) -> i32 {
    match cmd {
        KeyCommand::GenerateApiKey { user, project } => {
            let r = user.get().and_then(|u| {
                let p = project.get().ok_or_else(|| {
                    AdminError::Invalid("--project-id or --project-name is required".into())
                })?;
                keys::generate(path, u, p)
            });
            report(json, r, key_text)
        }
        KeyCommand::GetApiKey { api_key } => report(json, keys::get(path, &api_key), key_text),
        KeyCommand::RotateApiKey { api_key, grace } => {
            report(json, keys::rotate(path, &api_key, grace), key_text)
        }
        KeyCommand::DisableApiKey { api_key } => {
            report(json, keys::set_disabled(path, &api_key, true), |v| {
                format!(
                    "API key {} disabled",
                    v["api_key"].as_str().unwrap_or_default()
                )
            })
        }
        KeyCommand::EnableApiKey { api_key } => {
            report(json, keys::set_disabled(path, &api_key, false), |v| {
                format!(
                    "API key {} enabled",
                    v["api_key"].as_str().unwrap_or_default()
                )
            })
        }
        KeyCommand::DeleteApiKey { api_key } => report(json, keys::delete(path, &api_key), |v| {
            format!(
                "API key {} deleted",
                v["api_key"].as_str().unwrap_or_default()
            )
        }),
        KeyCommand::DeleteAllApiKeys { user } => {
            let r = user.get().and_then(|u| keys::delete_all(path, u));
            report(json, r, |v| format!("deleted {} API keys", v["deleted"]))
        }
        KeyCommand::ListApiKeys { user, project } => {
            let r = user
                .get()
                .and_then(|u| keys::list(path, Some(u), project.get()));
            report(json, r, key_text)
        }
        KeyCommand::ListAllApiKeys => report(json, keys::list(path, None, None), key_text),
        KeyCommand::MigrateApiKeys => report(json, keys::migrate(path), |v| {
            format!("{} plain-text keys now stored as hashes", v["migrated"])
        }),
    }
}

/// Runs `apikey ...`.
pub(crate) fn run_apikey(path: &Path, args: ApikeyArgs) -> i32 {
    match args.action {
        ApikeyAction::Rotate { api_key, grace } => {
            run(path, KeyCommand::RotateApiKey { api_key, grace }, args.json)
        }
    }
}
