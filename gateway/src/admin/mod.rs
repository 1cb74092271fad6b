//! Operator operations on the config file, shared by the command line (`crate::cli`) and the
//! admin API: each is a plain function over the config path (or a [`ConfigDocument`]) that
//! returns JSON-ready data or an [`AdminError`]. Writes go through [`edit`]: under the config
//! lock, validated by the gateway's own validator, written atomically; a running gateway picks
//! them up at its next reload.

use std::path::Path;

pub mod backup;
pub mod health;
pub mod install;

use crate::config::store::{self, EditError};
use crate::config::{ConfigDocument, ConfigError, GatewayConfig};

/// Why an operation did not happen (one line, for stderr or an API error body).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing by that name or id.
    #[error("{0}")]
    NotFound(String),
    /// It exists already, or is still in use.
    #[error("{0}")]
    Conflict(String),
    /// A bad argument (a malformed value, a missing flag).
    #[error("{0}")]
    Invalid(String),
    /// Reading, locking, validating or writing the config failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<EditError<AdminError>> for AdminError {
    fn from(e: EditError<AdminError>) -> Self {
        match e {
            EditError::Config(c) => AdminError::Config(c),
            EditError::Invalid(p) => AdminError::Invalid(p.to_string()),
            EditError::Refused(a) => a,
        }
    }
}

/// Applies `change` to the config at `path` under the config lock; the file is written only if
/// `change` succeeds and the result validates. Returns `change`'s value and the new config.
pub fn edit<T>(
    path: &Path,
    change: impl FnOnce(&mut ConfigDocument) -> Result<T, AdminError>,
) -> Result<(T, GatewayConfig), AdminError> {
    Ok(store::edit(path, change)?)
}

/// Reads and validates the config at `path`.
pub fn read(path: &Path) -> Result<crate::config::Loaded, AdminError> {
    Ok(crate::config::load(path)?)
}
