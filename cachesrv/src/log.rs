//! Redis-style log lines (`pid:M 22 Nov 2026 00:53:06.123 * message`) to `logfile` or standard
//! output, filtered by `loglevel`.

use std::io::Write;
use std::sync::OnceLock;

use parking_lot::Mutex;

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

struct Sink {
    min: Level,
    file: Option<std::fs::File>,
    /// Write to standard error instead of standard output (embedded in a program whose
    /// standard output is a protocol stream, such as an MCP stdio server).
    stderr: bool,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// Sets the level and destination (`""` = standard output). An unopenable file is reported and
/// standard output used instead.
pub fn init(level: &str, logfile: &str) {
    let min = match level {
        "debug" => Level::Debug,
        "verbose" => Level::Verbose,
        "warning" => Level::Warning,
        _ => Level::Notice,
    };
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
    let sink = SINK.get_or_init(|| {
        Mutex::new(Sink {
            min,
            file: None,
            stderr: false,
        })
    });
    let mut s = sink.lock();
    s.min = min;
    s.file = file;
}

/// Sends log lines to standard error (for embedding programs whose standard output carries a
/// protocol).
pub fn to_stderr() {
    let sink = SINK.get_or_init(|| {
        Mutex::new(Sink {
            min: Level::Notice,
            file: None,
            stderr: true,
        })
    });
    sink.lock().stderr = true;
}

/// Writes one line if `level` passes the filter.
pub fn log(level: Level, msg: &str) {
    let sink = SINK.get_or_init(|| {
        Mutex::new(Sink {
            min: Level::Notice,
            file: None,
            stderr: false,
        })
    });
    let mut s = sink.lock();
    if level < s.min {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = format!(
        "{}:M {}.{:03} {} {}\n",
        std::process::id(),
        format_time(now.as_secs()),
        now.subsec_millis(),
        mark,
        msg
    );
    let to_stderr = s.stderr;
    match s.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None if to_stderr => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
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
