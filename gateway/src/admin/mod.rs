//! Operator operations on the config file, shared by the command line (`crate::cli`) and the
//! admin API: each is a plain function over the config path (or a [`ConfigDocument`]) that
//! returns JSON-ready data or an [`AdminError`]. Writes go through [`edit`]: under the config
//! lock, validated by the gateway's own validator, written atomically; a running gateway picks
//! them up at its next reload.

use std::path::Path;

use serde_json::{Map, Value};
pub mod backup;
pub mod health;
pub mod install;

use crate::config::store::{self, EditError};

pub mod api;
pub mod dashboard;
pub mod keys;
use crate::config::{ConfigDocument, ConfigError, GatewayConfig};

pub mod configs;
pub mod projects;
pub mod servers;
pub mod users;

/// Why an operation did not happen (one line, for stderr or an API error body).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing by that name or id.
    #[error("{0}")]
    NotFound(String),
    /// It exists already, or is still in use.
    #[error("{0}")]
    Conflict(String),
    /// A bad argument (a malformed value, a missing flag).
    #[error("{0}")]
    Invalid(String),
    /// Reading, locking, validating or writing the config failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<EditError<AdminError>> for AdminError {
    fn from(e: EditError<AdminError>) -> Self {
        match e {
            EditError::Config(c) => AdminError::Config(c),
            EditError::Invalid(p) => AdminError::Invalid(p.to_string()),
            EditError::Refused(a) => a,
        }
    }
}

/// Applies `change` to the config at `path` under the config lock; the file is written only if
/// `change` succeeds and the result validates. Returns `change`'s value and the new config.
pub fn edit<T>(
    path: &Path,
    change: impl FnOnce(&mut ConfigDocument) -> Result<T, AdminError>,
) -> Result<(T, GatewayConfig), AdminError> {
    Ok(store::edit(path, change)?)
}

/// Reads and validates the config at `path`.
pub fn read(path: &Path) -> Result<crate::config::Loaded, AdminError> {
    Ok(crate::config::load(path)?)
}

/// The top-level sections the operations work on.
pub(crate) const MCP_CONFIGS: &str = "mcp_configs";
pub(crate) const PROJECTS: &str = "projects";
pub(crate) const USERS: &str = "users";
pub(crate) const APIKEYS: &str = "apikeys";

/// Which entry a command is about: given by its id (`--config-id`, `--project-id`,
/// `--user-id`) or by its name (`--config-name`, `--project-name`, `--email`). As in the
/// reference, either form also matches the other field (a name flag given an id still finds the
/// entry); the field named by the flag is tried first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    /// The entry's id (its key in the section).
    Id(String),
    /// The entry's name (`mcp_config_name`, `project_name`) or a user's email.
    Name(String),
}

impl By {
    /// The first of `first` and `second` that is given, else [`AdminError::Invalid`] with
    /// `missing` (e.g. "Either --config-name or --config-id is required").
    pub fn pick(first: Option<By>, second: Option<By>, missing: &str) -> Result<By, AdminError> {
        first
            .or(second)
            .filter(|b| !b.text().is_empty())
            .ok_or_else(|| AdminError::Invalid(missing.to_string()))
    }

    /// `--config-name` (tried first) or `--config-id`.
    pub fn config(name: Option<String>, id: Option<String>) -> Result<By, AdminError> {
        By::pick(
            name.map(By::Name),
            id.map(By::Id),
            "Either --config-name or --config-id is required",
        )
    }

    /// `--project-name` (tried first) or `--project-id`.
    pub fn project(name: Option<String>, id: Option<String>) -> Result<By, AdminError> {
        By::pick(
            name.map(By::Name),
            id.map(By::Id),
            "Either --project-name or --project-id is required",
        )
    }

    /// `--user-id` (tried first, as in the reference) or `--email`.
    pub fn user(id: Option<String>, email: Option<String>) -> Result<By, AdminError> {
        By::pick(
            id.map(By::Id),
            email.map(By::Name),
            "Either --user-id or --email is required",
        )
    }

    /// What the user typed.
    pub fn text(&self) -> &str {
        match self {
            By::Id(s) | By::Name(s) => s,
        }
    }

    /// The id of the entry of `section` that `self` names, matching `name_field` for names.
    fn find(&self, section: &Map<String, Value>, name_field: &str) -> Option<String> {
        let by_id = |s: &str| section.contains_key(s).then(|| s.to_string());
        let by_name = |s: &str| {
            section
                .iter()
                .find(|(_, v)| v.get(name_field).and_then(Value::as_str) == Some(s))
                .map(|(k, _)| k.clone())
        };
        match self {
            By::Id(s) => by_id(s).or_else(|| by_name(s)),
            By::Name(s) => by_name(s).or_else(|| by_id(s)),
        }
    }
}

impl std::fmt::Display for By {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// A top-level section as an object (empty when absent).
pub(crate) fn section<'a>(root: &'a Map<String, Value>, key: &str) -> &'a Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    root.get(key).and_then(Value::as_object).unwrap_or(&EMPTY)
}

/// A top-level section for editing, created when absent.
pub(crate) fn section_mut<'a>(
    root: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, AdminError> {
    root.entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| AdminError::Invalid(format!("'{key}' is not an object")))
}

/// The entry of `section` with `id`, for editing.
pub(crate) fn entry_mut<'a>(
    root: &'a mut Map<String, Value>,
    key: &str,
    id: &str,
) -> Result<&'a mut Map<String, Value>, AdminError> {
    section_mut(root, key)?
        .get_mut(id)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| AdminError::Invalid(format!("{key} entry '{id}' is not an object")))
}

/// The id of the mcp_config `by` names.
pub(crate) fn find_config(root: &Map<String, Value>, by: &By) -> Result<String, AdminError> {
    by.find(section(root, MCP_CONFIGS), "mcp_config_name")
        .ok_or_else(|| AdminError::NotFound(format!("Config '{by}' not found")))
}

/// The id of the project `by` names.
pub(crate) fn find_project(root: &Map<String, Value>, by: &By) -> Result<String, AdminError> {
    by.find(section(root, PROJECTS), "project_name")
        .ok_or_else(|| AdminError::NotFound(format!("Project '{by}' not found")))
}

/// The id of the user `by` names.
pub(crate) fn find_user(root: &Map<String, Value>, by: &By) -> Result<String, AdminError> {
    by.find(section(root, USERS), "email")
        .ok_or_else(|| AdminError::NotFound(format!("User '{by}' not found")))
}

/// A string field of an entry.
pub(crate) fn str_field<'a>(entry: &'a Value, field: &str) -> Option<&'a str> {
    entry.get(field).and_then(Value::as_str)
}

/// The user ids listed in a project.
pub(crate) fn project_users(project: &Value) -> Vec<&str> {
    project
        .get("users")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every key entry's fields: `apikeys` (the reference's plain-text keys) then
/// `apikey_hashes` (ours). Only the entries' values are given: in the legacy format the map
/// keys are the gateway keys themselves and are never read here.
pub(crate) fn key_entries(root: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    section(root, APIKEYS)
        .values()
        .chain(section(root, crate::config::keystore::APIKEY_HASHES).values())
}

/// How many key entries (both sections) satisfy `pred`.
pub(crate) fn count_keys(root: &Map<String, Value>, pred: impl Fn(&Value) -> bool) -> usize {
    key_entries(root).filter(|v| pred(v)).count()
}

/// Removes the key entries (both sections) that satisfy `pred`; returns how many.
pub(crate) fn remove_keys(
    root: &mut Map<String, Value>,
    pred: impl Fn(&Value) -> bool,
) -> Result<usize, AdminError> {
    let mut n = 0;
    for name in [APIKEYS, crate::config::keystore::APIKEY_HASHES] {
        if !root.contains_key(name) {
            continue;
        }
        let keys = section_mut(root, name)?;
        let before = keys.len();
        keys.retain(|_, v| !pred(v));
        n += before - keys.len();
    }
    Ok(n)
}

/// `entry[field] == value` for a string field.
pub(crate) fn field_is(entry: &Value, field: &str, value: &str) -> bool {
    str_field(entry, field) == Some(value)
}

/// The current time, as the config's timestamps are written.
pub(crate) fn now() -> Value {
    Value::String(crate::config::generate::now_iso8601())
}

/// A new uuid v4 id.
pub(crate) fn new_id() -> Result<String, AdminError> {
    Ok(crate::config::generate::uuid_v4()?)
}

/// Parses a JSON argument (`--env`, `--tools`, ...). Like the reference, one pair of
/// surrounding single quotes is dropped. The message never repeats the input (it may hold
/// secrets).
pub fn parse_json_arg(text: &str, what: &str) -> Result<Value, AdminError> {
    let t = text.trim();
    let t = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(t);
    serde_json::from_str(t)
        .map_err(|e| AdminError::Invalid(format!("Invalid JSON for {what}: {e}")))
}

/// A copy of a config fragment fit to print: values of secret-looking names (`env`, `headers`,
/// OAuth secrets, `api_key`) replaced whole by `****`, URL credentials and secret query
/// parameters masked, secret flags in `args` masked (see [`crate::mask`]).
pub fn masked(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(crate::mask::text(s)),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, val)| {
                    let shown = match val {
                        Value::String(_) if crate::mask::secret_name(k) => {
                            Value::String(crate::mask::MASK.to_string())
                        }
                        Value::Array(a) if k == "args" => {
                            let strings: Option<Vec<String>> =
                                a.iter().map(|x| x.as_str().map(String::from)).collect();
                            match strings {
                                Some(s) => Value::from(crate::mask::args(&s)),
                                None => masked(val),
                            }
                        }
                        _ => masked(val),
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Writes an export file (it holds the config's secrets): atomically, mode 0600.
pub(crate) fn write_export(path: &Path, value: &Value) -> Result<(), AdminError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| AdminError::Invalid(format!("cannot serialize the export: {e}")))?;
    text.push('\n');
    Ok(crate::config::document::write_atomic(
        path,
        text.as_bytes(),
    )?)
}
