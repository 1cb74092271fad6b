//! Logging through `tracing`, so a program that embeds the server (the gateway) has one
//! logging system: the server's events (target `cachesrv`) go to whatever subscriber that
//! program installed, in its format and at its level.
//!
//! Standalone (`cachesrv` binary), [`init`] installs the one subscriber: Redis's line format
//! (`pid:M 22 Nov 2026 00:53:06.123 * message`) to `logfile` or standard output, filtered by
//! `loglevel` (which `CONFIG SET loglevel` changes at run time, [`set_level`]). Redis's levels
//! map to `tracing`'s: `debug` = TRACE, `verbose` = DEBUG, `notice` = INFO, `warning` = WARN.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Log levels, in Redis's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug` (`.`)
    Debug,
    /// `verbose` (`-`)
    Verbose,
    /// `notice` (`*`)
    Notice,
    /// `warning` (`#`)
    Warning,
}

impl Level {
    /// The level of a `loglevel` value (`notice` for anything else).
    pub fn parse(name: &str) -> Level {
        match name {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }

    fn of(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE => Level::Debug,
            tracing::Level::DEBUG => Level::Verbose,
            tracing::Level::INFO => Level::Notice,
            _ => Level::Warning,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

/// Emits one event (target `cachesrv`) at the `tracing` level matching `level`.
pub fn log(level: Level, msg: &str) {
    match level {
        Level::Debug => tracing::trace!(target: "cachesrv", "{msg}"),
        Level::Verbose => tracing::debug!(target: "cachesrv", "{msg}"),
        Level::Notice => tracing::info!(target: "cachesrv", "{msg}"),
        Level::Warning => tracing::warn!(target: "cachesrv", "{msg}"),
    }
}

/// The standalone filter (a [`Level`] as `u8`); read per event by [`RedisFormat`].
static MIN: AtomicU8 = AtomicU8::new(Level::Notice as u8);

/// Sets the standalone filter from a `loglevel` value (start and `CONFIG SET loglevel`).
/// Programs that embed the server filter with their own subscriber instead.
pub fn set_level(loglevel: &str) {
    MIN.store(Level::parse(loglevel) as u8, Ordering::Relaxed);
}

/// Installs Redis's line format as the process's subscriber, writing to `logfile` (`""` =
/// standard output) at `loglevel`. An unopenable file is reported and standard output used
/// instead. Does nothing when the process already has a subscriber.
pub fn init(loglevel: &str, logfile: &str) {
    set_level(loglevel);
    let file = if logfile.is_empty() {
        None
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("Can't open the log file {logfile}: {e}");
                None
            }
        }
    };
    let layer = RedisFormat {
        out: Arc::new(Mutex::new(file)),
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Redis's log line format, filtered by [`MIN`].
struct RedisFormat {
    /// The log file; standard output when `None`.
    out: Arc<Mutex<Option<std::fs::File>>>,
}

impl<S: Subscriber> Layer<S> for RedisFormat {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The level changes at run time: ask per event.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        Level::of(meta.level()) as u8 >= MIN.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let line = format!(
            "{}:M {}.{:03} {} {}\n",
            std::process::id(),
            format_time(now.as_secs()),
            now.subsec_millis(),
            Level::of(event.metadata().level()).mark(),
            msg.0
        );
        match self.out.lock().as_mut() {
            Some(f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stdout().write_all(line.as_bytes());
            }
        }
    }
}

/// The event's `message` field, then any other fields as `name=value`.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            use std::fmt::Write as _;
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let text = format!("{value:?}");
            self.0.insert_str(0, &text);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

/// `22 Nov 2026 00:53:06` (UTC).
fn format_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::format_time(0), "01 Jan 1970 00:00:00");
        assert_eq!(super::format_time(1_795_308_786), "22 Nov 2026 00:53:06");
    }
}
