//! `GET /metrics` (`metrics-port`): the INFO figures as Prometheus series, over a tiny HTTP
//! responder.
//!
//! One plain thread with a std `TcpListener` (no runtime, apart from the event loops): it
//! answers one request per connection and closes it, which is all a scraper needs. The page
//! is INFO's text (read from the shared state, no client registered and no command counted)
//! turned into series named as the common Redis exporter names them (`redis_connected_clients`,
//! `redis_memory_used_bytes`, `redis_keyspace_hits_total`, `redis_commands_total{cmd}`,
//! `redis_db_keys{db}`, ...), so Redis dashboards work unchanged; written in the Prometheus
//! text format by `prometheus-client`.
//!
//! Access follows the RESP port's rules: a loopback client is always served; with
//! `requirepass` set, another client must send it as `Authorization: Bearer <password>`
//! (401 otherwise); without one, protected mode refuses other clients (403), as Redis refuses
//! their connections.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::state::Shared;

/// The INFO sections the page is made of.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "stats",
    "cpu",
    "keyspace",
    "commandstats",
];

/// Largest request head read; a longer one is refused (431).
const MAX_HEAD: usize = 8192;

/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Plain `INFO` fields exported as `(field, metric name, type, unit, help)`.
const FIELDS: &[(&str, &str, MetricType, Option<Unit>, &str)] = &[
    (
        "uptime_in_seconds",
        "redis_uptime_in_seconds",
        MetricType::Gauge,
        None,
        "Seconds since the server started",
    ),
    (
        "connected_clients",
        "redis_connected_clients",
        MetricType::Gauge,
        None,
        "Client connections open",
    ),
    (
        "blocked_clients",
        "redis_blocked_clients",
        MetricType::Gauge,
        None,
        "Clients waiting in a blocking command",
    ),
    (
        "maxclients",
        "redis_config_maxclients",
        MetricType::Gauge,
        None,
        "maxclients",
    ),
    (
        "used_memory",
        "redis_memory_used",
        MetricType::Gauge,
        Some(Unit::Bytes),
        "Memory used by the data (INFO used_memory)",
    ),
    (
        "used_memory_rss",
        "redis_memory_used_rss",
        MetricType::Gauge,
        Some(Unit::Bytes),
        "Resident set size of the process",
    ),
    (
        "used_memory_peak",
        "redis_memory_used_peak",
        MetricType::Gauge,
        Some(Unit::Bytes),
        "Peak of used_memory",
    ),
    (
        "maxmemory",
        "redis_memory_max",
        MetricType::Gauge,
        Some(Unit::Bytes),
        "maxmemory (0: no limit)",
    ),
    (
        "total_connections_received",
        "redis_connections_received",
        MetricType::Counter,
        None,
        "Connections accepted",
    ),
    (
        "rejected_connections",
        "redis_rejected_connections",
        MetricType::Counter,
        None,
        "Connections refused (maxclients)",
    ),
    (
        "total_commands_processed",
        "redis_commands_processed",
        MetricType::Counter,
        None,
        "Commands run",
    ),
    (
        "instantaneous_ops_per_sec",
        "redis_instantaneous_ops_per_sec",
        MetricType::Gauge,
        None,
        "Commands per second, sampled",
    ),
    (
        "total_net_input_bytes",
        "redis_net_input_bytes",
        MetricType::Counter,
        None,
        "Bytes read from clients",
    ),
    (
        "total_net_output_bytes",
        "redis_net_output_bytes",
        MetricType::Counter,
        None,
        "Bytes written to clients",
    ),
    (
        "expired_keys",
        "redis_expired_keys",
        MetricType::Counter,
        None,
        "Keys removed because their TTL passed",
    ),
    (
        "evicted_keys",
        "redis_evicted_keys",
        MetricType::Counter,
        None,
        "Keys evicted under maxmemory",
    ),
    (
        "keyspace_hits",
        "redis_keyspace_hits",
        MetricType::Counter,
        None,
        "Key lookups that found the key",
    ),
    (
        "keyspace_misses",
        "redis_keyspace_misses",
        MetricType::Counter,
        None,
        "Key lookups that did not",
    ),
    (
        "used_cpu_sys",
        "redis_cpu_sys_seconds",
        MetricType::Counter,
        None,
        "System CPU seconds",
    ),
    (
        "used_cpu_user",
        "redis_cpu_user_seconds",
        MetricType::Counter,
        None,
        "User CPU seconds",
    ),
];

/// One database's keyspace line.
#[derive(Debug, Clone, PartialEq)]
struct Db {
    db: String,
    keys: u64,
    expires: u64,
    avg_ttl_ms: u64,
}

/// One command's statistics line.
#[derive(Debug, Clone, PartialEq)]
struct Cmd {
    name: String,
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
}

/// INFO, parsed.
#[derive(Debug, Default)]
struct Page {
    fields: HashMap<String, f64>,
    dbs: Vec<Db>,
    cmds: Vec<Cmd>,
}

/// `a=1,b=2` -> the value of `key`.
fn sub(list: &str, key: &str) -> u64 {
    list.split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0)
}

fn parse(info: &str) -> Page {
    let mut p = Page::default();
    for line in info.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if let Some(name) = k.strip_prefix("cmdstat_") {
            p.cmds.push(Cmd {
                name: name.to_string(),
                calls: sub(v, "calls"),
                usec: sub(v, "usec"),
                rejected: sub(v, "rejected_calls"),
                failed: sub(v, "failed_calls"),
            });
        } else if k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()) {
            p.dbs.push(Db {
                db: k.to_string(),
                keys: sub(v, "keys"),
                expires: sub(v, "expires"),
                avg_ttl_ms: sub(v, "avg_ttl"),
            });
        } else if let Ok(n) = v.trim().parse::<f64>() {
            p.fields.insert(k.to_string(), n);
        }
    }
    p
}

impl Collector for Page {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        {
            let mut e = enc.encode_descriptor(
                "redis_up",
                "1 while the server answers",
                None,
                MetricType::Gauge,
            )?;
            e.encode_gauge(&1u64)?;
        }
        for (field, name, kind, unit, help) in FIELDS {
            let Some(v) = self.fields.get(*field) else {
                continue;
            };
            let mut e = enc.encode_descriptor(name, help, unit.as_ref(), *kind)?;
            let integral = v.fract() == 0.0 && *v >= 0.0 && *v < u64::MAX as f64;
            match (kind, integral) {
                (MetricType::Counter, true) => {
                    e.encode_counter::<NoLabelSet, u64, u64>(&(*v as u64), None)?
                }
                (MetricType::Counter, false) => {
                    e.encode_counter::<NoLabelSet, f64, u64>(v, None)?
                }
                (_, true) => e.encode_gauge(&(*v as u64))?,
                (_, false) => e.encode_gauge(v)?,
            }
        }
        let db_gauge = |enc: &mut DescriptorEncoder<'_>,
                        name: &str,
                        help: &str,
                        unit: Option<&Unit>,
                        value: fn(&Db) -> f64|
         -> std::fmt::Result {
            let mut e = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
            for d in &self.dbs {
                let labels = [("db", d.db.as_str())];
                let mut f = e.encode_family(&labels)?;
                let v = value(d);
                if v.fract() == 0.0 {
                    f.encode_gauge(&(v as u64))?;
                } else {
                    f.encode_gauge(&v)?;
                }
            }
            Ok(())
        };
        db_gauge(&mut enc, "redis_db_keys", "Keys per database", None, |d| {
            d.keys as f64
        })?;
        db_gauge(
            &mut enc,
            "redis_db_keys_expiring",
            "Keys with a TTL per database",
            None,
            |d| d.expires as f64,
        )?;
        db_gauge(
            &mut enc,
            "redis_db_avg_ttl",
            "Average TTL of the keys with one, per database",
            Some(&Unit::Seconds),
            |d| d.avg_ttl_ms as f64 / 1000.0,
        )?;
        let per_cmd = |enc: &mut DescriptorEncoder<'_>,
                       name: &str,
                       help: &str,
                       unit: Option<&Unit>,
                       value: fn(&Cmd) -> f64|
         -> std::fmt::Result {
            let mut e = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
            for c in &self.cmds {
                let labels = [("cmd", c.name.as_str())];
                let mut f = e.encode_family(&labels)?;
                let v = value(c);
                if v.fract() == 0.0 {
                    f.encode_counter::<NoLabelSet, u64, u64>(&(v as u64), None)?;
                } else {
                    f.encode_counter::<NoLabelSet, f64, u64>(&v, None)?;
                }
            }
            Ok(())
        };
        per_cmd(
            &mut enc,
            "redis_commands",
            "Calls per command (INFO commandstats calls)",
            None,
            |c| c.calls as f64,
        )?;
        per_cmd(
            &mut enc,
            "redis_commands_duration",
            "Time spent per command (INFO commandstats usec)",
            Some(&Unit::Seconds),
            |c| c.usec as f64 / 1e6,
        )?;
        per_cmd(
            &mut enc,
            "redis_commands_rejected_calls",
            "Calls refused before running, per command",
            None,
            |c| c.rejected as f64,
        )?;
        per_cmd(
            &mut enc,
            "redis_commands_failed_calls",
            "Calls that failed while running, per command",
            None,
            |c| c.failed as f64,
        )
    }
}

/// The `/metrics` page of `shared`, in the Prometheus text format.
pub fn render(shared: &Shared) -> String {
    let info = crate::cmd::info_text(shared, SECTIONS);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(parse(&info)));
    let mut out = String::with_capacity(16 * 1024);
    if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

/// Whether a client may read the page: see the module header.
fn allowed(
    peer: SocketAddr,
    password: Option<&str>,
    protected: bool,
    bearer: Option<&str>,
) -> Result<(), u16> {
    if super::net::is_loopback(peer.ip()) {
        return Ok(());
    }
    match password {
        Some(p) => {
            use subtle::ConstantTimeEq;
            let sent = bearer.unwrap_or_default();
            if bool::from(p.as_bytes().ct_eq(sent.as_bytes())) {
                Ok(())
            } else {
                Err(401)
            }
        }
        None if protected => Err(403),
        None => Ok(()),
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    respond_with(stream, status, "", content_type, body);
}

fn respond_with(stream: &mut TcpStream, status: &str, extra: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}content-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// Reads the request head: `(method, path, bearer token)`, or the status to refuse it with.
fn read_head(stream: &mut TcpStream) -> Result<(String, String, Option<String>), &'static str> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("400 Bad Request"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let bearer = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| {
            let v = v.trim();
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    Ok((method, path, bearer))
}

fn serve_one(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (method, path, bearer) = match read_head(&mut stream) {
        Ok(h) => h,
        Err(status) => return respond(&mut stream, status, "text/plain", "bad request\n"),
    };
    let path = path.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n",
        );
    }
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        );
    }
    let (password, protected) = {
        let c = shared.config.read();
        (c.requirepass(), c.protected_mode())
    };
    match allowed(peer, password.as_deref(), protected, bearer.as_deref()) {
        Ok(()) => {
            let body = render(shared);
            let body = if method == "HEAD" { "" } else { body.as_str() };
            respond(
                &mut stream,
                "200 OK",
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                body,
            );
        }
        Err(401) => respond_with(
            &mut stream,
            "401 Unauthorized",
            "www-authenticate: Bearer realm=\"cachesrv\"\r\n",
            "text/plain",
            "send the requirepass password as 'Authorization: Bearer <password>'\n",
        ),
        Err(_) => respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            "protected mode: /metrics is served to loopback clients only (set requirepass, or protected-mode no)\n",
        ),
    }
}

/// Serves `/metrics` on `listener` from a thread of its own until `shared` shuts down.
pub fn spawn(shared: Arc<Shared>, listener: TcpListener) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("cachesrv-metrics".into())
        .spawn(move || {
            while !shared.is_shutting_down() {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        if stream.set_nonblocking(false).is_ok() {
                            serve_one(&shared, stream, peer);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_becomes_series() {
        let info = "# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmem_allocator:libc\r\n# Stats\r\nkeyspace_hits:7\r\n# CPU\r\nused_cpu_user:0.250000\r\n# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=1500\r\n# Commandstats\r\ncmdstat_get:calls=10,usec=25,usec_per_call=2.50,rejected_calls=1,failed_calls=0\r\n";
        let mut registry = Registry::default();
        registry.register_collector(Box::new(parse(info)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        for line in [
            "redis_up 1",
            "redis_connected_clients 3",
            "redis_memory_used_bytes 1048576",
            "redis_memory_max_bytes 0",
            "redis_keyspace_hits_total 7",
            "redis_cpu_user_seconds_total 0.25",
            "redis_db_keys{db=\"db0\"} 5",
            "redis_db_keys_expiring{db=\"db0\"} 2",
            "redis_db_avg_ttl_seconds{db=\"db0\"} 1.5",
            "redis_commands_total{cmd=\"get\"} 10",
            "redis_commands_duration_seconds_total{cmd=\"get\"} 0.000025",
            "redis_commands_rejected_calls_total{cmd=\"get\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
        assert!(!out.contains("mem_allocator"));
        assert!(out.contains("# TYPE redis_keyspace_hits_total counter\n"));
    }

    #[test]
    fn access_rules() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let far: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        assert_eq!(allowed(lo, Some("pw"), true, None), Ok(()));
        assert_eq!(allowed(far, Some("pw"), true, None), Err(401));
        assert_eq!(allowed(far, Some("pw"), true, Some("nope")), Err(401));
        assert_eq!(allowed(far, Some("pw"), true, Some("pw")), Ok(()));
        assert_eq!(allowed(far, None, true, None), Err(403));
        assert_eq!(allowed(far, None, false, None), Ok(()));
    }
}
