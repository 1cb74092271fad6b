//! Errors of the configuration module.
//!
//! Every validation problem is an [`Issue`]: the JSON path of the offending value
//! (`common_mcp_gateway_config.enkrypt_cache_port`, `mcp_configs.<id>.mcp_config[2].server_name`,
//! `apikeys.abcd….project_id`) and what is wrong with it. Validation collects every issue in the
//! file rather than stopping at the first, so a user fixes them all in one pass.
//!
//! Invariant: no message here ever contains a gateway key or a password. Paths through `apikeys`
//! show a key only as its first four characters and `…` (see [`redact_key`]); values of secret
//! fields are described by their JSON type, never by their content.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// One problem found while validating a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The JSON path of the offending value, e.g. `common_mcp_gateway_config.enkrypt_cache_db`.
    pub path: String,
    /// What is wrong, e.g. `expected an integer 0..15, got 16`.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every [`Issue`] found in one document (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<Issue>);

impl ValidationErrors {
    /// The issues, in document order.
    pub fn issues(&self) -> &[Issue] {
        &self.0
    }

    /// Whether some issue is at exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|i| i.path == path)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, issue) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Why a config text could not be turned into a configuration (no file involved).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON; `line` and `column` are 1-based as serde_json reports them.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description, without its position suffix.
        message: String,
    },
    /// The JSON is well formed but not a valid configuration.
    #[error("invalid configuration:\n{0}")]
    Invalid(#[from] ValidationErrors),
}

impl ParseError {
    /// Converts a serde_json error into [`ParseError::Json`], keeping its position.
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ParseError::Json {
            line,
            column,
            message,
        }
    }

    /// The validation issues, when this is [`ParseError::Invalid`].
    pub fn validation(&self) -> Option<&ValidationErrors> {
        match self {
            ParseError::Invalid(v) => Some(v),
            ParseError::Json { .. } => None,
        }
    }
}

/// Errors of loading, saving and generating config files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist (the CLI suggests `generate-config`).
    #[error("config file {} not found", path.display())]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file was read but is not valid JSON or not a valid configuration.
    #[error("config file {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        source: ParseError,
    },
    /// Writing the file (or its directory, temp file or backup) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `write_new` found an existing file and was not allowed to overwrite it.
    #[error("config file {} already exists (overwrite it explicitly; the old file is then kept as a backup)", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The operating system's random number generator failed.
    #[error("cannot generate random secrets: {0}")]
    Random(String),
    /// A generated or edited document did not validate (a bug or a bad edit).
    #[error("configuration does not validate:\n{0}")]
    Invalid(#[from] ValidationErrors),
}

impl ConfigError {
    /// The validation issues, when the error is about the content of a file.
    pub fn validation(&self) -> Option<&ValidationErrors> {
        match self {
            ConfigError::Parse { source, .. } => source.validation(),
            ConfigError::Invalid(v) => Some(v),
            _ => None,
        }
    }
}

/// Shows a gateway key safely: its first four characters followed by `…`, or only `…` when the
/// key is so short (8 characters or fewer) that four characters would reveal much of it.
pub fn redact_key(key: &str) -> String {
    if key.chars().count() > 8 {
        let head: String = key.chars().take(4).collect();
        format!("{head}…")
    } else {
        "…".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_four_chars_of_long_keys_only() {
        assert_eq!(redact_key("abcdefghijklmnop"), "abcd…");
        assert_eq!(redact_key("short"), "…");
        assert_eq!(redact_key(""), "…");
        assert_eq!(redact_key("ééééééééé"), "éééé…");
    }

    #[test]
    fn json_error_message_loses_its_position_suffix() {
        let e = serde_json::from_str::<serde_json::Value>("{\n  \"a\": ,\n}").unwrap_err();
        let p = ParseError::from_json(&e);
        let ParseError::Json {
            line,
            column,
            message,
        } = &p
        else {
            panic!("not a JSON error")
        };
        assert_eq!((*line, *column), (2, 8));
        assert!(!message.contains("at line"), "{message}");
        assert!(p
            .to_string()
            .starts_with("invalid JSON at line 2, column 8: "));
    }
}
