//! The cost of `/metrics` recording: two gateways on the same upstream (our demo server's
//! `echo` over streamable HTTP), one with `enkrypt_metrics_enabled: true` (the default), one
//! with `false`, loaded in interleaved rounds; each gateway's CPU time per `tools/call` and the
//! ratio on/off. Then the same with a scrape of `/metrics` every 100 ms during the rounds of
//! the recording gateway (a scraper 150 times more eager than Prometheus's default).
//!
//! Run: `cargo build --release -p gateway -p benches && target/release/metrics_load`
//! (environment: `ROUNDS` (8), `CALLS` per client per round (1000), `CLIENTS` (16)).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use benches::{cpu_secs, demo_upstream, env_usize, start_gateway, write_config, Mcp, KEY};
use serde_json::json;

/// `sessions` each make `calls` echo calls, concurrently.
async fn load(sessions: &[Mcp], calls: usize) {
    let tasks: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|m| {
            tokio::spawn(async move {
                for _ in 0..calls {
                    let r = m.call("echo", json!({ "message": "ping" })).await;
                    assert!(r.get("result").is_some(), "{r}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

fn config(dir: &Path, file: &str, url: &str, enabled: bool) -> std::path::PathBuf {
    write_config(
        dir,
        file,
        json!([{ "server_name": "demo", "config": { "url": url, "transport": "streamable-http" }, "tools": {} }]),
        json!({ "enkrypt_metrics_enabled": enabled }),
    )
}

/// Scrapes `http://127.0.0.1:port/metrics` every 100 ms until `stop`; returns the scrapes made.
fn scraper(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(
                    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                );
                let mut b = Vec::new();
                let _ = s.read_to_end(&mut b);
                assert!(b.starts_with(b"HTTP/1.1 200"), "scrape refused");
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        n
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_usize("ROUNDS", 8);
    let calls = env_usize("CALLS", 1000);
    let clients = env_usize("CLIENTS", 16);
    let dir = std::env::temp_dir().join(format!("metrics-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (_up, url) = demo_upstream();
    let (on, on_port, _) = start_gateway(&config(&dir, "on.json", &url, true));
    let (off, off_port, _) = start_gateway(&config(&dir, "off.json", &url, false));
    let mut on_sessions = Vec::new();
    let mut off_sessions = Vec::new();
    for _ in 0..clients {
        on_sessions.push(Mcp::open(&format!("http://127.0.0.1:{on_port}/mcp/"), Some(KEY)).await);
        off_sessions.push(Mcp::open(&format!("http://127.0.0.1:{off_port}/mcp/"), Some(KEY)).await);
    }
    load(&on_sessions, 100).await;
    load(&off_sessions, 100).await;
    println!("## gateway CPU per tools/call, /metrics recording on and off ({rounds} interleaved rounds, {clients} clients x {calls} calls)\n");
    println!("| scrapes | on us/call | off us/call | on/off |");
    println!("| --- | ---: | ---: | ---: |");
    for scrape in [false, true] {
        let (mut on_cpu, mut off_cpu) = (0.0, 0.0);
        let mut scrapes = 0;
        for _ in 0..rounds {
            let before = cpu_secs(off.0.id());
            load(&off_sessions, calls).await;
            off_cpu += cpu_secs(off.0.id()) - before;
            let stop = Arc::new(AtomicBool::new(false));
            let s = scrape.then(|| scraper(on_port, stop.clone()));
            let before = cpu_secs(on.0.id());
            load(&on_sessions, calls).await;
            on_cpu += cpu_secs(on.0.id()) - before;
            stop.store(true, Ordering::Relaxed);
            if let Some(s) = s {
                scrapes += s.join().expect("scraper");
            }
        }
        let n = (rounds * calls * clients) as f64;
        let (on_us, off_us) = (on_cpu * 1e6 / n, off_cpu * 1e6 / n);
        println!(
            "| {} | {on_us:.1} | {off_us:.1} | {:.3} |",
            if scrape {
                format!("every 100 ms ({scrapes})")
            } else {
                "none".to_string()
            },
            on_us / off_us
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
