//! The upstream servers of an mcp_config (its `mcp_config` list): list, get, add, update,
//! remove, and their guardrail policies. New entries take the reference's shape (`server_name`,
//! `description`, `config`, `tools`, `denied_tools`, the two guardrail policies, `created_at`).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{
    edit, entry_mut, find_config, masked, now, parse_json_arg, read, section, str_field,
    AdminError, By, MCP_CONFIGS,
};

/// A new server: what `config add-server` takes. Exactly one of `command` (stdio) and `url`
/// (remote) is given; the JSON fields are the flags' text.
#[derive(Debug, Clone, Default)]
pub struct NewServer {
    /// `--server-name`.
    pub name: String,
    /// `--server-command` (stdio).
    pub command: Option<String>,
    /// `--args`: comma-separated.
    pub args: Option<String>,
    /// `--env`: a JSON object.
    pub env: Option<String>,
    /// `--server-url` (remote).
    pub url: Option<String>,
    /// `--transport`: `streamable_http` or `sse`.
    pub transport: Option<String>,
    /// `--type`: `http`, `sse` or `stdio`.
    pub server_type: Option<String>,
    /// `--headers`: a JSON object (remote).
    pub headers: Option<String>,
    /// `--tools`: a JSON object.
    pub tools: Option<String>,
    /// `--denied-tools`: a JSON list.
    pub denied_tools: Option<String>,
    /// `--description`.
    pub description: String,
    /// `--input-guardrails-config`: a JSON object.
    pub input_guardrails: Option<String>,
    /// `--output-guardrails-config`: a JSON object.
    pub output_guardrails: Option<String>,
}

/// What `config update-server` changes; `None` (or empty) leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerUpdate {
    /// `--server-command`.
    pub command: Option<String>,
    /// `--args`: comma-separated.
    pub args: Option<String>,
    /// `--env`: a JSON object (replaces the whole env).
    pub env: Option<String>,
    /// `--tools`: a JSON object.
    pub tools: Option<String>,
    /// `--description`.
    pub description: Option<String>,
}

/// A guardrail policy given as a file or as JSON text (exactly one).
#[derive(Debug, Clone, Default)]
pub struct PolicyArg {
    /// The `--*policy-file` path.
    pub file: Option<PathBuf>,
    /// The `--*policy` JSON text.
    pub json: Option<String>,
}

impl PolicyArg {
    fn given(&self) -> bool {
        self.file.is_some() || self.json.as_deref().is_some_and(|s| !s.is_empty())
    }

    /// The policy, or why not; `flag` is the flag stem (`--policy`, `--input-policy`).
    fn load(&self, flag: &str, what: &str) -> Result<Value, AdminError> {
        match (&self.file, self.json.as_deref().filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => Err(AdminError::Invalid(format!(
                "Cannot specify both {flag}-file and {flag}"
            ))),
            (Some(f), None) => {
                let bytes = std::fs::read(f).map_err(|e| {
                    AdminError::Invalid(format!(
                        "Error reading {what} policy file {}: {e}",
                        f.display()
                    ))
                })?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    AdminError::Invalid(format!(
                        "Error reading {what} policy file {}: {}",
                        f.display(),
                        crate::config::ParseError::from_json(&e)
                    ))
                })
            }
            (None, Some(j)) => parse_json_arg(j, &format!("{what} guardrails policy")),
            (None, None) => Err(AdminError::Invalid(format!(
                "Either {flag}-file or {flag} is required"
            ))),
        }
    }
}

fn servers_mut<'a>(
    root: &'a mut Map<String, Value>,
    config_id: &str,
) -> Result<&'a mut Vec<Value>, AdminError> {
    entry_mut(root, MCP_CONFIGS, config_id)?
        .entry("mcp_config")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            AdminError::Invalid(format!("mcp_configs.{config_id}.mcp_config is not a list"))
        })
}

fn is_named(s: &Value, name: &str) -> bool {
    str_field(s, "server_name") == Some(name)
}

fn server_mut<'a>(
    root: &'a mut Map<String, Value>,
    by: &By,
    name: &str,
) -> Result<(String, &'a mut Map<String, Value>), AdminError> {
    let id = find_config(root, by)?;
    let s = servers_mut(root, &id)?
        .iter_mut()
        .find(|s| is_named(s, name))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            AdminError::NotFound(format!("Server '{name}' not found in config '{by}'"))
        })?;
    Ok((id, s))
}

fn comma_list(args: &str) -> Vec<String> {
    args.split(',').map(|a| a.trim().to_string()).collect()
}

fn opt_json(text: Option<&str>, what: &str) -> Result<Option<Value>, AdminError> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_json_arg(t, what))
        .transpose()
}

/// `config list-servers`: `[{server_name, description, command, args, tools,
/// input_guardrails_enabled, output_guardrails_enabled}]` (plus `url` for a remote server);
/// args and URLs with their secrets masked.
pub fn list(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let id = find_config(root, by)?;
    let servers = section(root, MCP_CONFIGS)
        .get(&id)
        .and_then(|c| c.get("mcp_config"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let enabled = |s: &Value, new: &str, old: &str| {
        s.get(new)
            .or_else(|| s.get(old))
            .and_then(|g| g.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    Ok(servers
        .iter()
        .map(|s| {
            let cfg = masked(s.get("config").unwrap_or(&Value::Null));
            let mut o = json!({
                "server_name": s.get("server_name"),
                "description": s.get("description").cloned().unwrap_or(json!("")),
                "command": cfg.get("command"),
                "args": cfg.get("args").cloned().unwrap_or(json!([])),
                "tools": s.get("tools").and_then(Value::as_object).map_or(0, Map::len),
                "input_guardrails_enabled": enabled(s, "input_guardrails_config", "input_guardrails_policy"),
                "output_guardrails_enabled": enabled(s, "output_guardrails_config", "output_guardrails_policy"),
            });
            if let (Some(u), Some(map)) = (cfg.get("url"), o.as_object_mut()) {
                map.insert("url".into(), u.clone());
            }
            o
        })
        .collect())
}

/// `config get-server`: the server's entry, secret values masked.
pub fn get(path: &Path, by: &By, name: &str) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let id = find_config(root, by)?;
    section(root, MCP_CONFIGS)
        .get(&id)
        .and_then(|c| c.get("mcp_config"))
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|s| is_named(s, name)))
        .map(masked)
        .ok_or_else(|| AdminError::NotFound(format!("Server '{name}' not found in config '{by}'")))
}

/// `config add-server`; `{mcp_config_id, server_name}`.
pub fn add(path: &Path, by: &By, s: &NewServer) -> Result<Value, AdminError> {
    let url = s.url.as_deref().filter(|u| !u.is_empty());
    let command = s.command.as_deref().filter(|c| !c.is_empty());
    match (url, command) {
        (None, None) => {
            return Err(AdminError::Invalid(
                "Either --server-command or --server-url is required".into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(AdminError::Invalid(
                "--server-command and --server-url are mutually exclusive".into(),
            ))
        }
        _ => {}
    }
    let remote_type = s
        .server_type
        .as_deref()
        .filter(|t| matches!(*t, "http" | "sse"));
    if url.is_none() && remote_type.is_some() {
        return Err(AdminError::Invalid(
            "--type http/sse requires --server-url".into(),
        ));
    }
    let env = opt_json(s.env.as_deref(), "environment variables")?;
    let headers = opt_json(s.headers.as_deref(), "headers")?;
    let tools = opt_json(s.tools.as_deref(), "tools configuration")?;
    let denied = opt_json(s.denied_tools.as_deref(), "denied tools list")?;
    let input = opt_json(s.input_guardrails.as_deref(), "input guardrails policy")?;
    let output = opt_json(s.output_guardrails.as_deref(), "output guardrails policy")?;

    let mut inner = Map::new();
    if let Some(u) = url {
        inner.insert("url".into(), json!(u));
        if let Some(t) = remote_type {
            inner.insert("type".into(), json!(t));
        }
        if let Some(t) = s.transport.as_deref().filter(|t| !t.is_empty()) {
            inner.insert("transport".into(), json!(t));
        }
        if let Some(h) = headers.filter(|h| !is_empty_json(h)) {
            inner.insert("headers".into(), h);
        }
    } else {
        inner.insert("command".into(), json!(command));
        let args = s.args.as_deref().filter(|a| !a.is_empty()).map(comma_list);
        inner.insert("args".into(), json!(args.unwrap_or_default()));
    }
    if let Some(e) = env.filter(|e| !is_empty_json(e)) {
        inner.insert("env".into(), e);
    }
    let entry = json!({
        "server_name": s.name,
        "description": s.description,
        "config": inner,
        "tools": tools.filter(|t| !is_empty_json(t)).unwrap_or_else(|| json!({})),
        "denied_tools": denied.filter(|d| !is_empty_json(d)).unwrap_or_else(|| json!([])),
        "input_guardrails_config": input.filter(|g| !is_empty_json(g)).unwrap_or_else(|| json!({
            "enabled": false,
            "guardrail_name": "Sample Airline Guardrail",
            "additional_config": {"pii_redaction": false},
            "block": ["policy_violation"],
        })),
        "output_guardrails_config": output.filter(|g| !is_empty_json(g)).unwrap_or_else(|| json!({
            "enabled": false,
            "guardrail_name": "Sample Airline Guardrail",
            "additional_config": {"relevancy": false, "hallucination": false, "adherence": false},
            "block": ["policy_violation"],
        })),
        "created_at": now(),
    });
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_config(root, by)?;
        let list = servers_mut(root, &id)?;
        if list.iter().any(|x| is_named(x, &s.name)) {
            return Err(AdminError::Conflict(format!(
                "Server '{}' already exists in config '{by}'",
                s.name
            )));
        }
        list.push(entry);
        Ok(json!({"mcp_config_id": id, "server_name": s.name}))
    })?;
    Ok(v)
}

/// Python's falsiness of a parsed JSON value (the reference skips "empty" inputs).
fn is_empty_json(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// `config update-server`; `{mcp_config_id, server_name, updated: [fields]}`.
pub fn update(path: &Path, by: &By, name: &str, u: &ServerUpdate) -> Result<Value, AdminError> {
    let env = opt_json(u.env.as_deref(), "environment variables")?;
    let tools = opt_json(u.tools.as_deref(), "tools configuration")?;
    let (v, _) = edit(path, |doc| {
        let (id, s) = server_mut(doc.root_mut(), by, name)?;
        let mut updated = Vec::new();
        let cfg = s
            .entry("config")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| {
                AdminError::Invalid(format!("server '{name}': config is not an object"))
            })?;
        if let Some(c) = u.command.as_deref().filter(|c| !c.is_empty()) {
            cfg.insert("command".into(), json!(c));
            updated.push("command");
        }
        if let Some(a) = u.args.as_deref().filter(|a| !a.is_empty()) {
            cfg.insert("args".into(), json!(comma_list(a)));
            updated.push("args");
        }
        if let Some(e) = env {
            cfg.insert("env".into(), e);
            updated.push("env");
        }
        if let Some(t) = tools {
            s.insert("tools".into(), t);
            updated.push("tools");
        }
        if let Some(d) = u.description.as_deref().filter(|d| !d.is_empty()) {
            s.insert("description".into(), json!(d));
            updated.push("description");
        }
        s.insert("updated_at".into(), now());
        Ok(json!({"mcp_config_id": id, "server_name": name, "updated": updated}))
    })?;
    Ok(v)
}

/// `config remove-server`; `{mcp_config_id, server_name}`.
pub fn remove(path: &Path, by: &By, name: &str) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_config(root, by)?;
        let list = servers_mut(root, &id)?;
        let before = list.len();
        list.retain(|s| !is_named(s, name));
        if list.len() == before {
            return Err(AdminError::NotFound(format!(
                "Server '{name}' not found in config '{by}'"
            )));
        }
        Ok(json!({"mcp_config_id": id, "server_name": name}))
    })?;
    Ok(v)
}

/// `config remove-all-servers`; `{mcp_config_id, removed: <count>}`.
pub fn remove_all(path: &Path, by: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_config(root, by)?;
        let list = servers_mut(root, &id)?;
        let n = list.len();
        list.clear();
        Ok(json!({"mcp_config_id": id, "removed": n}))
    })?;
    Ok(v)
}

/// `config update-server-input-guardrails` / `-output-guardrails` / `-guardrails`: replaces
/// the server's input and/or output policy (written under the 2.2 names
/// `input_guardrails_config` / `output_guardrails_config`; a 2.1 `*_guardrails_policy` beside
/// it is dropped so that one policy remains). `input_flag`/`output_flag` name the flags in
/// messages. `{mcp_config_id, server_name, updated: ["input", "output"]}`.
pub fn update_guardrails(
    path: &Path,
    by: &By,
    name: &str,
    input: Option<(&PolicyArg, &str)>,
    output: Option<(&PolicyArg, &str)>,
) -> Result<Value, AdminError> {
    let mut policies = Vec::new();
    let both = input.is_some() && output.is_some();
    for (side, arg) in [("input", input), ("output", output)] {
        let Some((p, flag)) = arg else { continue };
        // With both sides possible, a side without flags is left alone.
        if both && !p.given() {
            continue;
        }
        policies.push((side, p.load(flag, side)?));
    }
    if policies.is_empty() {
        return Err(AdminError::Invalid(
            "At least one policy (input or output) must be provided".into(),
        ));
    }
    let (v, _) = edit(path, |doc| {
        let (id, s) = server_mut(doc.root_mut(), by, name)?;
        let mut updated = Vec::new();
        for (side, policy) in policies {
            s.insert(format!("{side}_guardrails_config"), policy);
            s.shift_remove(&format!("{side}_guardrails_policy"));
            updated.push(side);
        }
        s.insert("updated_at".into(), now());
        Ok(json!({"mcp_config_id": id, "server_name": name, "updated": updated}))
    })?;
    Ok(v)
}
