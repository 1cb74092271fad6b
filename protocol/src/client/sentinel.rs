//! Redis Sentinel: where the master is.
//!
//! With [`SentinelConfig`] set, every connect first asks the sentinels, in turn, for the
//! address of the named master (`SENTINEL get-master-addr-by-name`), connects there, and checks
//! with `ROLE` that the server really is a master (a sentinel can be behind on a failover). The
//! sentinel that answered is asked first next time. Because every reconnect resolves again, a
//! failover is followed the way any lost connection is handled: the commands in flight fail,
//! the next ones connect to the new master. A connection whose server answers `-READONLY` (a
//! master demoted to replica that kept its clients) is closed by the pool so the next command
//! resolves again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::conn::{read_frame, Handshaken};
use super::tls::Stream;
use crate::decode::{DecodeLimits, Decoder};
use crate::encode::encode_command;
use crate::error::{Error, ServerError};
use crate::frame::Frame;

/// Longest wait for one sentinel; a dead one costs at most this before the next is asked.
const PER_SENTINEL: Duration = Duration::from_millis(500);

/// The sentinels to ask and the master to ask them about.
#[derive(Clone)]
pub struct SentinelConfig {
    /// Sentinel addresses (`host`, `port`).
    pub addrs: Vec<(String, u16)>,
    /// The master's name in the sentinels' configuration (`sentinel monitor <name> ...`).
    pub master_name: String,
    /// ACL user for the sentinels (`None`: the default user).
    pub username: Option<String>,
    /// Password of the sentinels (`requirepass` in sentinel.conf); `None` skips AUTH. The
    /// master's own password is [`super::ClientConfig::password`].
    pub password: Option<String>,
    /// The sentinel to ask first (the last one that answered).
    first: Arc<AtomicUsize>,
}

impl SentinelConfig {
    /// Sentinels at `addrs` watching the master `master_name`, without a sentinel password.
    pub fn new(addrs: Vec<(String, u16)>, master_name: impl Into<String>) -> SentinelConfig {
        SentinelConfig {
            addrs,
            master_name: master_name.into(),
            username: None,
            password: None,
            first: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl std::fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("addrs", &self.addrs)
            .field("master_name", &self.master_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The master's address, from the first sentinel that knows it.
pub(crate) async fn resolve_master(
    s: &SentinelConfig,
    deadline: Instant,
) -> Result<(String, u16), Error> {
    let n = s.addrs.len();
    if n == 0 {
        return Err(Error::Closed(Some(
            "no sentinel addresses configured".into(),
        )));
    }
    let start = s.first.load(Ordering::Relaxed) % n;
    let mut failures = Vec::new();
    for i in 0..n {
        let idx = (start + i) % n;
        let (host, port) = &s.addrs[idx];
        let limit = deadline.min(Instant::now() + PER_SENTINEL);
        match tokio::time::timeout_at(limit, ask(s, host, *port)).await {
            Ok(Ok(addr)) => {
                s.first.store(idx, Ordering::Relaxed);
                return Ok(addr);
            }
            Ok(Err(e)) => failures.push(format!("{host}:{port}: {e}")),
            Err(_) => failures.push(format!("{host}:{port}: no answer")),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    Err(Error::Closed(Some(format!(
        "no sentinel gave the address of master '{}' ({})",
        s.master_name,
        failures.join("; ")
    ))))
}

async fn ask(s: &SentinelConfig, host: &str, port: u16) -> Result<(String, u16), Error> {
    let addr = format!("{host}:{port}");
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|source| Error::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let mut hs = Handshaken {
        stream: Stream::Tcp(stream),
        rbuf: BytesMut::with_capacity(1024),
        decoder: Decoder::new(DecodeLimits::default()),
    };
    let mut out = BytesMut::new();
    let mut expected = 1;
    if let Some(p) = s.password.as_deref() {
        match s.username.as_deref() {
            Some(u) => encode_command(&mut out, &[&b"AUTH"[..], u.as_bytes(), p.as_bytes()]),
            None => encode_command(&mut out, &[&b"AUTH"[..], p.as_bytes()]),
        }
        expected += 1;
    }
    encode_command(
        &mut out,
        &[
            &b"SENTINEL"[..],
            b"get-master-addr-by-name",
            s.master_name.as_bytes(),
        ],
    );
    hs.stream.write_all(&out).await?;
    let mut reply = Frame::Null;
    for _ in 0..expected {
        reply = read_frame(&mut hs).await?;
        if let Frame::Error(line) = reply {
            return Err(Error::Server(ServerError::new(line)));
        }
    }
    match reply {
        Frame::Array(items) if items.len() == 2 => {
            let text = |f: &Frame| match f {
                Frame::Bulk(b) | Frame::Simple(b) => std::str::from_utf8(b).ok().map(str::to_owned),
                _ => None,
            };
            let host = text(&items[0]);
            let port = text(&items[1]).and_then(|p| p.parse::<u16>().ok());
            match (host, port) {
                (Some(h), Some(p)) => Ok((h, p)),
                _ => Err(Error::Closed(Some("unexpected sentinel reply".into()))),
            }
        }
        Frame::Null => Err(Error::Closed(Some(format!(
            "the sentinel does not know master '{}'",
            s.master_name
        )))),
        _ => Err(Error::Closed(Some("unexpected sentinel reply".into()))),
    }
}

/// Checks that a freshly connected server is a master (`ROLE`), as the sentinel said.
pub(crate) async fn check_master(hs: &mut Handshaken, addr: &str) -> Result<(), Error> {
    let mut out = BytesMut::new();
    encode_command(&mut out, &[&b"ROLE"[..]]);
    hs.stream.write_all(&out).await?;
    match read_frame(hs).await? {
        Frame::Array(items) => match items.first() {
            Some(Frame::Bulk(r)) | Some(Frame::Simple(r)) if &r[..] == b"master" => Ok(()),
            Some(Frame::Bulk(r)) | Some(Frame::Simple(r)) => Err(Error::Closed(Some(format!(
                "{addr} is a {}, not the master; asking the sentinels again",
                String::from_utf8_lossy(r)
            )))),
            _ => Err(Error::Closed(Some(format!(
                "{addr}: unexpected ROLE reply"
            )))),
        },
        Frame::Error(line) => Err(Error::Server(ServerError::new(line))),
        _ => Err(Error::Closed(Some(format!(
            "{addr}: unexpected ROLE reply"
        )))),
    }
}
