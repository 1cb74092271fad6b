//! The raw config document: loading, validating and saving `enkrypt_mcp_config.json`.
//!
//! The document is kept as a `serde_json` object with `preserve_order`, next to the typed
//! [`GatewayConfig`] built from it. Edits go to the document (then re-validate), and saving
//! writes the document, so every key this gateway does not model, at any depth, survives a
//! load + save round trip with its value and its position.
//!
//! Saving mirrors the reference's `save_config` (2-space indented JSON, mode 0600) and makes it
//! atomic: the text goes to a temp file in the same directory, is synced, then renamed over the
//! target, so a reader (the reload watcher, another gateway) never sees half a file. A missing
//! parent directory is created with mode 0700. A symlinked config path is replaced by a regular
//! file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{ConfigError, ParseError};
use super::model::GatewayConfig;
use super::validate::validate;

/// A parsed config file, kept as written (key order included).
#[derive(Clone, PartialEq, Default)]
pub struct ConfigDocument {
    root: Map<String, Value>,
}

/// The two views of one config file.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The document, for editing and saving.
    pub document: ConfigDocument,
    /// The validated, typed view.
    pub config: GatewayConfig,
}

impl std::fmt::Debug for ConfigDocument {
    /// Only the top-level key names: the values hold gateway keys and passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigDocument")
            .field("keys", &self.root.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigDocument {
    /// Parses JSON text (a leading UTF-8 byte-order mark is ignored). Only the syntax and the
    /// top-level object are checked here; see [`ConfigDocument::validate`].
    pub fn parse_str(text: &str) -> Result<Self, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|e| ParseError::from_json(&e))?;
        Self::from_value(value)
    }

    /// Wraps a JSON value, which must be an object.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(root) => Ok(ConfigDocument { root }),
            other => Err(ParseError::Invalid(super::error::ValidationErrors(vec![
                super::error::Issue {
                    path: String::new(),
                    message: format!(
                        "expected an object, got {}",
                        super::validate::describe(&other)
                    ),
                },
            ]))),
        }
    }

    /// The top-level object.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The top-level object, for edits (validate again before saving).
    pub fn root_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.root
    }

    /// Consumes the document, giving back its JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }

    /// Builds the typed view, or every problem found.
    pub fn validate(&self) -> Result<GatewayConfig, super::error::ValidationErrors> {
        validate(&self.root)
    }

    /// The file's text: 2-space indented JSON and a final newline.
    pub fn to_json_pretty(&self) -> String {
        // Serializing a `Map<String, Value>` cannot fail: keys are strings, no custom impls.
        let mut text = serde_json::to_string_pretty(&self.root).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }

    /// Writes the document to `path` atomically with mode 0600 (see the module header).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        write_atomic(path, self.to_json_pretty().as_bytes())
    }
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Loaded, ParseError> {
    let document = ConfigDocument::parse_str(text)?;
    let config = document.validate()?;
    Ok(Loaded { document, config })
}

/// Reads, parses and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let bytes = read_file(path)?;
    parse_bytes(path, &bytes)
}

/// Reads a config file, mapping "not found" to [`ConfigError::NotFound`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    fs::read(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ConfigError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Parses the bytes of the file at `path` (for error messages).
pub(crate) fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Loaded, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        source: utf8_error(bytes, e),
    })?;
    let mut loaded = parse(text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    // Hashed keys are checked with the secret kept beside the file.
    let secret = super::keystore::load_secret(path)?;
    let hashed = loaded
        .config
        .apikeys
        .iter()
        .any(|e| matches!(e.key, super::model::StoredKey::Hashed { .. }));
    if hashed && secret.is_none() {
        return Err(ConfigError::Read {
            path: super::keystore::secret_path(path),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the config holds hashed gateway keys (apikey_hashes) but their secret file is missing",
            ),
        });
    }
    loaded.config.key_secret = secret;
    Ok(loaded)
}

/// Positions an invalid UTF-8 sequence like a JSON error.
fn utf8_error(bytes: &[u8], e: std::str::Utf8Error) -> ParseError {
    let good = &bytes[..e.valid_up_to()];
    let line = good.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    ParseError::Json {
        line,
        column,
        message: "invalid UTF-8".to_string(),
    }
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| ConfigError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` through a synced temp file in the same directory and a rename;
/// the result has mode 0600.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let dir = parent_dir(path);
    create_private_dir(&dir)?;
    let werr = |source: io::Error| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    // tempfile creates the file with mode 0600 on unix.
    let mut tmp = tempfile::Builder::new()
        .prefix(".enkrypt_mcp_config.")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(werr)?;
    tmp.write_all(bytes).map_err(werr)?;
    set_private(tmp.as_file()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Sets mode 0600 on an open file (no-op off unix).
pub(crate) fn set_private(file: &fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Makes a rename durable; failures are ignored (not every filesystem allows it).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_must_be_an_object() {
        let e = ConfigDocument::parse_str("[1]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration:\n(top level): expected an object, got a list"
        );
    }

    #[test]
    fn bom_is_ignored() {
        assert!(parse("\u{feff}{}").is_ok());
    }

    #[test]
    fn invalid_utf8_has_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        fs::write(&p, b"{\n  \"a\": \"\xff\"}").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("invalid JSON at line 2, column 9: invalid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn debug_shows_no_values() {
        let d = ConfigDocument::parse_str(r#"{"apikeys": {"supersecretkey123": {}}}"#).unwrap();
        let s = format!("{d:?}");
        assert!(s.contains("apikeys") && !s.contains("supersecret"), "{s}");
    }
}
