//! The Secure MCP Gateway: between MCP clients and MCP servers, with gateway-key
//! authentication, cached tool discovery, guardrail hooks, timeouts and an embedded
//! Redis-compatible cache.
//!
//! - [`config`]: `enkrypt_mcp_config.json` (the reference product's format).
//! - [`jsonrpc`]: messages kept as raw JSON so unknown fields survive forwarding.
//! - [`upstream`]: sessions with MCP servers (stdio, streamable HTTP, legacy SSE), pooled.
//! - [`cache`]: the cache trait with the embedded (`cachesrv`) and external (RESP) backends.
//! - [`demo`]: a small MCP server of our own (echo and test tools) over stdio or HTTP.
//! - [`service`]: the core: the gateway's state and the MCP methods it answers.
//! - [`auth`]: gateway keys to identities; [`router`]: discovery, the tool index and the
//!   tool call path; [`forward`]: resources, prompts, completion and logging.
//! - [`guard`]: guardrails on tool inputs and outputs (local detectors, redaction, tool
//!   pinning, the remote provider).
//! - [`meta`]: the reference product's `enkrypt_*` tools; [`mask`]: secrets hidden whole in
//!   what they show.
//! - [`http`], [`stdio`]: the downstream transports; [`session`]: client sessions.
//! - [`telemetry`]: the Prometheus `/metrics` page; [`histogram`]: its lock-free latency
//!   histogram; [`metrics`]: the timeout counters.
//! - [`cli`]: the command line; [`logging`]: log level and format; [`bind`]: the default HTTP
//!   listen address (container-aware); [`otel`]: OpenTelemetry traces, metrics and logs.

pub mod admin;
pub mod auth;
pub mod bind;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod forward;
pub mod guard;
pub mod histogram;
pub mod http;
pub mod jsonrpc;
pub mod logging;
pub mod mask;
pub mod meta;
pub mod metrics;
pub mod otel;
pub mod relay;
pub mod router;
pub mod service;
pub mod session;
pub mod stdio;
pub mod telemetry;
pub mod tls;
pub mod upstream;
