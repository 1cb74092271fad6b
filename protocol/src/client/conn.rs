//! One multiplexed connection: any number of tasks pipeline commands over one socket.
//!
//! A single task owns the socket. Commands arrive on a channel with a oneshot for the reply;
//! the task appends their bytes to one write buffer (batching whatever is queued into one
//! write) and pushes the oneshot onto a FIFO *before* the bytes can reach the server. RESP
//! replies come back in command order, so each decoded reply completes the oldest pending
//! oneshot. RESP3 push frames are out of band and never consume a pending slot.
//!
//! When the socket fails, every pending and queued command fails with [`Error::Closed`] and the
//! handle reports itself dead; the pool (in `mod.rs`) then reconnects.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::tls::Stream;
use super::ClientConfig;
use crate::decode::{DecodeLimits, Decoder};
use crate::encode::encode_command;
use crate::error::{Error, ServerError};
use crate::frame::Frame;

pub(crate) type Reply = Result<Frame, Error>;

pub(crate) struct Cmd {
    pub bytes: Bytes,
    pub reply: oneshot::Sender<Reply>,
}

/// A cheap, cloneable handle to a live connection task.
#[derive(Clone)]
pub(crate) struct Conn {
    tx: mpsc::UnboundedSender<Cmd>,
    alive: Arc<AtomicBool>,
    kill: Arc<Notify>,
}

impl Conn {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    /// Queues a command; the receiver yields its reply.
    pub fn send(&self, bytes: Bytes) -> Result<oneshot::Receiver<Reply>, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd { bytes, reply })
            .map_err(|_| Error::Closed(None))?;
        Ok(rx)
    }

    /// Closes the connection (after a timeout: the server may be hung).
    pub fn kill(&self) {
        self.alive.store(false, Ordering::Release);
        self.kill.notify_one();
    }
}

/// A socket after the handshake, before it is handed to its task.
pub(crate) struct Handshaken {
    pub stream: Stream,
    pub rbuf: BytesMut,
    pub decoder: Decoder,
}

/// Connects, then authenticates and selects the database. Bounded by `deadline`.
pub(crate) async fn connect(
    cfg: &ClientConfig,
    deadline: Instant,
    resp3: bool,
) -> Result<Handshaken, Error> {
    let addr = match &cfg.sentinel {
        Some(s) => {
            let (host, port) = super::sentinel::resolve_master(s, deadline).await?;
            format!("{host}:{port}")
        }
        None => format!("{}:{}", cfg.host, cfg.port),
    };
    let limit = deadline.min(Instant::now() + cfg.connect_timeout);
    let stream = match tokio::time::timeout_at(limit, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => return Err(Error::Connect { addr, source }),
        Err(_) => {
            return Err(Error::Timeout {
                what: "connect",
                after: cfg.connect_timeout,
            })
        }
    };
    let _ = stream.set_nodelay(true);
    let stream = match &cfg.tls {
        None => Stream::Tcp(stream),
        Some(tls) => {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match tokio::time::timeout_at(limit, tls.connect(host, stream)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Error::Timeout {
                        what: "connect",
                        after: cfg.connect_timeout,
                    })
                }
            }
        }
    };
    let mut hs = Handshaken {
        stream,
        rbuf: BytesMut::with_capacity(16 * 1024),
        decoder: Decoder::new(DecodeLimits::default()),
    };
    let mut out = BytesMut::new();
    let mut expected = 0;
    let pass = cfg.password.as_deref();
    let user = cfg.username.as_deref().unwrap_or("default");
    if resp3 {
        let mut args: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(p) = pass {
            args.extend([&b"AUTH"[..], user.as_bytes(), p.as_bytes()]);
        }
        encode_command(&mut out, &args);
        expected += 1;
    } else if let Some(p) = pass {
        match cfg.username.as_deref() {
            Some(u) => encode_command(&mut out, &[&b"AUTH"[..], u.as_bytes(), p.as_bytes()]),
            None => encode_command(&mut out, &[&b"AUTH"[..], p.as_bytes()]),
        }
        expected += 1;
    }
    if cfg.db != 0 {
        encode_command(&mut out, &[&b"SELECT"[..], cfg.db.to_string().as_bytes()]);
        expected += 1;
    }
    if let Some(name) = cfg.client_name.as_deref() {
        encode_command(&mut out, &[&b"CLIENT"[..], b"SETNAME", name.as_bytes()]);
        expected += 1;
    }
    if expected == 0 && cfg.sentinel.is_none() {
        return Ok(hs);
    }
    let work = async {
        hs.stream.write_all(&out).await?;
        let mut first_err = None;
        for _ in 0..expected {
            let f = read_frame(&mut hs).await?;
            if let Frame::Error(line) = f {
                first_err.get_or_insert(Error::Server(ServerError::new(line)));
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if cfg.sentinel.is_some() {
            super::sentinel::check_master(&mut hs, &addr).await?;
        }
        Ok(())
    };
    match tokio::time::timeout_at(limit, work).await {
        Ok(Ok(())) => Ok(hs),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout {
            what: "connect",
            after: cfg.connect_timeout,
        }),
    }
}

/// Reads one frame during the handshake (or on a dedicated pub/sub socket).
pub(crate) async fn read_frame(hs: &mut Handshaken) -> Result<Frame, Error> {
    loop {
        if let Some(f) = hs.decoder.decode(&mut hs.rbuf)? {
            return Ok(f);
        }
        if hs.stream.read_buf(&mut hs.rbuf).await? == 0 {
            return Err(Error::Closed(Some("server closed the connection".into())));
        }
    }
}

/// Starts the connection task and returns its handle.
pub(crate) fn spawn(hs: Handshaken) -> Conn {
    let (tx, rx) = mpsc::unbounded_channel();
    let alive = Arc::new(AtomicBool::new(true));
    let kill = Arc::new(Notify::new());
    tokio::spawn(run(hs, rx, alive.clone(), kill.clone()));
    Conn { tx, alive, kill }
}

const WRITE_BATCH: usize = 64 * 1024;

async fn run(
    hs: Handshaken,
    rx: mpsc::UnboundedReceiver<Cmd>,
    alive: Arc<AtomicBool>,
    kill: Arc<Notify>,
) {
    let Handshaken {
        stream,
        rbuf,
        decoder,
    } = hs;
    match stream {
        Stream::Tcp(t) => {
            let (rd, wr) = t.into_split();
            drive(rd, wr, rbuf, decoder, rx, alive, kill).await
        }
        Stream::Tls(t) => {
            let (rd, wr) = tokio::io::split(*t);
            drive(rd, wr, rbuf, decoder, rx, alive, kill).await
        }
    }
}

async fn drive<R, W>(
    mut rd: R,
    mut wr: W,
    mut rbuf: BytesMut,
    mut decoder: Decoder,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    alive: Arc<AtomicBool>,
    kill: Arc<Notify>,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut pending: VecDeque<oneshot::Sender<Reply>> = VecDeque::new();
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut senders_gone = false;
    let reason: String = 'conn: loop {
        if senders_gone && pending.is_empty() && wbuf.is_empty() {
            break "client dropped".into();
        }
        tokio::select! {
            biased;
            _ = kill.notified() => break "closed after a timeout".into(),
            r = rd.read_buf(&mut rbuf) => {
                match r {
                    Ok(0) => break "server closed the connection".into(),
                    Err(e) => break e.to_string(),
                    Ok(_) => {}
                }
                loop {
                    match decoder.decode(&mut rbuf) {
                        Ok(Some(Frame::Push(_))) => {}
                        Ok(Some(f)) => {
                            if let Some(p) = pending.pop_front() {
                                let _ = p.send(Ok(f));
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            if let Some(p) = pending.pop_front() {
                                let _ = p.send(Err(Error::Protocol(e.clone())));
                            }
                            break 'conn e.to_string();
                        }
                    }
                }
            }
            cmd = rx.recv(), if !senders_gone && wbuf.len() < WRITE_BATCH => {
                match cmd {
                    Some(c) => {
                        pending.push_back(c.reply);
                        wbuf.extend_from_slice(&c.bytes);
                        while wbuf.len() < WRITE_BATCH {
                            match rx.try_recv() {
                                Ok(c) => {
                                    pending.push_back(c.reply);
                                    wbuf.extend_from_slice(&c.bytes);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    None => senders_gone = true,
                }
            }
            r = wr.write_buf(&mut wbuf), if !wbuf.is_empty() => {
                if let Err(e) = r {
                    break e.to_string();
                }
            }
        }
    };
    alive.store(false, Ordering::Release);
    rx.close();
    for p in pending.drain(..) {
        let _ = p.send(Err(Error::Closed(Some(reason.clone()))));
    }
    while let Ok(c) = rx.try_recv() {
        let _ = c.reply.send(Err(Error::Closed(Some(reason.clone()))));
    }
}
