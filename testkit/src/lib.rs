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

/// Ports this process handed out ([`free_port`], [`free_port_outside_ephemeral`]).
static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// Records `port` as handed out; false if it was already.
fn hand_out(port: u16) -> bool {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    if given.contains(&port) {
        return false;
    }
    given.push(port);
    true
}

/// A free TCP port on 127.0.0.1 (bound, then released), never one this process handed out
/// before: the kernel may offer a released port again at once, and two tests running in
/// parallel would then start their servers on the same port, one of them reaching the
/// other's server.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        if hand_out(port) {
            return port;
        }
    }
}

/// A free TCP port on 127.0.0.1 below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), never one this process handed out before. The kernel
/// gives such a port to no `bind` to port 0 ([`free_port`] in a parallel test) and to no
/// outgoing connection: for a server a test kills and then expects to find gone (a connect
/// error, not another test's server), or restarts on the same port.
pub fn free_port_outside_ephemeral() -> u16 {
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000u16;
    let span = u64::from(first_ephemeral.saturating_sub(low).max(1));
    // A start that differs between test processes, so that two of them rarely try the same
    // ports first.
    let seed = u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
    for i in 0..span {
        let port = low + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && hand_out(port) {
            return port;
        }
    }
    panic!("no free loopback port below {first_ephemeral}");
}

/// A running `redis-server`; killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    password: Option<String>,
    extra: Vec<String>,
    child: Option<Child>,
    dir: PathBuf,
    tls: bool,
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
            tls: false,
        };
        s.spawn();
        s
    }

    /// Starts `redis-server` serving only TLS on its port, with the PEM certificate and key
    /// given (clients are not asked for certificates).
    pub fn start_tls(
        password: Option<&str>,
        cert: &std::path::Path,
        key: &std::path::Path,
        ca: &std::path::Path,
    ) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("testkit-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        let extra = vec![
            "--tls-cert-file".to_string(),
            path(cert),
            "--tls-key-file".to_string(),
            path(key),
            "--tls-ca-cert-file".to_string(),
            path(ca),
            "--tls-auth-clients".to_string(),
            "no".to_string(),
        ];
        let mut s = RedisServer {
            port,
            password: password.map(str::to_string),
            extra,
            child: None,
            dir,
            tls: true,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        if self.tls {
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1"])
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
            if self.tls {
                // A TLS port cannot answer a plain PING: accepting connections is enough.
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
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

/// Three (or any number of) Redis Sentinels, each a real `redis-server --sentinel` process
/// started from a sentinel.conf text (the compose stack's `compose/sentinel/sentinel.conf`)
/// with its container names made local: `redis-master 6379` becomes `127.0.0.1 <master_port>`,
/// `port 26379` the sentinel's own free port and `__CACHE_PASSWORD__` the password. Killed on
/// drop.
pub struct Sentinels {
    /// Their ports on 127.0.0.1.
    pub ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Sentinels {
    /// Starts `n` sentinels watching the master on `master_port`.
    pub fn start(conf: &str, n: usize, master_port: u16, password: &str) -> Sentinels {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "testkit-sentinel-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut children = Vec::new();
        for port in &ports {
            let text = conf
                .replace("redis-master 6379", &format!("127.0.0.1 {master_port}"))
                .replace("port 26379", &format!("port {port}\nbind 127.0.0.1"))
                .replace("__CACHE_PASSWORD__", password);
            let path = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(&path, text).expect("write sentinel.conf");
            let child = Command::new("redis-server")
                .arg(&path)
                .arg("--sentinel")
                .args(["--dir", &dir.to_string_lossy()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run redis-server --sentinel: install redis-server");
            children.push(child);
        }
        let s = Sentinels {
            ports,
            children,
            dir,
        };
        for p in &s.ports {
            wait_answer(*p);
        }
        s
    }

    /// Sends one inline command to the sentinel on `port` and returns the raw reply.
    pub fn ask(port: u16, command: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(format!("{command}\r\n").as_bytes()).is_err() {
            return String::new();
        }
        let mut b = vec![0u8; 4096];
        let n = s.read(&mut b).unwrap_or(0);
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    /// Waits until every sentinel knows `replicas` replicas and the other sentinels of
    /// master `name`: from then on a failover can happen.
    pub fn wait_ready(&self, name: &str, replicas: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let others = self.ports.len() - 1;
        loop {
            let ready = self.ports.iter().all(|p| {
                let r = Self::ask(*p, &format!("SENTINEL replicas {name}"));
                let s = Self::ask(*p, &format!("SENTINEL sentinels {name}"));
                r.starts_with(&format!("*{replicas}\r\n"))
                    && s.starts_with(&format!("*{others}\r\n"))
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sentinels did not discover each other in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The master's port as the first sentinel reports it.
    pub fn master_port(&self, name: &str) -> Option<u16> {
        let r = Self::ask(
            self.ports[0],
            &format!("SENTINEL get-master-addr-by-name {name}"),
        );
        r.lines().nth(4).and_then(|l| l.trim().parse().ok())
    }
}

fn wait_answer(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if Sentinels::ask(port, "PING").starts_with('+') {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not start");
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes, with the `openssl` command, a test CA `<name>-ca.pem` and a server certificate
/// `<name>.pem` with key `<name>.key` for `localhost` and `127.0.0.1`, signed by that CA.
pub fn make_pki(dir: &std::path::Path, name: &str) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (apt-get install openssl; scripts/test.sh does)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_key, ca) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    let subject = format!("/CN={name} test CA");
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subject,
    ]);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(&args);
    let (key, csr, ext, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
        format!("{name}.pem"),
    );
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    openssl(&args);
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &pem,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
}
