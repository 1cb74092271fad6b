//! Builds the typed [`GatewayConfig`] from the raw JSON document, filling defaults and collecting
//! every problem as an [`Issue`] that names its JSON path.
//!
//! Leniency mirrors the reference gateway where it is harmless: `null` means "use the default";
//! integers and numbers may be written as numeric strings (`"6379"`, as Python's `int()` takes
//! them); log level, tools mode and transport names ignore case. Everything else is strict:
//! a wrong type is an error, never silently replaced by the default.
//!
//! Cross-references are checked against the ids present in the document (even when the entry
//! they name has problems of its own, so one mistake is reported once): apikey -> project and
//! user, project -> mcp_config (a project whose `mcp_config_id` is null or absent has none).
//!
//! Invariant: messages never contain a gateway key (paths through `apikeys` are redacted) nor the
//! value of a secret field (passwords, `env`, `headers`): those are described by type only.

use std::collections::HashSet;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::{Issue, ValidationErrors};
use super::model::{GatewayConfig, Project, User};
use super::secret::Secret;

mod cache;
mod common;
mod keys;
mod servers;

pub(crate) use keys::plain_lookup;

/// Top-level section names.
pub(crate) const COMMON: &str = "common_mcp_gateway_config";
pub(crate) const MCP_CONFIGS: &str = "mcp_configs";
pub(crate) const PROJECTS: &str = "projects";
pub(crate) const USERS: &str = "users";
pub(crate) const APIKEYS: &str = "apikeys";

/// Validates a whole document.
pub(crate) fn validate(root: &Map<String, Value>) -> Result<GatewayConfig, ValidationErrors> {
    let mut v = Validator::default();

    let common = v.common(root);
    let mcp_obj = v.section(root, MCP_CONFIGS);
    let projects_obj = v.section(root, PROJECTS);
    let users_obj = v.section(root, USERS);
    let keys_obj = v.section(root, APIKEYS);

    let mut mcp_configs = IndexMap::new();
    for (id, val) in mcp_obj.into_iter().flatten() {
        if let Some(c) = v.mcp_config(id, val) {
            mcp_configs.insert(id.clone(), c);
        }
    }

    let mcp_ids: HashSet<&str> = mcp_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let mut projects = IndexMap::new();
    for (id, val) in projects_obj.into_iter().flatten() {
        if let Some(p) = v.project(id, val, &mcp_ids) {
            projects.insert(id.clone(), p);
        }
    }

    let mut users = IndexMap::new();
    for (id, val) in users_obj.into_iter().flatten() {
        if let Some(u) = v.user(id, val) {
            users.insert(id.clone(), u);
        }
    }

    let project_ids: HashSet<&str> = projects_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let user_ids: HashSet<&str> = users_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let hashes_obj = v.section(root, super::keystore::APIKEY_HASHES);
    let (apikeys, key_index) = v.keys(keys_obj, hashes_obj, &project_ids, &user_ids);

    let guardrails = v.guardrail_provider(root);

    if v.issues.is_empty() {
        Ok(GatewayConfig {
            common,
            mcp_configs,
            projects,
            users,
            apikeys,
            key_index,
            key_secret: None,
            guardrails,
        })
    } else {
        Err(ValidationErrors(v.issues))
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
        return format!("{parent}[{quoted}]");
    }
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A value as shown after "got": scalars literally (strings quoted, cut at 40 characters),
/// lists and objects by kind.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(40).collect();
            let shown = if cut.len() < s.len() {
                format!("{cut}…")
            } else {
                cut
            };
            serde_json::to_string(&shown).unwrap_or_else(|_| "a string".to_string())
        }
        Value::Array(_) | Value::Object(_) => kind(v).to_string(),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.to_string(),
    }
}

/// The JSON kind of a value, for messages about secret fields.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An integer, from a JSON integer, an integral float or a numeric string.
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A finite number, from a JSON number or a numeric string.
fn as_number(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

/// Present and not `null`.
fn given<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

#[derive(Default)]
struct Validator {
    issues: Vec<Issue>,
}

impl Validator {
    fn err(&mut self, path: String, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
        });
    }

    /// A top-level section: absent or null is empty; anything but an object is an error.
    fn section<'a>(
        &mut self,
        root: &'a Map<String, Value>,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        self.object(root, "", key)
    }

    fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        match given(obj, key)? {
            Value::Object(m) => Some(m),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected an object, got {}", describe(other)),
                );
                None
            }
        }
    }

    fn bool_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        default: bool,
    ) -> bool {
        match given(obj, key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.err(
                    join(parent, key),
                    format!("expected true or false, got {}", describe(other)),
                );
                default
            }
        }
    }

    fn int_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        range: (i64, i64),
        default: i64,
    ) -> i64 {
        let Some(val) = given(obj, key) else {
            return default;
        };
        match as_integer(val) {
            Some(n) if (range.0..=range.1).contains(&n) => n,
            _ => {
                self.err(
                    join(parent, key),
                    format!(
                        "expected an integer {}..{}, got {}",
                        range.0,
                        range.1,
                        describe(val)
                    ),
                );
                default
            }
        }
    }

    /// A positive duration written as a number of `unit_name` (`unit_secs` seconds each).
    fn duration_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        (unit_secs, unit_name): (f64, &str),
        default: Duration,
    ) -> Duration {
        let Some(val) = given(obj, key) else {
            return default;
        };
        let parsed = as_number(val)
            .filter(|n| *n > 0.0)
            .and_then(|n| Duration::try_from_secs_f64(n * unit_secs).ok())
            .filter(|d| !d.is_zero());
        match parsed {
            Some(d) => d,
            None => {
                let msg = match as_number(val) {
                    Some(n) if n > 0.0 => format!("{} {unit_name} is too large", describe(val)),
                    _ => format!(
                        "expected a number of {unit_name} > 0, got {}",
                        describe(val)
                    ),
                };
                self.err(join(parent, key), msg);
                default
            }
        }
    }

    fn opt_string(&mut self, obj: &Map<String, Value>, parent: &str, key: &str) -> Option<String> {
        match given(obj, key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// A string that must be present and non-empty.
    fn required_string(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<String> {
        match given(obj, key) {
            None => {
                self.err(join(parent, key), "missing");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(join(parent, key), "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    join(parent, key),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// A secret string: null, absent or empty mean none; its value never appears in messages.
    fn secret_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<Secret> {
        match given(obj, key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Secret::new(s.clone())),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected a string or null, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn string_list(&mut self, obj: &Map<String, Value>, parent: &str, key: &str) -> Vec<String> {
        let path = join(parent, key);
        match given(obj, key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => self.err(
                            format!("{path}[{i}]"),
                            format!("expected a string, got {}", describe(other)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.err(
                    path,
                    format!("expected a list of strings, got {}", describe(other)),
                );
                Vec::new()
            }
        }
    }

    /// An object of strings whose values may be secret (`env`, `headers`).
    fn secret_string_map(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Vec<(String, String)> {
        let path = join(parent, key);
        match given(obj, key) {
            None => Vec::new(),
            Some(Value::Object(m)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, val) in m {
                    match val {
                        Value::String(s) => out.push((k.clone(), s.clone())),
                        other => self.err(
                            join(&path, k),
                            format!("expected a string, got {}", kind(other)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.err(
                    path,
                    format!("expected an object of strings, got {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    fn project(&mut self, id: &str, val: &Value, mcp_ids: &HashSet<&str>) -> Option<Project> {
        let path = join(PROJECTS, id);
        let Value::Object(obj) = val else {
            self.err(path, format!("expected an object, got {}", describe(val)));
            return None;
        };
        let before = self.issues.len();
        let name = self.opt_string(obj, &path, "project_name");
        // null (what the reference's `project create` writes) or absent: no mcp_config yet.
        let mcp_config_id = match given(obj, "mcp_config_id") {
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(
                    join(&path, "mcp_config_id"),
                    "must not be empty (null: no mcp_config yet)",
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    join(&path, "mcp_config_id"),
                    format!("expected a string or null, got {}", describe(other)),
                );
                None
            }
        };
        if let Some(m) = &mcp_config_id {
            if !mcp_ids.contains(m.as_str()) {
                self.err(
                    join(&path, "mcp_config_id"),
                    format!("unknown mcp_config {}", describe(&Value::String(m.clone()))),
                );
            }
        }
        let users = self.string_list(obj, &path, "users");
        let created_at = self.opt_string(obj, &path, "created_at");
        if self.issues.len() != before {
            return None;
        }
        Some(Project {
            id: id.to_string(),
            name,
            mcp_config_id,
            users,
            created_at,
        })
    }

    fn user(&mut self, id: &str, val: &Value) -> Option<User> {
        let path = join(USERS, id);
        let Value::Object(obj) = val else {
            self.err(path, format!("expected an object, got {}", describe(val)));
            return None;
        };
        let before = self.issues.len();
        let user = User {
            id: id.to_string(),
            email: self.opt_string(obj, &path, "email"),
            created_at: self.opt_string(obj, &path, "created_at"),
        };
        (self.issues.len() == before).then_some(user)
    }
}

fn is_http_url(u: &str) -> bool {
    let lower = u.trim().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| lower.len() > scheme.len() && lower.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<GatewayConfig, ValidationErrors> {
        let Value::Object(m) = v else {
            panic!("not an object")
        };
        validate(&m)
    }

    #[test]
    fn paths_quote_unusual_keys() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b-c_1"), "a.b-c_1");
        assert_eq!(join("a", "my key"), "a[\"my key\"]");
        assert_eq!(join("a", ""), "a[\"\"]");
    }

    #[test]
    fn describe_cuts_long_strings_and_hides_containers() {
        assert_eq!(describe(&json!("abc")), "\"abc\"");
        assert_eq!(describe(&json!(1.5)), "1.5");
        assert_eq!(describe(&json!([1])), "a list");
        assert_eq!(describe(&json!({})), "an object");
        let long = "x".repeat(100);
        assert_eq!(describe(&json!(long)), format!("\"{}…\"", "x".repeat(40)));
    }

    #[test]
    fn numeric_strings_and_integral_floats_are_integers() {
        let c = run(json!({"common_mcp_gateway_config": {
            "enkrypt_cache_port": "6390", "enkrypt_cache_db": 2.0
        }}))
        .unwrap();
        assert_eq!((c.common.cache_port, c.common.cache_db), (6390, 2));
    }

    #[test]
    fn nan_and_infinite_durations_are_rejected() {
        let e = run(json!({"common_mcp_gateway_config": {
            "enkrypt_tool_cache_expiration": "inf",
            "enkrypt_gateway_cache_expiration": 1e300
        }}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "common_mcp_gateway_config.enkrypt_tool_cache_expiration: expected a number of hours > 0, got \"inf\"\n\
             common_mcp_gateway_config.enkrypt_gateway_cache_expiration: 1e+300 hours is too large"
        );
    }

    #[test]
    fn secret_values_are_described_by_type_only() {
        let e = run(json!({
            "common_mcp_gateway_config": {"enkrypt_cache_password": 12345},
            "mcp_configs": {"c": {"mcp_config": [{
                "server_name": "s",
                "config": {"url": "https://x", "headers": {"Authorization": ["Bearer zzz"]}}
            }]}}
        }))
        .unwrap_err()
        .to_string();
        assert!(!e.contains("12345") && !e.contains("zzz"), "{e}");
        assert!(e.contains("enkrypt_cache_password: expected a string or null, got a number"));
        assert!(e.contains("config.headers.Authorization: expected a string, got a list"));
    }
}
