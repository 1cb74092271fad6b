//! MCP features through the gateway beyond tools: resources, prompts, progress over an SSE
//! answer, cancellation, a config file changed while clients are connected, and servers whose
//! tools change (`notifications/tools/list_changed`, `fixtures/changing_upstream.py`).

mod common_gw;

use std::time::{Duration, Instant};

use common_gw::*;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_prompts_are_routed() {
    let (_every, every_url) = everything_http();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        vec![
            stdio_server("demo", gateway_bin(), &["demo-server"]),
            http_server("everything", &every_url),
        ],
        json!({}),
    );
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let resources = client.list_all_resources().await.unwrap();
    assert!(
        resources.iter().any(|r| r.uri == "demo://readme"),
        "{resources:?}"
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new("demo://readme"))
        .await
        .unwrap();
    let v = serde_json::to_value(&read).unwrap();
    assert!(
        v["contents"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<String> = prompts.iter().map(|p| p.name.to_string()).collect();
    assert!(names.contains(&"demo__greeting".to_string()), "{names:?}");
    let mut p = GetPromptRequestParams::new("demo__greeting");
    p.arguments = json!({ "name": "Ada" }).as_object().cloned();
    let got = serde_json::to_value(client.get_prompt(p).await.unwrap()).unwrap();
    assert!(got.to_string().contains("Ada"), "{got}");
    client.cancel().await.ok();
}

/// POSTs a message in a session, with the gateway key and this `Accept`.
async fn post(
    http: &reqwest::Client,
    url: &str,
    sid: &str,
    accept: &str,
    body: Value,
) -> reqwest::Response {
    http.post(url)
        .bearer_auth(KEY)
        .header("mcp-session-id", sid)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn raw_session(url: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::new();
    let r = http
        .post(url)
        .bearer_auth(KEY)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}))
        .send()
        .await
        .unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    (http, sid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_streams_and_cancellation_stops_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let (http, sid) = raw_session(&gw.url()).await;
    // Progress: the answer switches to an SSE stream carrying the notifications, then the result.
    let r = post(&http, &gw.url(), &sid, "application/json, text/event-stream", json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":"tok-1"}}})).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let body = r.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{body}");
    assert!(progress
        .iter()
        .all(|p| p["params"]["progressToken"] == "tok-1"));
    assert_eq!(events.last().unwrap()["id"], 2, "{body}");
    // Without SSE in Accept, the same call is a plain JSON answer.
    let r = post(&http, &gw.url(), &sid, "application/json", json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress","arguments":{"steps":2},"_meta":{"progressToken":"tok-2"}}})).await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], 3);
    // Cancellation: a long call is abandoned, and the upstream is told.
    let slow = {
        let (http, sid, url) = (http.clone(), sid.clone(), gw.url());
        tokio::spawn(async move {
            let t = Instant::now();
            let r = post(&http, &url, &sid, "application/json", json!({"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"sleep","arguments":{"ms":10000}}})).await;
            (t.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .post(gw.url())
        .bearer_auth(KEY)
        .header("mcp-session-id", &sid)
        .json(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow-1","reason":"user"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (took, v) = slow.await.unwrap();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(v["error"]["code"], -32800, "{v}");
    // The demo server saw the cancellation (its `stats` tool lists cancelled request ids).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = post(&http, &gw.url(), &sid, "application/json", json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"stats","arguments":{}}})).await;
        let v: Value = r.json().await.unwrap();
        if v["result"]["structuredContent"]["cancelled"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the upstream was not told: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_is_picked_up_without_dropping_sessions() {
    let (_every, every_url) = everything_http();
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    write_config(
        dir.path(),
        vec![
            stdio_server("demo", gateway_bin(), &["demo-server"]),
            http_server("everything", &every_url),
        ],
        json!({}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = tool_names(&client).await;
        if names.contains(&"everything__echo".to_string())
            && names.contains(&"demo__echo".to_string())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new server never appeared: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The same session still calls tools.
    let (err, text, _) = call(&client, "demo__echo", json!({ "message": "same session" })).await;
    assert!(!err && text == "same session", "{text}");
    // An invalid file keeps the last good config.
    std::fs::write(dir.path().join("enkrypt_mcp_config.json"), b"{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (err, text, _) = call(&client, "demo__echo", json!({ "message": "still" })).await;
    assert!(!err && text == "still", "{text}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_an_upstream_keep_their_own_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let gw = start_http(&cfg);
    let mut runs = Vec::new();
    // Two sessions, the same token, different step counts, at the same time.
    for steps in [3u64, 5] {
        let url = gw.url();
        runs.push(tokio::spawn(async move {
            let (http, sid) = raw_session(&url).await;
            let body = post(&http, &url, &sid, "application/json, text/event-stream", json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":steps},"_meta":{"progressToken":"same"}}})).await
                .text()
                .await
                .unwrap();
            let progress = body
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .map(|d| serde_json::from_str::<Value>(d).unwrap())
                .filter(|e| e["method"] == "notifications/progress")
                .inspect(|e| assert_eq!(e["params"]["progressToken"], "same"))
                .count();
            (steps, progress)
        }));
    }
    for r in runs {
        let (steps, got) = r.await.unwrap();
        assert_eq!(got as u64, steps);
    }
}

/// An MCP client that can sample, elicit and list roots, recording what servers asked it.
#[derive(Clone, Default)]
struct Assistant {
    asked: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

// Sampling and roots are deprecated from 2026-07-28 on; clients of the earlier versions the
// gateway serves still use them.
#[allow(deprecated)]
impl rmcp::ClientHandler for Assistant {
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        self.asked
            .lock()
            .unwrap()
            .push(json!({ "sampling": serde_json::to_value(&params).unwrap() }));
        Ok(serde_json::from_value(json!({
            "role": "assistant",
            "content": { "type": "text", "text": "sampled by the test client" },
            "model": "test-model",
            "stopReason": "endTurn"
        }))
        .unwrap())
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        self.asked
            .lock()
            .unwrap()
            .push(json!({ "elicitation": serde_json::to_value(&request).unwrap() }));
        Ok(serde_json::from_value(json!({
            "action": "accept",
            "content": { "name": "Ada Lovelace", "check": true, "integer": 7 }
        }))
        .unwrap())
    }

    async fn list_roots(
        &self,
        _: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        Ok(serde_json::from_value(
            json!({ "roots": [{ "uri": "file:///work/project", "name": "project" }] }),
        )
        .unwrap())
    }

    fn get_info(&self) -> rmcp::model::ClientConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "sampling": {}, "elicitation": {}, "roots": { "listChanged": true } },
            "clientInfo": { "name": "assistant", "version": "1" }
        }))
        .unwrap()
    }
}

/// Sampling, elicitation and roots asked by an upstream (the npm reference server) reach the
/// client that made the call, over both downstream transports, and its answers go back to the
/// upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_elicitation_and_roots_reach_the_calling_client() {
    let (_every, every_url) = everything_http();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        vec![http_server("everything", &every_url)],
        json!({}),
    );
    let gw = start_http(&cfg);
    for transport in ["http", "stdio"] {
        let me = Assistant::default();
        let client = if transport == "http" {
            connect_http_with(&gw.url(), KEY, me.clone()).await.unwrap()
        } else {
            connect_stdio_with(&cfg, KEY, me.clone()).await.unwrap()
        };
        let mut p = rmcp::model::CallToolRequestParams::new("everything__trigger-sampling-request");
        p = p.with_arguments(
            json!({ "prompt": format!("hello over {transport}") })
                .as_object()
                .cloned()
                .unwrap(),
        );
        let r = serde_json::to_value(client.call_tool(p).await.expect("sampling call")).unwrap();
        let text = r.to_string();
        assert!(
            text.contains("sampled by the test client"),
            "{transport}: {r}"
        );
        assert!(text.contains("test-model"), "{transport}: {r}");

        let p = rmcp::model::CallToolRequestParams::new("everything__trigger-elicitation-request");
        let r = serde_json::to_value(client.call_tool(p).await.expect("elicitation call")).unwrap();
        let text = r.to_string();
        assert!(text.contains("Name: Ada Lovelace"), "{transport}: {r}");
        assert!(text.contains("Favorite Integer: 7"), "{transport}: {r}");

        // The server asks for the client's roots (roots/list) and lists them.
        let p = rmcp::model::CallToolRequestParams::new("everything__get-roots-list");
        let r = serde_json::to_value(client.call_tool(p).await.expect("roots call")).unwrap();
        assert!(
            r.to_string().contains("file:///work/project"),
            "{transport}: {r}"
        );

        let asked = me.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "{transport}: {asked:?}");
        assert!(
            asked[0]
                .to_string()
                .contains(&format!("hello over {transport}")),
            "{transport}: the sampling request carries the prompt: {asked:?}"
        );
        assert!(
            asked[1]["elicitation"]["requestedSchema"]["properties"]["name"].is_object(),
            "{transport}: {asked:?}"
        );
        client.cancel().await.ok();
    }
}

/// An MCP server over streamable HTTP that writes its answers pretty-printed (line breaks
/// between tokens) and puts fields no specification knows into its tool results.
async fn pretty_upstream() -> String {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    async fn mcp(body: axum::body::Bytes) -> axum::response::Response {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(id) = req.get("id").cloned() else {
            return StatusCode::ACCEPTED.into_response();
        };
        let result = match req["method"].as_str().unwrap_or_default() {
            "initialize" => json!({
                "protocolVersion": "2025-06-18",
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "pretty", "version": "1" }
            }),
            "tools/list" => json!({ "tools": [{
                "name": "lines",
                "description": "Two lines of text",
                "inputSchema": { "type": "object" }
            }] }),
            "tools/call" => json!({
                "content": [{ "type": "text", "text": "line one\nline two" }],
                "x-vendor": { "kept": true, "nested": [1, 2, { "deep": "yes" }] },
                // Whether the arguments arrived as the client wrote them (a re-serialized
                // value would spell the number 2.5).
                "x-args-verbatim": String::from_utf8_lossy(&body).contains(r#""arguments":{"n":2.50}"#)
            }),
            _ => json!({}),
        };
        let text =
            serde_json::to_string_pretty(&json!({ "jsonrpc": "2.0", "id": id, "result": result }))
                .unwrap();
        assert!(text.contains('\n'));
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/mcp", axum::routing::post(mcp));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A tool's arguments reach the upstream as the client wrote them, and its result reaches the
/// client as the upstream wrote it, fields unknown to MCP included, over stdio (one message per
/// line) and HTTP, even when the upstream's JSON spans lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_pass_through_whole() {
    let url = pretty_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), vec![http_server("pretty", &url)], json!({}));
    let gw = start_http(&cfg);
    let http = connect_http(&gw.url(), KEY).await.unwrap();
    let stdio = connect_stdio(&cfg, KEY).await.unwrap();
    for (transport, client) in [("http", &http), ("stdio", &stdio)] {
        let (is_error, text, whole) = tokio::time::timeout(
            Duration::from_secs(30),
            call(client, "pretty__lines", json!({})),
        )
        .await
        .unwrap_or_else(|_| panic!("{transport}: no answer within 30 s"));
        assert!(!is_error, "{transport}: {whole}");
        assert_eq!(text, "line one\nline two", "{transport}");
    }
    // rmcp keeps only the fields it knows; raw exchanges show the rest arrives too.
    let vendor = json!({ "kept": true, "nested": [1, 2, { "deep": "yes" }] });
    let mut child = stdio_command(&cfg, KEY).spawn().unwrap();
    {
        use std::io::{BufRead, Write};
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdin.write_all(RAW_HANDSHAKE.as_bytes()).unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"pretty__lines","arguments":{{"n":2.50}}}}}}"#).unwrap();
        let mut call = Value::Null;
        for _ in 0..2 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let v: Value = serde_json::from_str(&line).expect("one message per line");
            if v["id"] == 2 {
                call = v;
            }
        }
        assert_eq!(call["result"]["x-vendor"], vendor, "stdio: {call}");
        assert_eq!(call["result"]["x-args-verbatim"], true, "stdio: {call}");
        drop(stdin);
    }
    let _ = child.wait();
    // The raw HTTP answer is one line of JSON with the unknown fields.
    let (h, sid) = raw_session(&gw.url()).await;
    let r = h
        .post(gw.url())
        .bearer_auth(KEY)
        .header("mcp-session-id", &sid)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"pretty__lines","arguments":{"n":2.50}}}"#)
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.trim().contains('\n'), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], 9);
    assert_eq!(v["result"]["x-vendor"], vendor, "http: {v}");
    assert_eq!(v["result"]["x-args-verbatim"], true, "http: {v}");
    http.cancel().await.ok();
    stdio.cancel().await.ok();
}

/// A server of `fixtures/changing_upstream.py` named `changing` (`env`: its environment).
fn changing_config(dir: &std::path::Path, env: Value) -> std::path::PathBuf {
    let script = format!(
        "{}/tests/fixtures/changing_upstream.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let server = json!({
        "server_name": "changing",
        "description": "tools that change",
        "config": { "command": "python3", "args": [script], "env": env },
        "tools": {}
    });
    write_config(dir, vec![server], json!({}))
}

/// Lists tools until one is named `tool` (unprefixed or as `changing__<tool>`); fails after
/// five seconds with the last list.
async fn until_listed(client: &Client, tool: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let names = tool_names(client).await;
        if names
            .iter()
            .any(|n| n == tool || *n == format!("changing__{tool}"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{tool}` never appeared (the cache kept an old list): {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_tools_change_is_listed_anew() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start_http(&changing_config(dir.path(), json!({})));
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let names = tool_names(&client).await;
    assert!(
        names.iter().any(|n| n.ends_with("add_tool")) && !names.iter().any(|n| n.ends_with('b')),
        "{names:?}"
    );
    // The server adds a tool and says so: the cached list goes, the next one has it.
    let add = names.iter().find(|n| n.ends_with("add_tool")).cloned();
    let (err, text, _) = call(&client, &add.unwrap_or_default(), json!({ "name": "b" })).await;
    assert!(!err && text == "added b", "{text}");
    until_listed(&client, "b").await;
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_changed_right_after_an_answer_are_not_left_stale() {
    // The server answers the first tools/list, then at once adds `late` and says so (one
    // write). The invalidation may run before the first answer is stored; the answer must not
    // stay in the cache then, or the old list would last the tool TTL (hours). That order is
    // rare here (the cache's unit test forces it); this checks the whole path.
    let dir = tempfile::tempdir().unwrap();
    let cfg = changing_config(dir.path(), json!({ "CHANGE_AFTER_FIRST_LIST": "1" }));
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let first = tool_names(&client).await;
    assert!(
        first.iter().any(|n| n.ends_with("add_tool")) && !first.iter().any(|n| n.ends_with("late")),
        "the first answer predates the change: {first:?}"
    );
    until_listed(&client, "late").await;
    client.cancel().await.ok();
}
