//! Log setup: where the level comes from, and the line format.
//!
//! Level, first found wins: `RUST_LOG` (any `tracing` filter directive), `ENKRYPT_LOG_LEVEL`
//! (a level name, as the reference reads it), the config file's
//! `common_mcp_gateway_config.enkrypt_log_level`, else `info`. When the level comes from the
//! config file, a reloaded file's new level applies at once ([`follow_config`]).
//!
//! Format: one human-readable line per event; `ENKRYPT_LOG_FORMAT=json` gives one JSON object
//! per line (`timestamp`, `level`, `message` and the event's fields) for log collectors.
//!
//! Logs go to standard error: in stdio mode standard output carries only MCP.

use std::path::Path;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::config::{self, LogLevel};

/// The level's source, in order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// `RUST_LOG`: a filter directive, taken as is.
    RustLog(String),
    /// `ENKRYPT_LOG_LEVEL`.
    Env(LogLevel),
    /// `enkrypt_log_level` of the config file (or the default, `INFO`).
    Config(LogLevel),
}

impl Level {
    fn directive(&self) -> String {
        match self {
            Level::RustLog(d) => d.clone(),
            Level::Env(l) | Level::Config(l) => l.as_filter().to_string(),
        }
    }
}

/// Picks the level (see the module header); a variable that does not parse is skipped, with
/// the reason returned for logging once the subscriber is up.
fn choose(
    rust_log: Option<&str>,
    enkrypt_level: Option<&str>,
    config: Option<LogLevel>,
) -> (Level, Vec<String>) {
    let mut notes = Vec::new();
    if let Some(d) = rust_log.map(str::trim).filter(|d| !d.is_empty()) {
        match EnvFilter::try_new(d) {
            Ok(_) => return (Level::RustLog(d.to_string()), notes),
            Err(e) => notes.push(format!("RUST_LOG is not a valid filter ({e}); ignored")),
        }
    }
    if let Some(l) = enkrypt_level.map(str::trim).filter(|l| !l.is_empty()) {
        match LogLevel::parse(l) {
            Some(level) => return (Level::Env(level), notes),
            None => notes.push(format!(
                "ENKRYPT_LOG_LEVEL {l:?} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL; ignored"
            )),
        }
    }
    (Level::Config(config.unwrap_or(LogLevel::Info)), notes)
}

/// The filter handle, kept when the level follows the config file.
static FOLLOW: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Sets up logging for the process (once; later calls do nothing). `config` is the
/// `--config` argument: the file is read for its `enkrypt_log_level` only, and a missing or
/// invalid file leaves the default (the command reports the problem itself).
pub fn init(config: Option<&Path>) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let enkrypt_level = std::env::var("ENKRYPT_LOG_LEVEL").ok();
    // The file is read only when no variable decides.
    let (level, notes) = match choose(rust_log.as_deref(), enkrypt_level.as_deref(), None) {
        (Level::Config(_), notes) => {
            let path = config::resolve_config_path(config);
            let from_file = config::load(&path).ok().map(|l| l.config.common.log_level);
            (Level::Config(from_file.unwrap_or(LogLevel::Info)), notes)
        }
        decided => decided,
    };
    let json =
        std::env::var("ENKRYPT_LOG_FORMAT").is_ok_and(|f| f.trim().eq_ignore_ascii_case("json"));
    let (filter, handle) = reload::Layer::new(EnvFilter::new(level.directive()));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init()
    };
    if installed.is_err() {
        return;
    }
    if matches!(level, Level::Config(_)) {
        let _ = FOLLOW.set(handle);
    }
    for n in notes {
        tracing::warn!("{n}");
    }
}

/// Applies a reloaded config's `enkrypt_log_level`, when the level follows the config file
/// (neither `RUST_LOG` nor `ENKRYPT_LOG_LEVEL` is set); otherwise does nothing.
pub fn follow_config(level: LogLevel) {
    if let Some(handle) = FOLLOW.get() {
        if let Err(e) = handle.reload(EnvFilter::new(level.as_filter())) {
            tracing::warn!(error = %e, "the new log level could not be applied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_then_enkrypt_log_level_then_the_config() {
        let cfg = Some(LogLevel::Error);
        assert_eq!(
            choose(Some("gateway=debug,info"), Some("WARNING"), cfg).0,
            Level::RustLog("gateway=debug,info".into())
        );
        assert_eq!(
            choose(None, Some("warning"), cfg).0,
            Level::Env(LogLevel::Warning)
        );
        assert_eq!(
            choose(Some("  "), None, cfg).0,
            Level::Config(LogLevel::Error)
        );
        assert_eq!(choose(None, None, None).0, Level::Config(LogLevel::Info));
        assert_eq!(Level::Config(LogLevel::Critical).directive(), "error");
    }

    #[test]
    fn unusable_variables_are_skipped_with_a_note() {
        let (level, notes) = choose(Some("gateway=loud"), Some("LOUD"), Some(LogLevel::Debug));
        assert_eq!(level, Level::Config(LogLevel::Debug));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].contains("ENKRYPT_LOG_LEVEL"), "{notes:?}");
    }
}
