//! Gateway keys: issue, show, rotate (with an optional grace period for the old key),
//! disable, enable, delete, list, and migrate the reference's plain-text keys to hashes.
//!
//! A new key is printed once ([`generate`], [`rotate`]) and stored only as its keyed hash
//! (`apikey_hashes`, see [`crate::config::keystore`]). A key is named on the command line by
//! the key itself (either format), or by its public id (`mgw_<id>`, or `<id>`). Results never
//! hold a stored key: listings show a hashed key's id and a plain key's first characters.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{edit, read, AdminError};
use crate::config::identity::unix_now;
use crate::config::keystore::{self, KeySecret, APIKEY_HASHES};
use crate::config::ConfigDocument;

const APIKEYS: &str = "apikeys";

/// Where a key is in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loc {
    /// `apikeys.<key>`: the reference's plain-text key.
    Plain(String),
    /// `apikey_hashes.<id>`.
    Hashed(String),
}

fn section<'a>(doc: &'a ConfigDocument, name: &str) -> Option<&'a Map<String, Value>> {
    doc.root().get(name).and_then(Value::as_object)
}

fn section_mut<'a>(
    doc: &'a mut ConfigDocument,
    name: &str,
) -> Result<&'a mut Map<String, Value>, AdminError> {
    let slot = doc
        .root_mut()
        .entry(name.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    slot.as_object_mut()
        .ok_or_else(|| AdminError::Invalid(format!("{name}: expected an object")))
}

/// Finds the key `named` (a key, `mgw_<id>`, or an id).
fn locate(
    doc: &ConfigDocument,
    secret: Option<&KeySecret>,
    named: &str,
) -> Result<Loc, AdminError> {
    let named = named.trim();
    let not_found = || AdminError::NotFound(format!("API key {} not found", label_of(named)));
    if named.is_empty() {
        return Err(AdminError::Invalid(
            "an API key or key id is required".into(),
        ));
    }
    if section(doc, APIKEYS).is_some_and(|m| m.contains_key(named)) {
        return Ok(Loc::Plain(named.to_string()));
    }
    let hashes = section(doc, APIKEY_HASHES);
    // A full key of ours, or its id alone.
    let id = keystore::key_id(named)
        .or_else(|| {
            named
                .strip_prefix(keystore::KEY_PREFIX)
                .map(|r| r.trim_end_matches(['_', '…']))
        })
        .unwrap_or(named);
    if let Some(entry) = hashes.and_then(|h| h.get(id)) {
        // A full key must be that key, not just carry its id.
        if keystore::key_id(named).is_some() {
            let stored = entry
                .get("key_hash")
                .and_then(Value::as_str)
                .and_then(keystore::hash_from_hex);
            let ok = secret.is_some_and(|s| Some(s.hash(named)) == stored);
            if !ok {
                return Err(not_found());
            }
        }
        return Ok(Loc::Hashed(id.to_string()));
    }
    // A migrated plain key, given in full.
    if let (Some(s), Some(h)) = (secret, hashes) {
        let want = keystore::to_hex(&s.hash(named));
        if let Some((id, _)) = h
            .iter()
            .find(|(_, e)| e.get("key_hash").and_then(Value::as_str) == Some(want.as_str()))
        {
            return Ok(Loc::Hashed(id.clone()));
        }
    }
    Err(not_found())
}

/// What may be shown of a key as the operator typed it.
fn label_of(named: &str) -> String {
    match keystore::key_id(named) {
        Some(id) => format!("{}{id}_…", keystore::KEY_PREFIX),
        // A bare public id may be shown; anything else may be a key.
        None if named.len() == 12
            && named
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            named.to_string()
        }
        None => keystore::legacy_hint(named),
    }
}

fn label(loc: &Loc) -> String {
    match loc {
        Loc::Plain(k) => keystore::legacy_hint(k),
        Loc::Hashed(id) => format!("{}{id}_…", keystore::KEY_PREFIX),
    }
}

fn entry<'a>(doc: &'a ConfigDocument, loc: &Loc) -> Option<&'a Map<String, Value>> {
    let (sec, k) = match loc {
        Loc::Plain(k) => (APIKEYS, k),
        Loc::Hashed(id) => (APIKEY_HASHES, id),
    };
    section(doc, sec)?.get(k)?.as_object()
}

fn entry_mut<'a>(
    doc: &'a mut ConfigDocument,
    loc: &Loc,
) -> Result<&'a mut Map<String, Value>, AdminError> {
    let (sec, k) = match loc {
        Loc::Plain(k) => (APIKEYS, k.as_str()),
        Loc::Hashed(id) => (APIKEY_HASHES, id.as_str()),
    };
    section_mut(doc, sec)?
        .get_mut(k)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| AdminError::NotFound("API key not found".into()))
}

fn remove(doc: &mut ConfigDocument, loc: &Loc) -> Result<(), AdminError> {
    let (sec, k) = match loc {
        Loc::Plain(k) => (APIKEYS, k.as_str()),
        Loc::Hashed(id) => (APIKEY_HASHES, id.as_str()),
    };
    section_mut(doc, sec)?.shift_remove(k);
    Ok(())
}

/// Every key entry of the document: (where, its fields).
fn all(doc: &ConfigDocument) -> Vec<(Loc, &Map<String, Value>)> {
    let mut out = Vec::new();
    for (sec, hashed) in [(APIKEYS, false), (APIKEY_HASHES, true)] {
        for (k, v) in section(doc, sec).into_iter().flatten() {
            if let Some(o) = v.as_object() {
                let loc = if hashed {
                    Loc::Hashed(k.clone())
                } else {
                    Loc::Plain(k.clone())
                };
                out.push((loc, o));
            }
        }
    }
    out
}

/// A user by id or email: its id.
fn find_user(doc: &ConfigDocument, who: &str) -> Result<String, AdminError> {
    let users = section(doc, "users");
    if users.is_some_and(|u| u.contains_key(who)) {
        return Ok(who.to_string());
    }
    users
        .into_iter()
        .flatten()
        .find(|(_, u)| {
            u.get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(who))
        })
        .map(|(id, _)| id.clone())
        .ok_or_else(|| AdminError::NotFound(format!("user {who:?} not found")))
}

/// A project by id or name: its id.
fn find_project(doc: &ConfigDocument, which: &str) -> Result<String, AdminError> {
    let projects = section(doc, "projects");
    if projects.is_some_and(|p| p.contains_key(which)) {
        return Ok(which.to_string());
    }
    projects
        .into_iter()
        .flatten()
        .find(|(_, p)| p.get("project_name").and_then(Value::as_str) == Some(which))
        .map(|(id, _)| id.clone())
        .ok_or_else(|| AdminError::NotFound(format!("project {which:?} not found")))
}

fn now() -> String {
    crate::config::generate::now_iso8601()
}

/// Adds a new hashed key for (`user_id`, `project_id`) to `doc`; returns it.
fn issue(
    doc: &mut ConfigDocument,
    secret: &KeySecret,
    user_id: &str,
    project_id: &str,
    extra: Map<String, Value>,
) -> Result<(String, String), AdminError> {
    let (key, id) = keystore::new_key()?;
    let mut e = Map::new();
    e.insert(
        "key_hash".into(),
        json!(keystore::to_hex(&secret.hash(&key))),
    );
    e.insert("user_id".into(), json!(user_id));
    e.insert("project_id".into(), json!(project_id));
    e.insert("created_at".into(), json!(now()));
    e.extend(extra);
    section_mut(doc, APIKEY_HASHES)?.insert(id.clone(), Value::Object(e));
    Ok((key, id))
}

/// `user generate-api-key`: a new key for a user (id or email) in a project (id or name) the
/// user belongs to. The key is in the result, once.
pub fn generate(path: &Path, user: &str, project: &str) -> Result<Value, AdminError> {
    let secret = keystore::load_or_create_secret(path)?;
    let (out, _) = edit(path, |doc| {
        let user_id = find_user(doc, user)?;
        let project_id = find_project(doc, project)?;
        let members = section(doc, "projects")
            .and_then(|p| p.get(&project_id))
            .and_then(|p| p.get("users"))
            .and_then(Value::as_array);
        if !members.is_some_and(|m| m.iter().any(|u| u.as_str() == Some(user_id.as_str()))) {
            return Err(AdminError::Invalid(format!(
                "user {user:?} is not in project {project:?}: add the user to the project first"
            )));
        }
        let (key, id) = issue(doc, &secret, &user_id, &project_id, Map::new())?;
        Ok(json!({ "api_key": key, "key_id": id, "user_id": user_id, "project_id": project_id }))
    })?;
    Ok(out)
}

/// A key's details (never the stored key).
fn details(doc: &ConfigDocument, loc: &Loc, e: &Map<String, Value>) -> Value {
    let s = |k: &str| e.get(k).cloned().unwrap_or(Value::Null);
    let user = e.get("user_id").and_then(Value::as_str).unwrap_or_default();
    let project_id = e
        .get("project_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let project = section(doc, "projects").and_then(|p| p.get(project_id));
    let config_id = project
        .and_then(|p| p.get("mcp_config_id"))
        .cloned()
        .unwrap_or(Value::Null);
    let disabled = e.get("disabled").and_then(Value::as_bool).unwrap_or(false)
        || e.get("is_active").and_then(Value::as_bool) == Some(false);
    let expired = e
        .get("expires_at")
        .and_then(Value::as_u64)
        .is_some_and(|t| unix_now() >= t);
    json!({
        "api_key": label(loc),
        "key_id": match loc { Loc::Hashed(id) => json!(id), Loc::Plain(_) => Value::Null },
        "storage": match loc { Loc::Hashed(_) => "hashed", Loc::Plain(_) => "plain" },
        "user_id": user,
        "user_email": section(doc, "users").and_then(|u| u.get(user)).and_then(|u| u.get("email")).cloned().unwrap_or(Value::Null),
        "project_id": project_id,
        "project_name": project.and_then(|p| p.get("project_name")).cloned().unwrap_or(Value::Null),
        "mcp_config_id": config_id,
        "created_at": s("created_at"),
        "disabled": disabled,
        "disabled_at": s("disabled_at"),
        "enabled_at": s("enabled_at"),
        "expires_at": s("expires_at"),
        "expired": expired,
    })
}

/// `user get-api-key`.
pub fn get(path: &Path, named: &str) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let secret = keystore::load_secret(path)?;
    let loc = locate(&doc, secret.as_ref(), named)?;
    let e = entry(&doc, &loc).ok_or_else(|| AdminError::NotFound("API key not found".into()))?;
    Ok(details(&doc, &loc, e))
}

/// `user rotate-api-key` / `apikey rotate`: a new key for the same user and project; the old
/// one is deleted, or with `grace` seconds keeps working until then (`expires_at`).
pub fn rotate(path: &Path, named: &str, grace: Option<u64>) -> Result<Value, AdminError> {
    let secret = keystore::load_or_create_secret(path)?;
    let (out, _) = edit(path, |doc| {
        let loc = locate(doc, Some(&secret), named)?;
        let old = entry(doc, &loc)
            .cloned()
            .ok_or_else(|| AdminError::NotFound("API key not found".into()))?;
        let user_id = old
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let project_id = old
            .get("project_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut extra = Map::new();
        extra.insert("rotated_from".into(), json!(label(&loc)));
        let (key, id) = issue(doc, &secret, &user_id, &project_id, extra)?;
        let expires_at = match grace.filter(|g| *g > 0) {
            Some(g) => {
                let t = unix_now() + g;
                entry_mut(doc, &loc)?.insert("expires_at".into(), json!(t));
                Some(t)
            }
            None => {
                remove(doc, &loc)?;
                None
            }
        };
        Ok(
            json!({ "new_api_key": key, "key_id": id, "rotated_from": label(&loc),
                   "old_key_expires_at": expires_at }),
        )
    })?;
    Ok(out)
}

/// `user disable-api-key` / `enable-api-key`.
pub fn set_disabled(path: &Path, named: &str, disabled: bool) -> Result<Value, AdminError> {
    let secret = keystore::load_secret(path)?;
    let (out, _) = edit(path, |doc| {
        let loc = locate(doc, secret.as_ref(), named)?;
        let e = entry_mut(doc, &loc)?;
        e.insert("disabled".into(), json!(disabled));
        e.shift_remove("is_active");
        e.shift_remove("status");
        let stamp = if disabled {
            "disabled_at"
        } else {
            "enabled_at"
        };
        e.insert(stamp.into(), json!(now()));
        Ok(json!({ "api_key": label(&loc), "disabled": disabled }))
    })?;
    Ok(out)
}

/// `user delete-api-key`.
pub fn delete(path: &Path, named: &str) -> Result<Value, AdminError> {
    let secret = keystore::load_secret(path)?;
    let (out, _) = edit(path, |doc| {
        let loc = locate(doc, secret.as_ref(), named)?;
        remove(doc, &loc)?;
        Ok(json!({ "api_key": label(&loc), "deleted": true }))
    })?;
    Ok(out)
}

/// `user delete-all-api-keys`: every key of a user (id or email).
pub fn delete_all(path: &Path, user: &str) -> Result<Value, AdminError> {
    let (out, _) = edit(path, |doc| {
        let user_id = find_user(doc, user)?;
        let gone: Vec<Loc> = all(doc)
            .into_iter()
            .filter(|(_, e)| e.get("user_id").and_then(Value::as_str) == Some(user_id.as_str()))
            .map(|(l, _)| l)
            .collect();
        for l in &gone {
            remove(doc, l)?;
        }
        Ok(json!({ "user_id": user_id, "deleted": gone.len() }))
    })?;
    Ok(out)
}

/// `user list-api-keys` (one user, optionally one project) and `list-all-api-keys` (`user`
/// `None`).
pub fn list(path: &Path, user: Option<&str>, project: Option<&str>) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let user_id = user.map(|u| find_user(&doc, u)).transpose()?;
    let project_id = project.map(|p| find_project(&doc, p)).transpose()?;
    let keys: Vec<Value> = all(&doc)
        .into_iter()
        .filter(|(_, e)| {
            let is = |f: &str, want: &Option<String>| {
                want.as_deref()
                    .is_none_or(|w| e.get(f).and_then(Value::as_str) == Some(w))
            };
            is("user_id", &user_id) && is("project_id", &project_id)
        })
        .map(|(l, e)| details(&doc, &l, e))
        .collect();
    Ok(Value::Array(keys))
}

/// `user migrate-api-keys`: every plain-text key in `apikeys` becomes a hashed entry (same
/// fields, a new public id); the keys themselves keep working unchanged.
pub fn migrate(path: &Path) -> Result<Value, AdminError> {
    let secret = keystore::load_or_create_secret(path)?;
    let (out, _) = edit(path, |doc| {
        let ids = keystore::hash_plain_keys(doc, &secret, Some(&now()))?;
        Ok(json!({ "migrated": ids.len(), "key_ids": ids }))
    })?;
    Ok(out)
}
