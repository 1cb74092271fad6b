//! Server configuration in `redis.conf` / `keydb.conf` syntax.
//!
//! Every parameter Redis 7 reports in `CONFIG GET *` is known here with Redis's default (the
//! table in `redis7_defaults.tsv`, taken from `redis-server` 7.0), plus KeyDB's
//! `server-threads` and `server-thread-affinity`, and our `metrics-port`. A config file and `--name value` flags are
//! read the way `redis-server` reads them: the flags become extra lines after the file, an
//! unknown directive is a fatal error naming the line. Parameters the server acts on are typed
//! and validated with Redis's error texts; tuning parameters it has no use for (encodings,
//! replication, TLS...) are accepted, validated by the shape of their default and reported
//! back by `CONFIG GET`, never rejected.
//!
//! Values are kept in canonical text (memory sizes in bytes, `yes`/`no`), which is what
//! `CONFIG GET` returns; typed accessors read them.

pub mod keyspace_events;
pub mod obuf;

use std::collections::HashMap;

use protocol::split_args;

const DEFAULTS: &str = include_str!("redis7_defaults.tsv");

/// Old and new names of the same parameter: setting one sets both.
const ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("slaveof", "replicaof"),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// The eviction policies, in the order Redis lists them in its error message.
pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

const FSYNC_MODES: &[&str] = &["always", "everysec", "no"];

/// Parameters `CONFIG SET` changes only with `enable-protected-configs` (as Redis 7.0).
const PROTECTED: &[&str] = &["dir", "dbfilename"];

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int(i64, i64),
    Memory,
    Enum(&'static [&'static str]),
    Text,
    Save,
    KeyspaceEvents,
}

fn kind_of(name: &str, default: &str) -> Kind {
    match name {
        "maxmemory"
        | "proto-max-bulk-len"
        | "client-query-buffer-limit"
        | "repl-backlog-size"
        | "active-defrag-ignore-bytes"
        | "auto-aof-rewrite-min-size"
        | "maxmemory-clients"
        | "stream-node-max-bytes"
        | "hll-sparse-max-bytes"
        | "cluster-link-sendbuf-limit" => Kind::Memory,
        "maxmemory-policy" => Kind::Enum(POLICIES),
        "loglevel" => Kind::Enum(LOGLEVELS),
        "appendfsync" => Kind::Enum(FSYNC_MODES),
        "save" => Kind::Save,
        "notify-keyspace-events" => Kind::KeyspaceEvents,
        "port" | "metrics-port" => Kind::Int(0, 65535),
        "databases" => Kind::Int(1, i32::MAX as i64),
        "maxmemory-samples" => Kind::Int(1, 64),
        "hz" => Kind::Int(0, i32::MAX as i64),
        "maxclients" => Kind::Int(1, u32::MAX as i64),
        "timeout" | "tcp-keepalive" | "tcp-backlog" | "slowlog-max-len" => {
            Kind::Int(0, i32::MAX as i64)
        }
        "server-threads" => Kind::Int(0, 1024),
        "slowlog-log-slower-than" => Kind::Int(-1, i64::MAX),
        "lfu-log-factor" | "lfu-decay-time" => Kind::Int(0, i32::MAX as i64),
        _ if default == "yes" || default == "no" => Kind::Bool,
        _ if default.parse::<i64>().is_ok() => Kind::Int(i64::MIN, i64::MAX),
        _ => Kind::Text,
    }
}

/// A fatal error in a config file or in command-line flags, printed as Redis prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\n*** FATAL CONFIG FILE ERROR (cachesrv {version}) ***\nReading the configuration file, at line {line_no}\n>>> '{line}'\n{message}")]
pub struct ConfigFileError {
    version: &'static str,
    /// 1-based line number in the combined text (file, then flags).
    pub line_no: usize,
    /// The offending line.
    pub line: String,
    /// What is wrong.
    pub message: String,
}

/// Why `CONFIG SET` refused a value; [`SetError::reply`] is Redis's error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    /// No such parameter.
    Unknown(String),
    /// A bad value or an immutable parameter.
    Invalid {
        /// The parameter.
        name: String,
        /// Redis's explanation.
        message: String,
    },
}

impl SetError {
    /// The error line for `CONFIG SET`.
    pub fn reply(&self) -> String {
        match self {
            SetError::Unknown(n) => {
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{n}'")
            }
            SetError::Invalid { name, message } => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {message}")
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Param {
    value: String,
    mutable: bool,
    kind: Kind,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    params: HashMap<&'static str, Param>,
    names: Vec<&'static str>,
    /// A `save` line was read: later ones add to it instead of replacing the default.
    save_seen: bool,
    /// The config file it was read from, for `CONFIG REWRITE` and INFO.
    file: Option<String>,
    /// `user` lines (their arguments and line number), for the ACL.
    users: Vec<(Vec<String>, usize)>,
}

impl Default for Config {
    fn default() -> Self {
        let mut params = HashMap::new();
        let mut names = Vec::new();
        for line in DEFAULTS.lines() {
            let mut f = line.split('\t');
            let (Some(name), Some(value), Some(m)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            names.push(name);
            params.insert(
                name,
                Param {
                    value: value.to_string(),
                    mutable: m == "mut",
                    kind: kind_of(name, value),
                },
            );
        }
        names.sort_unstable();
        Config {
            params,
            names,
            save_seen: false,
            file: None,
            users: Vec::new(),
        }
    }
}

/// Parses a memory value as Redis's `memtoull`: `100`, `1k` (1000), `1kb` (1024), `1m`, `1mb`,
/// `1g`, `1gb`, case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul): (&str, u64) = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|d| (d, *m)))
    .unwrap_or((lower.as_str(), 1));
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

fn canonical(kind: Kind, name: &str, raw: &str) -> Result<String, String> {
    match kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            // KeyDB's examples write true/false.
            "yes" | "true" => Ok("yes".into()),
            "no" | "false" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(min, max) => {
            let v: i64 = raw
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            // Redis clamps hz into 1..=500.
            let v = if name == "hz" { v.clamp(1, 500) } else { v };
            Ok(v.to_string())
        }
        Kind::Memory => parse_memory(raw)
            .map(|v| v.to_string())
            .ok_or_else(|| "argument must be a memory value".to_string()),
        Kind::Enum(options) => {
            let l = raw.to_ascii_lowercase();
            if options.contains(&l.as_str()) {
                Ok(l)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                ))
            }
        }
        Kind::Save => {
            let parts: Vec<&str> = raw.split_whitespace().collect();
            if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            Ok(parts.join(" "))
        }
        Kind::Text => Ok(raw.to_string()),
        Kind::KeyspaceEvents => keyspace_events::parse(raw)
            .map(keyspace_events::stored)
            .ok_or_else(|| keyspace_events::INVALID.to_string()),
    }
}

impl Config {
    /// Reads `cachesrv [config-file] [--name value ...]` (the program name excluded).
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Config, ConfigFileError> {
        let mut text = String::new();
        let mut rest = args;
        if let Some(first) = args.first() {
            let first = first.as_ref();
            if !first.starts_with("--") && first != "-" {
                text = std::fs::read_to_string(first).map_err(|e| ConfigFileError {
                    version: env!("CARGO_PKG_VERSION"),
                    line_no: 0,
                    line: first.to_string(),
                    message: format!("Fatal error, can't open config file '{first}': {e}"),
                })?;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                rest = &args[1..];
            }
        }
        // As redis-server: each `--name` starts a line, its values follow, quoted.
        let mut line = String::new();
        for a in rest {
            let a = a.as_ref();
            if let Some(name) = a.strip_prefix("--") {
                if !line.is_empty() {
                    text.push_str(&line);
                    text.push('\n');
                }
                line = name.to_string();
            } else {
                line.push_str(&format!(
                    " \"{}\"",
                    a.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
        }
        if !line.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
        let mut c = Config::default();
        c.load_text(&text)?;
        if let Some(first) = args.first().map(AsRef::as_ref) {
            if !first.starts_with("--") && first != "-" {
                c.file = Some(
                    std::fs::canonicalize(first)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| first.to_string()),
                );
            }
        }
        Ok(c)
    }

    /// Applies config-file text on top of the current values.
    pub fn load_text(&mut self, text: &str) -> Result<(), ConfigFileError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ConfigFileError {
                version: env!("CARGO_PKG_VERSION"),
                line_no: i + 1,
                line: line.to_string(),
                message,
            };
            let argv = split_args(line.as_bytes())
                .map_err(|_| err("Unbalanced quotes in configuration line".into()))?;
            let argv: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let Some((name, values)) = argv.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let bad = || err("Bad directive or wrong number of arguments".into());
            let value = match name.as_str() {
                // Multi-value directives: save pairs accumulate, as in redis.conf.
                "save" => {
                    if values.len() == 1 && values[0].is_empty() {
                        String::new()
                    } else {
                        let prev = self.get("save").unwrap_or_default();
                        let add = values.join(" ");
                        if prev.is_empty() || !self.save_seen {
                            add
                        } else {
                            format!("{prev} {add}")
                        }
                    }
                }
                "bind"
                | "client-output-buffer-limit"
                | "oom-score-adj-values"
                | "latency-tracking-info-percentiles" => {
                    if values.is_empty() {
                        return Err(bad());
                    }
                    values.join(" ")
                }
                "user" => {
                    self.users.push((argv.clone(), i + 1));
                    continue;
                }
                "include" | "rename-command" | "loadmodule" => {
                    return Err(err(format!("'{name}' is not supported by cachesrv")));
                }
                _ => {
                    if values.len() != 1 {
                        return Err(bad());
                    }
                    values[0].clone()
                }
            };
            if name == "save" {
                self.save_seen = true;
            }
            self.set_inner(&name, &value, true).map_err(|e| match e {
                SetError::Unknown(_) => bad(),
                SetError::Invalid { message, .. } => err(message),
            })?;
        }
        Ok(())
    }

    fn set_inner(&mut self, name: &str, value: &str, startup: bool) -> Result<(), SetError> {
        let lname = name.to_ascii_lowercase();
        let Some(p) = self.params.get_mut(lname.as_str()) else {
            return Err(SetError::Unknown(name.to_string()));
        };
        if !startup && !p.mutable {
            return Err(SetError::Invalid {
                name: lname,
                message: "can't set immutable config".into(),
            });
        }
        if lname == "dbfilename" && value.contains('/') {
            return Err(SetError::Invalid {
                name: lname,
                message: "dbfilename can't be a path, just a filename".into(),
            });
        }
        if !startup && PROTECTED.contains(&lname.as_str()) {
            let allowed = self
                .params
                .get("enable-protected-configs")
                .is_some_and(|p| p.value != "no");
            if !allowed {
                return Err(SetError::Invalid {
                    name: lname,
                    message: "can't set protected config".into(),
                });
            }
            if lname == "dir" && !std::path::Path::new(value).is_dir() {
                return Err(SetError::Invalid {
                    name: lname,
                    message: "No such file or directory".into(),
                });
            }
        }
        let Some(p) = self.params.get_mut(lname.as_str()) else {
            return Err(SetError::Unknown(name.to_string()));
        };
        if lname == "client-output-buffer-limit" {
            // A partial value changes the classes it names.
            let merged = obuf::Limits::parse(&p.value)
                .apply(value)
                .map_err(|message| SetError::Invalid {
                    name: lname.clone(),
                    message,
                })?;
            p.value = merged.format();
            return Ok(());
        }
        let v = canonical(p.kind, &lname, value).map_err(|message| SetError::Invalid {
            name: lname.clone(),
            message,
        })?;
        p.value = v.clone();
        for (a, b) in ALIASES {
            let other = if *a == lname {
                b
            } else if *b == lname {
                a
            } else {
                continue;
            };
            if let Some(o) = self.params.get_mut(other) {
                o.value = v.clone();
            }
        }
        Ok(())
    }

    /// `CONFIG SET name value`: validates and stores one parameter.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SetError> {
        self.set_inner(name, value, false)
    }

    /// Validates `CONFIG SET` pairs all together, then applies them (all or nothing).
    pub fn set_many(&mut self, pairs: &[(String, String)]) -> Result<(), SetError> {
        let mut seen = std::collections::HashSet::new();
        for (n, _) in pairs {
            let l = n.to_ascii_lowercase();
            if !self.params.contains_key(l.as_str()) {
                return Err(SetError::Unknown(n.clone()));
            }
            if !seen.insert(l) {
                return Err(SetError::Invalid {
                    name: n.clone(),
                    message: "duplicate parameter".into(),
                });
            }
        }
        let mut next = self.clone();
        for (n, v) in pairs {
            next.set(n, v)?;
        }
        *self = next;
        Ok(())
    }

    /// The canonical value of a parameter.
    pub fn get(&self, name: &str) -> Option<String> {
        self.params.get(name).map(|p| p.value.clone())
    }

    /// `CONFIG GET pattern...`: (name, value) pairs whose name matches any glob, in name order.
    pub fn matching(&self, matches: impl Fn(&str) -> bool) -> Vec<(&'static str, String)> {
        self.names
            .iter()
            .filter(|n| matches(n))
            .map(|n| (*n, self.shown(n)))
            .collect()
    }

    /// A value as `CONFIG GET` prints it.
    fn shown(&self, name: &str) -> String {
        let v = &self.params[name].value;
        if name == "notify-keyspace-events" {
            keyspace_events::format(self.keyspace_events())
        } else {
            v.clone()
        }
    }

    /// `client-output-buffer-limit`.
    pub fn output_limits(&self) -> obuf::Limits {
        obuf::Limits::parse(&self.text("client-output-buffer-limit"))
    }

    /// `notify-keyspace-events` as [`keyspace_events`] flags.
    pub fn keyspace_events(&self) -> u32 {
        keyspace_events::parse(&self.text("notify-keyspace-events")).unwrap_or(0)
    }

    /// The config as `redis.conf` text (for `CONFIG REWRITE`): every non-default parameter.
    pub fn to_conf_text(&self) -> String {
        let defaults = Config::default();
        let mut out = String::from("# Written by cachesrv CONFIG REWRITE\n");
        for n in &self.names {
            let v = &self.params[n].value;
            if defaults.params[n].value != *v && !ALIASES.iter().any(|(old, _)| old == n) {
                if *n == "save" && v.is_empty() {
                    out.push_str("save \"\"\n");
                } else if v.is_empty() || v.contains(' ') && !matches!(*n, "save" | "bind") {
                    out.push_str(&format!("{n} \"{v}\"\n"));
                } else {
                    out.push_str(&format!("{n} {v}\n"));
                }
            }
        }
        out
    }

    fn int(&self, name: &str) -> i64 {
        self.params
            .get(name)
            .and_then(|p| p.value.parse().ok())
            .unwrap_or(0)
    }

    fn yes(&self, name: &str) -> bool {
        self.params.get(name).is_some_and(|p| p.value == "yes")
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }

    /// The `user` lines of the config, with their line numbers.
    pub fn users(&self) -> &[(Vec<String>, usize)] {
        &self.users
    }

    /// The config file, if the server was started with one.
    pub fn file(&self) -> Option<String> {
        self.file.clone()
    }

    /// `port`.
    pub fn port(&self) -> u16 {
        self.int("port") as u16
    }
    /// `metrics-port` (ours; 0 = off): the port of the plain-HTTP `GET /metrics` responder.
    pub fn metrics_port(&self) -> u16 {
        self.int("metrics-port") as u16
    }
    /// `bind`: addresses; a leading `-` marks one that may be unavailable.
    pub fn bind(&self) -> Vec<String> {
        self.text("bind")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
    /// `requirepass`; `None` when empty.
    pub fn requirepass(&self) -> Option<String> {
        Some(self.text("requirepass")).filter(|p| !p.is_empty())
    }
    /// `maxmemory` in bytes (0 = no limit).
    pub fn maxmemory(&self) -> u64 {
        self.int("maxmemory") as u64
    }
    /// `hll-sparse-max-bytes`: largest sparse HyperLogLog before it turns dense.
    pub fn hll_sparse_max_bytes(&self) -> usize {
        usize::try_from(self.int("hll-sparse-max-bytes")).unwrap_or(usize::MAX)
    }
    /// `maxmemory-policy`.
    pub fn maxmemory_policy(&self) -> String {
        self.text("maxmemory-policy")
    }
    /// `maxmemory-samples`.
    pub fn maxmemory_samples(&self) -> usize {
        self.int("maxmemory-samples") as usize
    }
    /// `databases`.
    pub fn databases(&self) -> usize {
        self.int("databases") as usize
    }
    /// `timeout`: idle seconds before a client is closed (0 = never).
    pub fn timeout(&self) -> u64 {
        self.int("timeout") as u64
    }
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds a script runs before
    /// other clients are answered `-BUSY`.
    pub fn busy_reply_threshold(&self) -> u64 {
        self.int("busy-reply-threshold").max(0) as u64
    }
    /// `tcp-keepalive` seconds (0 = off).
    pub fn tcp_keepalive(&self) -> u64 {
        self.int("tcp-keepalive") as u64
    }
    /// `tcp-backlog`.
    pub fn tcp_backlog(&self) -> u32 {
        self.int("tcp-backlog") as u32
    }
    /// `protected-mode`.
    pub fn protected_mode(&self) -> bool {
        self.yes("protected-mode")
    }
    /// `loglevel`.
    pub fn loglevel(&self) -> String {
        self.text("loglevel")
    }
    /// `logfile` ("" = standard output).
    pub fn logfile(&self) -> String {
        self.text("logfile")
    }
    /// `dir`.
    pub fn dir(&self) -> String {
        self.text("dir")
    }
    /// `server-threads`; 0 means one per core.
    pub fn server_threads(&self) -> usize {
        match self.int("server-threads") {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n as usize,
        }
    }
    /// `server-thread-affinity`.
    pub fn server_thread_affinity(&self) -> bool {
        self.yes("server-thread-affinity")
    }
    /// `hz`.
    pub fn hz(&self) -> u64 {
        self.int("hz").max(1) as u64
    }
    /// `slowlog-log-slower-than` microseconds (negative = off).
    pub fn slowlog_slower_than(&self) -> i64 {
        self.int("slowlog-log-slower-than")
    }
    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> usize {
        self.int("slowlog-max-len") as usize
    }
    /// `maxclients`.
    pub fn maxclients(&self) -> usize {
        self.int("maxclients") as usize
    }
    /// `proto-max-bulk-len`.
    pub fn proto_max_bulk_len(&self) -> usize {
        self.int("proto-max-bulk-len") as usize
    }
    /// `client-query-buffer-limit`.
    pub fn query_buffer_limit(&self) -> usize {
        self.int("client-query-buffer-limit") as usize
    }
    /// `save` as written (empty = no snapshots).
    pub fn save(&self) -> String {
        self.text("save")
    }
    /// `dbfilename`.
    pub fn dbfilename(&self) -> String {
        self.text("dbfilename")
    }
    /// `rdbcompression`.
    pub fn rdbcompression(&self) -> bool {
        self.yes("rdbcompression")
    }
    /// `rdbchecksum`.
    pub fn rdbchecksum(&self) -> bool {
        self.yes("rdbchecksum")
    }
    /// `appendonly`.
    pub fn appendonly(&self) -> bool {
        self.yes("appendonly")
    }
    /// `lfu-log-factor`.
    pub fn lfu_log_factor(&self) -> u32 {
        self.int("lfu-log-factor") as u32
    }
    /// `lfu-decay-time` minutes.
    pub fn lfu_decay_time(&self) -> u32 {
        self.int("lfu-decay-time") as u32
    }
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`).
    pub fn zset_max_listpack_entries(&self) -> usize {
        usize::try_from(self.int("zset-max-listpack-entries")).unwrap_or(0)
    }
    /// `zset-max-listpack-value` (alias `zset-max-ziplist-value`).
    pub fn zset_max_listpack_value(&self) -> usize {
        usize::try_from(self.int("zset-max-listpack-value")).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
