//! An async RESP client for Redis, KeyDB and `cachesrv`.
//!
//! - A small pool of multiplexed connections (`conn`): commands from many tasks are pipelined
//!   over each socket and picked round-robin across the pool.
//! - On connect: `HELLO 3` (when [`ClientConfig::resp3`]), `AUTH [username] password`,
//!   `SELECT db`, `CLIENT SETNAME`.
//! - Every command has one deadline ([`ClientConfig::command_timeout`]) covering a reconnect if
//!   one is needed and the reply. A dead connection is replaced on the next command, retrying
//!   the connect with exponential backoff until that deadline; a command that timed out closes
//!   its connection, since the server may be hung. Commands in flight when a connection dies
//!   fail with [`Error::Closed`] and are never re-sent (they may have run).
//! - With [`ClientConfig::sentinel`], the master is found through Redis Sentinel and followed
//!   across failovers ([`SentinelConfig`]).
//! - Server errors are [`Error::Server`] with Redis's code kept (`ERR`, `WRONGTYPE`, `NOAUTH`...).

mod conn;
mod pubsub;
mod sentinel;
mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

pub use pubsub::{Message, Subscription};
pub use sentinel::SentinelConfig;
pub use tls::TlsConfig;

use crate::encode::encode_command;
use crate::error::{Error, ServerError};
use crate::frame::Frame;
use conn::Conn;

/// Where and how to connect.
#[derive(Clone)]
pub struct ClientConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database selected on connect.
    pub db: u32,
    /// ACL user name; `None` authenticates as the default user.
    pub username: Option<String>,
    /// Password; `None` skips AUTH.
    pub password: Option<String>,
    /// Speak RESP3 (`HELLO 3` on connect).
    pub resp3: bool,
    /// Name set with `CLIENT SETNAME`.
    pub client_name: Option<String>,
    /// Limit for one TCP connect plus handshake.
    pub connect_timeout: Duration,
    /// Limit for one command, reconnect included.
    pub command_timeout: Duration,
    /// Number of multiplexed connections.
    pub pool_size: usize,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Find the master through Redis Sentinel instead of `host`/`port` (see [`SentinelConfig`]).
    pub sentinel: Option<SentinelConfig>,
    /// Speak TLS to the server (`rediss://`).
    pub tls: Option<TlsConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            resp3: false,
            client_name: None,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            pool_size: 2,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(500),
            sentinel: None,
            tls: None,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("resp3", &self.resp3)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("pool_size", &self.pool_size)
            .field("sentinel", &self.sentinel)
            .field("tls", &self.tls)
            .finish()
    }
}

/// How long a `SET` key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetExpiry {
    /// `EX seconds`
    Seconds(u64),
    /// `PX milliseconds`
    Millis(u64),
    /// `KEEPTTL`
    KeepTtl,
}

/// When a `SET` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfExists,
}

/// Options of `SET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// `EX`/`PX`/`KEEPTTL`.
    pub expiry: Option<SetExpiry>,
    /// `NX`/`XX`.
    pub condition: Option<SetCondition>,
}

struct Slot {
    current: parking_lot::Mutex<Option<Conn>>,
    reconnect: tokio::sync::Mutex<()>,
}

struct Inner {
    cfg: ClientConfig,
    slots: Box<[Slot]>,
    next: AtomicUsize,
}

/// A pooled, multiplexed RESP client. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl Client {
    /// A client that connects lazily, on its first command. Must be called inside a tokio
    /// runtime only when commands are sent.
    pub fn new(cfg: ClientConfig) -> Client {
        let n = cfg.pool_size.max(1);
        let slots = (0..n)
            .map(|_| Slot {
                current: parking_lot::Mutex::new(None),
                reconnect: tokio::sync::Mutex::new(()),
            })
            .collect();
        Client {
            inner: Arc::new(Inner {
                cfg,
                slots,
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// A client whose first connection is made (and authenticated) now.
    pub async fn connect(cfg: ClientConfig) -> Result<Client, Error> {
        let c = Client::new(cfg);
        let deadline = Instant::now() + c.inner.cfg.connect_timeout;
        c.slot_conn(&c.inner.slots[0], deadline, false).await?;
        Ok(c)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    async fn slot_conn(&self, slot: &Slot, deadline: Instant, retry: bool) -> Result<Conn, Error> {
        if let Some(c) = slot.current.lock().as_ref() {
            if c.is_alive() {
                return Ok(c.clone());
            }
        }
        let _guard = match tokio::time::timeout_at(deadline, slot.reconnect.lock()).await {
            Ok(g) => g,
            Err(_) => return Err(self.timeout()),
        };
        if let Some(c) = slot.current.lock().as_ref() {
            if c.is_alive() {
                return Ok(c.clone());
            }
        }
        let cfg = &self.inner.cfg;
        let mut delay = cfg.backoff_min;
        loop {
            match conn::connect(cfg, deadline, cfg.resp3).await {
                Ok(hs) => {
                    let c = conn::spawn(hs);
                    *slot.current.lock() = Some(c.clone());
                    return Ok(c);
                }
                // A refused password will not get better by retrying.
                Err(e @ Error::Server(_)) => return Err(e),
                Err(e) => {
                    if !retry || Instant::now() + delay >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(cfg.backoff_max);
                }
            }
        }
    }

    fn timeout(&self) -> Error {
        Error::Timeout {
            what: "command",
            after: self.inner.cfg.command_timeout,
        }
    }

    /// Sends pre-encoded command bytes and waits for the reply frame (error replies included).
    async fn raw(&self, bytes: Bytes) -> Result<Frame, Error> {
        let deadline = Instant::now() + self.inner.cfg.command_timeout;
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.slots.len();
        let conn = self.slot_conn(&self.inner.slots[i], deadline, true).await?;
        let rx = conn.send(bytes)?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(Frame::Error(line))))
                if self.inner.cfg.sentinel.is_some() && line.starts_with(b"READONLY") =>
            {
                // A demoted master: the next command asks the sentinels again.
                conn.kill();
                Ok(Frame::Error(line))
            }
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(Error::Closed(None)),
            Err(_) => {
                conn.kill();
                Err(self.timeout())
            }
        }
    }

    /// Sends any command; error replies become [`Error::Server`].
    pub async fn cmd<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Frame, Error> {
        let mut buf = BytesMut::new();
        encode_command(&mut buf, args);
        match self.raw(buf.freeze()).await? {
            Frame::Error(line) => Err(Error::Server(ServerError::new(line))),
            f => Ok(f),
        }
    }

    /// `PING`: succeeds on `PONG`.
    pub async fn ping(&self) -> Result<(), Error> {
        match self.cmd(&["PING"]).await? {
            Frame::Simple(s) if &s[..] == b"PONG" => Ok(()),
            other => Err(unexpected("PONG", &other)),
        }
    }

    /// `GET key`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, Error> {
        opt_bytes(self.cmd(&[b"GET", key.as_ref()]).await?)
    }

    /// `SET key value`.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.set_with(key, value, SetOptions::default())
            .await
            .map(|_| ())
    }

    /// `SET key value [EX s|PX ms|KEEPTTL] [NX|XX]`: true when the value was set, false when the
    /// NX/XX condition did not hold.
    pub async fn set_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: SetOptions,
    ) -> Result<bool, Error> {
        let mut num = itoa::Buffer::new();
        let mut args: Vec<&[u8]> = vec![b"SET", key.as_ref(), value.as_ref()];
        match opts.expiry {
            Some(SetExpiry::Seconds(s)) => args.extend([&b"EX"[..], num.format(s).as_bytes()]),
            Some(SetExpiry::Millis(ms)) => args.extend([&b"PX"[..], num.format(ms).as_bytes()]),
            Some(SetExpiry::KeepTtl) => args.push(b"KEEPTTL"),
            None => {}
        }
        match opts.condition {
            Some(SetCondition::IfAbsent) => args.push(b"NX"),
            Some(SetCondition::IfExists) => args.push(b"XX"),
            None => {}
        }
        match self.cmd(&args).await? {
            Frame::Simple(_) => Ok(true),
            Frame::Null => Ok(false),
            other => Err(unexpected("OK or nil", &other)),
        }
    }

    /// `DEL key...`: the number of keys removed.
    pub async fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<i64, Error> {
        self.keys_cmd(b"DEL", keys).await
    }

    /// `UNLINK key...`: the number of keys removed.
    pub async fn unlink<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<i64, Error> {
        self.keys_cmd(b"UNLINK", keys).await
    }

    async fn keys_cmd<K: AsRef<[u8]>>(&self, name: &[u8], keys: &[K]) -> Result<i64, Error> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
        args.push(name);
        args.extend(keys.iter().map(|k| k.as_ref()));
        int(self.cmd(&args).await?)
    }

    /// `MGET key...`.
    pub async fn mget<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>, Error> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
        args.push(b"MGET");
        args.extend(keys.iter().map(|k| k.as_ref()));
        match self.cmd(&args).await? {
            Frame::Array(items) => items.into_iter().map(opt_bytes).collect(),
            other => Err(unexpected("array", &other)),
        }
    }

    /// `EXPIRE key seconds`: true when the timeout was set.
    pub async fn expire(&self, key: impl AsRef<[u8]>, seconds: i64) -> Result<bool, Error> {
        let mut n = itoa::Buffer::new();
        Ok(int(self
            .cmd(&[b"EXPIRE", key.as_ref(), n.format(seconds).as_bytes()])
            .await?)?
            == 1)
    }

    /// `TTL key`: seconds left, -1 without expiry, -2 when the key does not exist.
    pub async fn ttl(&self, key: impl AsRef<[u8]>) -> Result<i64, Error> {
        int(self.cmd(&[b"TTL", key.as_ref()]).await?)
    }

    /// `INCR key`.
    pub async fn incr(&self, key: impl AsRef<[u8]>) -> Result<i64, Error> {
        int(self.cmd(&[b"INCR", key.as_ref()]).await?)
    }

    /// `SCAN cursor [MATCH pattern] [COUNT n]`: the next cursor (0 when done) and a batch of keys.
    pub async fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: Option<usize>,
    ) -> Result<(u64, Vec<Bytes>), Error> {
        let mut c = itoa::Buffer::new();
        let mut n = itoa::Buffer::new();
        let mut args: Vec<&[u8]> = vec![b"SCAN", c.format(cursor).as_bytes()];
        if let Some(p) = pattern {
            args.extend([&b"MATCH"[..], p]);
        }
        if let Some(k) = count {
            args.extend([&b"COUNT"[..], n.format(k).as_bytes()]);
        }
        match self.cmd(&args).await? {
            Frame::Array(mut v) if v.len() == 2 => {
                let keys = match v.pop() {
                    Some(Frame::Array(keys)) => keys
                        .into_iter()
                        .map(|k| match k {
                            Frame::Bulk(b) => Ok(b),
                            other => Err(unexpected("bulk key", &other)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    other => return Err(unexpected("key array", &other.unwrap_or(Frame::Null))),
                };
                let next = v
                    .pop()
                    .as_ref()
                    .and_then(Frame::as_bytes)
                    .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                    .ok_or_else(|| Error::Unexpected("SCAN cursor".into()))?;
                Ok((next, keys))
            }
            other => Err(unexpected("[cursor, keys]", &other)),
        }
    }

    /// Every key matching `pattern`, by iterating `SCAN` to the end.
    pub async fn scan_all(&self, pattern: &[u8], count: usize) -> Result<Vec<Bytes>, Error> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan(cursor, Some(pattern), Some(count)).await?;
            out.extend(keys);
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// `INFO [section]`: the text as the server sends it.
    pub async fn info(&self, section: Option<&str>) -> Result<String, Error> {
        let f = match section {
            Some(s) => self.cmd(&["INFO", s]).await?,
            None => self.cmd(&["INFO"]).await?,
        };
        match f.as_bytes() {
            Some(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            None => Err(unexpected("bulk string", &f)),
        }
    }

    /// `PUBLISH channel message`: the number of subscribers that received it.
    pub async fn publish(
        &self,
        channel: impl AsRef<[u8]>,
        message: impl AsRef<[u8]>,
    ) -> Result<i64, Error> {
        int(self
            .cmd(&[b"PUBLISH", channel.as_ref(), message.as_ref()])
            .await?)
    }

    /// `SUBSCRIBE channel...` on a dedicated connection; returns once the server confirmed the
    /// subscription, so anything published afterwards is delivered.
    pub async fn subscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<Subscription, Error> {
        pubsub::Subscription::start(self.inner.cfg.clone(), false, channels).await
    }

    /// `PSUBSCRIBE pattern...` on a dedicated connection.
    pub async fn psubscribe<C: AsRef<[u8]>>(&self, patterns: &[C]) -> Result<Subscription, Error> {
        pubsub::Subscription::start(self.inner.cfg.clone(), true, patterns).await
    }
}

fn unexpected(wanted: &str, got: &Frame) -> Error {
    let mut s = format!("{got:?}");
    s.truncate(120);
    Error::Unexpected(format!("expected {wanted}, got {s}"))
}

fn int(f: Frame) -> Result<i64, Error> {
    match f {
        Frame::Integer(n) => Ok(n),
        other => Err(unexpected("integer", &other)),
    }
}

fn opt_bytes(f: Frame) -> Result<Option<Bytes>, Error> {
    match f {
        Frame::Bulk(b) => Ok(Some(b)),
        Frame::Null => Ok(None),
        other => Err(unexpected("bulk string or nil", &other)),
    }
}
