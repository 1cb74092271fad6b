//! Projects: list, create, get, remove, their mcp_config, their users, export, search.
//!
//! A project's gateway keys are counted and removed through the `apikeys` entries'
//! `project_id` field only; no key (the legacy `apikeys` map key) is ever returned.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{
    count_keys, edit, entry_mut, field_is, find_config, find_project, find_user, new_id, now,
    project_users, read, remove_keys, section, section_mut, str_field, write_export, AdminError,
    By, MCP_CONFIGS, PROJECTS, USERS,
};

const UNNAMED_PROJECT: &str = "Unnamed Project";

fn config_info(root: &Map<String, Value>, p: &Value) -> Value {
    match str_field(p, "mcp_config_id") {
        Some(id) => match section(root, MCP_CONFIGS).get(id) {
            Some(c) => json!({
                "mcp_config_id": id,
                "mcp_config_name": str_field(c, "mcp_config_name").unwrap_or("Unnamed Config"),
            }),
            None => Value::Null,
        },
        None => Value::Null,
    }
}

fn project_keys(root: &Map<String, Value>, id: &str) -> usize {
    count_keys(root, |k| field_is(k, "project_id", id))
}

fn user_details(root: &Map<String, Value>, p: &Value) -> Vec<Value> {
    project_users(p)
        .into_iter()
        .map(|uid| {
            let u = section(root, USERS).get(uid).unwrap_or(&Value::Null);
            json!({"user_id": uid, "email": u.get("email"), "created_at": u.get("created_at")})
        })
        .collect()
}

fn name_of(p: &Value) -> &str {
    str_field(p, "project_name").unwrap_or(UNNAMED_PROJECT)
}

/// `project list`: `[{project_name, project_id, mcp_config, users, api_keys, created_at}]`
/// (`users` and `api_keys` are counts).
pub fn list(path: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    Ok(section(root, PROJECTS)
        .iter()
        .map(|(id, p)| {
            json!({
                "project_name": name_of(p),
                "project_id": id,
                "mcp_config": config_info(root, p),
                "users": project_users(p).len(),
                "api_keys": project_keys(root, id),
                "created_at": p.get("created_at"),
            })
        })
        .collect())
}

/// `project create`: no mcp_config, no users yet; `{project_id, project_name}`.
pub fn create(path: &Path, name: &str) -> Result<Value, AdminError> {
    if name.trim().is_empty() {
        return Err(AdminError::Invalid(
            "the project name must not be empty".into(),
        ));
    }
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        if section(root, PROJECTS)
            .values()
            .any(|p| field_is(p, "project_name", name))
        {
            return Err(AdminError::Conflict(format!(
                "Project with name '{name}' already exists"
            )));
        }
        let id = new_id()?;
        section_mut(root, PROJECTS)?.insert(
            id.clone(),
            json!({"project_name": name, "mcp_config_id": null, "users": [], "created_at": now()}),
        );
        Ok(json!({"project_id": id, "project_name": name}))
    })?;
    Ok(v)
}

/// `project get`: `{project_id, project_name, mcp_config, users: [{user_id, email,
/// created_at}], api_keys (count), created_at}`.
pub fn get(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let id = find_project(root, by)?;
    let p = section(root, PROJECTS).get(&id).unwrap_or(&Value::Null);
    Ok(json!({
        "project_id": id,
        "project_name": p.get("project_name"),
        "mcp_config": config_info(root, p),
        "users": user_details(root, p),
        "api_keys": project_keys(root, &id),
        "created_at": p.get("created_at"),
    }))
}

/// `project remove`. A project with gateway keys is refused (as by the reference) unless
/// `force`, which removes its keys with it. `{project_id, project_name, api_keys_removed}`.
pub fn remove(path: &Path, by: &By, force: bool) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let id = find_project(root, by)?;
        let keys = project_keys(root, &id);
        if keys > 0 && !force {
            return Err(AdminError::Conflict(format!(
                "Project '{by}' has {keys} API keys: delete them first, or use --force to remove them with the project"
            )));
        }
        let removed = remove_keys(root, |k| field_is(k, "project_id", &id))?;
        let p = section_mut(root, PROJECTS)?.shift_remove(&id);
        let name = p
            .as_ref()
            .map(name_of)
            .unwrap_or(UNNAMED_PROJECT)
            .to_string();
        Ok(json!({"project_id": id, "project_name": name, "api_keys_removed": removed}))
    })?;
    Ok(v)
}

/// `project assign-config`; `{project_id, mcp_config_id, replaced: <previous id or null>}`.
pub fn assign_config(path: &Path, project: &By, config: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let pid = find_project(root, project)?;
        let cid = find_config(root, config)?;
        let p = entry_mut(root, PROJECTS, &pid)?;
        let old = p
            .insert("mcp_config_id".into(), json!(cid))
            .filter(|o| !o.is_null());
        p.insert("updated_at".into(), now());
        Ok(json!({"project_id": pid, "mcp_config_id": cid, "replaced": old}))
    })?;
    Ok(v)
}

/// `project unassign-config`; refused when none is assigned. `{project_id, mcp_config_id}`
/// (the one unassigned).
pub fn unassign_config(path: &Path, by: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let pid = find_project(root, by)?;
        let p = entry_mut(root, PROJECTS, &pid)?;
        let old = p.get("mcp_config_id").filter(|o| !o.is_null()).cloned();
        let Some(old) = old else {
            return Err(AdminError::Invalid(format!(
                "Project '{by}' has no assigned config"
            )));
        };
        p.insert("mcp_config_id".into(), Value::Null);
        p.insert("updated_at".into(), now());
        Ok(json!({"project_id": pid, "mcp_config_id": old}))
    })?;
    Ok(v)
}

/// `project get-config`: the project's mcp_config as `config get` shows it.
pub fn get_config(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let pid = find_project(root, by)?;
    let p = section(root, PROJECTS).get(&pid).unwrap_or(&Value::Null);
    let Some(cid) = str_field(p, "mcp_config_id") else {
        return Err(AdminError::NotFound(format!(
            "Project '{by}' has no assigned config"
        )));
    };
    if !section(root, MCP_CONFIGS).contains_key(cid) {
        return Err(AdminError::NotFound(format!("Config '{cid}' not found")));
    }
    Ok(super::configs::shown(root, cid))
}

/// `project list-users`: `[{user_id, email, api_keys (in this project), created_at}]`.
pub fn list_users(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let pid = find_project(root, by)?;
    let p = section(root, PROJECTS).get(&pid).unwrap_or(&Value::Null);
    Ok(project_users(p)
        .into_iter()
        .map(|uid| {
            let u = section(root, USERS).get(uid).unwrap_or(&Value::Null);
            json!({
                "user_id": uid,
                "email": str_field(u, "email").unwrap_or("Unknown"),
                "api_keys": count_keys(root, |k| field_is(k, "user_id", uid) && field_is(k, "project_id", &pid)),
                "created_at": u.get("created_at"),
            })
        })
        .collect())
}

fn users_mut<'a>(
    root: &'a mut Map<String, Value>,
    pid: &str,
) -> Result<&'a mut Map<String, Value>, AdminError> {
    let p = entry_mut(root, PROJECTS, pid)?;
    if !p.get("users").is_some_and(Value::is_array) {
        p.insert("users".into(), json!([]));
    }
    Ok(p)
}

/// `project add-user`; `{project_id, user_id, added}` (`added` false: already a member).
pub fn add_user(path: &Path, project: &By, user: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let pid = find_project(root, project)?;
        let uid = find_user(root, user)?;
        let p = users_mut(root, &pid)?;
        let added = match p.get_mut("users").and_then(Value::as_array_mut) {
            Some(users) if !users.iter().any(|u| u.as_str() == Some(uid.as_str())) => {
                users.push(json!(uid));
                true
            }
            _ => false,
        };
        if added {
            p.insert("updated_at".into(), now());
        }
        Ok(json!({"project_id": pid, "user_id": uid, "added": added}))
    })?;
    Ok(v)
}

/// `project remove-user`; `{project_id, user_id, removed}` (`removed` false: not a member).
/// The user's gateway keys for the project are left as they are (as by the reference).
pub fn remove_user(path: &Path, project: &By, user: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let pid = find_project(root, project)?;
        let uid = find_user(root, user)?;
        let p = users_mut(root, &pid)?;
        let mut removed = false;
        if let Some(users) = p.get_mut("users").and_then(Value::as_array_mut) {
            let before = users.len();
            users.retain(|u| u.as_str() != Some(uid.as_str()));
            removed = users.len() != before;
        }
        if removed {
            p.insert("updated_at".into(), now());
        }
        Ok(json!({"project_id": pid, "user_id": uid, "removed": removed}))
    })?;
    Ok(v)
}

/// `project remove-all-users`; `{project_id, removed: <count>}`.
pub fn remove_all_users(path: &Path, by: &By) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let pid = find_project(root, by)?;
        let p = users_mut(root, &pid)?;
        let n = p.get("users").and_then(Value::as_array).map_or(0, Vec::len);
        p.insert("users".into(), json!([]));
        p.insert("updated_at".into(), now());
        Ok(json!({"project_id": pid, "removed": n}))
    })?;
    Ok(v)
}

/// `project export`: writes `{project_id, exported_at, project, config, users}` to `output`
/// (mode 0600; no gateway keys); `{project_id, output_file}`.
pub fn export(path: &Path, by: &By, output: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let pid = find_project(root, by)?;
    let p = section(root, PROJECTS)
        .get(&pid)
        .cloned()
        .unwrap_or(Value::Null);
    let config = str_field(&p, "mcp_config_id")
        .and_then(|c| section(root, MCP_CONFIGS).get(c))
        .cloned()
        .unwrap_or(Value::Null);
    let data = json!({
        "project_id": pid,
        "exported_at": now(),
        "project": p.clone(),
        "config": config,
        "users": user_details(root, &p),
    });
    write_export(output, &data)?;
    Ok(json!({"project_id": pid, "output_file": output.display().to_string()}))
}

/// `project search`: projects whose name, or a member's email, contains `term` (ignoring
/// case); `[{project_id, project_name, match_type, users}]`.
pub fn search(path: &Path, term: &str) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let t = term.to_lowercase();
    Ok(section(root, PROJECTS)
        .iter()
        .filter_map(|(id, p)| {
            let name = str_field(p, "project_name").unwrap_or_default();
            let match_type = if name.to_lowercase().contains(&t) {
                "project_name"
            } else if project_users(p).into_iter().any(|uid| {
                section(root, USERS)
                    .get(uid)
                    .and_then(|u| str_field(u, "email"))
                    .is_some_and(|e| e.to_lowercase().contains(&t))
            }) {
                "user_email"
            } else {
                return None;
            };
            Some(json!({
                "project_id": id,
                "project_name": name,
                "match_type": match_type,
                "users": project_users(p).len(),
            }))
        })
        .collect())
}
