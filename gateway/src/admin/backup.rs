//! `system backup`, `system restore` and `system reset`: the whole config file at once.
//!
//! A backup file is the reference product's: `{"backup_version": "1.0", "timestamp": ...,
//! "config": <the config document as it is>}` (2-space indented, mode 0600 here since it holds
//! every key). The reference writes a local time without an offset; ours is UTC with `+00:00`;
//! [`restore`] accepts either, and any `1.x` version.
//!
//! Invariant: [`restore`] validates the backup's config with the gateway's own validator before
//! anything is written, and a refusal leaves the current config byte for byte as it was. Both
//! [`restore`] and [`reset`] go through `config::store::replace`, which keeps a copy of the file
//! it replaces (`<config>.bak.<unix-seconds>`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::AdminError;
use crate::config::document::{parent_dir, read_file, write_atomic};
use crate::config::error::ParseError;
use crate::config::store::{self, EditError};
use crate::config::{ConfigDocument, GenerateOptions};

/// The `backup_version` written.
pub const BACKUP_VERSION: &str = "1.0";

/// Writes a backup of the config at `config_path` to `output` (default: beside the config,
/// `enkrypt_mcp_config.backup.<UTC time>.json`), mode 0600, atomically. The config need not be
/// valid (a backup of a broken config is still worth having; `config_valid` says which), but it
/// must be a JSON object.
pub fn backup(config_path: &Path, output: Option<&Path>) -> Result<Value, AdminError> {
    let bytes = read_file(config_path)?;
    let doc = parse_json_object(&bytes)
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", config_path.display())))?;
    let valid = doc.validate().is_ok();
    let timestamp = crate::config::generate::now_iso8601();
    let out = match output {
        Some(p) => p.to_path_buf(),
        None => parent_dir(config_path).join(format!(
            "enkrypt_mcp_config.backup.{}.json",
            compact_stamp(&timestamp)
        )),
    };
    if same_file(&out, config_path) {
        return Err(AdminError::Invalid(format!(
            "{} is the config file itself; choose another --output",
            out.display()
        )));
    }
    let body = json!({
        "backup_version": BACKUP_VERSION,
        "timestamp": timestamp,
        "config": doc.into_value(),
    });
    let mut text = serde_json::to_string_pretty(&body).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    write_atomic(&out, text.as_bytes())?;
    Ok(json!({
        "backup_file": absolute(&out).display().to_string(),
        "config_path": absolute(config_path).display().to_string(),
        "backup_version": BACKUP_VERSION,
        "timestamp": timestamp,
        "config_valid": valid,
    }))
}

/// Replaces the config at `config_path` with the config held in the backup `file` (ours or the
/// reference's), after validating it; the replaced file is kept as `<config>.bak.<secs>`.
/// A backup that is not JSON, not a backup, or holds an invalid config is refused with every
/// problem named by its JSON path in the backup file (`config.projects.<id>.users`), and
/// nothing is written.
pub fn restore(config_path: &Path, file: &Path) -> Result<Value, AdminError> {
    let refuse = |why: String| {
        AdminError::Invalid(format!(
            "backup {} refused, the config was not changed: {why}",
            file.display()
        ))
    };
    let bytes = fs::read(file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            AdminError::NotFound(format!("backup file {} not found", file.display()))
        }
        _ => refuse(format!("cannot read it: {e}")),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| refuse("it is not UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value =
        serde_json::from_str(text).map_err(|e| refuse(ParseError::from_json(&e).to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(refuse(
            "(top level): expected a backup object {\"backup_version\", \"timestamp\", \"config\"}"
                .into(),
        ));
    };
    check_version(&top).map_err(refuse)?;
    let config = match top.remove("config") {
        Some(c @ Value::Object(_)) => c,
        Some(other) => {
            return Err(refuse(format!(
                "config: expected the config object, got {}",
                kind(&other)
            )))
        }
        None => return Err(refuse("config: missing (not a backup file)".into())),
    };
    let doc = ConfigDocument::from_value(config).map_err(|e| refuse(e.to_string()))?;
    if let Err(v) = doc.validate() {
        let lines: Vec<String> = v
            .issues()
            .iter()
            .map(|i| format!("{}: {}", in_backup(&i.path), i.message))
            .collect();
        return Err(refuse(format!(
            "its config is invalid:\n{}",
            lines.join("\n")
        )));
    }
    let kept = store::replace(config_path, &doc).map_err(replace_error)?;
    Ok(json!({
        "restored_from": absolute(file).display().to_string(),
        "config_path": absolute(config_path).display().to_string(),
        "previous_config": kept.map(|p| p.display().to_string()),
        "backup_timestamp": top.get("timestamp").cloned().unwrap_or(Value::Null),
    }))
}

/// Replaces the config with a new default one (as `generate-config` writes: one project, one
/// user, one new gateway key, the demo upstream), keeping the old file as `<config>.bak.<secs>`.
/// Refused unless `confirm`. The new key is not returned (it is in the file; `install` picks it).
pub fn reset(config_path: &Path, confirm: bool) -> Result<Value, AdminError> {
    if !confirm {
        return Err(AdminError::Invalid(
            "this replaces the whole config with a new default one (every project, user, key \
             and server is dropped; the old file is kept as a .bak copy): pass --confirm to do it"
                .into(),
        ));
    }
    let g = crate::config::generate(&GenerateOptions::default())?;
    // The new key is stored only as its hash (shown once, here).
    let secret = crate::config::keystore::load_or_create_secret(config_path)?;
    let mut doc = g.document.clone();
    crate::config::keystore::hash_plain_keys(&mut doc, &secret, None)?;
    // The admin key stays: an operator resetting through the admin API keeps access to it.
    let old_admin_key = fs::read(config_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("admin_apikey").cloned())
        .filter(|k| k.as_str().is_some_and(|s| !s.trim().is_empty()));
    if let Some(k) = old_admin_key {
        doc.root_mut().insert("admin_apikey".into(), k);
    }
    let kept = store::replace(config_path, &doc).map_err(replace_error)?;
    Ok(json!({
        "config_path": absolute(config_path).display().to_string(),
        "previous_config": kept.map(|p| p.display().to_string()),
        "api_key": g.api_key.expose(),
        "project_id": g.project_id,
        "user_id": g.user_id,
        "mcp_config_id": g.mcp_config_id,
    }))
}

fn replace_error(e: EditError<std::convert::Infallible>) -> AdminError {
    match e {
        EditError::Config(c) => AdminError::Config(c),
        EditError::Invalid(p) => AdminError::Invalid(p.to_string()),
        EditError::Refused(never) => match never {},
    }
}

/// `backup_version`, when present, must be a `1.x` string.
fn check_version(top: &Map<String, Value>) -> Result<(), String> {
    match top.get("backup_version") {
        None => Ok(()),
        Some(Value::String(v)) if v == "1" || v.starts_with("1.") => Ok(()),
        Some(Value::String(v)) => Err(format!(
            "backup_version: {v:?} is not supported (this gateway reads version 1.x)"
        )),
        Some(other) => Err(format!(
            "backup_version: expected a string, got {}",
            kind(other)
        )),
    }
}

/// A validator path (relative to the config) as a path in the backup file.
fn in_backup(path: &str) -> String {
    if path.is_empty() {
        "config".into()
    } else if path.starts_with('[') {
        format!("config{path}")
    } else {
        format!("config.{path}")
    }
}

use crate::config::json_kind as kind;

/// Parses file bytes as a JSON object (syntax only).
fn parse_json_object(bytes: &[u8]) -> Result<ConfigDocument, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    ConfigDocument::parse_str(text).map_err(|e| e.to_string())
}

/// `2025-01-02T03:04:05.123456+00:00` -> `20250102T030405Z`.
fn compact_stamp(iso: &str) -> String {
    let digits: String = iso
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{digits}Z")
}

/// Both paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `p` made absolute against the working directory (not resolving links).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_and_paths() {
        assert_eq!(
            compact_stamp("2025-01-02T03:04:05.123456+00:00"),
            "20250102T030405Z"
        );
        assert_eq!(in_backup(""), "config");
        assert_eq!(in_backup("projects.p1.users"), "config.projects.p1.users");
        assert_eq!(in_backup("[\"a b\"].x"), "config[\"a b\"].x");
    }

    #[test]
    fn versions() {
        let v = |x: Value| {
            let mut m = Map::new();
            m.insert("backup_version".into(), x);
            check_version(&m)
        };
        assert!(v(json!("1.0")).is_ok());
        assert!(v(json!("1.3")).is_ok());
        assert!(v(json!("2.0")).unwrap_err().contains("backup_version"));
        assert!(v(json!(1)).unwrap_err().contains("expected a string"));
        assert!(check_version(&Map::new()).is_ok());
    }
}
