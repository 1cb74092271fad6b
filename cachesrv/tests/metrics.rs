//! `metrics-port`: the INFO figures as Prometheus series over plain HTTP, read the way a
//! scraper reads them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Conn, TestServer};

/// A port free right now (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `(status line, head, body)` of one HTTP request.
fn http(port: u16, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("a head");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, head.to_string(), body.to_string())
}

fn scrape(port: u16) -> String {
    let (status, head, body) = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body
}

fn has(page: &str, line: &str) {
    assert!(
        page.lines().any(|l| l == line),
        "{line} missing from\n{page}"
    );
}

#[test]
fn info_figures_as_series() {
    let mport = free_port();
    let srv = TestServer::start(&["--metrics-port", &mport.to_string()]);
    let mut c = Conn::open(srv.port);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SET", "t", "v", "EX", "100"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    let page = scrape(mport);
    has(&page, "redis_up 1");
    has(&page, "redis_connected_clients 1");
    has(&page, "redis_keyspace_hits_total 2");
    has(&page, "redis_keyspace_misses_total 1");
    has(&page, "redis_db_keys{db=\"db0\"} 2");
    has(&page, "redis_db_keys_expiring{db=\"db0\"} 1");
    has(&page, "redis_commands_total{cmd=\"set\"} 2");
    has(&page, "redis_commands_total{cmd=\"get\"} 3");
    has(&page, "redis_commands_processed_total 5");
    has(&page, "redis_evicted_keys_total 0");
    has(&page, "redis_memory_max_bytes 0");
    assert!(page.contains("redis_commands_duration_seconds_total{cmd=\"get\"} "));
    assert!(page
        .lines()
        .any(|l| l.starts_with("redis_memory_used_bytes ")));
    // Scraping is no command: the counters did not move.
    let again = scrape(mport);
    has(&again, "redis_commands_processed_total 5");
    has(&again, "redis_connected_clients 1");
}

#[test]
fn other_paths_and_methods() {
    let mport = free_port();
    let _srv = TestServer::start(&["--metrics-port", &mport.to_string()]);
    let (status, _, _) = http(mport, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = http(mport, "POST /metrics HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
}

#[test]
fn metrics_port_is_off_by_default_and_immutable() {
    let srv = TestServer::start(&[]);
    let mut c = Conn::open(srv.port);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "metrics-port"]),
        protocol::Frame::Array(vec![
            protocol::Frame::Bulk("metrics-port".into()),
            protocol::Frame::Bulk("0".into()),
        ])
    );
    c.send(&["CONFIG", "SET", "metrics-port", "9999"]);
    let (raw, _) = c.read_raw();
    assert_eq!(
        raw,
        b"-ERR CONFIG SET failed (possibly related to argument 'metrics-port') - can't set immutable config\r\n"
    );
}
