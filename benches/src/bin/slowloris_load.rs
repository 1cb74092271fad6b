//! A normal client's latency while a slowloris client holds `SLOW` (1 000) half-sent requests
//! open against the gateway: each of its connections sends a request line and then one header
//! byte per second, never finishing; when the gateway drops one (header timeout), it connects
//! again. The normal client calls the demo server's `echo` through the gateway in rounds
//! without, then with, the slowloris load; p50/p99 of each, the gateway's CPU per call, and
//! how many slow connections the gateway dropped.
//!
//! Run: `cargo build --release -p gateway -p benches && target/release/slowloris_load`
//! (environment: `SLOW` (1000), `CALLS` per round (2000), `ROUNDS` (3)).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::{cpu_secs, demo_upstream, env_usize, pct, start_gateway, us, write_config, Mcp, KEY};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn open_slow(port: u16) -> Option<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let head = format!("POST /mcp/ HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-slow: ");
    s.write_all(head.as_bytes()).await.ok()?;
    Some(s)
}

/// Keeps `n` half-sent requests open until `stop`; counts the ones the gateway dropped.
async fn slowloris(port: u16, n: usize, stop: Arc<AtomicBool>, dropped: Arc<AtomicUsize>) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(s) = open_slow(port).await {
            conns.push(s);
        }
    }
    while !stop.load(Ordering::Relaxed) {
        for c in conns.iter_mut() {
            if c.write_all(b"a").await.is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = open_slow(port).await {
                    *c = s;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn round(m: &Mcp, calls: usize, lat: &mut Vec<Duration>) {
    let args = json!({ "message": "hello through the gateway" });
    for _ in 0..calls {
        let t = Instant::now();
        let r = m.call("plain__echo", args.clone()).await;
        lat.push(t.elapsed());
        let err = r.pointer("/result/isError").and_then(Value::as_bool) == Some(true);
        assert!(r.get("result").is_some() && !err, "{r}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let slow = env_usize("SLOW", 1000);
    let calls = env_usize("CALLS", 2000);
    let rounds = env_usize("ROUNDS", 3);
    let dir = std::env::temp_dir().join(format!("slowloris-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (_up, up_url) = demo_upstream();
    let cfg = write_config(
        &dir,
        "slowloris-cfg.json",
        json!([{ "server_name": "plain", "config": { "url": up_url, "transport": "streamable-http" }, "tools": {} }]),
        json!({}),
    );
    let (gw, port, _) = start_gateway(&cfg);
    let pid = gw.0.id();
    let m = Mcp::open(&format!("http://127.0.0.1:{port}/mcp/"), Some(KEY)).await;
    let mut warm = Vec::new();
    round(&m, 100, &mut warm).await;

    let (mut quiet, mut loaded) = (Vec::new(), Vec::new());
    let (mut cpu_quiet, mut cpu_loaded) = (0.0, 0.0);
    let dropped = Arc::new(AtomicUsize::new(0));
    for _ in 0..rounds {
        let c0 = cpu_secs(pid);
        round(&m, calls, &mut quiet).await;
        cpu_quiet += cpu_secs(pid) - c0;

        let stop = Arc::new(AtomicBool::new(false));
        let attack = tokio::spawn(slowloris(port, slow, stop.clone(), dropped.clone()));
        // Let the slow connections open.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let c0 = cpu_secs(pid);
        round(&m, calls, &mut loaded).await;
        cpu_loaded += cpu_secs(pid) - c0;
        stop.store(true, Ordering::Relaxed);
        let _ = attack.await;
    }
    quiet.sort();
    loaded.sort();
    let n = (rounds * calls) as f64;
    println!(
        "{rounds} rounds x {calls} calls, one client; slowloris: {slow} half-sent requests, a header byte each per second"
    );
    println!("| load | p50 us | p99 us | gateway CPU us/call |");
    println!("| --- | ---: | ---: | ---: |");
    for (label, lat, cpu) in [
        ("none", &quiet, cpu_quiet),
        ("slowloris", &loaded, cpu_loaded),
    ] {
        println!(
            "| {label} | {:.0} | {:.0} | {:.1} |",
            us(pct(lat, 0.5)),
            us(pct(lat, 0.99)),
            cpu / n * 1e6
        );
    }
    println!(
        "slow connections dropped by the gateway (header timeout): {}",
        dropped.load(Ordering::Relaxed)
    );
}
