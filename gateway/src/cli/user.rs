//! `user ...`: users and their projects (the operations are in [`crate::admin::users`]).
//! Names and flags are the reference CLI's. The API-key subcommands join [`UserAction`] from
//! their own module.

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::output::report;
use super::project::UserSel;
use crate::admin::users;

/// `user` and its `--json`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: UserAction,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// List all users.
    List,
    /// Create a user; prints its id.
    Create {
        /// User email.
        #[arg(long)]
        email: String,
    },
    /// Show a user, their projects and their API keys (the keys themselves are not shown).
    Get {
        #[command(flatten)]
        user: UserSel,
    },
    /// Change a user's email.
    Update {
        #[command(flatten)]
        user: UserSel,
        /// New email.
        #[arg(long)]
        new_email: String,
    },
    /// Delete a user (refused while they have API keys or projects, unless --force).
    Delete {
        #[command(flatten)]
        user: UserSel,
        /// Also delete the user's API keys and remove them from every project.
        #[arg(long)]
        force: bool,
    },
    /// List a user's projects.
    ListProjects {
        #[command(flatten)]
        user: UserSel,
    },
    /// Search users by email or project name.
    Search {
        /// Search term.
        #[arg(long)]
        search_term: String,
    },
    /// The API-key subcommands (`generate-api-key`, `rotate-api-key`, ...).
    #[command(flatten)]
    Keys(super::keys::KeyCommand),
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Runs a `user` subcommand; returns the exit status.
pub(super) fn run(path: &Path, args: UserArgs) -> i32 {
    let json = args.json;
    match args.action {
        UserAction::List => report(json, users::list(path), pretty),
        UserAction::Keys(cmd) => super::keys::run(path, cmd, json),
        UserAction::Create { email } => report(json, users::create(path, &email), |v| {
            format!("user_id: {}", s(v, "user_id"))
        }),
        UserAction::Get { user } => {
            report(json, user.by().and_then(|b| users::get(path, &b)), pretty)
        }
        UserAction::Update { user, new_email } => report(
            json,
            user.by().and_then(|b| users::update(path, &b, &new_email)),
            |v| {
                format!(
                    "User email updated from '{}' to '{}'",
                    s(v, "old_email"),
                    s(v, "email")
                )
            },
        ),
        UserAction::Delete { user, force } => report(
            json,
            user.by().and_then(|b| users::delete(path, &b, force)),
            |v| {
                let mut t = String::new();
                let keys = v["api_keys_removed"].as_u64().unwrap_or(0);
                if keys > 0 {
                    t.push_str(&format!("Deleted {keys} API keys\n"));
                }
                for p in v["removed_from_projects"].as_array().into_iter().flatten() {
                    t.push_str(&format!(
                        "Removed user from project: {}\n",
                        s(p, "project_name")
                    ));
                }
                t.push_str(&format!("User '{}' deleted successfully", s(v, "email")));
                t
            },
        ),
        UserAction::ListProjects { user } => report(
            json,
            user.by().and_then(|b| users::list_projects(path, &b)),
            pretty,
        ),
        UserAction::Search { search_term } => {
            report(json, users::search(path, &search_term), pretty)
        }
    }
}
