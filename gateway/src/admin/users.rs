//! Users: list, create, get, update, delete, their projects, search. (Their gateway keys are
//! managed in `admin::keys`.)
//!
//! A user's gateway keys are counted and removed through the `apikeys` entries' `user_id`
//! field only; no key (the legacy `apikeys` map key) is ever returned, not even in part.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{
    count_keys, edit, entry_mut, field_is, find_user, new_id, now, project_users, read,
    remove_keys, section, section_mut, str_field, AdminError, By, PROJECTS, USERS,
};

const UNNAMED_PROJECT: &str = "Unnamed Project";

/// The reference's email check: `^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    // The regex's `[a-zA-Z0-9.-]+\.` may end the host at any dot; the last dot is the one
    // that lets the widest TLD match, and a TLD of letters only must follow some dot.
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

fn projects_of(root: &Map<String, Value>, uid: &str) -> Vec<(String, Value)> {
    section(root, PROJECTS)
        .iter()
        .filter(|(_, p)| project_users(p).contains(&uid))
        .map(|(id, p)| (id.clone(), p.clone()))
        .collect()
}

fn project_refs(root: &Map<String, Value>, uid: &str) -> Vec<Value> {
    projects_of(root, uid)
        .iter()
        .map(|(id, p)| {
            json!({
                "project_id": id,
                "project_name": str_field(p, "project_name").unwrap_or(UNNAMED_PROJECT),
            })
        })
        .collect()
}

fn user_keys(root: &Map<String, Value>, uid: &str) -> usize {
    count_keys(root, |k| field_is(k, "user_id", uid))
}

/// `user list`: `[{user_id, email, created_at, projects: [{project_id, project_name}],
/// api_keys (count)}]`.
pub fn list(path: &Path) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    Ok(section(root, USERS)
        .iter()
        .map(|(id, u)| {
            json!({
                "user_id": id,
                "email": u.get("email"),
                "created_at": u.get("created_at"),
                "projects": project_refs(root, id),
                "api_keys": user_keys(root, id),
            })
        })
        .collect())
}

fn email_taken(root: &Map<String, Value>, email: &str) -> bool {
    section(root, USERS)
        .values()
        .any(|u| field_is(u, "email", email))
}

/// `user create`; `{user_id, email}`.
pub fn create(path: &Path, email: &str) -> Result<Value, AdminError> {
    if !valid_email(email) {
        return Err(AdminError::Invalid(format!(
            "Invalid email format: {email}"
        )));
    }
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        if email_taken(root, email) {
            return Err(AdminError::Conflict(format!(
                "User with email '{email}' already exists"
            )));
        }
        let id = new_id()?;
        section_mut(root, USERS)?.insert(id.clone(), json!({"email": email, "created_at": now()}));
        Ok(json!({"user_id": id, "email": email}))
    })?;
    Ok(v)
}

/// `user get`: `{user_id, email, created_at, projects, api_keys: [{project_id, project_name,
/// created_at, disabled}]}`; the keys themselves are not shown.
pub fn get(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let uid = find_user(root, by)?;
    let u = section(root, USERS).get(&uid).unwrap_or(&Value::Null);
    let keys: Vec<Value> = super::key_entries(root)
        .filter(|k| field_is(k, "user_id", &uid))
        .map(|k| {
            let pid = str_field(k, "project_id");
            let pname = pid
                .and_then(|p| section(root, PROJECTS).get(p))
                .and_then(|p| str_field(p, "project_name"))
                .unwrap_or(UNNAMED_PROJECT);
            let disabled = k.get("disabled").and_then(Value::as_bool) == Some(true)
                || k.get("is_active").and_then(Value::as_bool) == Some(false)
                || str_field(k, "status").is_some_and(|s| {
                    ["disabled", "inactive", "revoked"]
                        .iter()
                        .any(|d| s.trim().eq_ignore_ascii_case(d))
                });
            json!({
                "project_id": pid,
                "project_name": pname,
                "created_at": k.get("created_at"),
                "disabled": disabled,
            })
        })
        .collect();
    Ok(json!({
        "user_id": uid,
        "email": u.get("email"),
        "created_at": u.get("created_at"),
        "projects": project_refs(root, &uid),
        "api_keys": keys,
    }))
}

/// `user update`: a new email; `{user_id, old_email, email}`.
pub fn update(path: &Path, by: &By, new_email: &str) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let uid = find_user(root, by)?;
        if !valid_email(new_email) {
            return Err(AdminError::Invalid(format!(
                "Invalid email format: {new_email}"
            )));
        }
        if email_taken(root, new_email) {
            return Err(AdminError::Conflict(format!(
                "User with email '{new_email}' already exists"
            )));
        }
        let u = entry_mut(root, USERS, &uid)?;
        let old = u.insert("email".into(), json!(new_email));
        u.insert("updated_at".into(), now());
        Ok(json!({"user_id": uid, "old_email": old, "email": new_email}))
    })?;
    Ok(v)
}

/// `user delete`. Without `force`, a user with gateway keys or in a project is refused (as by
/// the reference); with it, the user's keys are deleted and the user leaves every project.
/// `{user_id, email, api_keys_removed, removed_from_projects: [{project_id, project_name}]}`.
pub fn delete(path: &Path, by: &By, force: bool) -> Result<Value, AdminError> {
    let (v, _) = edit(path, |doc| {
        let root = doc.root_mut();
        let uid = find_user(root, by)?;
        let keys = user_keys(root, &uid);
        let projects = project_refs(root, &uid);
        if !force && keys > 0 {
            return Err(AdminError::Conflict(format!(
                "Cannot delete user '{by}': the user has {keys} API keys (use --force to delete the user and clean up all references)"
            )));
        }
        if !force && !projects.is_empty() {
            return Err(AdminError::Conflict(format!(
                "Cannot delete user '{by}': the user is assigned to {} projects (use --force to delete the user and clean up all references)",
                projects.len()
            )));
        }
        let removed = remove_keys(root, |k| field_is(k, "user_id", &uid))?;
        for (pid, _) in projects_of(root, &uid) {
            let p = entry_mut(root, PROJECTS, &pid)?;
            if let Some(users) = p.get_mut("users").and_then(Value::as_array_mut) {
                users.retain(|u| u.as_str() != Some(uid.as_str()));
            }
            p.insert("updated_at".into(), now());
        }
        let u = section_mut(root, USERS)?.shift_remove(&uid);
        let email = u.as_ref().and_then(|u| u.get("email")).cloned();
        Ok(json!({
            "user_id": uid,
            "email": email,
            "api_keys_removed": removed,
            "removed_from_projects": projects,
        }))
    })?;
    Ok(v)
}

/// `user list-projects`: `[{project_id, project_name, api_keys (the user's, in it),
/// created_at}]`.
pub fn list_projects(path: &Path, by: &By) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let uid = find_user(root, by)?;
    Ok(projects_of(root, &uid)
        .iter()
        .map(|(pid, p)| {
            json!({
                "project_id": pid,
                "project_name": str_field(p, "project_name").unwrap_or(UNNAMED_PROJECT),
                "api_keys": count_keys(root, |k| field_is(k, "user_id", &uid) && field_is(k, "project_id", pid)),
                "created_at": p.get("created_at"),
            })
        })
        .collect())
}

/// `user search`: users whose email, or one of whose projects' names, contains `term`
/// (ignoring case); `[{user_id, email, match_type, api_keys}]`.
pub fn search(path: &Path, term: &str) -> Result<Value, AdminError> {
    let doc = read(path)?.document;
    let root = doc.root();
    let t = term.to_lowercase();
    Ok(section(root, USERS)
        .iter()
        .filter_map(|(uid, u)| {
            let email = str_field(u, "email").unwrap_or_default();
            let match_type = if email.to_lowercase().contains(&t) {
                "email"
            } else if projects_of(root, uid).iter().any(|(_, p)| {
                str_field(p, "project_name")
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(&t)
            }) {
                "project_name"
            } else {
                return None;
            };
            Some(json!({
                "user_id": uid,
                "email": email,
                "match_type": match_type,
                "api_keys": user_keys(root, uid),
            }))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails_as_the_reference_checks_them() {
        for ok in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y%z-1@a-b.c.io",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.c",
            "@b.com",
            "a@.com",
            "a b@c.com",
            "a@b.c0m",
            "a@b.com ",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
