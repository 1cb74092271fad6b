//! The streamable HTTP transport (MCP 2025-03-26 and later), client side.
//!
//! Every message is a POST to the one endpoint with `Accept: application/json,
//! text/event-stream`, the configured headers, `Mcp-Session-Id` once `initialize` returned one
//! and `MCP-Protocol-Version` once negotiated. Notifications and responses expect 202. A
//! request's answer is either `application/json` or an SSE stream carrying notifications and
//! requests related to it, then the response; one task per request reads that stream, so
//! requests never wait for each other. If a stream ends early after giving event ids
//! (2025-11-25 SSE polling), the task resumes it with `GET` + `Last-Event-ID` after the
//! server's `retry` delay. After the handshake a `GET` stream carries server-initiated
//! messages (a 405 means the server offers none). A 404 for a request that carried a session id
//! means the session expired (so does a 400 whose body mentions the session, as servers built
//! from the SDK examples answer): the session is re-initialized once (single-flight) and the
//! request retried. `close` sends `DELETE` with the session id.
//!
//! Invariants: error texts never contain header values or the URL's query; bodies are read
//! with a size limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use parking_lot::Mutex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Response, StatusCode, Url};
use serde_json::json;
use tokio::task::AbortHandle;

use super::error::truncate;
use super::session::{initialize_params, response_id, Core, Link};
use super::spec::{Transport, UpstreamSpec};
use super::sse_parse::{SseParser, MAX_EVENT_BYTES};
use super::{UpstreamError, UpstreamHandler};
use crate::jsonrpc::{Message, JSON, PROTOCOL_VERSION, SESSION_ID};

const LAST_EVENT_HEADER: HeaderName = HeaderName::from_static("last-event-id");
/// Room in a POST's header map beyond the configured headers: the session and protocol
/// version, the two types, the trace context, and what the client and connection add (its
/// default `accept` and `user-agent`, `host`, `content-length`).
const POST_HEADER_ROOM: usize = 12;
/// The largest `application/json` body accepted.
const MAX_BODY: usize = MAX_EVENT_BYTES;
/// Characters of an error body kept in [`UpstreamError::Http`].
const MAX_ERROR_BODY: usize = 300;
/// The reconnection delay when the server gave none.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Upper bound of a server-requested reconnection delay.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// A reqwest client with the connect timeout.
pub(crate) fn client(connect_timeout: Duration) -> Result<Client, UpstreamError> {
    Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| UpstreamError::Connect(format!("cannot build the HTTP client: {e}")))
}

/// The configured headers; an invalid name or value is an error naming only the header.
pub(crate) fn header_map(
    name: &str,
    headers: &[(String, String)],
) -> Result<HeaderMap, UpstreamError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let bad =
            || UpstreamError::Connect(format!("upstream server `{name}`: invalid header `{k}`"));
        let hn = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad())?;
        let hv = HeaderValue::from_str(v).map_err(|_| bad())?;
        map.append(hn, hv);
    }
    Ok(map)
}

/// Parses an http(s) URL.
pub(crate) fn parse_url(name: &str, url: &str) -> Result<Url, UpstreamError> {
    let u = Url::parse(url).map_err(|e| {
        UpstreamError::Connect(format!("upstream server `{name}`: invalid URL: {e}"))
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(UpstreamError::Connect(format!(
            "upstream server `{name}`: the URL must be http or https"
        )));
    }
    Ok(u)
}

/// The URL without query, fragment or credentials, for messages.
pub(crate) fn display_url(u: &Url) -> String {
    format!("{}{}", u.origin().ascii_serialization(), u.path())
}

/// A reqwest error as text: its chain of causes, without the URL.
pub(crate) fn error_text(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Sending failed before any answer.
pub(crate) fn connect_error(name: &str, url: &Url, e: reqwest::Error) -> UpstreamError {
    UpstreamError::Connect(format!(
        "`{name}` at {}: {}",
        display_url(url),
        error_text(e)
    ))
}

/// An error status, with the start of its body.
pub(crate) async fn status_error(resp: Response) -> UpstreamError {
    let status = resp.status().as_u16();
    let body = match read_capped(resp, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    UpstreamError::Http {
        status,
        body: truncate(&body, MAX_ERROR_BODY),
    }
}

/// Reads a body, failing past `cap` bytes.
async fn read_capped(resp: Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut stream = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(error_text)?;
        if out.len() + chunk.len() > cap {
            return Err(format!("response body larger than {cap} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[derive(Default)]
struct HttpState {
    session_id: Option<String>,
    protocol_version: Option<String>,
}

/// What reading one response gave.
#[derive(Default)]
struct Outcome {
    /// The intercepted response (re-initialization only).
    found: Option<Message>,
    last_event_id: Option<String>,
    retry: Option<Duration>,
}

enum Failure {
    /// 404 for a request sent with a session id.
    Expired,
    Other(UpstreamError),
}

impl From<UpstreamError> for Failure {
    fn from(e: UpstreamError) -> Self {
        Failure::Other(e)
    }
}

/// The sending side of a streamable HTTP session.
pub(crate) struct HttpLink {
    name: String,
    client: Client,
    url: Url,
    headers: HeaderMap,
    state: Mutex<HttpState>,
    reinit: tokio::sync::Mutex<()>,
    get_task: Mutex<Option<AbortHandle>>,
    terminated: AtomicBool,
}

/// Builds the session; nothing is sent until `initialize`.
pub(crate) fn open(
    spec: UpstreamSpec,
    handler: Arc<dyn UpstreamHandler>,
) -> Result<Arc<Core>, UpstreamError> {
    let Transport::StreamableHttp { url, headers } = &spec.transport else {
        return Err(UpstreamError::Protocol("not a streamable HTTP spec".into()));
    };
    let link = HttpLink {
        name: spec.name.clone(),
        client: client(spec.timeouts.connect)?,
        url: parse_url(&spec.name, url)?,
        headers: header_map(&spec.name, headers)?,
        state: Mutex::new(HttpState::default()),
        reinit: tokio::sync::Mutex::new(()),
        get_task: Mutex::new(None),
        terminated: AtomicBool::new(false),
    };
    Ok(Core::new(spec, handler, Link::Http(Arc::new(link))))
}

impl HttpLink {
    fn session_id(&self) -> Option<String> {
        self.state.lock().session_id.clone()
    }

    pub(crate) fn set_protocol_version(&self, v: &str) {
        self.state.lock().protocol_version = Some(v.to_string());
    }

    /// The headers every request to the server carries (the configured ones, the session id
    /// `sid`, the negotiated protocol version) in a map with room for `more` beyond the
    /// configured ones, so that adding the rest does not grow (re-hash) it; an error when the
    /// session id or the version is not a valid header value.
    fn session_headers(&self, sid: Option<&str>, more: usize) -> Result<HeaderMap, UpstreamError> {
        let invalid = |what: &str| {
            UpstreamError::Connect(format!(
                "`{}` at {}: the {what} is not a valid header value",
                self.name,
                display_url(&self.url)
            ))
        };
        let mut headers = HeaderMap::with_capacity(self.headers.len() + more);
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        if let Some(s) = sid {
            let v = HeaderValue::from_str(s).map_err(|_| invalid("session id"))?;
            headers.append(SESSION_ID, v);
        }
        if let Some(v) = self.state.lock().protocol_version.as_deref() {
            let v = HeaderValue::from_str(v).map_err(|_| invalid("protocol version"))?;
            headers.append(PROTOCOL_VERSION, v);
        }
        Ok(headers)
    }

    /// Sends a notification or response (202 expected; a body, if any, is dispatched).
    pub(crate) async fn send(&self, core: &Arc<Core>, msg: &Message) -> Result<(), UpstreamError> {
        self.exchange(core, msg, None, &[]).await.map(|_| ())
    }

    /// The work that POSTs request `id` and reads its answer (dispatching it to the pending
    /// request). The caller runs it in its own task, next to the wait for the answer, so a
    /// request costs no extra task and no cross-thread wake-up; dropping it aborts the POST.
    pub(crate) fn request_work(
        self: &Arc<Self>,
        core: &Arc<Core>,
        id: u64,
        msg: Message,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let link = self.clone();
        let core = core.clone();
        // Taken now, in the caller's span: the trace context of the upstream call.
        let trace = crate::otel::trace_headers();
        async move {
            let shutdown = core.shutdown.clone();
            let run = async {
                match link.exchange(&core, &msg, Some(id), &trace).await {
                    Err(e) => core.fail(id, e),
                    Ok(out) if core.is_pending(id) => {
                        if let Some(last) = out.last_event_id {
                            if let Err(e) = link.resume(&core, id, last, out.retry).await {
                                core.fail(id, e);
                            }
                        } else if core.is_pending(id) {
                            // No answer and no way to resume; the answer may still come on the
                            // GET stream, so the request is left to its timeout.
                            tracing::debug!(server = %link.name, "request {id}: response stream ended without an answer");
                        }
                    }
                    Ok(_) => {}
                }
            };
            tokio::select! {
                _ = run => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// POSTs `msg`; on a 404 for a known session, re-initializes once and retries.
    async fn exchange(
        &self,
        core: &Arc<Core>,
        msg: &Message,
        origin: Option<u64>,
        trace: &[Option<crate::otel::TraceHeader>],
    ) -> Result<Outcome, UpstreamError> {
        let is_init = msg.method() == Some("initialize");
        let sid = if is_init { None } else { self.session_id() };
        match self
            .post(core, msg, origin, sid.clone(), is_init, false, trace)
            .await
        {
            Ok(out) => Ok(out),
            Err(Failure::Other(e)) => Err(e),
            Err(Failure::Expired) => {
                self.reinitialize(core, sid).await?;
                match self
                    .post(core, msg, origin, self.session_id(), false, false, trace)
                    .await
                {
                    Ok(out) => Ok(out),
                    Err(Failure::Other(e)) => Err(e),
                    Err(Failure::Expired) => Err(UpstreamError::Http {
                        status: 404,
                        body: "session not found, even after re-initializing".into(),
                    }),
                }
            }
        }
    }

    /// One POST (with the trace context headers `trace`) and the reading of its answer.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        core: &Arc<Core>,
        msg: &Message,
        origin: Option<u64>,
        sid: Option<String>,
        is_init: bool,
        intercept: bool,
        trace: &[Option<crate::otel::TraceHeader>],
    ) -> Result<Outcome, Failure> {
        let mut headers = self.session_headers(sid.as_deref(), POST_HEADER_ROOM)?;
        // A constant: `from_static` checks its text on every call otherwise.
        const ACCEPTED: HeaderValue =
            HeaderValue::from_static("application/json, text/event-stream");
        headers.append(ACCEPT, ACCEPTED);
        headers.append(CONTENT_TYPE, JSON);
        for (name, value) in trace.iter().flatten() {
            headers.append(name, value.clone());
        }
        let failed = |e| connect_error(&self.name, &self.url, e);
        let mut req = self
            .client
            .post(self.url.clone())
            .body(msg.to_bytes())
            .build()
            .map_err(failed)?;
        // Set whole: the builder would merge them into a map of its own, grown.
        *req.headers_mut() = headers;
        let resp = self.client.execute(req).await.map_err(failed)?;
        let status = resp.status();
        if !status.is_success() {
            let err = status_error(resp).await;
            // 404 is the specified answer for an unknown session; many servers built from the
            // SDK examples (server-everything among them) answer 400 "No valid session ID".
            let expired = sid.is_some()
                && match &err {
                    UpstreamError::Http { status: 404, .. } => true,
                    UpstreamError::Http { status: 400, body } => {
                        body.to_ascii_lowercase().contains("session")
                    }
                    _ => false,
                };
            return Err(if expired {
                Failure::Expired
            } else {
                err.into()
            });
        }
        if is_init {
            let new_sid = resp
                .headers()
                .get(&SESSION_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            self.state.lock().session_id = new_sid;
        }
        Ok(self.read_answer(core, resp, origin, intercept).await?)
    }

    /// Reads a JSON or SSE answer, dispatching its messages (the response to `origin` is
    /// returned instead when `intercept`).
    async fn read_answer(
        &self,
        core: &Arc<Core>,
        resp: Response,
        origin: Option<u64>,
        intercept: bool,
    ) -> Result<Outcome, UpstreamError> {
        if resp.status() == StatusCode::ACCEPTED || resp.status() == StatusCode::NO_CONTENT {
            return Ok(Outcome::default());
        }
        let ctype = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ctype.starts_with("text/event-stream") {
            return self
                .read_stream(core, resp.bytes_stream(), origin, intercept)
                .await;
        }
        let body = read_capped(resp, MAX_BODY).await.map_err(|e| {
            UpstreamError::Closed(format!(
                "reading the answer of upstream server `{}`: {e}",
                self.name
            ))
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Outcome::default());
        }
        if !ctype.starts_with("application/json") {
            return Err(UpstreamError::Protocol(format!(
                "upstream server `{}` answered with content type {ctype:?}",
                self.name
            )));
        }
        let mut out = Outcome::default();
        if intercept {
            for item in Message::parse(&body).map_err(|e| UpstreamError::Protocol(e.message))? {
                let Ok(m) = item else { continue };
                if origin.is_some() && response_id(&m) == origin {
                    out.found = Some(m);
                } else {
                    core.dispatch(m, origin);
                }
            }
        } else {
            core.dispatch_bytes(&body, origin);
        }
        Ok(out)
    }

    /// Reads an SSE body until it ends or delivers the response to `origin`.
    async fn read_stream(
        &self,
        core: &Arc<Core>,
        stream: impl Stream<Item = reqwest::Result<Bytes>>,
        origin: Option<u64>,
        intercept: bool,
    ) -> Result<Outcome, UpstreamError> {
        let mut stream = std::pin::pin!(stream);
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut out = Outcome::default();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // A dropped connection is not a cancellation: resume if we can.
                    tracing::debug!(server = %self.name, "event stream broke: {}", error_text(e));
                    break;
                }
            };
            let fed = parser.feed(&chunk, &mut events);
            out.last_event_id = parser.last_event_id().map(str::to_string);
            out.retry = parser.retry();
            fed.map_err(|e| {
                UpstreamError::Protocol(format!("upstream server `{}`: {e}", self.name))
            })?;
            for ev in events.drain(..) {
                if ev.event != "message" || ev.data.trim().is_empty() {
                    continue;
                }
                if intercept {
                    for item in Message::parse(ev.data.as_bytes()).into_iter().flatten() {
                        let Ok(m) = item else { continue };
                        if origin.is_some() && response_id(&m) == origin {
                            out.found = Some(m);
                            return Ok(out);
                        }
                        core.dispatch(m, origin);
                    }
                } else if core.dispatch_bytes(ev.data.as_bytes(), origin) {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Resumes the stream of request `id` with `GET` + `Last-Event-ID` until it is answered.
    async fn resume(
        &self,
        core: &Arc<Core>,
        id: u64,
        mut last: String,
        mut retry: Option<Duration>,
    ) -> Result<(), UpstreamError> {
        for _ in 0..1000 {
            tokio::time::sleep(retry.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY)).await;
            if !core.is_pending(id) {
                return Ok(());
            }
            let resp = self.get(Some(&last)).await?;
            if !resp.status().is_success() {
                return Err(status_error(resp).await);
            }
            let out = self.read_answer(core, resp, Some(id), false).await?;
            if !core.is_pending(id) {
                return Ok(());
            }
            match out.last_event_id {
                Some(l) => last = l,
                None => break,
            }
            retry = out.retry.or(retry);
        }
        Err(UpstreamError::Protocol(format!(
            "upstream server `{}` closed the response stream without answering",
            self.name
        )))
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<Response, UpstreamError> {
        let headers = self.session_headers(self.session_id().as_deref(), 4)?;
        let mut rb = self
            .client
            .get(self.url.clone())
            .headers(headers)
            .header(ACCEPT, "text/event-stream");
        if let Some(l) = last_event_id {
            rb = rb.header(LAST_EVENT_HEADER, l);
        }
        rb.send()
            .await
            .map_err(|e| connect_error(&self.name, &self.url, e))
    }

    /// Opens (or reopens) the GET stream for server-initiated messages.
    pub(crate) fn start_get_stream(self: &Arc<Self>, core: &Arc<Core>) {
        let link = self.clone();
        let core = core.clone();
        let task = tokio::spawn(async move {
            let shutdown = core.shutdown.clone();
            tokio::select! {
                _ = link.get_loop(&core) => {}
                _ = shutdown.cancelled() => {}
            }
        });
        if let Some(old) = self.get_task.lock().replace(task.abort_handle()) {
            old.abort();
        }
    }

    async fn get_loop(&self, core: &Arc<Core>) {
        let mut last: Option<String> = None;
        let mut retry: Option<Duration> = None;
        loop {
            let resp = match self.get(last.as_deref()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(server = %self.name, "GET stream: {e}");
                    return;
                }
            };
            if !resp.status().is_success() {
                // 405: the server offers no such stream; others: give up until re-initialized.
                tracing::debug!(server = %self.name, "GET stream refused: HTTP {}", resp.status().as_u16());
                return;
            }
            match self.read_answer(core, resp, None, false).await {
                Ok(out) => {
                    last = out.last_event_id.or(last);
                    retry = out.retry.or(retry);
                }
                Err(e) => {
                    tracing::debug!(server = %self.name, "GET stream: {e}");
                    return;
                }
            }
            tokio::time::sleep(retry.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY)).await;
        }
    }

    /// Starts a new session after a 404: one re-initialization however many requests saw it.
    async fn reinitialize(
        &self,
        core: &Arc<Core>,
        expired: Option<String>,
    ) -> Result<(), UpstreamError> {
        let _guard = self.reinit.lock().await;
        if self.session_id() != expired {
            return Ok(());
        }
        tracing::debug!(server = %self.name, "session expired; re-initializing");
        let limit = core.spec.timeouts.discovery;
        let result = match tokio::time::timeout(limit, self.initialize(core)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout {
                what: format!("{} (re-initialize)", self.name),
                after: limit,
            }),
        };
        if let Err(e) = &result {
            core.close_with(format!(
                "the session with upstream server `{}` expired and re-initializing failed: {e}",
                self.name
            ));
        }
        result
    }

    async fn initialize(&self, core: &Arc<Core>) -> Result<(), UpstreamError> {
        let id = core.next_id();
        let msg = Message::request(json!(id), "initialize", Some(initialize_params()));
        let out = match self.post(core, &msg, Some(id), None, true, true, &[]).await {
            Ok(out) => out,
            Err(Failure::Other(e)) => return Err(e),
            Err(Failure::Expired) => {
                return Err(UpstreamError::Http {
                    status: 404,
                    body: "session not found".into(),
                })
            }
        };
        let Some(resp) = out.found else {
            return Err(UpstreamError::Protocol(format!(
                "upstream server `{}` did not answer initialize",
                self.name
            )));
        };
        if let Some(e) = resp.error_value() {
            return Err(UpstreamError::Rpc(e));
        }
        if let Some(v) = resp
            .result_value()
            .and_then(|r| r.get("protocolVersion"))
            .and_then(|v| v.as_str())
        {
            self.set_protocol_version(v);
        }
        let initialized = Message::notification("notifications/initialized", None);
        match self
            .post(
                core,
                &initialized,
                None,
                self.session_id(),
                false,
                false,
                &[],
            )
            .await
        {
            Ok(_) => {}
            Err(Failure::Other(e)) => return Err(e),
            Err(Failure::Expired) => {
                return Err(UpstreamError::Http {
                    status: 404,
                    body: "session not found right after initialize".into(),
                })
            }
        }
        if let Link::Http(me) = &core.link {
            me.start_get_stream(core);
        }
        Ok(())
    }

    /// Ends the session with `DELETE` (once; errors and 405 ignored).
    pub(crate) async fn terminate(&self) {
        if self.terminated.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(a) = self.get_task.lock().take() {
            a.abort();
        }
        let Some(sid) = self.session_id() else { return };
        let rb = match self.session_headers(Some(&sid), 2) {
            Ok(headers) => self.client.delete(self.url.clone()).headers(headers),
            Err(e) => {
                tracing::debug!(server = %self.name, "DELETE session: {e}");
                return;
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), rb.send()).await {
            Ok(Ok(r)) => {
                tracing::debug!(server = %self.name, "DELETE session: HTTP {}", r.status().as_u16())
            }
            Ok(Err(e)) => tracing::debug!(server = %self.name, "DELETE session: {}", error_text(e)),
            Err(_) => tracing::debug!(server = %self.name, "DELETE session timed out"),
        }
    }

    /// [`Self::terminate`] from synchronous code (a dropped session), when a runtime runs.
    pub(crate) fn terminate_detached(self: &Arc<Self>) {
        if self.terminated.load(Ordering::Acquire) {
            return;
        }
        if let Some(a) = self.get_task.lock().take() {
            a.abort();
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let link = self.clone();
            rt.spawn(async move { link.terminate().await });
        }
    }
}
