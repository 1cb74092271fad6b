//! `project ...`: projects, their mcp_config and their users (the operations are in
//! [`crate::admin::projects`]). Names and flags are the reference CLI's.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;

use super::output::report;
use crate::admin::{projects, AdminError, By};

/// `project` and its `--json`.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: ProjectAction,
}

/// Which project: `--project-name` or `--project-id`.
#[derive(Debug, Clone, Args)]
pub struct ProjectSel {
    /// Project name.
    #[arg(long)]
    pub project_name: Option<String>,
    /// Project ID.
    #[arg(long)]
    pub project_id: Option<String>,
}

impl ProjectSel {
    fn by(&self) -> Result<By, AdminError> {
        By::project(self.project_name.clone(), self.project_id.clone())
    }
}

/// Which user: `--user-id` or `--email`.
#[derive(Debug, Clone, Args)]
pub struct UserSel {
    /// User ID.
    #[arg(long)]
    pub user_id: Option<String>,
    /// User email.
    #[arg(long)]
    pub email: Option<String>,
}

impl UserSel {
    pub(super) fn by(&self) -> Result<By, AdminError> {
        By::user(self.user_id.clone(), self.email.clone())
    }
}

/// `project` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProjectAction {
    /// List all projects.
    List,
    /// Create a project; prints its id.
    Create {
        /// Project name.
        #[arg(long)]
        project_name: String,
    },
    /// Show a project, its config and its users.
    Get {
        #[command(flatten)]
        sel: ProjectSel,
    },
    /// Remove a project (refused while it has API keys, unless --force).
    Remove {
        #[command(flatten)]
        sel: ProjectSel,
        /// Also delete the project's API keys.
        #[arg(long)]
        force: bool,
    },
    /// Assign an MCP config to a project.
    AssignConfig {
        #[command(flatten)]
        sel: ProjectSel,
        /// Configuration name.
        #[arg(long)]
        config_name: Option<String>,
        /// Configuration ID.
        #[arg(long)]
        config_id: Option<String>,
    },
    /// Unassign a project's MCP config.
    UnassignConfig {
        #[command(flatten)]
        sel: ProjectSel,
    },
    /// Show the config assigned to a project (secret values masked).
    GetConfig {
        #[command(flatten)]
        sel: ProjectSel,
    },
    /// Add a user to a project.
    AddUser {
        #[command(flatten)]
        sel: ProjectSel,
        #[command(flatten)]
        user: UserSel,
    },
    /// Remove a user from a project.
    RemoveUser {
        #[command(flatten)]
        sel: ProjectSel,
        #[command(flatten)]
        user: UserSel,
    },
    /// List the users of a project.
    ListUsers {
        #[command(flatten)]
        sel: ProjectSel,
    },
    /// Remove all users from a project.
    RemoveAllUsers {
        #[command(flatten)]
        sel: ProjectSel,
    },
    /// Write a project, its config and its users to a file (mode 0600).
    Export {
        #[command(flatten)]
        sel: ProjectSel,
        /// Output file path.
        #[arg(long)]
        output_file: PathBuf,
    },
    /// Search projects by name or member email.
    Search {
        /// Search term.
        #[arg(long)]
        search_term: String,
    },
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Runs a `project` subcommand; returns the exit status.
pub(super) fn run(path: &Path, args: ProjectArgs) -> i32 {
    let json = args.json;
    match args.action {
        ProjectAction::List => report(json, projects::list(path), pretty),
        ProjectAction::Create { project_name } => {
            report(json, projects::create(path, &project_name), |v| {
                format!("project_id: {}", s(v, "project_id"))
            })
        }
        ProjectAction::Get { sel } => {
            report(json, sel.by().and_then(|b| projects::get(path, &b)), pretty)
        }
        ProjectAction::Remove { sel, force } => report(
            json,
            sel.by().and_then(|b| projects::remove(path, &b, force)),
            |v| {
                format!(
                    "Project '{}' removed successfully ({} API keys removed)",
                    s(v, "project_name"),
                    v["api_keys_removed"]
                )
            },
        ),
        ProjectAction::AssignConfig {
            sel,
            config_name,
            config_id,
        } => {
            let r = sel.by().and_then(|p| {
                let c = By::config(config_name, config_id)?;
                projects::assign_config(path, &p, &c)
            });
            report(json, r, |v| {
                let replaced = if v["replaced"].is_null() {
                    ""
                } else {
                    " (replaced previous config)"
                };
                format!(
                    "Config '{}' assigned to project '{}'{replaced}",
                    s(v, "mcp_config_id"),
                    s(v, "project_id")
                )
            })
        }
        ProjectAction::UnassignConfig { sel } => report(
            json,
            sel.by().and_then(|b| projects::unassign_config(path, &b)),
            |v| format!("Config unassigned from project '{}'", s(v, "project_id")),
        ),
        ProjectAction::GetConfig { sel } => report(
            json,
            sel.by().and_then(|b| projects::get_config(path, &b)),
            pretty,
        ),
        ProjectAction::AddUser { sel, user } => {
            let r = sel.by().and_then(|p| {
                let u = user.by()?;
                projects::add_user(path, &p, &u)
            });
            report(json, r, |v| {
                if v["added"] == Value::Bool(true) {
                    format!(
                        "User '{}' added to project '{}'",
                        s(v, "user_id"),
                        s(v, "project_id")
                    )
                } else {
                    format!(
                        "User '{}' is already in project '{}'",
                        s(v, "user_id"),
                        s(v, "project_id")
                    )
                }
            })
        }
        ProjectAction::RemoveUser { sel, user } => {
            let r = sel.by().and_then(|p| {
                let u = user.by()?;
                projects::remove_user(path, &p, &u)
            });
            report(json, r, |v| {
                if v["removed"] == Value::Bool(true) {
                    format!(
                        "User '{}' removed from project '{}'",
                        s(v, "user_id"),
                        s(v, "project_id")
                    )
                } else {
                    format!(
                        "User '{}' is not in project '{}'",
                        s(v, "user_id"),
                        s(v, "project_id")
                    )
                }
            })
        }
        ProjectAction::ListUsers { sel } => report(
            json,
            sel.by().and_then(|b| projects::list_users(path, &b)),
            pretty,
        ),
        ProjectAction::RemoveAllUsers { sel } => report(
            json,
            sel.by().and_then(|b| projects::remove_all_users(path, &b)),
            |v| {
                format!(
                    "Removed {} users from project '{}'",
                    v["removed"],
                    s(v, "project_id")
                )
            },
        ),
        ProjectAction::Export { sel, output_file } => report(
            json,
            sel.by()
                .and_then(|b| projects::export(path, &b, &output_file)),
            |v| format!("Project exported to {}", s(v, "output_file")),
        ),
        ProjectAction::Search { search_term } => {
            report(json, projects::search(path, &search_term), pretty)
        }
    }
}
