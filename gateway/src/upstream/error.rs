//! Errors of upstream sessions.
//!
//! Every variant's text is fit to show a user: it becomes the `message` of the JSON-RPC error
//! the gateway answers with ([`UpstreamError::to_rpc`]). Texts name the upstream server but never
//! carry header values, environment values or URL query strings (they may hold credentials).

use std::time::Duration;

use crate::jsonrpc::{RpcError, TIMEOUT_ERROR, UPSTREAM_ERROR};

/// Why an upstream operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The server could not be reached (TCP/TLS connect, DNS, refused, reset).
    #[error("cannot connect to the upstream server: {0}")]
    Connect(String),
    /// The server's process could not be started.
    #[error("cannot start the upstream server: {0}")]
    Spawn(String),
    /// The session ended (process exited, stream closed, session closed by the gateway); the
    /// text says which, e.g. "upstream server `demo` exited (exit status: 3)".
    #[error("{0}")]
    Closed(String),
    /// No answer in time; `what` names the upstream (and, for handshakes, the step).
    #[error("Upstream {what} timed out after {}", fmt_duration(*after))]
    Timeout {
        /// What timed out, e.g. the server name.
        what: String,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// The server answered an HTTP request with an error status.
    #[error("the upstream server answered HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The server answered with a JSON-RPC error (kept as the server sent it).
    #[error("{}", .0.message)]
    Rpc(RpcError),
    /// The server broke the protocol (bad JSON, unsupported version, unexpected content).
    #[error("upstream protocol error: {0}")]
    Protocol(String),
}

impl UpstreamError {
    /// Whether this is [`UpstreamError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout { .. })
    }

    /// The JSON-RPC error to answer a client with: an upstream's own error unchanged,
    /// `-32001` for timeouts, `-32000` for everything else.
    pub fn to_rpc(&self) -> RpcError {
        match self {
            UpstreamError::Rpc(e) => e.clone(),
            UpstreamError::Timeout { .. } => RpcError::new(TIMEOUT_ERROR, self.to_string()),
            _ => RpcError::new(UPSTREAM_ERROR, self.to_string()),
        }
    }
}

/// `60s`, `1.5s`, `200ms`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes() {
        let t = UpstreamError::Timeout {
            what: "github".into(),
            after: Duration::from_secs(60),
        };
        assert_eq!(t.to_string(), "Upstream github timed out after 60s");
        assert_eq!(t.to_rpc().code, TIMEOUT_ERROR);
        assert_eq!(
            UpstreamError::Closed("x".into()).to_rpc().code,
            UPSTREAM_ERROR
        );
        let rpc = RpcError::new(-32602, "bad");
        assert_eq!(UpstreamError::Rpc(rpc.clone()).to_rpc(), rpc);
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hé", 2), "hé");
        let h = UpstreamError::Http {
            status: 500,
            body: String::new(),
        };
        assert_eq!(h.to_string(), "the upstream server answered HTTP 500");
    }
}
