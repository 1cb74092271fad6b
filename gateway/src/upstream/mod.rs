//! Long-lived client sessions with upstream MCP servers, and their pool.
//!
//! - [`spec`]: what a session is made from ([`UpstreamSpec`], [`Transport`], [`Timeouts`]).
//! - `session`: the transport-independent MCP client ([`Upstream`]): the `initialize`
//!   handshake, request ids of its own multiplexed through a pending map, timeouts with
//!   `notifications/cancelled`, progress routing and relaying of server→client requests.
//! - `stdio`, `http`, `sse`: the three transports (child process, streamable HTTP,
//!   legacy HTTP+SSE); `env` (the environment a child gets) and `group` (its process group)
//!   serve `stdio`.
//! - [`sse_parse`]: the `text/event-stream` parser both HTTP transports use.
//! - [`pool`]: one session per definition, reconnected on demand ([`Pool`]).
//!
//! Invariants: the gateway never forwards a client's request id upstream (each session numbers
//! its own requests from 1); concurrent requests on one session never wait for each other; a
//! request whose future is dropped before its answer is cancelled upstream; nothing here writes
//! to stdout (an upstream's stderr goes to `tracing` at debug level).

mod env;
mod error;
mod group;
mod http;
pub mod pool;
mod session;
pub mod spec;
mod sse;
pub mod sse_parse;
mod stdio;

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::jsonrpc::{Message, RpcError};

pub use error::UpstreamError;
pub use pool::{Pool, SlotStats};
pub use session::{
    parse_result, RawResult, Upstream, CLIENT_NAME, PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
pub use spec::{Timeouts, Transport, UpstreamSpec};

/// The client side of the request being served, for messages an upstream sends about it.
///
/// The gateway implements it per downstream request: `notify` forwards `notifications/progress`
/// for the request's progress token, `request` relays `sampling/createMessage`,
/// `elicitation/create` and `roots/list` to the client and returns its answer.
pub trait Downstream: Send + Sync {
    /// Forwards a notification (the upstream's message, unchanged).
    fn notify(&self, msg: Message);
    /// Sends a request to the client and resolves with its `result` or error.
    fn request(
        &self,
        method: String,
        params: Option<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcError>>;
    /// Which client this is (the gateway's session id), to tell clients sharing an upstream
    /// session apart; `None` when unknown.
    fn client(&self) -> Option<&str> {
        None
    }
}

/// Receives what an upstream session sends outside any request.
pub trait UpstreamHandler: Send + Sync {
    /// A notification not tied to an in-flight request: `notifications/tools/list_changed`
    /// (and prompts, resources), `notifications/resources/updated`, `notifications/message`, ...
    fn on_notification(&self, server: &str, msg: Message);
    /// As [`UpstreamHandler::on_notification`], with the whole definition of the server that
    /// sent it and its pool key (two configs may use one name for different servers). Calls
    /// `on_notification` with the server's name unless overridden.
    fn on_server_notification(&self, spec: &UpstreamSpec, pool_key: &str, msg: Message) {
        let _ = pool_key;
        self.on_notification(&spec.name, msg);
    }
    /// The session ended (process exit, stream end, failed re-initialization, or close).
    /// Called once per session.
    fn on_closed(&self, server: &str) {
        let _ = server;
    }
}

/// A handler that ignores everything (for callers with no use for server notifications).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHandler;

impl UpstreamHandler for NoHandler {
    fn on_notification(&self, _server: &str, _msg: Message) {}
}

/// Per-request options of [`Upstream::request`].
#[derive(Clone, Default)]
pub struct RequestCtx {
    /// The client's progress token: sent upstream as `params._meta.progressToken`, and
    /// `notifications/progress` carrying it go to `downstream`. When `None`, a token already in
    /// `params._meta.progressToken` is used for routing.
    pub progress_token: Option<Value>,
    /// Where progress and server→client requests raised during this request go.
    pub downstream: Option<Arc<dyn Downstream>>,
}

impl RequestCtx {
    /// A context with a downstream and an optional progress token.
    pub fn with_downstream(downstream: Arc<dyn Downstream>, progress_token: Option<Value>) -> Self {
        RequestCtx {
            progress_token,
            downstream: Some(downstream),
        }
    }
}

impl fmt::Debug for RequestCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCtx")
            .field("progress_token", &self.progress_token)
            .field("downstream", &self.downstream.is_some())
            .finish()
    }
}
