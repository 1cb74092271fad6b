//! Test support shared by the workspace's integration tests.
//!
//! [`RedisServer`] runs a real `redis-server` (the Debian package the test command installs)
//! on a free loopback port, with no persistence, and can kill and restart it on the same port.
//! A missing `redis-server` is a test failure, never a skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released), never one this process handed out
/// before: the kernel may offer a released port again at once, and two tests running in
/// parallel would then start their servers on the same port, one of them reaching the
/// other's server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running `redis-server`; killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    password: Option<String>,
    extra: Vec<String>,
    child: Option<Child>,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` on a free port, optionally with `requirepass`.
    pub fn start(password: Option<&str>) -> RedisServer {
        Self::start_with(password, &[])
    }

    /// Starts `redis-server` with extra `--directive value` arguments.
    pub fn start_with(password: Option<&str>, extra: &[&str]) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("testkit-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut s = RedisServer {
            port,
            password: password.map(str::to_string),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            dir,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(["--daemonize", "no", "--loglevel", "warning"]);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        cmd.args(&self.extra);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("cannot run redis-server: install it (the test command does: apt-get install redis-server)");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut b = [0u8; 64];
                    if let Ok(n) = s.read(&mut b) {
                        // +PONG, or -NOAUTH when a password is set: either way it serves.
                        if n > 0 {
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
