//! The transport-independent MCP client session ([`Upstream`]) and its shared state (`Core`).
//!
//! Mirrors what the official SDK clients do: `initialize` (we offer
//! [`PROTOCOL_VERSION`] and accept any of [`SUPPORTED_PROTOCOL_VERSIONS`]) then
//! `notifications/initialized`; requests numbered by the session (never the client's ids) and
//! matched to responses through a pending map, so any number run at once; a request abandoned
//! by its caller (dropped future, timeout) is cancelled upstream with `notifications/cancelled`
//! (never `initialize`); `ping` from the server is answered at once; other server→client
//! requests are relayed to the [`Downstream`] of an in-flight request (the one whose HTTP
//! response stream carried it, else the one client all requests in flight come from), or
//! declined with `-32601`: never guessed, since clients of several tenants share a session.
//!
//! A response's `result` is kept as the raw JSON the server wrote ([`RawResult`]): a tool's
//! output passes through the gateway without being parsed into a tree and written out again;
//! callers that need to look inside parse it ([`Upstream::request`]).
//!
//! Deadlines: a request's whole exchange (queueing it for a stdio child, the POST of the HTTP
//! transports, reading the answer) runs within its timeout; a notification or response is sent
//! within the discovery timeout. A hung server must not be kept for good: after any timeout
//! the session checks the server with a `ping` (one at a time, within the discovery timeout);
//! no answer to it either and the session is closed (a stdio child and its group are killed),
//! so the pool starts a new one on next use. A server that is merely slow answers the ping and
//! keeps its session.
//!
//! Invariants: a pending entry is removed exactly once (response, failure, close or drop
//! guard); when the session closes every pending request fails at once with
//! [`UpstreamError::Closed`]; no lock is held across an `.await`; no wait on the server is
//! without a deadline (the long-lived event streams excepted: they end with the session).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::http::HttpLink;
use super::spec::{Transport, UpstreamSpec};
use super::sse::SseLink;
use super::stdio::StdioLink;
use super::{Downstream, RequestCtx, UpstreamError, UpstreamHandler};
use crate::jsonrpc::{Kind, Message};

mod inbound;

/// The protocol version the gateway asks for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The versions an upstream may answer with.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// A response's `result` as the server wrote it.
pub type RawResult = Box<RawValue>;

/// The envelope of a response, its result left unparsed. `method` present means the message
/// is not a response.
#[derive(Deserialize)]
struct ResponseEnvelope {
    jsonrpc: Option<String>,
    #[serde(default)]
    method: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    result: Option<RawResult>,
    #[serde(default)]
    error: Option<Value>,
}

/// `raw` fit for one line (see [`crate::jsonrpc::single_line`]).
fn single_line(raw: RawResult) -> RawResult {
    if memchr::memchr2(b'\n', b'\r', raw.get().as_bytes()).is_none() {
        return raw;
    }
    let flat = crate::jsonrpc::single_line(raw.get().to_string());
    RawValue::from_string(flat).unwrap_or(raw)
}

/// A raw result as a JSON value.
pub fn parse_result(raw: &RawValue) -> Result<Value, UpstreamError> {
    serde_json::from_str(raw.get()).map_err(|e| UpstreamError::Protocol(e.to_string()))
}

/// `clientInfo.name` in `initialize`.
pub const CLIENT_NAME: &str = "secure-mcp-gateway";

/// The `initialize` params the gateway sends: it declares sampling, elicitation and roots
/// because it relays them to its own clients.
pub(crate) fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {
            "sampling": {},
            "elicitation": {},
            "roots": { "listChanged": true },
        },
        "clientInfo": { "name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION") },
    })
}

/// How a session reaches its server.
pub(crate) enum Link {
    Stdio(StdioLink),
    Http(Arc<HttpLink>),
    Sse(Arc<SseLink>),
}

struct Pending {
    tx: oneshot::Sender<Result<RawResult, UpstreamError>>,
    /// The token the upstream sees: unique per request, because clients sharing this session
    /// may pick the same tokens.
    progress_token: Option<Value>,
    /// The client's own token, put back into progress notifications.
    client_token: Option<Value>,
    downstream: Option<Arc<dyn Downstream>>,
}

/// State shared by a session's handle and its transport tasks.
pub(crate) struct Core {
    pub(crate) name: String,
    pub(crate) spec: UpstreamSpec,
    /// `spec.pool_key()`, computed once.
    pool_key: String,
    handler: Arc<dyn UpstreamHandler>,
    pub(crate) link: Link,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Server→client requests being relayed, by the server's id (as JSON text).
    relayed: Mutex<HashMap<String, AbortHandle>>,
    next_id: AtomicU64,
    alive: AtomicBool,
    /// A liveness `ping` is under way (see the module header).
    probing: AtomicBool,
    closed_reason: Mutex<Option<String>>,
    /// Cancelled when the session closes; transport tasks stop on it.
    pub(crate) shutdown: CancellationToken,
}

/// Our id of a response (we only send integer ids).
pub(crate) fn response_id(msg: &Message) -> Option<u64> {
    if msg.kind() != Some(Kind::Response) {
        return None;
    }
    match msg.id()? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Core {
    pub(crate) fn new(
        spec: UpstreamSpec,
        handler: Arc<dyn UpstreamHandler>,
        link: Link,
    ) -> Arc<Core> {
        Arc::new(Core {
            name: spec.name.clone(),
            pool_key: spec.pool_key(),
            spec,
            handler,
            link,
            pending: Mutex::new(HashMap::new()),
            relayed: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            alive: AtomicBool::new(true),
            probing: AtomicBool::new(false),
            closed_reason: Mutex::new(None),
            shutdown: CancellationToken::new(),
        })
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub(crate) fn is_pending(&self, id: u64) -> bool {
        self.pending.lock().contains_key(&id)
    }

    fn closed_error(&self) -> UpstreamError {
        let reason = self.closed_reason.lock().clone();
        UpstreamError::Closed(
            reason.unwrap_or_else(|| format!("upstream server `{}` closed the session", self.name)),
        )
    }

    /// Fails one pending request.
    pub(crate) fn fail(&self, id: u64, err: UpstreamError) {
        let entry = self.pending.lock().remove(&id);
        if let Some(p) = entry {
            let _ = p.tx.send(Err(err));
        }
    }

    /// Ends the session: every pending request fails with `Closed(reason)`, relayed requests
    /// are abandoned, transport tasks stop, `on_closed` runs. Only the first call counts.
    pub(crate) fn close_with(&self, reason: String) {
        {
            let mut r = self.closed_reason.lock();
            if r.is_some() {
                return;
            }
            *r = Some(reason.clone());
        }
        self.alive.store(false, Ordering::Release);
        tracing::debug!(server = %self.name, "upstream session closed: {reason}");
        self.shutdown.cancel();
        // The handler hears of it before any caller does.
        self.handler.on_closed(&self.name);
        let pending: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        for p in pending {
            let _ = p.tx.send(Err(UpstreamError::Closed(reason.clone())));
        }
        let relayed: Vec<AbortHandle> = self.relayed.lock().drain().map(|(_, a)| a).collect();
        for a in relayed {
            a.abort();
        }
    }

    /// Sends a notification or a response, within the discovery timeout.
    pub(crate) async fn send(self: &Arc<Self>, msg: Message) -> Result<(), UpstreamError> {
        let limit = self.spec.timeouts.discovery;
        let sending = async {
            match &self.link {
                Link::Stdio(s) => s.send(&msg).await.map_err(|()| self.closed_error()),
                Link::Http(h) => h.send(self, &msg).await,
                Link::Sse(s) => s.post(&msg).await,
            }
        };
        match tokio::time::timeout(limit, sending).await {
            Ok(r) => r,
            Err(_) => {
                self.check_alive();
                Err(UpstreamError::Timeout {
                    what: format!(
                        "{} (sending {})",
                        self.name,
                        msg.method().unwrap_or("a response")
                    ),
                    after: limit,
                })
            }
        }
    }

    /// After a timeout: pings the server (unless a ping is under way already) and closes the
    /// session if that gets no answer within the discovery timeout either.
    fn check_alive(self: &Arc<Self>) {
        if !self.is_alive() || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let core = self.clone();
        tokio::spawn(async move {
            let limit = core.spec.timeouts.discovery;
            let r = core
                .request("ping", None, RequestCtx::default(), limit)
                .await;
            core.probing.store(false, Ordering::Release);
            if let Err(UpstreamError::Timeout { .. }) = r {
                let why = format!(
                    "upstream server `{}` stopped answering (a request timed out, then a ping \
                     got no answer within {}); the session is closed and will be started anew",
                    core.name,
                    super::error::fmt_duration(limit)
                );
                tracing::warn!(server = %core.name, "{why}");
                core.close_with(why);
            }
        });
    }

    /// Sends a notification from synchronous code (drop guards), without waiting.
    fn send_detached(self: &Arc<Self>, msg: Message) {
        if let Link::Stdio(s) = &self.link {
            s.try_send(&msg);
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let core = self.clone();
            rt.spawn(async move {
                if let Err(e) = core.send(msg).await {
                    tracing::debug!(server = %core.name, "could not send to the upstream: {e}");
                }
            });
        }
    }

    /// Starts sending request `id`; for HTTP the returned work POSTs it and reads its
    /// response stream (the caller runs it while waiting for the answer).
    async fn start_request(
        self: &Arc<Self>,
        id: u64,
        msg: Message,
    ) -> Result<Option<BoxFuture<'static, ()>>, UpstreamError> {
        match &self.link {
            Link::Stdio(s) => s
                .send(&msg)
                .await
                .map(|()| None)
                .map_err(|()| self.closed_error()),
            Link::Http(h) => Ok(Some(Box::pin(h.request_work(self, id, msg)))),
            Link::Sse(s) => s.post(&msg).await.map(|()| None),
        }
    }

    fn default_timeout(&self, method: &str) -> Duration {
        let t = &self.spec.timeouts;
        if method == "initialize" || method == "ping" || method.ends_with("/list") {
            t.discovery
        } else {
            t.request
        }
    }

    /// Sends a request and waits for its result; see [`Upstream::request`].
    pub(crate) async fn request(
        self: &Arc<Self>,
        method: &str,
        mut params: Option<Value>,
        ctx: RequestCtx,
        timeout: Duration,
    ) -> Result<RawResult, UpstreamError> {
        if !self.is_alive() {
            return Err(self.closed_error());
        }
        let id = self.next_id();
        let client_token = ctx.progress_token.or_else(|| {
            params
                .as_ref()
                .and_then(|p| p.get("_meta"))
                .and_then(|m| m.get("progressToken"))
                .cloned()
        });
        let token = client_token.as_ref().map(|_| {
            let t = json!(format!("gw-progress-{id}"));
            set_progress_token(&mut params, t.clone());
            t
        });
        let msg = Message::request(json!(id), method, params);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(
            id,
            Pending {
                tx,
                progress_token: token,
                client_token,
                downstream: ctx.downstream,
            },
        );
        let mut guard = InFlight {
            core: self.clone(),
            id,
            cancellable: method != "initialize",
            reason: "the client cancelled the request",
            done: false,
        };
        // One deadline for the whole exchange: a full stdio queue or a POST that never ends
        // counts against it as much as a slow answer.
        let exchange = async {
            let mut rx = rx;
            let work = match self.start_request(id, msg).await {
                Ok(work) => work,
                Err(e) => return Some(Err(e)),
            };
            let answer = match work {
                None => rx.await,
                Some(mut work) => {
                    tokio::select! {
                        r = &mut rx => r,
                        // The exchange ended (the answer, if any, was dispatched): wait for it.
                        _ = &mut work => rx.await,
                    }
                }
            };
            answer.ok()
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Some(result)) => {
                guard.done = true;
                if result.is_err() {
                    // Not sent (or failed): nothing to cancel.
                    self.pending.lock().remove(&id);
                }
                result
            }
            Ok(None) => {
                guard.done = true;
                Err(self.closed_error())
            }
            Err(_) => {
                guard.reason = "the gateway's timeout expired";
                if method != "initialize" {
                    self.check_alive();
                }
                Err(UpstreamError::Timeout {
                    what: self.name.clone(),
                    after: timeout,
                })
            }
        }
    }
}

fn set_progress_token(params: &mut Option<Value>, token: Value) {
    let p = params.get_or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(p) = p {
        let meta = p
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("progressToken".into(), token);
        }
    }
}

/// Drop guard of an in-flight request: unless answered, it removes the pending entry and sends
/// `notifications/cancelled` (an HTTP response reader runs inside the request's own future, so
/// it stops with it).
struct InFlight {
    core: Arc<Core>,
    id: u64,
    cancellable: bool,
    reason: &'static str,
    done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let removed = self.core.pending.lock().remove(&self.id).is_some();
        if removed && self.cancellable && self.core.is_alive() {
            let params = json!({ "requestId": self.id, "reason": self.reason });
            self.core.send_detached(Message::notification(
                "notifications/cancelled",
                Some(params),
            ));
        }
    }
}

/// A live MCP client session with one upstream server.
///
/// Cheap to share (`Arc<Upstream>`); dropping the last handle closes the session (a stdio
/// child is killed). Built by [`Upstream::connect`] or obtained from a [`super::Pool`].
pub struct Upstream {
    core: Arc<Core>,
    info: OnceLock<Value>,
    version: OnceLock<String>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.core.name)
            .field("transport", &self.core.spec.transport.kind())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Upstream {
    /// Starts the transport and performs the MCP handshake (`initialize`, then
    /// `notifications/initialized`), all within the spec's discovery timeout.
    pub async fn connect(
        spec: UpstreamSpec,
        handler: Arc<dyn UpstreamHandler>,
    ) -> Result<Arc<Upstream>, UpstreamError> {
        let limit = spec.timeouts.discovery;
        let name = spec.name.clone();
        match tokio::time::timeout(limit, Self::connect_inner(spec, handler)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout {
                what: format!("{name} (start and initialize)"),
                after: limit,
            }),
        }
    }

    async fn connect_inner(
        spec: UpstreamSpec,
        handler: Arc<dyn UpstreamHandler>,
    ) -> Result<Arc<Upstream>, UpstreamError> {
        let core = match &spec.transport {
            Transport::Stdio { .. } => super::stdio::open(spec, handler)?,
            Transport::StreamableHttp { .. } => super::http::open(spec, handler)?,
            Transport::Sse { .. } => super::sse::open(spec, handler).await?,
        };
        // From here on, dropping `up` (an error or the caller's timeout) closes the session.
        let up = Upstream {
            core,
            info: OnceLock::new(),
            version: OnceLock::new(),
        };
        let limit = up.core.spec.timeouts.discovery;
        let result = up
            .core
            .request(
                "initialize",
                Some(initialize_params()),
                RequestCtx::default(),
                limit,
            )
            .await
            .and_then(|r| parse_result(&r))?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !SUPPORTED_PROTOCOL_VERSIONS.contains(&version.as_str()) {
            return Err(UpstreamError::Protocol(format!(
                "upstream server `{}` answered initialize with unsupported protocol version {:?}",
                up.core.name, version
            )));
        }
        if let Link::Http(h) = &up.core.link {
            h.set_protocol_version(&version);
        }
        let _ = up.info.set(result);
        let _ = up.version.set(version);
        up.core
            .send(Message::notification("notifications/initialized", None))
            .await?;
        if let Link::Http(h) = &up.core.link {
            h.start_get_stream(&up.core);
        }
        Ok(Arc::new(up))
    }

    /// The server name of the spec.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The spec the session was made from.
    pub fn spec(&self) -> &UpstreamSpec {
        &self.core.spec
    }

    /// The server's `initialize` result: `protocolVersion`, `capabilities`, `serverInfo`,
    /// `instructions` (as sent, unknown fields included).
    pub fn server_info(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.info.get().unwrap_or(&NULL)
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> &str {
        self.version
            .get()
            .map(String::as_str)
            .unwrap_or(PROTOCOL_VERSION)
    }

    /// Sends a request and returns its `result` object.
    ///
    /// The session assigns the id; a JSON-RPC error answer is [`UpstreamError::Rpc`]; no answer
    /// within the spec's request timeout (its discovery timeout for `*/list`, `ping`,
    /// `initialize`) is [`UpstreamError::Timeout`]. Dropping the future before the answer
    /// sends `notifications/cancelled {requestId, reason}` upstream.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: RequestCtx,
    ) -> Result<Value, UpstreamError> {
        parse_result(&self.request_raw(method, params, ctx).await?)
    }

    /// [`Upstream::request`], the result left as the server wrote it (to pass it on).
    pub async fn request_raw(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: RequestCtx,
    ) -> Result<RawResult, UpstreamError> {
        let limit = self.core.default_timeout(method);
        self.core.request(method, params, ctx, limit).await
    }

    /// [`Upstream::request`] with an explicit time limit (e.g. from a reloaded config).
    pub async fn request_with_timeout(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: RequestCtx,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        parse_result(&self.core.request(method, params, ctx, timeout).await?)
    }

    /// Sends a notification (e.g. `notifications/roots/list_changed`).
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), UpstreamError> {
        if !self.is_alive() {
            return Err(self.core.closed_error());
        }
        self.core.send(Message::notification(method, params)).await
    }

    /// False once the session has ended (process exited, stream ended, closed).
    pub fn is_alive(&self) -> bool {
        self.core.is_alive()
    }

    /// Ends the session: pending requests fail, a stdio child gets its stdin closed and is
    /// killed if it has not exited shortly after, an HTTP session is ended with `DELETE`.
    pub async fn close(&self) {
        self.core.close_with(format!(
            "the session with upstream server `{}` was closed by the gateway",
            self.core.name
        ));
        match &self.core.link {
            Link::Stdio(s) => {
                s.wait_exited(super::stdio::STOP_GRACE * 2 + Duration::from_secs(1))
                    .await
            }
            Link::Http(h) => h.terminate().await,
            Link::Sse(_) => {}
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.core.close_with(format!(
            "the session with upstream server `{}` was closed by the gateway",
            self.core.name
        ));
        if let Link::Http(h) = &self.core.link {
            h.terminate_detached();
        }
    }
}
