//! Shared helpers for cachesrv's integration tests: an in-process server on a free port, and a
//! blocking raw RESP connection that returns each reply's exact bytes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use cachesrv::{Config, Server, Shared};
use protocol::{encode_command, DecodeLimits, Decoder, Frame};

pub mod procs;

/// A cachesrv running on its own runtime in this process.
pub struct TestServer {
    pub port: u16,
    pub shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(extra: &[&str]) -> TestServer {
        let mut args = vec!["--port", "0", "--bind", "127.0.0.1", "--save", ""];
        args.extend_from_slice(extra);
        let config = Config::from_args(&args).expect("config");
        let server = Server::bind(config).expect("bind");
        let shared = server.shared().clone();
        let port = server.local_addrs()[0].port();
        let thread = std::thread::spawn(move || server.serve());
        TestServer {
            port,
            shared,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.request_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking RESP connection for tests.
pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
    dec: Decoder,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        Conn::try_open(port).expect("connect")
    }

    /// A connection, or the connect error (a server still starting).
    pub fn try_open(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            dec: Decoder::new(DecodeLimits::default()),
        })
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write");
    }

    /// Sends a command as a RESP array.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let mut out = BytesMut::new();
        encode_command(&mut out, args);
        self.send_raw(&out);
    }

    /// Sends a command, returning the write's error instead of failing (a server may close the
    /// connection while the command is still being written).
    pub fn try_send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out)
    }

    /// Reads one reply and returns its exact bytes and its frame.
    pub fn read_raw(&mut self) -> (Vec<u8>, Frame) {
        loop {
            let before = self.buf.clone();
            if let Some(f) = self.dec.decode(&mut self.buf).expect("valid RESP") {
                let used = before.len() - self.buf.len();
                return (before[..used].to_vec(), f);
            }
            let mut tmp = [0u8; 65536];
            let n = self.stream.read(&mut tmp).expect("read");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Sends a command and returns the reply frame.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Frame {
        self.send(args);
        self.read_raw().1
    }

    /// Sends a command and returns the reply's exact bytes.
    pub fn cmd_raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send(args);
        self.read_raw().0
    }

    /// Reads until the server closes; returns everything read.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = self.buf.to_vec();
        let _ = self.stream.read_to_end(&mut out);
        out
    }
}

/// The differential scripts (`*.txt`) of `tests/<sub>`, sorted; at least one.
pub fn script_files(sub: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(sub);
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("scripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no scripts in {}", dir.display());
    scripts
}

/// Fails listing every difference a differential run found.
pub fn assert_no_differences(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
