//! The `project` and `user` command groups through the real binary, against a temporary
//! HOME and `--config` file: `--json` outputs parsed back, error cases (exit 1, one line on
//! stderr, the file byte-identical), concurrent writers, and a config written by the reference
//! CLI edited without losing any key. The `config` group is in `cli_config.rs`.

mod common_cli;

use std::process::Command;

use common_cli::*;
use serde_json::{json, Value};

#[test]
fn project_group_lifecycle() {
    let e = Env::generated();
    let p = e.ok(&["project", "create", "--project-name", "alpha"]);
    let pid = p["project_id"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&pid));
    assert!(e
        .text(&["project", "create", "--project-name", "beta"])
        .starts_with("project_id: "));
    e.fails(&["project", "create", "--project-name", "alpha"]);
    assert_eq!(
        e.file()["projects"][&pid],
        json!({"project_name": "alpha", "mcp_config_id": null, "users": [], "created_at": e.file()["projects"][&pid]["created_at"]})
    );

    let u = e.ok(&["user", "create", "--email", "bob@example.com"]);
    let uid = u["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        e.ok(&[
            "project",
            "add-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["added"],
        true
    );
    assert_eq!(
        e.ok(&[
            "project",
            "add-user",
            "--project-id",
            &pid,
            "--user-id",
            &uid
        ])["added"],
        false
    );
    assert_eq!(e.file()["projects"][&pid]["users"], json!([uid]));
    let users = e.ok(&["project", "list-users", "--project-name", "alpha"]);
    assert_eq!(users[0]["email"], "bob@example.com");
    assert_eq!(users[0]["api_keys"], 0);

    let err = e.fails(&["project", "get-config", "--project-name", "alpha"]);
    assert!(err.contains("no assigned config"), "{err}");
    e.fails(&["project", "unassign-config", "--project-name", "alpha"]);
    e.ok(&["config", "add", "--config-name", "c1"]);
    let a = e.ok(&[
        "project",
        "assign-config",
        "--project-name",
        "alpha",
        "--config-name",
        "c1",
    ]);
    assert_eq!(a["replaced"], Value::Null);
    let file = e.file();
    let (cid, _) = config_by_name(&file, "c1");
    assert_eq!(file["projects"][&pid]["mcp_config_id"], cid.as_str());
    assert_eq!(
        e.ok(&["project", "get-config", "--project-id", &pid])["mcp_config_id"],
        cid.as_str()
    );

    let got = e.ok(&["project", "get", "--project-name", "alpha"]);
    assert_eq!(got["project_id"], pid.as_str());
    assert_eq!(got["mcp_config"]["mcp_config_name"], "c1");
    assert_eq!(got["users"][0]["user_id"], uid.as_str());
    assert_eq!(got["api_keys"], 0);
    let listed = e.ok(&["project", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3);

    let found = e.ok(&["project", "search", "--search-term", "BOB@"]);
    assert_eq!(
        found,
        json!([{"project_id": pid, "project_name": "alpha", "match_type": "user_email", "users": 1}])
    );

    let out = e.home.path().join("p.json");
    e.ok(&[
        "project",
        "export",
        "--project-name",
        "alpha",
        "--output-file",
        out.to_str().unwrap(),
    ]);
    let x: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(x["project_id"], pid.as_str());
    assert_eq!(x["config"]["mcp_config_name"], "c1");
    assert_eq!(x["users"][0]["email"], "bob@example.com");

    assert_eq!(
        e.ok(&[
            "project",
            "remove-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["removed"],
        true
    );
    assert_eq!(
        e.ok(&[
            "project",
            "remove-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["removed"],
        false
    );
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "alpha",
        "--email",
        "bob@example.com",
    ]);
    assert_eq!(
        e.ok(&["project", "remove-all-users", "--project-name", "alpha"])["removed"],
        1
    );
    assert_eq!(e.file()["projects"][&pid]["users"], json!([]));
    e.ok(&["project", "unassign-config", "--project-name", "alpha"]);
    assert_eq!(e.file()["projects"][&pid]["mcp_config_id"], Value::Null);

    e.ok(&["project", "remove", "--project-name", "alpha"]);
    assert!(e.file()["projects"].get(&pid).is_none());

    // Unknown names, missing identifiers.
    for args in [
        vec!["project", "get", "--project-name", "ghost"],
        vec!["project", "get"],
        vec![
            "project",
            "assign-config",
            "--project-name",
            "beta",
            "--config-name",
            "ghost",
        ],
        vec![
            "project",
            "add-user",
            "--project-name",
            "beta",
            "--email",
            "ghost@example.com",
        ],
        vec!["project", "add-user", "--project-name", "beta"],
        vec![
            "project",
            "remove",
            "--project-id",
            "00000000-0000-4000-8000-000000000000",
        ],
    ] {
        e.fails(&args);
    }
}

#[test]
fn user_group_lifecycle() {
    let e = Env::generated();
    let u = e.ok(&["user", "create", "--email", "carol@example.com"]);
    let uid = u["user_id"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&uid));
    assert!(e
        .text(&["user", "create", "--email", "dan@example.com"])
        .starts_with("user_id: "));
    let err = e.fails(&["user", "create", "--email", "not-an-email"]);
    assert!(err.contains("Invalid email"), "{err}");
    e.fails(&["user", "create", "--email", "carol@example.com"]);

    e.ok(&["project", "create", "--project-name", "gamma"]);
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "gamma",
        "--user-id",
        &uid,
    ]);
    let got = e.ok(&["user", "get", "--email", "carol@example.com"]);
    assert_eq!(got["user_id"], uid.as_str());
    assert_eq!(got["projects"][0]["project_name"], "gamma");
    assert_eq!(got["api_keys"], json!([]));
    let projects = e.ok(&["user", "list-projects", "--user-id", &uid]);
    assert_eq!(projects[0]["project_name"], "gamma");
    assert_eq!(projects[0]["api_keys"], 0);
    let all = e.ok(&["user", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let found = e.ok(&["user", "search", "--search-term", "GAMM"]);
    assert_eq!(
        found,
        json!([{"user_id": uid, "email": "carol@example.com", "match_type": "project_name", "api_keys": 0}])
    );

    let upd = e.ok(&[
        "user",
        "update",
        "--email",
        "carol@example.com",
        "--new-email",
        "carol@new.example.org",
    ]);
    assert_eq!(upd["old_email"], "carol@example.com");
    assert_eq!(e.file()["users"][&uid]["email"], "carol@new.example.org");
    e.fails(&[
        "user",
        "update",
        "--user-id",
        &uid,
        "--new-email",
        "dan@example.com",
    ]);
    e.fails(&["user", "update", "--user-id", &uid, "--new-email", "bad"]);

    // In a project: delete refused without --force, then cleaned up with it.
    let err = e.fails(&["user", "delete", "--user-id", &uid]);
    assert!(err.contains("--force"), "{err}");
    let d = e.ok(&["user", "delete", "--user-id", &uid, "--force"]);
    assert_eq!(d["removed_from_projects"][0]["project_name"], "gamma");
    let file = e.file();
    assert!(file["users"].get(&uid).is_none());
    assert!(file["projects"]
        .as_object()
        .unwrap()
        .values()
        .all(|p| !p["users"].as_array().unwrap().contains(&json!(uid))));
    e.ok(&["user", "delete", "--email", "dan@example.com"]);

    for args in [
        vec!["user", "get", "--email", "ghost@example.com"],
        vec!["user", "get"],
        vec!["user", "list-projects", "--user-id", "nope"],
        vec!["user", "delete", "--email", "ghost@example.com", "--force"],
    ] {
        e.fails(&args);
    }
}

/// Every `apikeys` map key of a reference file (the gateway keys themselves, legacy format).
fn gateway_keys(file: &Value) -> Vec<String> {
    file["apikeys"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn keys_are_counted_and_removed_but_never_shown() {
    let e = Env::reference("05-disable-api-key.json");
    let keys = gateway_keys(&e.file());
    assert_eq!(keys.len(), 4);
    let mut shown = String::new();
    for args in [
        vec!["user", "list"],
        vec!["user", "get", "--email", "alice@example.com"],
        vec!["user", "list-projects", "--email", "alice@example.com"],
        vec!["user", "search", "--search-term", "alice"],
        vec!["project", "list"],
        vec!["project", "get", "--project-name", "parity_project"],
        vec!["project", "list-users", "--project-name", "parity_project"],
        vec!["project", "remove", "--project-name", "parity_project"],
        vec!["user", "delete", "--email", "alice@example.com"],
        vec!["config", "get", "--config-name", "parity_config"],
        vec!["project", "get-config", "--project-name", "parity_project"],
    ] {
        for json in [true, false] {
            let mut a = args.clone();
            if json {
                a.push("--json");
            }
            let out = e.run(&a);
            shown.push_str(&String::from_utf8_lossy(&out.stdout));
            shown.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    for k in &keys {
        assert!(
            !shown.contains(&k[..8]),
            "a gateway key (or its start) was shown"
        );
    }
    for secret in ["QZ", "pwQZhunter2", "sk-QZlive"] {
        assert!(!shown.contains(secret), "{secret} shown");
    }

    let alice = e.ok(&["user", "get", "--email", "alice@example.com"]);
    let ks = alice["api_keys"].as_array().unwrap();
    assert_eq!(ks.len(), 3);
    assert_eq!(ks.iter().filter(|k| k["disabled"] == true).count(), 1);
    let p = e.ok(&["project", "get", "--project-name", "parity_project"]);
    assert_eq!(p["api_keys"], 2);

    // A project with keys: refused, then removed with its keys under --force.
    let err = e.fails(&["project", "remove", "--project-name", "parity_project"]);
    assert!(err.contains("2 API keys"), "{err}");
    let r = e.ok(&[
        "project",
        "remove",
        "--project-name",
        "parity_project",
        "--force",
    ]);
    assert_eq!(r["api_keys_removed"], 2);
    let file = e.file();
    assert_eq!(gateway_keys(&file).len(), 2);
    assert!(file["apikeys"]
        .as_object()
        .unwrap()
        .values()
        .all(|k| k["project_id"] != p["project_id"]));

    // A user with keys: refused, then deleted with their keys under --force.
    e.fails(&["user", "delete", "--email", "alice@example.com"]);
    let d = e.ok(&["user", "delete", "--email", "alice@example.com", "--force"]);
    assert_eq!(d["api_keys_removed"], 1);
    let file = e.file();
    assert_eq!(gateway_keys(&file), [keys[0].clone()]);
    // The result still loads: the default key works as before.
    assert_eq!(e.ok(&["project", "list"]).as_array().unwrap().len(), 2);
}

/// `new` holds everything `old` holds: each object key with an equal value, or (for objects
/// and lists) a value that holds the old one; a list may have grown at its end.
fn assert_contains(old: &Value, new: &Value, path: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let new_keys: Vec<&String> = n.keys().filter(|k| o.contains_key(*k)).collect();
            let old_keys: Vec<&String> = o.keys().collect();
            assert_eq!(new_keys, old_keys, "{path}: keys lost or reordered");
            for (k, v) in o {
                assert_contains(v, &n[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert!(n.len() >= o.len(), "{path}: list shrank");
            for (i, v) in o.iter().enumerate() {
                assert_contains(v, &n[i], &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(old, new, "{path}"),
    }
}

#[test]
fn a_reference_config_keeps_every_key_through_our_edits() {
    let e = Env::reference("05-disable-api-key.json");
    let before = e.file();
    e.ok(&["config", "add", "--config-name", "ours"]);
    e.ok(&[
        "config",
        "add-server",
        "--config-name",
        "parity_config",
        "--server-name",
        "added",
        "--server-command",
        "true",
    ]);
    e.ok(&["project", "create", "--project-name", "ours"]);
    e.ok(&["user", "create", "--email", "erin@example.com"]);
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "ours",
        "--email",
        "erin@example.com",
    ]);
    e.ok(&[
        "project",
        "assign-config",
        "--project-name",
        "ours",
        "--config-name",
        "ours",
    ]);
    let after = e.file();
    assert_contains(&before, &after, "");
    // What we added is there too, and the text is still the reference's layout (2-space JSON).
    let (_, parity) = config_by_name(&after, "parity_config");
    assert_eq!(
        parity["mcp_config"].as_array().unwrap().last().unwrap()["server_name"],
        "added"
    );
    let text = std::fs::read_to_string(&e.config).unwrap();
    assert!(text.starts_with("{\n  \"admin_apikey\""), "{}", &text[..40]);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let e = Env::generated();
    e.ok(&["config", "add", "--config-name", "busy"]);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let home = e.home.path().to_path_buf();
            let config = e.config.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let name = format!("w{w}-s{i}");
                    let out = Command::new(bin())
                        .env("HOME", &home)
                        .arg("--config")
                        .arg(&config)
                        .args([
                            "config",
                            "add-server",
                            "--config-name",
                            "busy",
                            "--server-name",
                            &name,
                            "--server-command",
                            "true",
                        ])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{name}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let file = e.file();
    let (_, cfg) = config_by_name(&file, "busy");
    let mut names: Vec<String> = cfg["mcp_config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 400);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 400);
    let listed = e.ok(&["config", "list-servers", "--config-name", "busy"]);
    assert_eq!(listed.as_array().unwrap().len(), 400);
}
