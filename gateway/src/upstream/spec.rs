//! What an upstream session is made from: [`UpstreamSpec`] (name, transport, timeouts).
//!
//! Built from a config server entry ([`UpstreamSpec::from_server`]) or by hand. The pool key
//! ([`UpstreamSpec::pool_key`]) is the MD5 hex of the canonical JSON of the name and transport
//! (not the timeouts), so identical definitions in several mcp_configs share one session, and a
//! changed command, URL, header or env value yields a new session. `Debug` never shows env or
//! header values.

use std::fmt;
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::config::{RemoteTransport, ServerConfig, TimeoutSettings, UpstreamConfig};

/// How to reach an upstream MCP server.
#[derive(Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        /// The program (looked up in `PATH` when not a path).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// The server's `env`, set in order on top of the allow-listed part of the gateway's
        /// environment (see the `env` module).
        env: Vec<(String, String)>,
    },
    /// Streamable HTTP (MCP 2025-03-26 and later): one endpoint, POST per message.
    StreamableHttp {
        /// The endpoint, e.g. `http://127.0.0.1:3001/mcp`.
        url: String,
        /// Headers sent with every HTTP request, in order.
        headers: Vec<(String, String)>,
    },
    /// The legacy HTTP+SSE transport (MCP 2024-11-05): GET an event stream, POST to its endpoint.
    Sse {
        /// The SSE URL, e.g. `http://127.0.0.1:3001/sse`.
        url: String,
        /// Headers sent with every HTTP request, in order.
        headers: Vec<(String, String)>,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |kv: &[(String, String)]| kv.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        match self {
            Transport::Stdio { command, args, env } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env (values hidden)", &names(env))
                .finish(),
            Transport::StreamableHttp { url, headers } => f
                .debug_struct("StreamableHttp")
                .field("url", url)
                .field("headers (values hidden)", &names(headers))
                .finish(),
            Transport::Sse { url, headers } => f
                .debug_struct("Sse")
                .field("url", url)
                .field("headers (values hidden)", &names(headers))
                .finish(),
        }
    }
}

impl Transport {
    /// `stdio`, `streamable-http` or `sse`.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio { .. } => "stdio",
            Transport::StreamableHttp { .. } => "streamable-http",
            Transport::Sse { .. } => "sse",
        }
    }

    fn canonical(&self) -> Value {
        let pairs = |kv: &[(String, String)]| -> Value {
            kv.iter()
                .map(|(k, v)| json!([k, v]))
                .collect::<Vec<_>>()
                .into()
        };
        match self {
            Transport::Stdio { command, args, env } => {
                json!({ "type": "stdio", "command": command, "args": args, "env": pairs(env) })
            }
            Transport::StreamableHttp { url, headers } => {
                json!({ "type": "streamable-http", "url": url, "headers": pairs(headers) })
            }
            Transport::Sse { url, headers } => {
                json!({ "type": "sse", "url": url, "headers": pairs(headers) })
            }
        }
    }
}

/// Time limits of one upstream session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect of each HTTP connection (`connectivity_timeout`, 2 s).
    pub connect: Duration,
    /// `tools/call` and other operations (`tool_execution_timeout`, 60 s).
    pub request: Duration,
    /// Start + `initialize`, and `*/list` requests (`discovery_timeout`, 20 s).
    pub discovery: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(60),
            discovery: Duration::from_secs(20),
        }
    }
}

impl From<&TimeoutSettings> for Timeouts {
    fn from(t: &TimeoutSettings) -> Self {
        Timeouts {
            connect: t.connectivity,
            request: t.tool_execution,
            discovery: t.discovery,
        }
    }
}

/// One upstream server definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// The server name (`server_name`), used in logs and error texts.
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Its time limits.
    pub timeouts: Timeouts,
}

impl UpstreamSpec {
    /// The spec of a config server entry, with the config's timeouts.
    pub fn from_server(server: &ServerConfig, timeouts: &TimeoutSettings) -> UpstreamSpec {
        let transport = match &server.upstream {
            UpstreamConfig::Stdio(s) => Transport::Stdio {
                command: s.command.clone(),
                args: s.args.clone(),
                env: s.env.clone(),
            },
            UpstreamConfig::Remote(r) => match r.transport {
                RemoteTransport::StreamableHttp => Transport::StreamableHttp {
                    url: r.url.clone(),
                    headers: r.headers.clone(),
                },
                RemoteTransport::Sse => Transport::Sse {
                    url: r.url.clone(),
                    headers: r.headers.clone(),
                },
            },
        };
        UpstreamSpec {
            name: server.name.clone(),
            transport,
            timeouts: Timeouts::from(timeouts),
        }
    }

    /// A stable key for this definition: MD5 hex of the canonical JSON of name and transport.
    pub fn pool_key(&self) -> String {
        let canonical = json!({ "name": self.name, "transport": self.transport.canonical() });
        let digest = Md5::digest(canonical.to_string().as_bytes());
        crate::config::keystore::to_hex(&digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(env: &str) -> UpstreamSpec {
        UpstreamSpec {
            name: "s".into(),
            transport: Transport::Stdio {
                command: "node".into(),
                args: vec!["x.js".into()],
                env: vec![("TOKEN".into(), env.into())],
            },
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn pool_key_is_stable_and_distinguishes_definitions() {
        let a = stdio("one");
        assert_eq!(a.pool_key(), stdio("one").pool_key());
        assert_eq!(a.pool_key().len(), 32);
        assert_ne!(a.pool_key(), stdio("two").pool_key());
        let mut t = stdio("one");
        t.timeouts.request = Duration::from_secs(1);
        assert_eq!(a.pool_key(), t.pool_key());
        let dbg = format!("{a:?}");
        assert!(dbg.contains("TOKEN") && !dbg.contains("one"), "{dbg}");
    }

    #[test]
    fn type_or_transport_sse_gives_the_sse_transport() {
        let kind = |config: &str| {
            let text = format!(
                r#"{{"mcp_configs": {{"m": {{"mcp_config": [{{"server_name": "s", "config": {config}}}]}}}}}}"#
            );
            let c = crate::config::parse(&text).unwrap().config;
            let s = &c.mcp_config("m").unwrap().servers[0];
            UpstreamSpec::from_server(s, &c.common.timeouts)
                .transport
                .kind()
        };
        assert_eq!(kind(r#"{"url": "http://h/sse", "type": "sse"}"#), "sse");
        assert_eq!(
            kind(r#"{"url": "http://h/sse", "transport": "sse"}"#),
            "sse"
        );
        assert_eq!(
            kind(r#"{"url": "http://h/mcp", "type": "http"}"#),
            "streamable-http"
        );
        assert_eq!(kind(r#"{"url": "http://h/mcp"}"#), "streamable-http");
        assert_eq!(kind(r#"{"command": "x", "type": "stdio"}"#), "stdio");
    }
}
