//! The gateway end to end: an independent MCP client (`rmcp`) through the real
//! `secure-mcp-gateway` binary to real upstream servers, over every transport pairing.

mod common_gw;

use std::time::{Duration, Instant};

use common_gw::*;
use serde_json::{json, Value};

async fn exercise(client: &Client) {
    let names = tool_names(client).await;
    // `echo` exists on both servers: prefixed. `add` only on the demo: its own name.
    for expected in [
        "enkrypt_list_all_servers",
        "enkrypt_secure_call_tools",
        "demo__echo",
        "everything__echo",
        "add",
        "get-sum",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "echo" || n == "demo__add"),
        "{names:?}"
    );
    // Direct calls, prefixed because both servers have `echo`.
    let (err, text, _) = call(
        client,
        "demo__echo",
        json!({ "message": "through the gateway" }),
    )
    .await;
    assert!(!err);
    assert_eq!(text, "through the gateway");
    let (err, text, _) = call(
        client,
        "everything__echo",
        json!({ "message": "hello npm" }),
    )
    .await;
    assert!(!err, "{text}");
    assert!(text.contains("hello npm"), "{text}");
    // Structured output survives; the prefixed form of an unprefixed tool works too.
    for name in ["add", "demo__add"] {
        let (_, _, v) = call(client, name, json!({ "a": 2, "b": 40 })).await;
        assert_eq!(v.pointer("/structuredContent/sum"), Some(&json!(42)), "{v}");
    }
    // Meta tool with the reference's result shape.
    let (err, text, _) = call(client, "enkrypt_secure_call_tools", json!({ "server_name": "demo", "tool_calls": [{ "name": "echo", "args": { "message": "meta" } }] })).await;
    assert!(!err);
    let r: Value = serde_json::from_str(&text).expect("meta tools answer JSON text");
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(r["summary"]["successful_calls"], 1, "{r}");
    assert_eq!(r["results"][0]["response"], "meta", "{r}");
    let (_, text, _) = call(
        client,
        "enkrypt_list_all_servers",
        json!({ "discover_tools": false }),
    )
    .await;
    let r: Value = serde_json::from_str(&text).unwrap();
    assert!(
        r["available_servers"].get("demo").is_some()
            && r["available_servers"].get("everything").is_some(),
        "{r}"
    );
    // Unknown tools are a protocol error, not a crash.
    let mut p = rmcp::model::CallToolRequestParams::new("nope__nothing");
    p = p.with_arguments(serde_json::Map::new());
    assert!(client.call_tool(p).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_matrix() {
    let (_demo, demo_url) = demo_http();
    let (_every, every_url) = everything_http();
    let everything = everything_bin();
    let dir = tempfile::tempdir().unwrap();
    // A: demo over stdio, everything over HTTP. B: demo over HTTP, everything over stdio.
    let a = write_config(
        &dir.path().join("a").tap_mkdir(),
        vec![
            stdio_server("demo", gateway_bin(), &["demo-server"]),
            http_server("everything", &every_url),
        ],
        json!({}),
    );
    let b = write_config(
        &dir.path().join("b").tap_mkdir(),
        vec![
            http_server("demo", &demo_url),
            stdio_server("everything", &everything, &[]),
        ],
        json!({}),
    );
    for cfg in [&a, &b] {
        // Downstream HTTP.
        let gw = start_http(cfg);
        let client = connect_http(&gw.url(), KEY)
            .await
            .expect("HTTP client connects");
        exercise(&client).await;
        client.cancel().await.ok();
        // Downstream stdio.
        let client = connect_stdio(cfg, KEY)
            .await
            .expect("stdio client connects");
        exercise(&client).await;
        client.cancel().await.ok();
    }
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_refused_without_a_valid_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    for key in [None, Some("wrong-key"), Some(DISABLED_KEY)] {
        let mut req = http.post(gw.url()).json(&init);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "key {key:?}");
        assert!(r.headers().get("www-authenticate").is_some());
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].is_string());
    }
    // The other header forms work.
    for h in ["apikey", "ENKRYPT_GATEWAY_KEY"] {
        let r = http
            .post(gw.url())
            .header(h, KEY)
            .json(&init)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{h}");
        assert!(r.headers().get("mcp-session-id").is_some());
    }
    // A session cannot be used with another key.
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .json(&init)
        .send()
        .await
        .unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let r = http
        .post(gw.url())
        .bearer_auth(DISABLED_KEY)
        .header("mcp-session-id", &sid)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An unknown session is 404; DNS rebinding is 403.
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("mcp-session-id", "nope")
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("host", "evil.example.com")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("origin", "https://evil.example.com")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The 2026-07-28 stateless form: no session, the version in `_meta`.
    let discover = json!({"jsonrpc":"2.0","id":5,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}});
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .json(&discover)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "2025-11-25"),
        "{body}"
    );
    let call = json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"message":"stateless"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}});
    let body: Value = http
        .post(gw.url())
        .bearer_auth(KEY)
        .json(&call)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "stateless", "{body}");
    // Bad JSON is a JSON-RPC parse error, not a crash.
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
    // stdio: a bad key in the environment gets no tool.
    assert!(connect_stdio(&cfg, "wrong-key").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_and_hanging_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let (_every, every_url) = everything_http();
    let cfg = write_config(
        dir.path(),
        vec![
            stdio_server("demo", gateway_bin(), &["demo-server"]),
            http_server("everything", &every_url),
        ],
        json!({ "timeout_settings": { "tool_execution_timeout": 1 } }),
    );
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let (err, _, _) = call(&client, "demo__echo", json!({ "message": "before" })).await;
    assert!(!err);
    // The upstream process dies mid-call: a clear error for that call only.
    let t = Instant::now();
    let (err, text, _) = call(&client, "demo__crash", json!({})).await;
    assert!(err, "{text}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // ... and it is restarted for the next call.
    let (err, text, _) = call(&client, "demo__echo", json!({ "message": "after" })).await;
    assert!(!err, "{text}");
    assert_eq!(text, "after");
    // A hung call times out after tool_execution_timeout, without blocking other upstreams.
    let slow = {
        let c = client.peer().clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let mut p = rmcp::model::CallToolRequestParams::new("demo__sleep");
            p = p.with_arguments(json!({ "ms": 10_000 }).as_object().unwrap().clone());
            let r = c.call_tool(p).await;
            (t.elapsed(), r.map(|r| serde_json::to_value(&r).unwrap()))
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let (err, _, _) = call(
        &client,
        "everything__echo",
        json!({ "message": "still here" }),
    )
    .await;
    assert!(!err);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "other upstream blocked: {:?}",
        t.elapsed()
    );
    let (took, r) = slow.await.unwrap();
    let v = r.expect("a tool error result, not a protocol failure");
    assert_eq!(v["isError"], true, "{v}");
    assert!(
        v["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{v}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Health lists the upstreams.
    let h: Value = reqwest::get(format!("http://127.0.0.1:{}/health", gw.port))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["cache"]["backend"], "Embedded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_guardrails_guard_offline_or_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut pii = stdio_server("pii", gateway_bin(), &["demo-server"]);
    pii["input_guardrails_config"] =
        json!({ "enabled": true, "policy_name": "p", "block": ["pii"] });
    // `toxicity` needs a model (or a keyword list) and no remote provider is configured.
    let mut tox = stdio_server("tox", gateway_bin(), &["demo-server"]);
    tox["input_guardrails_config"] =
        json!({ "enabled": true, "policy_name": "p", "block": ["toxicity"] });
    let cfg = write_config(dir.path(), vec![pii, tox], json!({}));
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let (err, text, _) = call(&client, "pii__echo", json!({ "message": "x" })).await;
    assert!(!err, "{text}");
    let (err, text, _) = call(
        &client,
        "pii__echo",
        json!({ "message": "mail me at ada@lovelace-labs.io" }),
    )
    .await;
    assert!(err && text.contains("pii"), "{text}");
    let (err, text, _) = call(&client, "tox__echo", json!({ "message": "x" })).await;
    assert!(err, "{text}");
    assert!(
        text.contains("fails closed") && text.contains("toxicity"),
        "{text}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // stdio: garbage, a non-request, an unknown method, then a working ping; nothing crashes.
    let mut child = tokio::process::Command::from(stdio_command(&cfg, KEY))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin
        .write_all(b"{not json\n[]\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(serde_json::from_str::<Value>(&line).expect("only JSON-RPC on stdout"));
    }
    let code_of = |id: Value| {
        got.iter()
            .find(|m| m["id"] == id)
            .map(|m| m["error"]["code"].clone())
    };
    assert!(got.iter().any(|m| m["error"]["code"] == -32700), "{got:?}");
    assert!(got.iter().any(|m| m["error"]["code"] == -32600), "{got:?}");
    assert_eq!(code_of(json!(1)), Some(json!(-32601)));
    assert!(
        got.iter().any(|m| m["id"] == 2 && m["result"] == json!({})),
        "{got:?}"
    );
    // HTTP: an oversized body is refused without being kept, and the client, still writing
    // its body when the limit (16 MiB) passes, gets the answer rather than a reset.
    let gw = start_http(&cfg);
    let big = vec![b' '; 40 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("the 413 arrives, not a broken connection");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("larger than 16 MiB")),
        "{v}"
    );
}

/// A stdio gateway exits once its client closes standard input, as MCP's stdio shutdown
/// prescribes: it must not linger after Claude Desktop or Cursor let go of it.
#[test]
fn stdio_gateway_exits_when_stdin_closes() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let mut child = stdio_command(&cfg, KEY).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(RAW_HANDSHAKE.as_bytes()).unwrap();
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__echo","arguments":{"message":"last words"}}});
    writeln!(stdin, "{call}").unwrap();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        answers.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(
        answers
            .iter()
            .any(|a| a["id"] == 2 && a.to_string().contains("last words")),
        "{answers:?}"
    );
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the stdio gateway still runs 10 s after its standard input closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
