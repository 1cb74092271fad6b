//! Log setup: where the level comes from, and the line format.
//!
//! Level, first found wins: `RUST_LOG` (any `tracing` filter directive), `ENKRYPT_LOG_LEVEL`
//! (a level name, as the reference reads it), the config file's
//! `common_mcp_gateway_config.enkrypt_log_level`, else `info`. When the level comes from the
//! config file, a reloaded file's new level applies at once ([`follow_config`]).
//!
//! Format: one human-readable line per event; `ENKRYPT_LOG_FORMAT=json` gives one JSON object
//! per line (`timestamp`, `level`, `message` and the event's fields) for log collectors, with
//! `trace_id` and `span_id` of the current span when telemetry is on ([`crate::otel`]).
//!
//! Logs go to standard error: in stdio mode standard output carries only MCP.
//!
//! Telemetry (`start` only, when the config enables it) adds one layer: the log events, at the
//! level chosen at start, to OTLP logs, with the trace and span ids of the request they belong
//! to. (The request spans are not `tracing` spans: [`crate::otel`] records them itself.)

use std::path::Path;
use std::sync::OnceLock;

use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
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
/// `--config` argument: the file is read for its `enkrypt_log_level` and, when `serving`
/// (the `start` command), its telemetry settings; a missing or invalid file leaves the
/// defaults (the command reports the problem itself). Returns the telemetry guard when
/// telemetry started: [`crate::otel::Guard::shutdown`] flushes it at exit.
pub fn init(config: Option<&Path>, serving: bool) -> Option<crate::otel::Guard> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let enkrypt_level = std::env::var("ENKRYPT_LOG_LEVEL").ok();
    let (level, mut notes) = choose(rust_log.as_deref(), enkrypt_level.as_deref(), None);
    // The file is read only when no variable decides the level, or for telemetry.
    let file = (serving || matches!(level, Level::Config(_))).then(|| {
        let path = config::resolve_config_path(config);
        config::load(&path).ok().map(|l| l.config.common)
    });
    let common = file.flatten();
    let level = match level {
        Level::Config(_) => Level::Config(common.as_ref().map_or(LogLevel::Info, |c| c.log_level)),
        decided => decided,
    };
    let telemetry = match common.as_ref().map(|c| &c.telemetry) {
        Some(t) if serving && t.enabled => match crate::otel::start(t) {
            Ok(started) => Some(started),
            Err(e) => {
                notes.push(format!("{e}; telemetry stays off"));
                None
            }
        },
        _ => None,
    };
    let json =
        std::env::var("ENKRYPT_LOG_FORMAT").is_ok_and(|f| f.trim().eq_ignore_ascii_case("json"));
    let directive = level.directive();
    let (reloadable, handle) = reload::Layer::new(EnvFilter::new(&directive));
    let filter = reloadable;
    let mut guard = None;
    let mut otel_layers = None;
    if let Some(started) = telemetry {
        notes.extend(started.notes);
        guard = Some(started.guard);
        otel_layers = Some(started.logs);
    }
    let installed = if json {
        let fmt = fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .event_format(WithTraceIds(
                fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false),
            ));
        let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
        let otel = otel_layers.map(|l| log_bridge(&l, &directive));
        registry.with(otel).try_init()
    } else {
        let fmt = fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false);
        let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
        let otel = otel_layers.map(|l| log_bridge(&l, &directive));
        registry.with(otel).try_init()
    };
    if installed.is_err() {
        return guard;
    }
    if matches!(level, Level::Config(_)) {
        let _ = FOLLOW.set(handle);
    }
    for n in notes {
        tracing::warn!("{n}");
    }
    guard
}

/// Targets whose events never go to OTLP logs: the exporters' own HTTP stack (a debug level
/// would otherwise log every export, and export those logs) and their own reports.
const NOT_EXPORTED: &[&str] = &[
    "hyper",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "opentelemetry",
    "otlp_export",
];

/// The log bridge: events at `directive` (the exporters' own stack left out) to OTLP logs.
fn log_bridge<S>(
    logs: &opentelemetry_sdk::logs::SdkLoggerProvider,
    directive: &str,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let mut bridge_filter = EnvFilter::new(directive);
    for t in NOT_EXPORTED {
        if let Ok(d) = format!("{t}=off").parse() {
            bridge_filter = bridge_filter.add_directive(d);
        }
    }
    let events = InRequestContext(
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logs),
    )
    // An `EnvFilter` only: its interest in a callsite is cached (a function filter would be
    // asked at every `debug!` of the HTTP stack). The bridge handles events only.
    .with_filter(bridge_filter);
    Box::new(events)
}

/// Emits each event with the running request's trace context current, so the log record
/// carries its trace and span ids.
struct InRequestContext<L>(L);

impl<S: Subscriber, L: Layer<S>> Layer<S> for InRequestContext<L> {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        match crate::otel::current_context() {
            Some(cx) => {
                let _attached = cx.attach();
                self.0.on_event(event, ctx);
            }
            None => self.0.on_event(event, ctx),
        }
    }
}

/// The JSON line of the wrapped format, with `trace_id` and `span_id` of the current span
/// added when there is one (telemetry on).
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some((trace_id, span_id)) = crate::otel::current_ids() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.trim_end().strip_suffix('}') {
            Some(head) => writeln!(
                writer,
                "{head},\"trace_id\":\"{trace_id:032x}\",\"span_id\":\"{span_id:016x}\"}}"
            ),
            None => writer.write_str(&line),
        }
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
