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

/// Opens the session's GET stream with `key` (none: no key sent).
async fn get_stream(
    http: &reqwest::Client,
    gw: &HttpGateway,
    key: Option<&str>,
    sid: &str,
) -> reqwest::Response {
    let mut req = http
        .get(gw.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", sid);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
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
    let stream = get_stream(&http, &gw, Some(KEY), &s_disabled).await;
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
async fn a_session_answers_only_the_key_that_opened_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // Another valid key, same project and user.
    let other = "other-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
    edit_config(&cfg, |v| {
        v["apikeys"][other] = json!({ "project_id": "proj-1", "user_id": "user-1" });
    });
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let sid = open_session(&http, &gw, KEY).await;
    // The other key works on a session of its own...
    let mine = open_session(&http, &gw, other).await;
    assert_eq!(post(&http, &gw, other, Some(&mine), LIST).await.0, 200);
    // ...and is refused on this one: POST, the GET stream, DELETE.
    let (status, body) = post(&http, &gw, other, Some(&sid), LIST).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        get_stream(&http, &gw, Some(other), &sid).await.status(),
        401
    );
    let delete = http
        .delete(gw.url())
        .bearer_auth(other)
        .header("mcp-session-id", &sid);
    assert_eq!(delete.send().await.unwrap().status(), 401);
    // No key at all on the GET stream: refused too.
    assert_eq!(get_stream(&http, &gw, None, &sid).await.status(), 401);
    // The session is untouched: its own key still works.
    let (status, body) = post(&http, &gw, KEY, Some(&sid), LIST).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["tools"].is_array(), "{body}");
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

/// A config whose HTTP limits are small enough to reach in a test.
fn limited_config(dir: &Path) -> std::path::PathBuf {
    let cfg = demo_config(dir);
    edit_config(&cfg, |v| {
        v["common_mcp_gateway_config"]["enkrypt_http_limits"] = json!({
            "max_connections": 40,
            "max_sessions_per_key": 3,
            "max_batch": 4,
            "header_timeout_seconds": 2,
            "body_timeout_seconds": 2,
        });
    });
    cfg
}

/// Sends `head` (and `body`) on a new connection; returns what the server answered before
/// closing, or within `wait`.
async fn raw(port: u16, head: &str, body: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                // One whole response is enough.
                let text = String::from_utf8_lossy(&out);
                if let Some((h, b)) = text.split_once("\r\n\r\n") {
                    let len = h.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    });
                    if len.is_some_and(|l| b.len() >= l) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_cost_nothing_and_every_cap_answers_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = limited_config(dir.path());
    let gw = start_http(&cfg);
    let port = gw.port;
    let http = reqwest::Client::new();

    // No key, a 100 MB body announced and never sent: 401 at once, the body not awaited.
    let started = Instant::now();
    let r = raw(
        port,
        &format!("POST /mcp/ HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n"),
        b"",
        Duration::from_secs(10),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A valid key and a body that stops coming: 408 after the body timeout.
    let r = raw(
        port,
        &format!("POST /mcp/ HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"),
        b"{\"jsonrpc\":",
        Duration::from_secs(10),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert!(r.contains("no part of the body came"), "{r}");

    // Headers that never end: the connection is closed after the header timeout.
    let started = Instant::now();
    let r = raw(
        port,
        &format!("POST /mcp/ HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-slow: "),
        b"",
        Duration::from_secs(10),
    )
    .await;
    assert!(!r.contains(" 200 "), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "held {:?}",
        started.elapsed()
    );

    // A batch past max_batch.
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
        .collect();
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 4"),
        "{body}"
    );

    // Sessions per key: the fourth is refused until one ends.
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(open_session(&http, &gw, KEY).await);
    }
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sessions"),
        "{body}"
    );
    let r = http
        .delete(gw.url())
        .bearer_auth(KEY)
        .header("mcp-session-id", &sessions[0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    open_session(&http, &gw, KEY).await;

    // Connections past max_connections: 503, and the gateway serves again once they go.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = raw(
        port,
        &format!("GET /health HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n"),
        b"",
        Duration::from_secs(5),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.contains("too many connections"), "{r}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = raw(
        port,
        &format!("GET /health HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"),
        b"",
        Duration::from_secs(5),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_requests_do_not_stop_a_normal_client() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let port = gw.port;
    // 1 000 connections, each with a request whose headers trickle in a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(format!("POST /mcp/ HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-a: ").as_bytes())
            .await
            .unwrap();
        slow.push(s);
    }
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for _ in 0..5 {
            for s in &mut slow {
                let _ = s.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        slow
    });
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    for i in 0..20 {
        let (err, text, _) =
            call(&client, "demo__echo", json!({ "message": format!("m{i}") })).await;
        assert!(!err, "{text}");
        assert_eq!(text, format!("m{i}"));
    }
    let slow = trickle.await.unwrap();
    assert_eq!(slow.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_server_definition_drops_its_cached_tools_at_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let names = tool_names(&client).await;
    assert!(names.iter().any(|n| n == "add"), "{names:?}");
    // Same name, another server: the tenant fixture (tools ask, slow, log, ...).
    let fixture = format!(
        "{}/tests/fixtures/tenant_upstream.py",
        env!("CARGO_MANIFEST_DIR")
    );
    edit_config(&cfg, |v| {
        v["mcp_configs"]["cfg-1"]["mcp_config"][0]["config"] =
            json!({ "command": "python3", "args": [fixture] });
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let names = tool_names(&client).await;
        if names.iter().any(|n| n == "slow" || n == "demo__slow") {
            assert!(!names.iter().any(|n| n == "add"), "{names:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still the old server's tools after the reload: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
