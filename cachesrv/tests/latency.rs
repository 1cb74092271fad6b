//! The latency monitor and command histograms: a slow command (DEBUG SLEEP) above
//! `latency-monitor-threshold` is in LATENCY LATEST/HISTORY/GRAPH/DOCTOR; `INFO latencystats`
//! follows `latency-tracking` and `latency-tracking-info-percentiles`.

mod common;

use common::{Conn, TestServer};
use protocol::Frame;

fn text(f: Frame) -> String {
    match f {
        Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn a_slow_command_is_a_latency_event() {
    let srv = TestServer::start(&["--latency-monitor-threshold", "50"]);
    let mut c = Conn::open(srv.port);
    assert!(text(c.cmd(&["LATENCY", "DOCTOR"])).starts_with("Dave, no latency spike"));
    c.cmd(&["DEBUG", "SLEEP", "0.12"]);
    c.cmd(&["PING"]);
    let Frame::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else {
        panic!("LATEST is an array");
    };
    assert_eq!(latest.len(), 1, "{latest:?}");
    let Frame::Array(ev) = &latest[0] else {
        panic!("an event is an array");
    };
    assert_eq!(ev[0], Frame::Bulk("command".into()));
    let (Frame::Integer(ms), Frame::Integer(max)) = (&ev[2], &ev[3]) else {
        panic!("latency and max are integers: {ev:?}");
    };
    assert!(*ms >= 120 && max == ms, "{ev:?}");
    let Frame::Array(hist) = c.cmd(&["LATENCY", "HISTORY", "command"]) else {
        panic!("HISTORY is an array");
    };
    assert_eq!(hist.len(), 1);
    let graph = text(c.cmd(&["LATENCY", "GRAPH", "command"]));
    assert!(
        graph.starts_with(&format!(
            "command - high {ms} ms, low {ms} ms (all time high {ms} ms)\n"
        )),
        "{graph}"
    );
    // One sample: the lowest mark, a blank line, then its age written downwards.
    assert!(
        graph.contains("\n_\n \n") && graph.ends_with("\ns\n"),
        "{graph:?}"
    );
    let doctor = text(c.cmd(&["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), Frame::Integer(1));
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]));

    let stats = text(c.cmd(&["INFO", "latencystats"]));
    let line = stats
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_debug:"))
        .unwrap_or_else(|| panic!("{stats}"));
    let fields: Vec<&str> = line.split(':').nth(1).unwrap_or("").split(',').collect();
    assert_eq!(fields.len(), 3);
    assert!(
        fields[0].starts_with("p50=1") && fields[2].starts_with("p99.9="),
        "{line}"
    );
    c.cmd(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "50 90.5",
    ]);
    let stats = text(c.cmd(&["INFO", "latencystats"]));
    assert!(stats.contains(",p90.5="), "{stats}");
    c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["GET", "x"]);
    assert_eq!(text(c.cmd(&["INFO", "latencystats"])), "# Latencystats\r\n");
}
