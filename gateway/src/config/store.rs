//! Edits of the config file that never lose one another: [`edit`] takes an advisory lock
//! (`<config>.lock`, held for the whole read-modify-write), reads the file, applies the change,
//! validates the result with the gateway's own validator and writes it atomically (a synced
//! temp file renamed over the old one, mode 0600). Two CLI commands at once, or a command
//! during a gateway reload (the gateway only reads, and a rename is atomic), never lose an
//! entry or leave a half-written file.

use std::fs;
use std::path::{Path, PathBuf};

use super::document::{parent_dir, read_file, ConfigDocument};
use super::error::{ConfigError, ParseError};
use super::model::GatewayConfig;

/// The lock file beside `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    parent_dir(path).join(name)
}

/// An exclusive advisory lock on the config at `path`, released on drop.
pub struct ConfigLock {
    _file: fs::File,
}

impl ConfigLock {
    /// Waits for the lock.
    pub fn acquire(path: &Path) -> Result<ConfigLock, ConfigError> {
        let lock = lock_path(path);
        super::document::create_private_dir(&parent_dir(path))?;
        let werr = |source: std::io::Error| ConfigError::Write {
            path: lock.clone(),
            source,
        };
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(werr)?;
        super::document::set_private(&file).map_err(werr)?;
        file.lock().map_err(werr)?;
        Ok(ConfigLock { _file: file })
    }
}

/// Why an [`edit`] did not happen; the file is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum EditError<E> {
    /// Reading, locking or writing failed, or the file was invalid before the edit.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The edit made the config invalid (each problem with its JSON path).
    #[error("the change would make the config invalid:\n{0}")]
    Invalid(ParseError),
    /// The edit itself refused (unknown name, duplicate, ...).
    #[error("{0}")]
    Refused(E),
}

/// Under the config lock: reads `path`, applies `change`, validates the result and writes it
/// atomically. The file is written only when `change` succeeds and the result is valid.
/// Returns `change`'s value and the new typed config.
pub fn edit<T, E>(
    path: &Path,
    change: impl FnOnce(&mut ConfigDocument) -> Result<T, E>,
) -> Result<(T, GatewayConfig), EditError<E>> {
    let _lock = ConfigLock::acquire(path)?;
    let bytes = read_file(path)?;
    let mut doc = super::document::parse_bytes(path, &bytes)?.document;
    let out = change(&mut doc).map_err(EditError::Refused)?;
    let config = doc
        .validate()
        .map_err(|v| EditError::Invalid(ParseError::Invalid(v)))?;
    doc.save(path)?;
    Ok((out, config))
}

/// Under the config lock, replaces the file at `path` with `doc` after validating it, keeping
/// what it replaced (if anything) as `<path>.bak.<unix-seconds>`; returns that copy's path.
pub fn replace(
    path: &Path,
    doc: &ConfigDocument,
) -> Result<Option<PathBuf>, EditError<std::convert::Infallible>> {
    let _lock = ConfigLock::acquire(path)?;
    doc.validate()
        .map_err(|v| EditError::Invalid(ParseError::Invalid(v)))?;
    let kept = if path.exists() {
        Some(super::generate::backup_file(path)?)
    } else {
        None
    };
    doc.save(path)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> ConfigDocument {
        ConfigDocument::from_value(json!({
            "common_mcp_gateway_config": {},
            "mcp_configs": {},
            "projects": {},
            "users": {},
            "apikeys": {}
        }))
        .unwrap()
    }

    #[test]
    fn concurrent_edits_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        minimal().save(&path).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        edit(&path, |d| {
                            d.root_mut()
                                .get_mut("users")
                                .and_then(|u| u.as_object_mut())
                                .map(|u| {
                                    u.insert(
                                        format!("u-{t}-{i}"),
                                        json!({"email": format!("{t}.{i}@x.io")}),
                                    )
                                })
                                .ok_or("no users")
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let users = crate::config::load(&path).unwrap().config.users.len();
        assert_eq!(users, 200);
    }

    #[test]
    fn an_invalid_result_or_a_refusal_leaves_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        minimal().save(&path).unwrap();
        let before = fs::read(&path).unwrap();
        let r = edit(&path, |d| {
            d.root_mut().insert("projects".into(), json!([1]));
            Ok::<_, String>(())
        });
        assert!(matches!(r, Err(EditError::Invalid(_))), "{r:?}");
        let r = edit(&path, |_| Err::<(), _>("no such user".to_string()));
        assert_eq!(r.unwrap_err().to_string(), "no such user");
        assert_eq!(fs::read(&path).unwrap(), before);
    }
}
