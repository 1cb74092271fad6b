//! The legacy HTTP+SSE transport (MCP 2024-11-05), client side.
//!
//! `GET <url>` with `Accept: text/event-stream` opens the one event stream; its first
//! `endpoint` event gives the URL (relative to the SSE URL, usually with a session query) to
//! POST every message to, as the official SDK clients do. POSTs are answered 202 and every
//! answer arrives as a `message` event on the stream, read by one task. When the stream ends
//! the session is closed, failing pending requests.
//!
//! Invariant: the endpoint must have the SSE URL's origin (scheme, host, port), as the SDKs
//! check, so a server cannot redirect the gateway's messages (and headers) elsewhere.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Url};

use super::http::{
    client, connect_error, display_url, error_text, header_map, parse_url, status_error,
};
use super::session::{Core, Link};
use super::spec::{Transport, UpstreamSpec};
use super::sse_parse::{SseEvent, SseParser};
use super::{UpstreamError, UpstreamHandler};
use crate::jsonrpc::Message;

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The sending side of a legacy SSE session.
pub(crate) struct SseLink {
    name: String,
    client: Client,
    endpoint: Url,
    headers: HeaderMap,
}

impl SseLink {
    /// POSTs one message to the endpoint (any 2xx is success).
    pub(crate) async fn post(&self, msg: &Message) -> Result<(), UpstreamError> {
        let resp = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(msg.to_bytes())
            .send()
            .await
            .map_err(|e| connect_error(&self.name, &self.endpoint, e))?;
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        Ok(())
    }
}

/// Opens the event stream, waits for `endpoint`, and starts the reader task.
pub(crate) async fn open(
    spec: UpstreamSpec,
    handler: Arc<dyn UpstreamHandler>,
) -> Result<Arc<Core>, UpstreamError> {
    let Transport::Sse { url, headers } = &spec.transport else {
        return Err(UpstreamError::Protocol("not an SSE spec".into()));
    };
    let name = spec.name.clone();
    let url = parse_url(&name, url)?;
    let headers = header_map(&name, headers)?;
    let client = client(spec.timeouts.connect)?;
    let resp = client
        .get(url.clone())
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| connect_error(&name, &url, e))?;
    if !resp.status().is_success() {
        return Err(status_error(resp).await);
    }
    let mut stream: ByteStream = resp.bytes_stream().boxed();
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut backlog = Vec::new();
    let endpoint = loop {
        let chunk = match stream.next().await {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                return Err(UpstreamError::Connect(format!(
                    "`{name}` at {}: {}",
                    display_url(&url),
                    error_text(e)
                )))
            }
            None => {
                return Err(UpstreamError::Protocol(format!(
                    "upstream server `{name}` closed its event stream before sending the endpoint"
                )))
            }
        };
        parser
            .feed(&chunk, &mut events)
            .map_err(|e| UpstreamError::Protocol(format!("upstream server `{name}`: {e}")))?;
        let mut found = None;
        for ev in events.drain(..) {
            if found.is_none() && ev.event == "endpoint" {
                found = Some(ev.data);
            } else {
                backlog.push(ev);
            }
        }
        if let Some(ep) = found {
            break ep;
        }
    };
    let endpoint = url.join(endpoint.trim()).map_err(|e| {
        UpstreamError::Protocol(format!(
            "upstream server `{name}` sent an invalid endpoint: {e}"
        ))
    })?;
    if endpoint.origin() != url.origin() {
        return Err(UpstreamError::Protocol(format!(
            "upstream server `{name}` sent an endpoint on another origin ({})",
            endpoint.origin().ascii_serialization()
        )));
    }
    let link = SseLink {
        name,
        client,
        endpoint,
        headers,
    };
    let core = Core::new(spec, handler, Link::Sse(Arc::new(link)));
    tokio::spawn(read_loop(core.clone(), stream, parser, backlog));
    Ok(core)
}

fn deliver(core: &Arc<Core>, events: &mut Vec<SseEvent>) {
    for ev in events.drain(..) {
        if ev.event == "message" && !ev.data.trim().is_empty() {
            core.dispatch_bytes(ev.data.as_bytes(), None);
        }
    }
}

async fn read_loop(
    core: Arc<Core>,
    mut stream: ByteStream,
    mut parser: SseParser,
    mut backlog: Vec<SseEvent>,
) {
    deliver(&core, &mut backlog);
    let shutdown = core.shutdown.clone();
    let mut events = Vec::new();
    let why = loop {
        let chunk = tokio::select! {
            c = stream.next() => c,
            _ = shutdown.cancelled() => return,
        };
        match chunk {
            Some(Ok(c)) => {
                if let Err(e) = parser.feed(&c, &mut events) {
                    break e.to_string();
                }
                deliver(&core, &mut events);
            }
            Some(Err(e)) => break error_text(e),
            None => break "the server ended it".to_string(),
        }
    };
    core.close_with(format!(
        "the event stream of upstream server `{}` closed: {why}",
        core.name
    ));
}
