//! Cache errors.
//!
//! Invariant: no message contains a cache password or a gateway key. Backend messages are
//! built from the RESP client's errors (which name host, port and Redis's error line, never the
//! password) and pass through `redact` with the configured passwords as a second guard.

use std::time::Duration;

/// Everything a cache call can fail with. Cache failures never fail discovery: callers treat
/// them as a miss (see [`super::Cache::discover_with`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The embedded cache could not listen on its port.
    #[error(
        "embedded cache: cannot listen on {addr}: {reason}; set \
         `common_mcp_gateway_config.enkrypt_embedded_cache_port` to a free port \
         (0 picks any free port) or stop the program using port {port}"
    )]
    Bind {
        /// The address tried (`127.0.0.1:6380`).
        addr: String,
        /// The port.
        port: u16,
        /// Why (`Address already in use (os error 98)`).
        reason: String,
    },
    /// The embedded cache could not be configured or started.
    #[error("embedded cache: {0}")]
    Embedded(String),
    /// The external backend failed recently and is skipped until its backoff window ends.
    #[error("cache backend unavailable (next attempt in {} ms): {reason}", retry_in.as_millis())]
    Unavailable {
        /// The error that opened the window.
        reason: String,
        /// Time left in the window.
        retry_in: Duration,
    },
    /// The backend failed.
    #[error("cache backend error: {message}")]
    Backend {
        /// What failed (redacted).
        message: String,
        /// The backend is unreachable or refuses service (connection, timeout, auth, loading),
        /// as opposed to an error about one entry.
        outage: bool,
    },
    /// The cache is full and cannot evict (`OOM command not allowed ...`).
    #[error("cache backend error: OOM command not allowed when used memory > 'maxmemory'")]
    OutOfMemory,
    /// A stored value is not what the gateway writes (not JSON, or not a string key).
    #[error("cache entry unusable: {0}")]
    BadEntry(String),
    /// The value given to a `put_*` cannot be stored (e.g. a tools result without `tools`).
    #[error("not cacheable: {0}")]
    NotCacheable(String),
    /// [`super::Cache::shutdown`] was called.
    #[error("the cache was shut down")]
    Closed,
}

impl CacheError {
    /// True when the error says the backend as a whole is unusable (it opens the backoff
    /// window and marks the cache degraded).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            CacheError::Backend { outage: true, .. } | CacheError::Unavailable { .. }
        )
    }

    /// From a RESP client error; `secrets` are blanked out of the message.
    pub(crate) fn from_client(e: &protocol::Error, secrets: &[&str]) -> CacheError {
        let outage = match e {
            protocol::Error::Server(s) => {
                if s.code() == "OOM" {
                    return CacheError::OutOfMemory;
                }
                // Per-entry errors (WRONGTYPE...) leave the backend usable; refusals of service
                // (NOAUTH, WRONGPASS, LOADING, MASTERDOWN, BUSY, MISCONF, ERR on the handshake)
                // do not.
                !matches!(s.code(), "WRONGTYPE" | "EXECABORT" | "NOSCRIPT")
            }
            protocol::Error::Unexpected(_) => false,
            _ => true,
        };
        CacheError::Backend {
            message: redact(&e.to_string(), secrets),
            outage,
        }
    }
}

/// `text` with every non-empty secret replaced by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() && out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_blanks_secrets() {
        assert_eq!(
            redact("auth hunter2 failed", &["hunter2", ""]),
            "auth *** failed"
        );
        assert_eq!(redact("nothing", &[""]), "nothing");
    }

    #[test]
    fn bind_message_names_port_and_key() {
        let e = CacheError::Bind {
            addr: "127.0.0.1:6380".into(),
            port: 6380,
            reason: "Address already in use".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("6380") && s.contains("enkrypt_embedded_cache_port"),
            "{s}"
        );
    }
}
