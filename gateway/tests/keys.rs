//! Gateway keys stored safely: issued keys live only as keyed hashes, every key operation
//! takes effect in a running gateway at its next reload, and the reference's plain-text keys
//! keep working until migrated.

mod common_gw;

use std::path::Path;
use std::time::{Duration, Instant};

use common_gw::*;
use gateway::admin::keys;
use gateway::config::{load, KeyError};
use serde_json::{json, Value};

fn resolve(path: &Path, key: &str) -> Result<(), KeyError> {
    load(path).unwrap().config.resolve_key(key).map(|_| ())
}

fn file_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn issued_keys_are_stored_only_as_hashes_and_every_operation_applies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let g = keys::generate(&cfg, "u@example.com", "p").unwrap();
    let key = g["api_key"].as_str().unwrap().to_string();
    let id = g["key_id"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("mgw_{id}_")), "{key}");
    assert!(!file_text(&cfg).contains(&key));
    assert_eq!(resolve(&cfg, &key), Ok(()));
    assert_eq!(
        resolve(&cfg, &key.replace(&id, "aaaaaaaaaaaa")),
        Err(KeyError::Unknown)
    );

    // Listings and details never hold a key: ids and prefixes only.
    let all = keys::list(&cfg, None, None).unwrap();
    let text = all.to_string();
    assert!(
        !text.contains(&key) && !text.contains(KEY) && !text.contains(DISABLED_KEY),
        "{text}"
    );
    assert_eq!(all.as_array().unwrap().len(), 3);
    let mine = keys::list(&cfg, Some("user-1"), Some("proj-1")).unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 3);
    let d = keys::get(&cfg, &key).unwrap();
    assert_eq!(d["key_id"], id.as_str());
    assert_eq!(d["storage"], "hashed");
    assert_eq!(d["project_name"], "p");
    // By id too, with or without the prefix.
    assert_eq!(keys::get(&cfg, &id).unwrap()["key_id"], id.as_str());
    assert_eq!(
        keys::get(&cfg, &format!("mgw_{id}")).unwrap()["key_id"],
        id.as_str()
    );
    // A key carrying the id but not the secret is not that key.
    assert!(keys::get(&cfg, &format!("mgw_{id}_wrongsecret")).is_err());

    keys::set_disabled(&cfg, &key, true).unwrap();
    assert_eq!(resolve(&cfg, &key), Err(KeyError::Disabled));
    keys::set_disabled(&cfg, &id, false).unwrap();
    assert_eq!(resolve(&cfg, &key), Ok(()));

    // Rotation: at once, or with a grace period.
    let r = keys::rotate(&cfg, &key, None).unwrap();
    let new = r["new_api_key"].as_str().unwrap().to_string();
    assert_eq!(resolve(&cfg, &key), Err(KeyError::Unknown));
    assert_eq!(resolve(&cfg, &new), Ok(()));
    let r = keys::rotate(&cfg, &new, Some(3600)).unwrap();
    let newer = r["new_api_key"].as_str().unwrap().to_string();
    assert!(r["old_key_expires_at"].as_u64().is_some());
    assert_eq!(
        resolve(&cfg, &new),
        Ok(()),
        "the old key works during its grace"
    );
    assert_eq!(resolve(&cfg, &newer), Ok(()));
    // Past its expiry, refused as expired.
    let mut doc: Value = serde_json::from_str(&file_text(&cfg)).unwrap();
    let old_id = gateway::config::keystore::key_id(&new).unwrap().to_string();
    doc["apikey_hashes"][&old_id]["expires_at"] = json!(1);
    std::fs::write(&cfg, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    assert_eq!(resolve(&cfg, &new), Err(KeyError::Expired));

    keys::delete(&cfg, &newer).unwrap();
    assert_eq!(resolve(&cfg, &newer), Err(KeyError::Unknown));
    let n = keys::delete_all(&cfg, "user-1").unwrap();
    assert_eq!(n["deleted"], 3, "{n}");
    assert_eq!(resolve(&cfg, KEY), Err(KeyError::Unknown));

    // Errors name nothing secret and change nothing.
    let before = file_text(&cfg);
    let e = keys::set_disabled(&cfg, "mgw_zzzzzzzzzzzz_secretpartsecretpart", true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found") && !e.contains("secretpart"), "{e}");
    let e = keys::delete(&cfg, "some-long-plain-key-0123456789abcdef")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("0123456789abcdef"), "{e}");
    assert!(keys::generate(&cfg, "nobody@example.com", "p").is_err());
    assert_eq!(file_text(&cfg), before);
}

#[test]
fn plain_keys_keep_working_and_migrate_to_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    assert_eq!(resolve(&cfg, KEY), Ok(()));
    let m = keys::migrate(&cfg).unwrap();
    assert_eq!(m["migrated"], 2);
    let text = file_text(&cfg);
    assert!(
        !text.contains(KEY) && !text.contains(DISABLED_KEY),
        "{text}"
    );
    assert_eq!(resolve(&cfg, KEY), Ok(()));
    assert_eq!(resolve(&cfg, DISABLED_KEY), Err(KeyError::Disabled));
    // A migrated key is found by its full text too.
    assert_eq!(keys::get(&cfg, KEY).unwrap()["storage"], "hashed");
    // Without the secret beside it, the file does not load (the keys could not work).
    std::fs::remove_file(dir.path().join("enkrypt_gateway_keys.secret")).unwrap();
    let e = load(&cfg).unwrap_err().to_string();
    assert!(e.contains("secret"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_gateway_follows_key_operations_at_its_next_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let g = keys::generate(&cfg, "user-1", "proj-1").unwrap();
    let key = g["api_key"].as_str().unwrap().to_string();
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), &key).await.unwrap();
    let (err, text, _) = call(&client, "echo", json!({ "message": "hashed" })).await;
    assert!(!err && text == "hashed", "{text}");

    // Disabled by the operator: the open session ends within a reload.
    keys::set_disabled(&cfg, &key, true).unwrap();
    let http = reqwest::Client::new();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http
            .post(gw.url())
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(init)
            .send()
            .await
            .unwrap();
        if r.status() == 401 {
            let body: Value = r.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("disabled"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disabled key still opens sessions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Rotated: the new key works in the running gateway, the old one does not.
    keys::set_disabled(&cfg, &key, false).unwrap();
    let r = keys::rotate(&cfg, &key, None).unwrap();
    let new = r["new_api_key"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    let client = loop {
        if let Ok(c) = connect_http(&gw.url(), &new).await {
            break c;
        }
        assert!(Instant::now() < deadline, "the rotated key is not accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (err, text, _) = call(&client, "echo", json!({ "message": "rotated" })).await;
    assert!(!err && text == "rotated", "{text}");
    assert!(connect_http(&gw.url(), &key).await.is_err());
}

/// Runs the CLI on `cfg`; returns (exit code, stdout, stderr).
fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(gateway_bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli_json(cfg: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli(cfg, &a);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_commands_as_the_reference_spells_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let g = cli_json(
        &cfg,
        &[
            "user",
            "generate-api-key",
            "--email",
            "u@example.com",
            "--project-name",
            "p",
        ],
    );
    let key = g["api_key"].as_str().unwrap().to_string();
    assert!(!file_text(&cfg).contains(&key));
    // Without --json: the key once, and a reminder that it is not kept.
    let (code, out, _) = cli(
        &cfg,
        &[
            "user",
            "generate-api-key",
            "--user-id",
            "user-1",
            "--project-id",
            "proj-1",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("api_key: mgw_") && out.contains("shown once"),
        "{out}"
    );

    let listed = cli_json(&cfg, &["user", "list-api-keys", "--email", "u@example.com"]);
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let all = cli_json(&cfg, &["user", "list-all-api-keys"]);
    for secret in [key.as_str(), KEY, DISABLED_KEY] {
        assert!(!listed.to_string().contains(secret) && !all.to_string().contains(secret));
    }
    let d = cli_json(&cfg, &["user", "get-api-key", "--api-key", &key]);
    assert_eq!(d["user_email"], "u@example.com");

    // A running gateway follows what the CLI does, within a reload.
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), &key).await.unwrap();
    let (err, text, _) = call(&client, "echo", json!({ "message": "ok" })).await;
    assert!(!err && text == "ok", "{text}");
    let (code, out, _) = cli(&cfg, &["user", "disable-api-key", "--api-key", &key]);
    assert_eq!(code, 0);
    assert!(!out.contains(&key[12..]), "{out}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while connect_http(&gw.url(), &key).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "a key disabled by the CLI still connects"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cli_json(&cfg, &["user", "enable-api-key", "--api-key", &key]);

    // Rotation with a grace period (the seeds' `apikey rotate` and the reference's spelling).
    let r = cli_json(
        &cfg,
        &[
            "user",
            "rotate-api-key",
            "--api-key",
            &key,
            "--grace",
            "600",
        ],
    );
    let new = r["new_api_key"].as_str().unwrap().to_string();
    assert_eq!(resolve(&cfg, &key), Ok(()));
    assert_eq!(resolve(&cfg, &new), Ok(()));
    let r = cli_json(&cfg, &["apikey", "rotate", "--api-key", &new]);
    let newer = r["new_api_key"].as_str().unwrap().to_string();
    assert_eq!(resolve(&cfg, &new), Err(KeyError::Unknown));
    assert_eq!(resolve(&cfg, &newer), Ok(()));

    // Plain keys to hashes; errors are one line, exit 1, the file untouched.
    let m = cli_json(&cfg, &["user", "migrate-api-keys"]);
    assert_eq!(m["migrated"], 2);
    assert!(!file_text(&cfg).contains(KEY));
    let before = file_text(&cfg);
    let (code, out, err) = cli(
        &cfg,
        &["user", "delete-api-key", "--api-key", "mgw_nosuchkey000_x"],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(file_text(&cfg), before);
    let n = cli_json(
        &cfg,
        &["user", "delete-all-api-keys", "--user-id", "user-1"],
    );
    assert_eq!(n["deleted"], 5, "{n}");
    client.cancel().await.ok();
}
