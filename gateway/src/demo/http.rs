//! The demo server over streamable HTTP at `/mcp`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use dashmap::DashMap;
use futures_util::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{NoPeer, Peer, Session, Via};
use crate::jsonrpc::{Kind, Message, RpcError, METHOD_NOT_FOUND, PARSE_ERROR};

struct App {
    sessions: DashMap<String, Arc<Session>>,
}

struct HttpPeer {
    tx: mpsc::UnboundedSender<Message>,
    session: Arc<Session>,
}

impl Peer for HttpPeer {
    fn notify(&self, msg: Message) {
        let _ = self.tx.send(msg);
    }

    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        let (msg, rx) = self.session.outgoing(method, params);
        let _ = self.tx.send(msg);
        async move {
            rx.await.unwrap_or_else(|_| {
                Err(RpcError::new(METHOD_NOT_FOUND, "the client did not answer"))
            })
        }
        .boxed()
    }
}

/// Serves MCP over streamable HTTP at `/mcp` on `listener` until the task is dropped.
pub async fn serve_http(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = Arc::new(App {
        sessions: DashMap::new(),
    });
    let router = Router::new()
        .route("/mcp", post(http_post).get(http_get).delete(http_delete))
        .with_state(app);
    axum::serve(listener, router).await
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn http_error(status: StatusCode, code: i64, text: &str) -> Response {
    json_response(
        status,
        Message::error(Value::Null, &RpcError::new(code, text)).into_value(),
    )
}

/// Whether `Origin` (when present) is a loopback origin: DNS-rebinding protection.
fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
    let Some((_, rest)) = origin.split_once("://") else {
        return false;
    };
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|h| {
        rest.strip_prefix(h)
            .is_some_and(|tail| tail.is_empty() || tail.starts_with(':') || tail.starts_with('/'))
    })
}

/// The request's session, or the error answer: 400 without `Mcp-Session-Id`, 404 unknown.
fn session_of(app: &App, headers: &HeaderMap) -> Result<Arc<Session>, Box<Response>> {
    let Some(sid) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(http_error(
            StatusCode::BAD_REQUEST,
            -32000,
            "Bad Request: Mcp-Session-Id header is required",
        )));
    };
    match app.sessions.get(sid) {
        Some(s) => Ok(s.clone()),
        None => Err(Box::new(http_error(
            StatusCode::NOT_FOUND,
            -32001,
            "Session not found",
        ))),
    }
}

fn needs_stream(msg: &Message) -> bool {
    msg.method() == Some("tools/call")
        && matches!(
            msg.params()
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str),
            Some("progress" | "sample")
        )
}

async fn http_post(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if !origin_allowed(&headers) {
        return http_error(StatusCode::FORBIDDEN, -32000, "Forbidden: invalid Origin");
    }
    let items = match Message::parse(&body) {
        Ok(items) => items,
        Err(e) => {
            let status = if e.code == PARSE_ERROR {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            return json_response(status, Message::error(Value::Null, &e).into_value());
        }
    };
    if let [Ok(m)] = items.as_slice() {
        if m.method() == Some("initialize") && m.kind() == Some(Kind::Request) {
            let session = Arc::new(Session::default());
            let sid = format!("{:032x}", rand::random::<u128>());
            app.sessions.insert(sid.clone(), session.clone());
            let reply = session.serve(m.clone(), Via::Http, Arc::new(NoPeer)).await;
            let mut resp = json_response(
                StatusCode::OK,
                reply.map(Message::into_value).unwrap_or(Value::Null),
            );
            if let Ok(v) = HeaderValue::from_str(&sid) {
                resp.headers_mut().insert("mcp-session-id", v);
            }
            return resp;
        }
    }
    let session = match session_of(&app, &headers) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let single = items.len() == 1;
    let mut replies = Vec::new();
    let mut requests = Vec::new();
    for item in items {
        match item {
            Err(e) => replies.push(Message::error(Value::Null, &e)),
            Ok(m) => match m.kind() {
                Some(Kind::Request) => requests.push(m),
                Some(Kind::Notification) => session.on_notification(&m),
                Some(Kind::Response) => session.on_response(&m),
                None => {}
            },
        }
    }
    if single && requests.len() == 1 && needs_stream(&requests[0]) {
        return stream_response(session, requests.remove(0));
    }
    let served = futures_util::future::join_all(
        requests
            .into_iter()
            .map(|m| session.serve(m, Via::Http, Arc::new(NoPeer))),
    )
    .await;
    let cancelled = served.iter().any(Option::is_none);
    replies.extend(served.into_iter().flatten());
    match replies.len() {
        0 if cancelled => StatusCode::NO_CONTENT.into_response(),
        0 => StatusCode::ACCEPTED.into_response(),
        1 if single => json_response(StatusCode::OK, replies.remove(0).into_value()),
        _ => json_response(
            StatusCode::OK,
            Value::Array(replies.into_iter().map(Message::into_value).collect()),
        ),
    }
}

/// Answers a request with an SSE stream: its notifications and requests, then its response.
fn stream_response(session: Arc<Session>, msg: Message) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<Message>();
    let peer: Arc<dyn Peer> = Arc::new(HttpPeer {
        tx: tx.clone(),
        session: session.clone(),
    });
    tokio::spawn(async move {
        if let Some(reply) = session.serve(msg, Via::Http, peer).await {
            let _ = tx.send(reply);
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        let mut frame = b"event: message\ndata: ".to_vec();
        frame.extend_from_slice(&msg.to_bytes());
        frame.extend_from_slice(b"\n\n");
        Some((Ok::<_, Infallible>(Bytes::from(frame)), rx))
    });
    let mut resp = Response::new(Body::from_stream(events));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn http_get() -> Response {
    let mut resp = http_error(
        StatusCode::METHOD_NOT_ALLOWED,
        -32000,
        "Method not allowed: this server sends no unsolicited messages",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    resp
}

async fn http_delete(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let sid = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match app.sessions.remove(sid) {
        Some((_, session)) => {
            for (_, h) in session.inflight.lock().drain() {
                h.abort();
            }
            StatusCode::OK.into_response()
        }
        None => http_error(StatusCode::NOT_FOUND, -32001, "Session not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        assert!(origin_allowed(&h));
        for (o, ok) in [
            ("http://localhost:3000", true),
            ("http://127.0.0.1", true),
            ("https://[::1]:8443", true),
            ("http://localhost.evil.example", false),
            ("http://evil.example.com", false),
            ("null", false),
        ] {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
            assert_eq!(origin_allowed(&h), ok, "{o}");
        }
    }
}
