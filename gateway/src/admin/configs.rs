//! mcp_configs as a whole: list, add, copy, rename, get, remove, validate, the projects using
//! one, export, import, search; and the file-wide settings `config` also edits (the Enkrypt API
//! key, telemetry). The servers inside an mcp_config are in [`super::servers`].
//!
//! Shapes follow the reference CLI's (`config list`, `config get`, ...); what it prints as a
//! message is returned as a small object.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{
    edit, field_is, find_config, masked, new_id, now, project_users, read, section, section_mut,
    str_field, write_export, AdminError, By, MCP_CONFIGS, PROJECTS,
};
use crate::config::{ConfigDocument, ParseError};

const UNNAMED_CONFIG: &str = "Unnamed Config";
const UNNAMED_PROJECT: &str = "Unnamed Project";

fn servers_of(cfg: &Value) -> &[Value] {
    cfg.get("mcp_config")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The projects whose `mcp_config_id` is `config_id`, as `{project_id, project_name}`.
fn using_projects(root: &Map<String, Value>, config_id: &str) -> Vec<Value> {
    section(root, PROJECTS)
        .iter()
        .filter(|(_, p)| field_is(p, "mcp_config_id", config_id))
        .map(|(id, p)| {
            json!({
                "project_id": id,
                "project_name": str_field(p, "project_name").unwrap_or(UNNAMED_PROJECT),
            })
        })
        .collect()
}

fn name_taken(root: &Map<String, Value>, name: &str) -> bool {
    section(root, MCP_CONFIGS)
        .values()
        .any(|c| field_is(c, "mcp_config_name", name))
}

/// `config list`: `[{mcp_config_id, mcp_config_name, servers, used_by_projects}]`.
pub fn list(path: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    Ok(section(root, MCP_CONFIGS)
        .iter()
        .map(|(id, c)| {
            json!({
                "mcp_config_id": id,
                "mcp_config_name": str_field(c, "mcp_config_name").unwrap_or(UNNAMED_CONFIG),
                "servers": servers_of(c).len(),
                "used_by_projects": using_projects(root, id),
            })
        })
        .collect())
}

/// `config add`: a new empty mcp_config; `{mcp_config_id, mcp_config_name}`.
pub fn add(path: &Path, name: &str) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        if name_taken(root, name) {
            return Err(AdminError::Conflict(format!(
                "Config with name '{name}' already exists"
            )));
        }
        let id = new_id()?;
        section_mut(root, MCP_CONFIGS)?.insert(
            id.clone(),
            json!({"mcp_config_name": name, "mcp_config": [], "created_at": now()}),
        );
        Ok(json!({"mcp_config_id": id, "mcp_config_name": name}))
    })?;
    Ok(v)
}

/// `config copy`: a copy of `source` (name or id) named `target`;
/// `{mcp_config_id, mcp_config_name, source_config_id}`.
pub fn copy(path: &Path, source: &str, target: &str) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let src_id = find_config(root, &By::Name(source.to_string()))
            .map_err(|_| AdminError::NotFound(format!("Source config '{source}' not found")))?;
        if name_taken(root, target) {
            return Err(AdminError::Conflict(format!(
                "Target config name '{target}' already exists"
            )));
        }
        let mut copy = section(root, MCP_CONFIGS)
            .get(&src_id)
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(o) = copy.as_object_mut() {
            o.insert("mcp_config_name".into(), json!(target));
            o.insert("created_at".into(), now());
        }
        let id = new_id()?;
        section_mut(root, MCP_CONFIGS)?.insert(id.clone(), copy);
        Ok(json!({"mcp_config_id": id, "mcp_config_name": target, "source_config_id": src_id}))
    })?;
    Ok(v)
}

/// `config rename`; `{mcp_config_id, old_name, mcp_config_name}`.
pub fn rename(path: &Path, by: &By, new_name: &str) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_config(root, by)?;
        if name_taken(root, new_name) {
            return Err(AdminError::Conflict(format!(
                "Config name '{new_name}' already exists"
            )));
        }
        let c = super::entry_mut(root, MCP_CONFIGS, &id)?;
        let old = c
            .get("mcp_config_name")
            .and_then(Value::as_str)
            .unwrap_or(UNNAMED_CONFIG)
            .to_string();
        c.insert("mcp_config_name".into(), json!(new_name));
        c.insert("updated_at".into(), now());
        Ok(json!({"mcp_config_id": id, "old_name": old, "mcp_config_name": new_name}))
    })?;
    Ok(v)
}

/// The mcp_config `id` of `root` as `config get` shows it: `{mcp_config_id, ...}`, secrets
/// masked.
pub(crate) fn shown(root: &Map<String, Value>, id: &str) -> Value {
    let mut out = Map::new();
    out.insert("mcp_config_id".into(), json!(id));
    if let Some(c) = section(root, MCP_CONFIGS).get(id) {
        if let Value::Object(c) = masked(c) {
            out.extend(c);
        }
    }
    Value::Object(out)
}

/// `config get`: the mcp_config with its id first; secret values masked.
pub fn get(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let id = find_config(doc.root(), by)?;
    Ok(shown(doc.root(), &id))
}

/// `config remove`: refused while a project uses it; `{mcp_config_id, mcp_config_name}`.
pub fn remove(path: &Path, by: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_config(root, by)?;
        let users = using_projects(root, &id);
        if !users.is_empty() {
            let names: Vec<String> = users
                .iter()
                .map(|p| {
                    format!(
                        "{} ({})",
                        str_field(p, "project_name").unwrap_or_default(),
                        str_field(p, "project_id").unwrap_or_default()
                    )
                })
                .collect();
            return Err(AdminError::Conflict(format!(
                "Config '{by}' is being used by projects: {}",
                names.join(", ")
            )));
        }
        let removed = section_mut(root, MCP_CONFIGS)?.shift_remove(&id);
        let name = removed
            .as_ref()
            .and_then(|c| str_field(c, "mcp_config_name"))
            .unwrap_or(UNNAMED_CONFIG)
            .to_string();
        Ok(json!({"mcp_config_id": id, "mcp_config_name": name}))
    })?;
    Ok(v)
}

/// `config list-projects`: `[{project_id, project_name, users}]`.
pub fn list_projects(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let id = find_config(root, by)?;
    Ok(section(root, PROJECTS)
        .iter()
        .filter(|(_, p)| field_is(p, "mcp_config_id", &id))
        .map(|(pid, p)| {
            json!({
                "project_id": pid,
                "project_name": str_field(p, "project_name").unwrap_or(UNNAMED_PROJECT),
                "users": project_users(p).len(),
            })
        })
        .collect())
}

/// Whether a validator path lies inside the mcp_config `id` (`mcp_configs.<id>...` or
/// `mcp_configs["<id>"]...`).
fn inside(path: &str, id: &str) -> bool {
    [
        format!("{MCP_CONFIGS}.{id}"),
        format!("{MCP_CONFIGS}[\"{id}\"]"),
    ]
    .iter()
    .any(|p| {
        path.strip_prefix(p.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// `config validate`: the gateway's own validation of one mcp_config `by` (all of them when
/// `None`): its servers, transports, guardrail policies, denied tools. `{mcp_config_id,
/// mcp_config_name, valid, issues: ["<json path>: <problem>"]}` (a list of those for all). The
/// rest of the file need not be valid.
pub fn validate(path: &Path, by: Option<&By>) -> Result<Value, AdminError> {
    let bytes = crate::config::document::read_file(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let doc = ConfigDocument::parse_str(&text).map_err(|source| {
        AdminError::Config(crate::config::ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let root = doc.root();
    let issues: Vec<crate::config::Issue> = match doc.validate() {
        Ok(_) => Vec::new(),
        Err(v) => v.issues().to_vec(),
    };
    let ids: Vec<String> = match by {
        Some(b) => vec![find_config(root, b)?],
        None => section(root, MCP_CONFIGS).keys().cloned().collect(),
    };
    let report: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mine: Vec<String> = issues
                .iter()
                .filter(|i| inside(&i.path, id))
                .map(|i| format!("{}: {}", i.path, i.message))
                .collect();
            let name = section(root, MCP_CONFIGS)
                .get(id)
                .and_then(|c| str_field(c, "mcp_config_name"))
                .unwrap_or(UNNAMED_CONFIG);
            json!({
                "mcp_config_id": id,
                "mcp_config_name": name,
                "valid": mine.is_empty(),
                "issues": mine,
            })
        })
        .collect();
    Ok(match by {
        Some(_) => report.into_iter().next().unwrap_or(Value::Null),
        None => Value::Array(report),
    })
}

/// `config export`: writes `{mcp_config_id, exported_at, config}` to `output` (mode 0600: it
/// holds the servers' secrets); `{mcp_config_id, output_file}`.
pub fn export(path: &Path, by: &By, output: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let id = find_config(root, by)?;
    let data = json!({
        "mcp_config_id": id,
        "exported_at": now(),
        "config": section(root, MCP_CONFIGS).get(&id).cloned().unwrap_or(Value::Null),
    });
    write_export(output, &data)?;
    Ok(json!({"mcp_config_id": id, "output_file": output.display().to_string()}))
}

/// `config import`: adds the `config` of an export file as a new mcp_config named `name`
/// (validated like every edit); `{mcp_config_id, mcp_config_name}`.
pub fn import(path: &Path, input: &Path, name: &str) -> Result<Value, AdminError> {
    let bytes = std::fs::read(input).map_err(|e| {
        AdminError::Invalid(format!(
            "Error reading import file {}: {e}",
            input.display()
        ))
    })?;
    let data: Value = serde_json::from_slice(&bytes).map_err(|e| {
        AdminError::Invalid(format!(
            "Error reading import file {}: {}",
            input.display(),
            ParseError::from_json(&e)
        ))
    })?;
    let Some(Value::Object(imported)) = data.get("config") else {
        return Err(AdminError::Invalid(format!(
            "Invalid import file format: {} has no \"config\" object",
            input.display()
        )));
    };
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        if name_taken(root, name) {
            return Err(AdminError::Conflict(format!(
                "Config name '{name}' already exists"
            )));
        }
        let mut c = imported.clone();
        c.insert("mcp_config_name".into(), json!(name));
        c.insert("imported_at".into(), now());
        let id = new_id()?;
        section_mut(root, MCP_CONFIGS)?.insert(id.clone(), Value::Object(c));
        Ok(json!({"mcp_config_id": id, "mcp_config_name": name}))
    })?;
    Ok(v)
}

/// `config search`: configs whose name, or one of whose server names, contains `term`
/// (ignoring case); `[{mcp_config_id, mcp_config_name, match_type, servers}]`.
pub fn search(path: &Path, term: &str) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let t = term.to_lowercase();
    Ok(section(doc.root(), MCP_CONFIGS)
        .iter()
        .filter_map(|(id, c)| {
            let name = str_field(c, "mcp_config_name").unwrap_or_default();
            let match_type = if name.to_lowercase().contains(&t) {
                "config_name"
            } else if servers_of(c).iter().any(|s| {
                str_field(s, "server_name")
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(&t)
            }) {
                "server_name"
            } else {
                return None;
            };
            Some(json!({
                "mcp_config_id": id,
                "mcp_config_name": name,
                "match_type": match_type,
                "servers": servers_of(c).len(),
            }))
        })
        .collect())
}

fn object_at<'a>(
    root: &'a mut Map<String, Value>,
    path: &[&str],
) -> Result<&'a mut Map<String, Value>, AdminError> {
    let mut cur = root;
    for (i, k) in path.iter().enumerate() {
        cur = cur
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| {
                AdminError::Invalid(format!("'{}' is not an object", path[..=i].join(".")))
            })?;
    }
    Ok(cur)
}

fn get_path<'a>(root: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = root;
    for k in parents {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last)
}

const PLUGIN_KEY: [&str; 4] = ["plugins", "guardrails", "config", "api_key"];
const ENKRYPT_KEY: [&str; 2] = ["enkrypt_config", "api_key"];

/// `config set-enkrypt-api-key`: writes `enkrypt_config.api_key` (as the reference does) and,
/// when the file has one, `plugins.guardrails.config.api_key` (which the gateway reads first).
/// Returns where it wrote, never the key.
pub fn set_enkrypt_api_key(path: &Path, key: &str) -> Result<Value, AdminError> {
    if key.trim().is_empty() {
        return Err(AdminError::Invalid("the API key must not be empty".into()));
    }
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let mut written = vec!["enkrypt_config.api_key"];
        object_at(root, &ENKRYPT_KEY[..1])?.insert("api_key".into(), json!(key));
        if get_path(root, &PLUGIN_KEY).is_some() {
            object_at(root, &PLUGIN_KEY[..3])?.insert("api_key".into(), json!(key));
            written.push("plugins.guardrails.config.api_key");
        }
        Ok(json!({"updated": written}))
    })?;
    Ok(v)
}

/// `config get-enkrypt-api-key`: whether a key is set and where, never the key:
/// `{enkrypt_api_key: "****", source, placeholder}`. Not set: [`AdminError::NotFound`].
pub fn get_enkrypt_api_key(path: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let set = |p: &[&str]| {
        get_path(root, p)
            .and_then(Value::as_str)
            .filter(|k| !k.trim().is_empty())
    };
    let (source, key) = if let Some(k) = set(&PLUGIN_KEY) {
        (PLUGIN_KEY.join("."), k)
    } else if let Some(k) = set(&ENKRYPT_KEY) {
        (ENKRYPT_KEY.join("."), k)
    } else {
        return Err(AdminError::NotFound("Enkrypt API key not set".into()));
    };
    Ok(json!({
        "enkrypt_api_key": crate::mask::MASK,
        "source": source,
        "placeholder": key == "YOUR_ENKRYPT_API_KEY",
    }))
}

/// `config configure-telemetry`: sets `enabled`, `url`, `insecure` in
/// `plugins.telemetry.config` (2.2), and in `common_mcp_gateway_config.enkrypt_telemetry`
/// (`endpoint` for the url) when the file has that section (what this gateway reads). A file
/// with neither is refused, as by the reference. Returns the values set.
pub fn configure_telemetry(
    path: &Path,
    enabled: Option<bool>,
    url: Option<&str>,
    insecure: Option<bool>,
) -> Result<Value, AdminError> {
    if enabled.is_none() && url.is_none() && insecure.is_none() {
        return Err(AdminError::Invalid(
            "At least one option (--enabled, --url, or --insecure) must be provided".into(),
        ));
    }
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let plugin = get_path(root, &["plugins", "telemetry"]).is_some();
        let legacy = get_path(root, &["common_mcp_gateway_config", "enkrypt_telemetry"]).is_some();
        if !plugin && !legacy {
            return Err(AdminError::Invalid(
                "'telemetry' plugin not configured (no plugins.telemetry in the config)".into(),
            ));
        }
        let mut set = Map::new();
        if let Some(e) = enabled {
            set.insert("enabled".into(), json!(e));
        }
        if let Some(u) = url {
            set.insert("url".into(), json!(u));
        }
        if let Some(i) = insecure {
            set.insert("insecure".into(), json!(i));
        }
        if plugin {
            let c = object_at(root, &["plugins", "telemetry", "config"])?;
            c.extend(set.clone());
        }
        if legacy {
            let c = object_at(root, &["common_mcp_gateway_config", "enkrypt_telemetry"])?;
            for (k, val) in &set {
                let k = if k == "url" { "endpoint" } else { k.as_str() };
                c.insert(k.to_string(), val.clone());
            }
        }
        Ok(Value::Object(set))
    })?;
    Ok(v)
}
