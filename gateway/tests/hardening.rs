//! Access and isolation, end to end through the real binary: revoked keys end their sessions
//! at once (HTTP and stdio), a session follows its key to another project, loopback checks are
//! exact, the reference's identity headers must match the key's.

mod common_gw;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common_gw::*;
use serde_json::{json, Value};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// Rewrites the config file through `edit`.
fn edit_config(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// POSTs `body` on a session; returns (status, body).
async fn post(
    http: &reqwest::Client,
    gw: &HttpGateway,
    key: &str,
    sid: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut req = http
        .post(gw.url())
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(s) = sid {
        req = req.header("mcp-session-id", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

async fn open_session(http: &reqwest::Client, gw: &HttpGateway, key: &str) -> String {
    let r = http
        .post(gw.url())
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

/// Polls `tools/list` on the session until it is refused; returns the refusal's status.
async fn until_refused(http: &reqwest::Client, gw: &HttpGateway, key: &str, sid: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = post(http, gw, key, Some(sid), LIST).await;
        if status != 200 {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the session still works 15 s after its key was revoked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_end_their_http_sessions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // A second and third key on the same project and user.
    let rotated = "rotated-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG";
    let deleted = "deleted-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG";
    edit_config(&cfg, |v| {
        for k in [rotated, deleted] {
            v["apikeys"][k] = json!({ "project_id": "proj-1", "user_id": "user-1" });
        }
    });
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let s_disabled = open_session(&http, &gw, KEY).await;
    let s_deleted = open_session(&http, &gw, deleted).await;
    let s_rotated = open_session(&http, &gw, rotated).await;
    for (k, s) in [
        (KEY, &s_disabled),
        (deleted, &s_deleted),
        (rotated, &s_rotated),
    ] {
        let (status, body) = post(&http, &gw, k, Some(s), LIST).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["result"]["tools"].is_array(), "{body}");
    }
    // The session's GET stream is open while the key is revoked.
    let stream = http
        .get(gw.url())
        .bearer_auth(KEY)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s_disabled)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // Disabled in the file, deleted, and rotated (the entry's key replaced by a new one).
    let new_key = "new-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    edit_config(&cfg, |v| {
        v["apikeys"][KEY]["disabled"] = json!(true);
        let o = v["apikeys"].as_object_mut().unwrap();
        o.remove(deleted);
        let entry = o.remove(rotated).unwrap();
        o.insert(new_key.into(), entry);
    });
    let started = Instant::now();
    assert_eq!(until_refused(&http, &gw, KEY, &s_disabled).await, 404);
    // One reload ends all three (the watcher polls every second).
    for (k, s) in [(deleted, &s_deleted), (rotated, &s_rotated)] {
        let (status, body) = post(&http, &gw, k, Some(s), LIST).await;
        assert_eq!(status, 404, "{body}");
    }
    // The open stream ended with the session.
    let rest = tokio::time::timeout(Duration::from_secs(10), stream.bytes()).await;
    assert!(
        rest.is_ok(),
        "the GET stream of a revoked session stays open"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // The revoked keys open nothing; the new key does.
    for k in [KEY, deleted, rotated] {
        let r = http
            .post(gw.url())
            .bearer_auth(k)
            .header("content-type", "application/json")
            .body(INIT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{k}");
    }
    let s = open_session(&http, &gw, new_key).await;
    let (status, _) = post(&http, &gw, new_key, Some(&s), LIST).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_follows_its_key_to_another_project() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // A second mcp_config with no servers, and a project using it.
    edit_config(&cfg, |v| {
        v["mcp_configs"]["cfg-2"] = json!({ "mcp_config_name": "empty", "mcp_config": [] });
        v["projects"]["proj-2"] =
            json!({ "project_name": "p2", "mcp_config_id": "cfg-2", "users": ["user-1"] });
    });
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let sid = open_session(&http, &gw, KEY).await;
    let servers = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"enkrypt_list_all_servers","arguments":{}}}"#;
    let (_, body) = post(&http, &gw, KEY, Some(&sid), servers).await;
    assert!(body.to_string().contains("demo"), "{body}");
    edit_config(&cfg, |v| v["apikeys"][KEY]["project_id"] = json!("proj-2"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = post(&http, &gw, KEY, Some(&sid), LIST).await;
        assert_eq!(status, 200, "{body}");
        let names: Vec<&str> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        if !names.iter().any(|n| n.starts_with("demo__") || *n == "add") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session still sees the old project's servers: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads stdout lines until the response with `id`.
fn response(lines: &mut impl Iterator<Item = std::io::Result<String>>, id: u64) -> Value {
    for line in lines {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["id"] == id {
            return v;
        }
    }
    panic!("the gateway closed its output before answering {id}");
}

#[test]
fn revoked_keys_end_stdio_sessions_and_a_restored_key_works_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let mut child = Proc(stdio_command(&cfg, KEY).spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    stdin.write_all(RAW_HANDSHAKE.as_bytes()).unwrap();
    assert!(response(&mut lines, 1)["result"].is_object());
    let mut id = 10;
    let mut list = |stdin: &mut std::process::ChildStdin, lines: &mut _| {
        id += 1;
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#
        )
        .unwrap();
        response(lines, id)
    };
    assert!(list(&mut stdin, &mut lines)["result"]["tools"].is_array());
    edit_config(&cfg, |v| v["apikeys"][KEY]["disabled"] = json!(true));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = list(&mut stdin, &mut lines);
        if r.get("error").is_some() {
            assert_eq!(r["error"]["code"], -32002, "{r}");
            assert!(
                r["error"]["message"].as_str().unwrap().contains("disabled"),
                "{r}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still served after the key was disabled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Enabled again: the same client is served without restarting.
    edit_config(&cfg, |v| v["apikeys"][KEY]["disabled"] = json!(false));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = list(&mut stdin, &mut lines);
        if r["result"]["tools"].is_array() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not served after the key was enabled again: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stdio_reads_the_key_from_enkrypt_apikey_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let mut cmd = stdio_command(&cfg, "");
    cmd.env_remove("ENKRYPT_GATEWAY_KEY")
        .env("ENKRYPT_APIKEY", KEY);
    let mut child = Proc(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    stdin.write_all(RAW_HANDSHAKE.as_bytes()).unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#).unwrap();
    let r = response(&mut lines, 2);
    assert!(r["result"]["tools"].is_array(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_exact_loopback_hosts_and_origins_pass() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let port = gw.port;
    let send = |host: String, origin: Option<String>| {
        let mut req = http
            .post(gw.url())
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .header("host", host)
            .body(INIT);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    for host in [
        format!("127.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost.evil.example:{port}"),
        "evil.example".to_string(),
    ] {
        let r = send(host.clone(), None).await.unwrap();
        assert_eq!(r.status(), 403, "Host {host}");
    }
    for origin in [
        "http://127.evil.example",
        "http://localhost.evil.example:3000",
        "https://evil.example",
    ] {
        let r = send(format!("127.0.0.1:{port}"), Some(origin.into()))
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "Origin {origin}");
    }
    for (host, origin) in [
        (format!("127.0.0.1:{port}"), None),
        (
            format!("localhost:{port}"),
            Some("http://localhost:5173".to_string()),
        ),
        (
            format!("[::1]:{port}"),
            Some(format!("http://127.0.0.1:{port}")),
        ),
    ] {
        let r = send(host.clone(), origin.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "Host {host} Origin {origin:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_user_headers_must_be_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let init = |project: &str, user: &str| {
        http.post(gw.url())
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .header("project_id", project)
            .header("user_id", user)
            .body(INIT)
            .send()
    };
    let r = init("proj-1", "user-1").await.unwrap();
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    for (p, u) in [("proj-2", "user-1"), ("proj-1", "someone-else")] {
        let r = init(p, u).await.unwrap();
        assert_eq!(r.status(), 401, "{p} {u}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not match"),
            "{body}"
        );
        // Nor on an existing session.
        let r = http
            .post(gw.url())
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .header("mcp-session-id", &sid)
            .header("project_id", p)
            .header("user_id", u)
            .body(LIST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{p} {u}");
    }
    // stdio: ENKRYPT_PROJECT_ID / ENKRYPT_USER_ID.
    let mut cmd = stdio_command(&cfg, KEY);
    cmd.env("ENKRYPT_PROJECT_ID", "proj-2");
    let mut child = Proc(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    stdin.write_all(RAW_HANDSHAKE.as_bytes()).unwrap();
    let r = response(&mut lines, 1);
    assert_eq!(r["error"]["code"], -32002, "{r}");
}
