//! The streamable HTTP transport (MCP 2025-03-26 and later) at `/mcp` and `/mcp/`, plus
//! `GET /health`.
//!
//! - `POST` carries JSON-RPC messages (one, or a batch). `initialize` creates a session and
//!   answers with `Mcp-Session-Id`; every later request must carry it (unknown: 404, missing:
//!   400). A request is answered as `application/json`, unless something related to it must
//!   reach the client first (progress, a relayed sampling/elicitation request) and the client
//!   accepts `text/event-stream`: then the answer switches to an SSE stream carrying those
//!   messages and, last, the response. Notifications and responses alone get 202.
//! - `GET` opens the session's stream for messages not tied to a request (list_changed,
//!   logging); `DELETE` ends the session.
//! - Authentication on every request: the gateway key from `Authorization: Bearer`, `apikey`
//!   or `ENKRYPT_GATEWAY_KEY`; never from the environment. A missing, unknown or disabled key,
//!   or a key other than the session's, gets 401 with `WWW-Authenticate`.
//! - DNS-rebinding protection: a cross-site `Origin` is refused (403); when listening on
//!   loopback, so is a `Host` that is not a loopback name.
//! - `GET /metrics`: the Prometheus page, under the rules of [`crate::telemetry::endpoint`]
//!   (loopback clients, or `enkrypt_metrics_public`, or the admin key).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::auth::AuthError;
use crate::jsonrpc::{
    Kind, Message, RpcError, AUTH_ERROR, INVALID_REQUEST, JSON, PROTOCOL_VERSION, SESSION_ID,
};
use crate::service::{Gateway, PROTOCOL_VERSIONS};
use crate::session::Session;

mod body;
use body::{read_body, refuse};

/// Largest request body accepted (larger: 413).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A session unused this long (no request, nothing in flight, no open stream) is dropped; the
/// client gets 404 and re-initializes, as MCP prescribes.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

#[derive(Clone)]
struct AppState {
    gw: Arc<Gateway>,
    loopback: bool,
}

/// The routes, for a server listening on `local`.
pub fn router(gw: Arc<Gateway>, local: SocketAddr) -> Router {
    let state = AppState {
        gw,
        loopback: local.ip().is_loopback(),
    };
    Router::new()
        .route("/mcp", post(TracedPost).get(get_mcp).delete(delete_mcp))
        .route("/mcp/", post(TracedPost).get(get_mcp).delete(delete_mcp))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    if let Err(r) = check_origin(&state, req.headers()) {
        return *r;
    }
    crate::telemetry::endpoint::serve_request(&state.gw, state.loopback, req).await
}

/// The request headers the gateway reads that `http` has no constant for (a lookup by
/// `HeaderName` skips checking and lower-casing a name given as text).
const APIKEY: HeaderName = HeaderName::from_static("apikey");
const GATEWAY_KEY: HeaderName = HeaderName::from_static("enkrypt_gateway_key");
const PROJECT_ID: HeaderName = HeaderName::from_static("project_id");
const USER_ID: HeaderName = HeaderName::from_static("user_id");

fn header_str<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The gateway key from the headers, in order: `Authorization: Bearer`, `apikey`,
/// `ENKRYPT_GATEWAY_KEY`.
pub fn extract_key(h: &HeaderMap) -> Option<&str> {
    if let Some(a) = header_str(h, &header::AUTHORIZATION) {
        let mut parts = a.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                return Some(token.trim());
            }
        }
    }
    header_str(h, &APIKEY).or_else(|| header_str(h, &GATEWAY_KEY))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    bytes_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, JSON);
    r
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    json_response(
        status,
        Message::error(id, &RpcError::new(code, message)).into_value(),
    )
}

fn unauthorized(e: AuthError) -> Response {
    let mut r = rpc_error(
        StatusCode::UNAUTHORIZED,
        Value::Null,
        AUTH_ERROR,
        e.message(),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"secure-mcp-gateway\""),
    );
    r
}

fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    a.rsplit_once(':').map_or(a, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            a
        }
    })
}

/// `localhost` or a loopback address (`127.0.0.0/8`, `::1`), exactly: `127.evil.example` or
/// `localhost.evil.example` are other hosts.
fn is_loopback_name(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses cross-site origins and, on loopback, foreign Host names (DNS rebinding).
fn check_origin(state: &AppState, h: &HeaderMap) -> Result<(), Box<Response>> {
    let forbidden = |why: &str| {
        Box::new(rpc_error(
            StatusCode::FORBIDDEN,
            Value::Null,
            INVALID_REQUEST,
            why,
        ))
    };
    let host = header_str(h, &header::HOST)
        .map(host_of)
        .unwrap_or_default()
        .to_string();
    if state.loopback && !host.is_empty() && !is_loopback_name(&host) {
        return Err(forbidden("Forbidden: Host not allowed"));
    }
    if let Some(origin) = header_str(h, &header::ORIGIN) {
        let o = origin.split("://").nth(1).unwrap_or(origin);
        let o = host_of(o.split('/').next().unwrap_or_default());
        if !(is_loopback_name(o) || o.eq_ignore_ascii_case(&host)) {
            return Err(forbidden("Forbidden: Origin not allowed"));
        }
    }
    Ok(())
}

fn accepts_sse(h: &HeaderMap) -> bool {
    header_str(h, &header::ACCEPT).is_some_and(|a| a.contains("text/event-stream"))
}

fn sse_event(msg: &Message) -> Bytes {
    let mut b = b"event: message\ndata: ".to_vec();
    b.extend(msg.to_bytes());
    b.extend(b"\n\n");
    Bytes::from(b)
}

fn session_not_found() -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        Value::Null,
        INVALID_REQUEST,
        "Session not found",
    )
}

/// The reference's `project_id` / `user_id` headers, when sent, must be the key's.
fn check_claims(h: &HeaderMap, identity: &crate::session::Identity) -> Result<(), AuthError> {
    Gateway::check_claims(
        identity,
        header_str(h, &PROJECT_ID),
        header_str(h, &USER_ID),
    )
}

/// Finds the session of a non-initialize request, checking its key by its digest
/// (`None`: no key was sent).
fn session_for(
    state: &AppState,
    h: &HeaderMap,
    key_digest: Option<[u8; 16]>,
) -> Result<Arc<Session>, Box<Response>> {
    let Some(id) = header_str(h, &SESSION_ID) else {
        return Err(Box::new(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            INVALID_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        )));
    };
    let Some(s) = state.gw.sessions.get(id).map(|s| s.clone()) else {
        return Err(Box::new(session_not_found()));
    };
    if !key_digest.is_some_and(|d| Gateway::same_key(&s, &d)) {
        let e = if key_digest.is_none() {
            AuthError::Missing
        } else {
            AuthError::Unknown
        };
        state.gw.telemetry.auth(Err(e));
        return Err(Box::new(unauthorized(e)));
    }
    if let Err(e) = check_claims(h, &s.identity()) {
        state.gw.telemetry.auth(Err(e));
        return Err(Box::new(unauthorized(e)));
    }
    s.touch();
    Ok(s)
}

/// The 2026-07-28 stateless form: no session; protocol version in `_meta`.
fn stateless(msg: &Message) -> bool {
    msg.params()
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .is_some()
}

/// What refuses a POST before its body is read: a foreign `Origin`/`Host` (403), an ended
/// session (404, whoever asks, so its client starts a new one as MCP prescribes), a missing or
/// invalid key (401). Otherwise the key's identity.
fn early_refusal(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::session::Identity, Box<Response>> {
    check_origin(state, headers)?;
    if let Some(id) = header_str(headers, &SESSION_ID) {
        if !state.gw.sessions.contains_key(id) {
            return Err(Box::new(session_not_found()));
        }
    }
    state
        .gw
        .authenticate(extract_key(headers))
        .map_err(|e| Box::new(unauthorized(e)))
}

/// `POST /mcp`: [`post_mcp`] in the request's trace when telemetry is on (one trace per
/// POST). The trace is made current around the handler's future as axum boxes it, so the
/// (large) future is never moved to be wrapped; with telemetry off the wrapper only polls.
#[derive(Clone, Copy)]
struct TracedPost;

impl axum::handler::Handler<(), AppState> for TracedPost {
    type Future =
        crate::otel::Scoped<std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>>;

    fn call(self, req: axum::extract::Request, state: AppState) -> Self::Future {
        let span = crate::otel::request_span("http", Some(req.headers()));
        span.instrument(axum::handler::Handler::call(post_mcp, req, state))
    }
}

async fn post_mcp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // One auth span: the key check here, the session's key check below (when there is a
    // session to find).
    let auth = crate::otel::span(crate::otel::Kind::Auth);
    let early = auth.in_scope(|| early_refusal(&state, &headers));
    auth.record_flag(early.is_ok());
    let identity = match early {
        Ok(identity) => identity,
        Err(r) => {
            crate::otel::request_outcome(crate::otel::Outcome::Error);
            return refuse(*r, &headers, body).await;
        }
    };
    let limits = state.gw.config().common.http_limits;
    let body = match read_body(body, limits.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = match Message::parse(&body) {
        Ok(p) => p,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                Message::error(Value::Null, &e).into_value(),
            )
        }
    };
    if parsed.len() > limits.max_batch {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            INVALID_REQUEST,
            &format!(
                "Bad Request: a batch of {} messages; at most {} are accepted",
                parsed.len(),
                limits.max_batch
            ),
        );
    }
    let batch = parsed.len() > 1;
    let mut msgs = Vec::with_capacity(parsed.len());
    let mut early = Vec::new();
    for m in parsed {
        match m {
            Ok(m) => msgs.push(m),
            Err(e) => early.push(Message::error(Value::Null, &e)),
        }
    }
    if let Some(v) = header_str(&headers, &PROTOCOL_VERSION) {
        if !PROTOCOL_VERSIONS.contains(&v) && v != "2026-07-28" {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                &format!("Bad Request: Unsupported protocol version: {v}"),
            );
        }
    }
    let init = msgs.iter().any(|m| m.method() == Some("initialize"));
    let ephemeral = !init
        && header_str(&headers, &SESSION_ID).is_none()
        && msgs.iter().all(stateless)
        && !msgs.is_empty();
    let session = if init || ephemeral {
        let claims = auth.in_scope(|| check_claims(&headers, &identity));
        auth.record_flag(claims.is_ok());
        drop(auth);
        if let Err(e) = claims {
            return unauthorized(e);
        }
        if init {
            let held = state
                .gw
                .sessions
                .iter()
                .filter(|s| s.identity().key_digest == identity.key_digest)
                .count();
            if held >= limits.max_sessions_per_key {
                return rpc_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    Value::Null,
                    INVALID_REQUEST,
                    &format!(
                        "Too Many Requests: this gateway key holds {held} sessions, the most allowed; end one with DELETE (idle ones expire after {} min)",
                        SESSION_IDLE.as_secs() / 60
                    ),
                );
            }
        }
        let s = Session::new(identity);
        if init {
            state.gw.sessions.insert(s.id.clone(), s.clone());
        }
        s
    } else {
        // The key was checked above: its digest is the identity's.
        let found = auth.in_scope(|| session_for(&state, &headers, Some(identity.key_digest)));
        auth.record_flag(found.is_ok());
        drop(auth);
        match found {
            Ok(s) => s,
            Err(r) => {
                crate::otel::request_outcome(crate::otel::Outcome::Error);
                return *r;
            }
        }
    };
    let (requests, others): (Vec<Message>, Vec<Message>) = msgs
        .into_iter()
        .partition(|m| m.kind() == Some(Kind::Request));
    for m in others {
        state.gw.handle(&session, m, None).await;
    }
    let session_header = init.then(|| session.id.clone());
    if requests.is_empty() {
        if early.is_empty() {
            return StatusCode::ACCEPTED.into_response();
        }
        return json_response(
            StatusCode::OK,
            Value::Array(early.into_iter().map(Message::into_value).collect()),
        );
    }
    let mut resp = if batch || requests.len() > 1 {
        let futs = requests.into_iter().map(|m| {
            let gw = state.gw.clone();
            let s = session.clone();
            async move { gw.handle(&s, m, None).await }
        });
        let mut out: Vec<Value> = early.into_iter().map(Message::into_value).collect();
        for r in futures_util::future::join_all(futs)
            .await
            .into_iter()
            .flatten()
        {
            out.push(r.into_value());
        }
        json_response(StatusCode::OK, Value::Array(out))
    } else {
        let msg = requests
            .into_iter()
            .next()
            .unwrap_or_else(|| Message::notification("", None));
        single(&state, &session, msg, accepts_sse(&headers)).await
    };
    if let Some(id) = session_header {
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(SESSION_ID, v);
        }
    }
    resp
}

/// One request: JSON unless related messages must be streamed first.
async fn single(state: &AppState, session: &Arc<Session>, msg: Message, sse_ok: bool) -> Response {
    let id = msg.id().cloned().unwrap_or(Value::Null);
    if !sse_ok {
        return match state.gw.handle(session, msg, None).await {
            Some(r) => bytes_response(StatusCode::OK, r.to_bytes()),
            None => rpc_error(StatusCode::OK, id, -32800, "Request cancelled"),
        };
    }
    // Bounded like the session's outbound channel: a client that does not read its stream
    // loses notifications past the limit, never the response (which does not use it).
    let (tx, mut rx) = mpsc::channel::<Message>(crate::session::OUTBOUND_LIMIT);
    let gw = state.gw.clone();
    let s = session.clone();
    // Boxed: the task holds a pointer, not the large future itself (which it would copy as
    // the task's stage changes).
    let mut work = tokio::spawn(Box::pin(crate::otel::carry(async move {
        gw.handle(&s, msg, Some(tx)).await
    })));
    tokio::select! {
        biased;
        r = &mut work => {
            let r = r.ok().flatten();
            match r {
                Some(r) => bytes_response(StatusCode::OK, r.to_bytes()),
                None => rpc_error(StatusCode::OK, id, -32800, "Request cancelled"),
            }
        }
        Some(first) = rx.recv() => {
            // Something related comes first: answer as an SSE stream.
            let stream = futures_util::stream::unfold(
                (Some(first), rx, Some(work), id),
                |(first, mut rx, work, id)| async move {
                    if let Some(m) = first {
                        return Some((Ok::<Bytes, Infallible>(sse_event(&m)), (None, rx, work, id)));
                    }
                    let mut work = work?;
                    tokio::select! {
                        biased;
                        Some(m) = rx.recv() => Some((Ok(sse_event(&m)), (None, rx, Some(work), id))),
                        r = &mut work => {
                            let final_msg = r.ok().flatten().unwrap_or_else(|| {
                                Message::error(id.clone(), &RpcError::new(-32800, "Request cancelled"))
                            });
                            // Related messages sent just before the response go first.
                            let mut bytes = Vec::new();
                            while let Ok(m) = rx.try_recv() {
                                bytes.extend_from_slice(&sse_event(&m));
                            }
                            bytes.extend_from_slice(&sse_event(&final_msg));
                            Some((Ok(Bytes::from(bytes)), (None, rx, None, id)))
                        }
                    }
                },
            );
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
    }
}

async fn get_mcp(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = check_origin(&state, &headers) {
        return *r;
    }
    if !accepts_sse(&headers) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let session = match session_for(
        &state,
        &headers,
        extract_key(&headers).map(Gateway::key_digest),
    ) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(rx) = session.take_outbound() else {
        return rpc_error(
            StatusCode::CONFLICT,
            Value::Null,
            INVALID_REQUEST,
            "Conflict: a stream is already open for this session",
        );
    };
    struct Guard {
        session: Arc<Session>,
        rx: Option<mpsc::Receiver<Message>>,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(rx) = self.rx.take() {
                self.session.return_outbound(rx);
            }
        }
    }
    let guard = Guard {
        session,
        rx: Some(rx),
    };
    let stream = futures_util::stream::unfold(guard, |mut g| async move {
        let session = g.session.clone();
        let rx = g.rx.as_mut()?;
        tokio::select! {
            // The session ended (its key was revoked): the stream ends too.
            _ = session.ended() => None,
            r = tokio::time::timeout(Duration::from_secs(15), rx.recv()) => match r {
                Ok(Some(m)) => Some((Ok::<Bytes, Infallible>(sse_event(&m)), g)),
                Ok(None) => None,
                Err(_) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), g)),
            },
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn delete_mcp(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = check_origin(&state, &headers) {
        return *r;
    }
    match session_for(
        &state,
        &headers,
        extract_key(&headers).map(Gateway::key_digest),
    ) {
        Ok(s) => {
            state.gw.sessions.remove(&s.id);
            StatusCode::OK.into_response()
        }
        Err(r) => *r,
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let (ok, body) = state.gw.health().await;
    json_response(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
    )
}

/// Answer to a connection past [`crate::config::HttpLimits::max_connections`].
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Service Unavailable: too many connections"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Counts a connection while it lives.
struct Open(Arc<std::sync::atomic::AtomicUsize>);

impl Open {
    fn new(n: &Arc<std::sync::atomic::AtomicUsize>) -> Open {
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Open(n.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves until `shutdown` completes, then lets open connections finish for a short while.
///
/// One HTTP/1.1 connection task per client, with the config's `enkrypt_http_limits`: request
/// headers must arrive within `header_timeout` (a slowloris client is dropped), at most
/// `max_connections` at once (one more is answered 503 and closed at once).
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_tls(gw, listener, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (HTTPS; the handshake must finish within the
/// header timeout; past `max_connections` a TLS connection is closed without an answer).
pub async fn serve_tls(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let local = listener.local_addr()?;
    // Clients that never send DELETE: their sessions go after SESSION_IDLE without use.
    let sweeper = {
        let gw = gw.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                gw.sessions
                    .retain(|_, s| s.idle_for().is_none_or(|idle| idle < SESSION_IDLE));
            }
        })
    };
    let app = router(gw.clone(), local);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pass, and try again shortly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let limits = gw.config().common.http_limits;
        if open.load(std::sync::atomic::Ordering::Relaxed) >= limits.max_connections {
            if tls.is_some() {
                drop(stream);
                continue;
            }
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let _ = stream.write_all(&too_many_connections()).await;
                    let _ = stream.shutdown().await;
                })
                .await;
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        let guard = Open::new(&open);
        let service =
            hyper_util::service::TowerToHyperService::new(crate::telemetry::endpoint::WithPeer {
                inner: app.clone(),
                peer,
            });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            b
        };
        match &tls {
            None => {
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
            Some(tls) => {
                let acceptor = tls.acceptor();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _guard = guard;
                    let accepted =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    let stream = match accepted {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn =
                        builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
        }
    }
    sweeper.abort();
    // Open streams (GET) would hold the shutdown for ever: a short grace, then go.
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
