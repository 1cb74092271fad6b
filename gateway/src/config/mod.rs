//! The gateway's configuration: `enkrypt_mcp_config.json`, in the reference (Python) Enkrypt
//! Secure MCP Gateway's format, plus a few keys of ours.
//!
//! - [`paths`]: where the file is (`--config` > `ENKRYPT_CONFIG_PATH` > container > home).
//! - [`document`]: the raw JSON document ([`ConfigDocument`]), [`load`], [`parse`], atomic
//!   0600 saves.
//! - [`model`]: the typed, validated view ([`GatewayConfig`]) with the reference's defaults.
//! - `validate`: document -> typed view; every problem named by its JSON path (the
//!   `mcp_configs` section in `validate/servers.rs`).
//! - [`cache_url`]: `redis://` / `rediss://` URLs for the external cache.
//! - [`env`](mod@env): cache connection settings from `ENKRYPT_CACHE_*` variables, over the
//!   file's.
//! - [`identity`]: gateway key -> user, project, mcp_config, compared in constant time.
//! - [`mod@generate`]: a working default config and a safe `write_new`.
//! - [`mod@watch`]: hot reload by polling ([`ConfigWatcher`]).
//! - [`deny`]: `denied_tools` entries (names, globs, objects with a reason) and their matching.
//! - [`keys`]: the cache key layout (`enkrypt:tools:{md5}` ...).
//!
//! Design: the document is the source of truth and the typed view is derived from it. Both
//! are kept side by side ([`Loaded`]), so edits made by the CLI go to the document and every
//! key this gateway does not model, anywhere in the file, survives load + save unchanged
//! (`serde_json` with `preserve_order` keeps the order too).
//!
//! Invariants: no error, log line or `Debug` output contains a gateway key (only its first four
//! characters and `…`) or a password.

pub mod cache_url;
pub mod container;
pub mod deny;
pub mod document;
pub mod env;
pub mod error;
pub mod generate;
pub mod identity;
pub mod keys;
pub mod keystore;
pub mod model;
pub mod paths;
pub mod secret;
pub mod store;
mod validate;
pub mod watch;

pub use deny::{Denial, DeniedTool};
pub use document::{load, parse, ConfigDocument, Loaded};
pub use error::{redact_key, ConfigError, Issue, ParseError, ValidationErrors};
pub use generate::{generate, write_new, GenerateOptions, Generated, Written};
pub use identity::{KeyError, ResolvedKey};
pub use model::{
    ApiKeyEntry, CommonConfig, GatewayConfig, GuardrailPolicy, GuardrailProvider, HttpLimits,
    LogLevel, McpConfig, Project, RemoteServer, RemoteTransport, ServerConfig, StdioServer,
    TelemetryConfig, TimeoutSettings, ToolsMode, UpstreamConfig, User,
};
pub use paths::{resolve_config_path, CONFIG_PATH_ENV, DOCKER_CONFIG_PATH};
pub use secret::{GatewayKey, Secret};
pub use watch::ConfigWatcher;

/// "a string", "a list", ...: a JSON value's kind, for messages.
pub(crate) use validate::kind as json_kind;
