//! Upstream sessions against real MCP servers: our demo server (stdio through the
//! `secure-mcp-gateway demo-server` binary, streamable HTTP in-process) and the npm reference
//! server `@modelcontextprotocol/server-everything` over stdio, streamable HTTP and legacy SSE.
//!
//! The reference server's path comes from `MCP_SERVER_EVERYTHING` (set by `scripts/test.sh`),
//! else `target/npm/node_modules/.bin/mcp-server-everything`; a missing server fails the test.
//!
//! NOTE: the stdio demo tests need the `demo-server` subcommand of the `secure-mcp-gateway`
//! binary (`src/main.rs` / `src/cli.rs`), which must write nothing but MCP messages to stdout.

mod common_upstream;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use gateway::jsonrpc::{METHOD_NOT_FOUND, TIMEOUT_ERROR};
use gateway::upstream::{Pool, RequestCtx, Transport, Upstream, UpstreamError, UpstreamSpec};
use serde_json::{json, Value};

use common_upstream::*;

// ----- the demo server over stdio (needs `secure-mcp-gateway demo-server`) -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_handshake_tools_resources_prompts() {
    logs();
    let events = Arc::new(Events::default());
    let up = Upstream::connect(demo_spec("demo", &[]), events.clone())
        .await
        .expect("connect to `secure-mcp-gateway demo-server`");
    let info = up.server_info();
    assert_eq!(info["protocolVersion"], "2025-11-25");
    assert_eq!(info["serverInfo"]["name"], gateway::demo::SERVER_NAME);
    assert!(info["capabilities"]["tools"].is_object());
    assert_eq!(up.protocol_version(), "2025-11-25");

    let names = tool_names(&up).await;
    for t in ["echo", "add", "sleep", "crash", "progress", "sample", "env"] {
        assert!(names.iter().any(|n| n == t), "{t} missing from {names:?}");
    }
    let echo = call(&up, "echo", json!({ "message": "hello" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "hello");
    let sum = call(&up, "add", json!({ "a": 2, "b": 40 })).await.unwrap();
    assert_eq!(sum["structuredContent"]["sum"], 42);
    assert_eq!(text_of(&sum), "42");
    let unknown = call(&up, "nope", json!({})).await.unwrap();
    assert_eq!(unknown["isError"], true);

    match up.request("no/such", None, RequestCtx::default()).await {
        Err(UpstreamError::Rpc(e)) => assert_eq!(e.code, METHOD_NOT_FOUND),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    let res = up
        .request(
            "resources/read",
            Some(json!({ "uri": "demo://readme" })),
            RequestCtx::default(),
        )
        .await
        .unwrap();
    assert!(res["contents"][0]["text"]
        .as_str()
        .unwrap()
        .contains("demo"));
    let prompt = up
        .request(
            "prompts/get",
            Some(json!({ "name": "greeting", "arguments": { "name": "Ada" } })),
            RequestCtx::default(),
        )
        .await
        .unwrap();
    assert!(prompt["messages"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("Ada"));
    up.request("ping", None, RequestCtx::default())
        .await
        .unwrap();
    up.notify("notifications/roots/list_changed", None)
        .await
        .unwrap();

    up.close().await;
    assert!(!up.is_alive());
    assert_eq!(events.closed.load(Ordering::SeqCst), 1);
    match call(&up, "echo", json!({ "message": "x" })).await {
        Err(UpstreamError::Closed(_)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_concurrent_calls_are_not_serialized() {
    logs();
    let up = Upstream::connect(demo_spec("demo", &[]), Arc::new(Events::default()))
        .await
        .unwrap();
    assert_not_serialized(&up).await;
    assert_concurrent_echo(&up, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_crash_fails_in_flight_calls_and_the_pool_respawns() {
    logs();
    let events = Arc::new(Events::default());
    let pool = Pool::new(events.clone());
    let spec = demo_spec("crashy", &[]);
    let first = pool.get(&spec).await.expect("first connect");
    assert_eq!(pool.states(), vec![("crashy".to_string(), "ready")]);

    let slow = {
        let up = first.clone();
        tokio::spawn(async move { call(&up, "sleep", json!({ "ms": 10_000 })).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let crash = call(&first, "crash", json!({})).await;
    match &crash {
        Err(UpstreamError::Closed(why)) => assert!(why.contains("exit status: 3"), "{why}"),
        other => panic!("expected Closed with the exit status, got {other:?}"),
    }
    match slow.await.unwrap() {
        Err(UpstreamError::Closed(why)) => assert!(why.contains("exit status: 3"), "{why}"),
        other => panic!("the in-flight call should fail too, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!first.is_alive());
    assert_eq!(events.closed.load(Ordering::SeqCst), 1);
    assert_eq!(pool.states(), vec![("crashy".to_string(), "dead")]);
    let err = crash.unwrap_err().to_rpc();
    assert_eq!(err.code, -32000);

    let second = pool.get(&spec).await.expect("respawn");
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(second.is_alive());
    let echo = call(&second, "echo", json!({ "message": "again" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "again");
    assert_eq!(pool.states(), vec![("crashy".to_string(), "ready")]);
    assert!(pool.remove(&spec.pool_key()));
    assert!(pool.states().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_timeout_and_drop_send_cancelled() {
    logs();
    let mut spec = demo_spec("demo", &[]);
    spec.timeouts.request = Duration::from_millis(300);
    let up = Upstream::connect(spec, Arc::new(Events::default()))
        .await
        .unwrap();

    let started = Instant::now();
    let err = call(&up, "sleep", json!({ "ms": 10_000 }))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1300),
        "{took:?}"
    );
    assert_eq!(err.to_string(), "Upstream demo timed out after 300ms");
    assert_eq!(err.to_rpc().code, TIMEOUT_ERROR);

    // A caller that gives up (its future dropped) cancels too.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        up.request_with_timeout(
            "tools/call",
            Some(json!({ "name": "sleep", "arguments": { "ms": 10_000 } })),
            RequestCtx::default(),
            Duration::from_secs(30),
        ),
    )
    .await;
    assert!(gave_up.is_err());

    let cancelled = cancelled_ids(&up).await;
    assert_eq!(
        cancelled.len(),
        2,
        "the server saw these cancellations: {cancelled:?}"
    );
    assert!(
        cancelled.iter().all(Value::is_u64),
        "ids are the session's own: {cancelled:?}"
    );
    // The session is still usable.
    let echo = call(&up, "echo", json!({ "message": "still here" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_progress_and_sampling_reach_the_downstream() {
    logs();
    let up = Upstream::connect(demo_spec("demo", &[]), Arc::new(Events::default()))
        .await
        .unwrap();
    let ds = Arc::new(Recorder::default());
    let r = call_with(&up, "progress", json!({ "steps": 3 }), &ds, json!("tok-1"))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "completed 3 steps");
    let progress = ds.progress();
    assert_eq!(progress.len(), 3, "{progress:?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["progressToken"], "tok-1");
        assert_eq!(p["progress"], i as u64 + 1);
    }

    let r = call_with(&up, "sample", json!({ "prompt": "hello" }), &ds, json!(7))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "sampled: hello");
    assert_eq!(
        *ds.requests.lock(),
        vec!["sampling/createMessage".to_string()]
    );

    // With no client to ask, the server gets -32601 and reports a tool error.
    let r = call(&up, "sample", json!({ "prompt": "hello" }))
        .await
        .unwrap();
    assert_eq!(r["isError"], true);
    assert!(
        text_of(&r).contains("no client to handle sampling/createMessage"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stdio_env_reaches_the_child() {
    logs();
    let spec = demo_spec("demo", &[("DEMO_UPSTREAM_SECRET", "s3cret value")]);
    assert!(!format!("{spec:?}").contains("s3cret"));
    let up = Upstream::connect(spec, Arc::new(Events::default()))
        .await
        .unwrap();
    let r = call(&up, "env", json!({ "name": "DEMO_UPSTREAM_SECRET" }))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "s3cret value");
    // The inherited environment is still there.
    let r = call(&up, "env", json!({ "name": "PATH" })).await.unwrap();
    assert_eq!(r.get("isError"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_connects_once_for_concurrent_callers() {
    logs();
    let pool = Arc::new(Pool::new(Arc::new(Events::default())));
    let spec = demo_spec("shared", &[]);
    let gets = (0..6).map(|_| {
        let pool = pool.clone();
        let spec = spec.clone();
        async move { pool.get(&spec).await.unwrap() }
    });
    let ups = join_all(gets).await;
    assert!(ups.iter().all(|u| Arc::ptr_eq(u, &ups[0])));
    assert_eq!(pool.states(), vec![("shared".to_string(), "ready")]);
    // Another definition of the same name is another session.
    let other = demo_spec("shared", &[("X", "1")]);
    let u2 = pool.get(&other).await.unwrap();
    assert!(!Arc::ptr_eq(&u2, &ups[0]));
    assert_eq!(pool.states().len(), 2);
    pool.close_all().await;
    assert!(!ups[0].is_alive() && !u2.is_alive());

    // A failed connect is reported to every waiter and not kept: the next get tries again.
    let broken = UpstreamSpec {
        name: "broken".into(),
        transport: Transport::Stdio {
            command: "/nonexistent/mcp-server".into(),
            args: vec![],
            env: vec![],
        },
        timeouts: timeouts(),
    };
    for _ in 0..2 {
        let errs = join_all((0..3).map(|_| pool.get(&broken))).await;
        assert!(errs
            .iter()
            .all(|r| matches!(r, Err(UpstreamError::Spawn(_)))));
        assert_eq!(pool.states(), vec![("broken".to_string(), "dead")]);
    }
}

// ----- start failures -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_start_failures() {
    logs();
    let spec = |command: &str, args: &[&str]| UpstreamSpec {
        name: "broken".into(),
        transport: Transport::Stdio {
            command: command.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
        },
        timeouts: timeouts(),
    };
    match Upstream::connect(
        spec("/nonexistent/mcp-server", &[]),
        Arc::new(Events::default()),
    )
    .await
    {
        Err(UpstreamError::Spawn(why)) => assert!(why.contains("broken"), "{why}"),
        other => panic!("expected Spawn, got {other:?}"),
    }
    let started = Instant::now();
    match Upstream::connect(
        spec("sh", &["-c", "echo not json; exit 7"]),
        Arc::new(Events::default()),
    )
    .await
    {
        Err(UpstreamError::Closed(why)) => assert!(why.contains("exit status: 7"), "{why}"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // A server that never answers initialize: the discovery timeout.
    let mut silent = spec("sleep", &["30"]);
    silent.timeouts.discovery = Duration::from_millis(300);
    let err = Upstream::connect(silent, Arc::new(Events::default()))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connect_failures() {
    logs();
    let port = testkit::free_port();
    let spec = UpstreamSpec {
        name: "down".into(),
        transport: Transport::StreamableHttp {
            url: format!("http://127.0.0.1:{port}/mcp?token=secret-in-query"),
            headers: vec![("Authorization".into(), "Bearer hidden".into())],
        },
        timeouts: timeouts(),
    };
    let err = Upstream::connect(spec, Arc::new(Events::default()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
    assert!(
        !text.contains("secret-in-query") && !text.contains("hidden"),
        "{text}"
    );
}

// ----- the demo server over streamable HTTP (in-process) -----

async fn demo_http() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    (url, tokio::spawn(gateway::demo::serve_http(listener)))
}

fn http_spec(name: &str, url: &str) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        transport: Transport::StreamableHttp {
            url: url.into(),
            headers: vec![("X-Test".into(), "1".into())],
        },
        timeouts: timeouts(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_streamable_http() {
    logs();
    let (url, server) = demo_http().await;
    let mut spec = http_spec("demo-http", &url);
    spec.timeouts.request = Duration::from_millis(300);
    let up = Upstream::connect(spec, Arc::new(Events::default()))
        .await
        .unwrap();
    assert_eq!(
        up.server_info()["serverInfo"]["name"],
        gateway::demo::SERVER_NAME
    );
    assert!(tool_names(&up).await.iter().any(|n| n == "echo"));
    let echo = call(&up, "echo", json!({ "message": "over http" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "over http");
    assert_not_serialized(&up).await;
    assert_concurrent_echo(&up, "").await;

    // Progress and sampling ride the POST's SSE answer; the sampling answer is POSTed back.
    let ds = Arc::new(Recorder::default());
    let r = call_with(&up, "progress", json!({ "steps": 4 }), &ds, json!("p"))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "completed 4 steps");
    assert_eq!(ds.progress().len(), 4);
    let r = call_with(
        &up,
        "sample",
        json!({ "prompt": "via http" }),
        &ds,
        json!("s"),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "sampled: via http");

    let err = call(&up, "sleep", json!({ "ms": 10_000 }))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // The cancellation is a separate POST: give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cancelled_ids(&up).await.len(), 1);
    let crash = call(&up, "crash", json!({})).await.unwrap();
    assert_eq!(crash["isError"], true);
    up.close().await;
    assert!(!up.is_alive());
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_http_session_expiry_reinitializes_once() {
    logs();
    let mut node = Node::demo();
    let url = format!("http://127.0.0.1:{}/mcp", node.port);
    let up = Upstream::connect(http_spec("demo-http", &url), Arc::new(Events::default()))
        .await
        .expect("connect to `secure-mcp-gateway demo-server --port`");
    let echo = call(&up, "echo", json!({ "message": "before" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "before");
    // A restarted server knows no session: 404, then one re-initialization for all callers.
    node.restart();
    let calls = (0..8).map(|i| call(&up, "echo", json!({ "message": format!("after {i}") })));
    for (i, r) in join_all(calls).await.into_iter().enumerate() {
        assert_eq!(
            text_of(&r.expect("echo after restart")),
            format!("after {i}")
        );
    }
    assert!(up.is_alive());
    // A server that is gone for good: connect errors, not a hang.
    node.kill();
    let err = call(&up, "echo", json!({ "message": "x" }))
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
}

// ----- the npm reference server -----

/// What every transport to server-everything must carry: a call, 32 concurrent calls,
/// progress with the caller's token (when `progress`), and a sampling request relayed to the
/// caller's side with its answer going back.
async fn everything_round(up: &Upstream, label: &str, progress: bool) {
    let echo = call(up, "echo", json!({ "message": "hi" })).await.unwrap();
    assert_eq!(text_of(&echo), "Echo: hi");
    assert_concurrent_echo(up, "Echo: ").await;

    let ds = Arc::new(Recorder::default());
    if progress {
        let token = format!("{label}-progress");
        let r = call_with(
            up,
            "trigger-long-running-operation",
            json!({ "duration": 0.3, "steps": 3 }),
            &ds,
            json!(token),
        )
        .await
        .unwrap();
        assert!(text_of(&r).contains("completed"), "{r}");
        let progress = ds.progress();
        assert_eq!(progress.len(), 3, "{progress:?}");
        assert!(progress
            .iter()
            .all(|p| p["progressToken"] == token.as_str()));
    }

    let r = call_with(
        up,
        "trigger-sampling-request",
        json!({ "prompt": format!("over {label}") }),
        &ds,
        json!(format!("{label}-sampling")),
    )
    .await
    .unwrap();
    assert!(text_of(&r).contains("sampled: "), "{r}");
    assert!(ds
        .requests
        .lock()
        .iter()
        .any(|m| m == "sampling/createMessage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_stdio() {
    logs();
    let events = Arc::new(Events::default());
    let spec = everything_stdio_spec(&[("EVERYTHING_TEST_VAR", "from-the-spec")]);
    let up = Upstream::connect(spec, events.clone())
        .await
        .expect("connect over stdio");
    let info = up.server_info();
    assert_eq!(info["serverInfo"]["name"], "mcp-servers/everything");
    assert!(info["capabilities"]["tools"].is_object());
    assert!(info["instructions"].is_string());
    let names = tool_names(&up).await;
    assert!(names.iter().any(|n| n == "echo"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "trigger-sampling-request"),
        "{names:?}"
    );

    everything_round(&up, "stdio", true).await;

    let r = call(&up, "get-env", json!({})).await.unwrap();
    assert!(text_of(&r).contains("from-the-spec"));
    up.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_streamable_http_with_session_expiry() {
    logs();
    let mut node = Node::everything("streamableHttp");
    let url = format!("http://127.0.0.1:{}/mcp", node.port);
    let events = Arc::new(Events::default());
    let up = Upstream::connect(http_spec("everything-http", &url), events.clone())
        .await
        .expect("connect over streamable HTTP");
    assert_eq!(
        up.server_info()["serverInfo"]["name"],
        "mcp-servers/everything"
    );
    let names = tool_names(&up).await;
    assert!(names.iter().any(|n| n == "echo"), "{names:?}");
    everything_round(&up, "http", true).await;

    // The server restarts and forgets the session: the next request gets 404, the session is
    // re-initialized and the request retried.
    node.restart();
    let echo = call(&up, "echo", json!({ "message": "after restart" }))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "Echo: after restart");
    assert!(up.is_alive());
    up.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_legacy_sse() {
    logs();
    let mut node = Node::everything("sse");
    let spec = UpstreamSpec {
        name: "everything-sse".into(),
        transport: Transport::Sse {
            url: format!("http://127.0.0.1:{}/sse", node.port),
            headers: vec![],
        },
        timeouts: timeouts(),
    };
    let events = Arc::new(Events::default());
    let up = Upstream::connect(spec, events.clone())
        .await
        .expect("connect over SSE");
    assert_eq!(
        up.server_info()["serverInfo"]["name"],
        "mcp-servers/everything"
    );
    assert!(tool_names(&up).await.iter().any(|n| n == "echo"));
    everything_round(&up, "sse", false).await;

    // The server goes away: the session ends and says so.
    node.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.is_alive() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!up.is_alive());
    assert_eq!(events.closed.load(Ordering::SeqCst), 1);
    assert!(matches!(
        call(&up, "echo", json!({ "message": "x" })).await,
        Err(UpstreamError::Closed(_))
    ));
}
