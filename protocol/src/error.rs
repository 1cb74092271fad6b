//! The client's error type. Server errors keep Redis's code prefix (`ERR`, `WRONGTYPE`,
//! `NOAUTH`, `WRONGPASS`, `OOM`, ...) so callers can match on it.

use std::time::Duration;

use bytes::Bytes;

use crate::decode::DecodeError;

/// An error reply from the server: `-WRONGTYPE Operation against a key ...`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError {
    line: Bytes,
}

impl ServerError {
    /// From the error line without the leading `-`.
    pub fn new(line: Bytes) -> Self {
        ServerError { line }
    }

    /// The code: the first word when it is all upper-case letters (`ERR`, `WRONGTYPE`, `OOM`...),
    /// else empty.
    pub fn code(&self) -> &str {
        let word = self.line.split(|&c| c == b' ').next().unwrap_or(&[]);
        if !word.is_empty() && word.iter().all(u8::is_ascii_uppercase) {
            std::str::from_utf8(word).unwrap_or("")
        } else {
            ""
        }
    }

    /// The message after the code.
    pub fn message(&self) -> String {
        let code = self.code().len();
        let rest = if code > 0 {
            &self.line[code..]
        } else {
            &self.line[..]
        };
        String::from_utf8_lossy(rest).trim_start().to_string()
    }

    /// The whole line, e.g. `ERR unknown command 'FOO', with args beginning with: `.
    pub fn line(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }
}

impl std::fmt::Debug for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerError({:?})", self.line())
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line())
    }
}

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(ServerError),
    /// Could not connect (refused, unreachable, name not resolved).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The operation did not finish in time.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// `connect` or `command`.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The connection closed before the reply arrived; the command may or may not have run.
    #[error("connection closed{}", .0.as_deref().map(|s| format!(": {s}")).unwrap_or_default())]
    Closed(Option<String>),
    /// The server sent bytes that are not valid RESP.
    #[error("protocol error: {0}")]
    Protocol(#[from] DecodeError),
    /// A reply of a type the helper did not expect.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    /// An I/O error on an established connection.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The server error, if this is one.
    pub fn server(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            _ => None,
        }
    }

    /// True when the cause is the connection (not the command): connect failures, timeouts,
    /// closed connections, I/O and protocol errors.
    pub fn is_connection(&self) -> bool {
        !matches!(self, Error::Server(_) | Error::Unexpected(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = ServerError::new(Bytes::from_static(b"WRONGTYPE Operation against a key"));
        assert_eq!(e.code(), "WRONGTYPE");
        assert_eq!(e.message(), "Operation against a key");
        assert_eq!(ServerError::new(Bytes::from_static(b"oops")).code(), "");
    }
}
