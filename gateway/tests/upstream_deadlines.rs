//! Hung upstreams: every wait on an upstream ends by its deadline (`tool_execution_timeout`
//! for calls, `discovery_timeout` for lists, pings and notifications), and a server that stops
//! answering is restarted (stdio) or reconnected (HTTP, SSE) instead of being kept for good.
//!
//! The hung servers: `fixtures/probe_upstream.py` after its `stop_reading` tool (it never
//! reads its stdin again, so the gateway's writes fill the pipe and then the session's queue),
//! and small HTTP servers written here that accept a request and never answer it, or answer
//! with the headers of an event stream and then send nothing.
//!
//! Assertions on time only say "answered within the configured timeout plus generous slack".

use std::convert::Infallible;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::future::join_all;
use futures_util::StreamExt;
use gateway::upstream::{
    NoHandler, Pool, RequestCtx, Timeouts, Transport, Upstream, UpstreamError, UpstreamSpec,
};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The timeouts of the hung sessions: short, so the tests are quick.
const LIMIT: Duration = Duration::from_millis(800);
/// What a deadline may be late by, at most, on a loaded machine.
const SLACK: Duration = Duration::from_secs(20);

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: LIMIT,
        discovery: LIMIT,
    }
}

async fn call(up: &Upstream, tool: &str, args: Value) -> Result<Value, UpstreamError> {
    up.request(
        "tools/call",
        Some(json!({ "name": tool, "arguments": args })),
        RequestCtx::default(),
    )
    .await
}

/// Runs `f`, failing the test if it has not finished within `limit` + [`SLACK`].
async fn within<T>(what: &str, limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit + SLACK, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {:?}", limit + SLACK),
    }
}

/// Polls `pool.get` until `ready` holds for the session it gives (at most `SLACK`).
async fn wait_for_new_session(
    pool: &Pool,
    spec: &UpstreamSpec,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Arc<Upstream> {
    let deadline = Instant::now() + SLACK;
    loop {
        if let Ok(up) = pool.get(spec).await {
            if ready() {
                return up;
            }
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- stdio -----

fn running(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

async fn pid_of(up: &Upstream) -> Option<u64> {
    call(up, "whoami", json!({})).await.ok()?["structuredContent"]["pid"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_upstream_that_stops_reading_times_out_and_is_restarted() {
    let pool = Pool::new(Arc::new(NoHandler));
    let spec = UpstreamSpec {
        name: "hangs".into(),
        transport: Transport::Stdio {
            command: "python3".into(),
            args: vec![format!(
                "{}/tests/fixtures/probe_upstream.py",
                env!("CARGO_MANIFEST_DIR")
            )],
            env: vec![],
        },
        timeouts: timeouts(),
    };
    let up = pool.get(&spec).await.expect("start");
    let pid = pid_of(&up).await.expect("whoami");
    let stopped = call(&up, "stop_reading", json!({})).await.expect("stop");
    assert_eq!(stopped["content"][0]["text"], "stopped");

    // Far more than the pipe and the session's queue hold: later senders wait for room.
    let text = "x".repeat(1024);
    let calls = (0..3000).map(|_| call(&up, "echo", json!({ "text": text })));
    let results = within("3000 calls to a hung server", LIMIT, join_all(calls)).await;
    let timeouts = results
        .iter()
        .filter(|r| matches!(r, Err(UpstreamError::Timeout { .. })))
        .count();
    assert!(timeouts > 0, "{:?}", results.first());
    for r in &results {
        assert!(
            matches!(
                r,
                Err(UpstreamError::Timeout { .. } | UpstreamError::Closed(_))
            ),
            "{r:?}"
        );
    }
    // A notification waits for room in the queue too, and gives up.
    let sent = within(
        "a notification",
        LIMIT,
        up.notify("notifications/roots/list_changed", None),
    )
    .await;
    assert!(sent.is_err(), "{sent:?}");

    // The hung server is replaced by a new one, and killed.
    let deadline = Instant::now() + SLACK;
    loop {
        if let Ok(up) = pool.get(&spec).await {
            if pid_of(&up).await.is_some_and(|p| p != pid) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the hung server {pid} is still the pool's session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + SLACK;
    while running(pid) {
        assert!(
            Instant::now() < deadline,
            "the hung server {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close_all().await;
}

// ----- streamable HTTP -----

const HEALTHY: u8 = 0;
/// Requests (and notifications other than `notifications/initialized`) get no answer at all.
const SILENT: u8 = 1;
/// Requests get `200 text/event-stream` headers, then nothing.
const STALLED: u8 = 2;

#[derive(Default)]
struct Upstream2 {
    mode: AtomicU8,
    initializes: AtomicUsize,
    event_streams: AtomicUsize,
    /// The open legacy SSE stream's sender.
    sse: Mutex<Option<mpsc::UnboundedSender<Bytes>>>,
}

fn answer(msg: &Value) -> Option<Value> {
    let id = msg.get("id")?.clone();
    let result = match msg["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "hang-test", "version": "1" }
        }),
        "tools/call" => json!({ "content": [{ "type": "text", "text": "fine" }] }),
        _ => json!({}),
    };
    Some(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

/// Whether `msg` is spared by the hang modes (the handshake always works, so a reconnect can).
fn handshake(msg: &Value) -> bool {
    matches!(
        msg["method"].as_str(),
        Some("initialize" | "notifications/initialized")
    )
}

async fn hang() -> Response {
    futures_util::future::pending::<()>().await;
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

async fn mcp_post(State(s): State<Arc<Upstream2>>, body: Bytes) -> Response {
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if msg["method"] == "initialize" {
        s.initializes.fetch_add(1, Ordering::SeqCst);
    }
    let mode = s.mode.load(Ordering::SeqCst);
    if !handshake(&msg) && mode == SILENT {
        return hang().await;
    }
    let Some(reply) = answer(&msg) else {
        return StatusCode::ACCEPTED.into_response();
    };
    if mode == STALLED && !handshake(&msg) {
        let stalled = futures_util::stream::pending::<Result<Bytes, Infallible>>();
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(stalled),
        )
            .into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    headers.insert("mcp-session-id", "s-1".parse().unwrap());
    (headers, reply.to_string()).into_response()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_streamable_http_upstream_times_out_and_is_reconnected() {
    let state = Arc::new(Upstream2::default());
    let router = Router::new()
        .route(
            "/mcp",
            post(mcp_post)
                .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                .delete(|| async { StatusCode::OK }),
        )
        .with_state(state.clone());
    let spec = UpstreamSpec {
        name: "hangs-http".into(),
        transport: Transport::StreamableHttp {
            url: format!("{}/mcp", serve(router).await),
            headers: vec![],
        },
        timeouts: timeouts(),
    };
    let pool = Pool::new(Arc::new(NoHandler));
    let up = pool.get(&spec).await.expect("connect");
    assert_eq!(
        call(&up, "any", json!({})).await.unwrap()["content"][0]["text"],
        "fine"
    );

    for (mode, label) in [
        (SILENT, "a server that never answers"),
        (STALLED, "a server whose event stream stalls"),
    ] {
        state.mode.store(mode, Ordering::SeqCst);
        let before = state.initializes.load(Ordering::SeqCst);
        let up = pool.get(&spec).await.expect("session");
        let r = within(label, LIMIT, call(&up, "any", json!({}))).await;
        assert!(
            matches!(r, Err(UpstreamError::Timeout { .. })),
            "{label}: {r:?}"
        );
        if mode == SILENT {
            let sent = within(
                "a notification",
                LIMIT,
                up.notify("notifications/roots/list_changed", None),
            )
            .await;
            assert!(sent.is_err(), "{sent:?}");
        }
        // The session is given up and a new one initialized.
        let st = state.clone();
        wait_for_new_session(&pool, &spec, &format!("{label}: never reconnected"), || {
            st.initializes.load(Ordering::SeqCst) > before
        })
        .await;
        assert!(!up.is_alive(), "{label}: the hung session is still alive");
    }
    state.mode.store(HEALTHY, Ordering::SeqCst);
    let up = pool.get(&spec).await.expect("session");
    assert_eq!(
        call(&up, "any", json!({})).await.unwrap()["content"][0]["text"],
        "fine"
    );
    pool.close_all().await;
}

// ----- legacy HTTP+SSE -----

async fn sse_get(State(s): State<Arc<Upstream2>>) -> Response {
    s.event_streams.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    *s.sse.lock() = Some(tx);
    let first = Bytes::from_static(b"event: endpoint\ndata: /messages?session=1\n\n");
    let events = futures_util::stream::once(async move { first })
        .chain(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (b, rx))
        }))
        .map(Ok::<Bytes, Infallible>);
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

async fn sse_post(State(s): State<Arc<Upstream2>>, body: Bytes) -> Response {
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if msg["method"] == "initialize" {
        s.initializes.fetch_add(1, Ordering::SeqCst);
    }
    if !handshake(&msg) && s.mode.load(Ordering::SeqCst) == SILENT {
        return hang().await;
    }
    if let Some(reply) = answer(&msg) {
        let event = format!("event: message\ndata: {reply}\n\n");
        if let Some(tx) = s.sse.lock().as_ref() {
            let _ = tx.send(Bytes::from(event));
        }
    }
    StatusCode::ACCEPTED.into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_upstream_whose_posts_hang_times_out_and_is_reconnected() {
    let state = Arc::new(Upstream2::default());
    let router = Router::new()
        .route("/sse", get(sse_get))
        .route("/messages", post(sse_post))
        .with_state(state.clone());
    let spec = UpstreamSpec {
        name: "hangs-sse".into(),
        transport: Transport::Sse {
            url: format!("{}/sse", serve(router).await),
            headers: vec![],
        },
        timeouts: timeouts(),
    };
    let pool = Pool::new(Arc::new(NoHandler));
    let up = pool.get(&spec).await.expect("connect");
    assert_eq!(
        call(&up, "any", json!({})).await.unwrap()["content"][0]["text"],
        "fine"
    );

    state.mode.store(SILENT, Ordering::SeqCst);
    let r = within("a POST that never ends", LIMIT, call(&up, "any", json!({}))).await;
    assert!(matches!(r, Err(UpstreamError::Timeout { .. })), "{r:?}");
    let sent = within(
        "a notification",
        LIMIT,
        up.notify("notifications/roots/list_changed", None),
    )
    .await;
    assert!(sent.is_err(), "{sent:?}");
    let st = state.clone();
    wait_for_new_session(&pool, &spec, "the SSE session was never reopened", || {
        st.event_streams.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert!(!up.is_alive());
    state.mode.store(HEALTHY, Ordering::SeqCst);
    let up = pool.get(&spec).await.expect("session");
    assert_eq!(
        call(&up, "any", json!({})).await.unwrap()["content"][0]["text"],
        "fine"
    );
    pool.close_all().await;
}
