//! One client connection: read, parse every complete request, execute each, write all replies
//! at once.
//!
//! Invariants:
//! - Replies are written in request order; pushes (pub/sub, MONITOR) go between batches.
//! - Memory per connection is bounded: at most `client-query-buffer-limit` of unparsed input,
//!   and replies are flushed whenever a megabyte is pending, so a client that never reads its
//!   replies stalls only itself (the socket's send buffer fills and we stop reading from it).
//! - A protocol error is answered with Redis's error, then the connection closes.
//!
//! Replies are written at the end of a scheduler turn, as Redis writes them before it sleeps:
//! a connection with replies yields once, so the other connections that are ready run their
//! requests first and the writes of one turn come together. The first write wakes the client
//! from its wait, the following ones find it awake, which costs the kernel far less than one
//! wake-up per write. A yield that found nobody else to run is wasted (it costs an extra poll
//! of the reactor), so after one a connection writes at once for its next [`YIELD_BACKOFF`]
//! batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use protocol::{Parsed, Protocol, RequestParser, RespWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::io::Socket;
use super::pubsub::{Mailbox, Push};
use super::session::Session;
use super::Shared;
use crate::cmd;
use crate::engine::Clock;

const FLUSH_AT: usize = 1 << 20;
const READ_CHUNK: usize = 16 * 1024;
/// Batches written without yielding after a yield that let no other connection run.
const YIELD_BACKOFF: u32 = 32;

thread_local! {
    /// Batches run on this thread: tells a yielding connection whether anyone else ran.
    static TURNS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn turns() -> u64 {
    TURNS.with(std::cell::Cell::get)
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    super::net::set_keepalive(&stream, shared.config.read().tcp_keepalive());
    let Ok(sock) = Socket::new(stream) else {
        return;
    };
    let kill = Arc::new(Notify::new());
    let (mailbox, mut pushes, queued) = Mailbox::new(kill.clone());
    let info = shared
        .clients
        .register(peer, local, kill.clone(), shared.uptime_ms());
    shared
        .stats
        .total_connections
        .fetch_add(1, Ordering::Relaxed);
    let needs_auth = shared.requirepass.read().is_some();
    let mut sess = Session::new(info.clone(), mailbox, !needs_auth);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new(shared.parser_limits());
    let mut local_stats = cmd::LocalStats::default();
    let mut no_yield = 0u32;

    // One waiter for the whole connection (not one per loop turn).
    let killed = kill.notified();
    tokio::pin!(killed);
    'conn: loop {
        if info.killed.load(Ordering::Acquire) {
            break;
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let idle = shared
            .idle_timeout()
            .filter(|_| !sess.subscribed() && !info.monitor.load(Ordering::Relaxed));
        tokio::select! {
            biased;
            _ = &mut killed => break,
            p = pushes.recv() => {
                let Some(p) = p else { break };
                let mut n = write_push(&mut out, &p, sess.proto);
                while let Ok(p) = pushes.try_recv() {
                    n += write_push(&mut out, &p, sess.proto);
                    if out.len() > FLUSH_AT {
                        break;
                    }
                }
                queued.fetch_sub(n.min(queued.load(Ordering::Acquire)), Ordering::AcqRel);
            }
            r = read(&sock, &mut rbuf, idle) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                shared.clock.refresh();
                shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                info.last_active_ms.store(shared.clock.now_ms(), Ordering::Relaxed);
                let mut off = 0;
                local_stats.start_batch();
                while let Batch::Flush = run_batch(&shared, &mut sess, &mut parser, &mut rbuf, &mut off, &mut out, &mut local_stats) {
                    if write_out(&shared, &sock, &mut out, idle, killed.as_mut()).await.is_err() {
                        break 'conn;
                    }
                }
                rbuf.advance(off);
                local_stats.flush(&shared);
                TURNS.with(|t| t.set(t.get().wrapping_add(1)));
            }
        }
        if !out.is_empty() {
            if no_yield == 0 {
                let before = turns();
                tokio::task::yield_now().await;
                if turns() == before {
                    no_yield = YIELD_BACKOFF;
                }
            } else {
                no_yield -= 1;
            }
        }
        if !out.is_empty()
            && write_out(&shared, &sock, &mut out, idle, killed.as_mut())
                .await
                .is_err()
        {
            break;
        }
        if sess.close {
            break;
        }
    }
    cmd::disconnect(&shared, &mut sess);
    shared.clients.unregister(info.id);
}

/// Why [`run_batch`] returned.
enum Batch {
    /// A megabyte of replies is pending: write it, then call again.
    Flush,
    /// Every complete request was run (or the connection must close).
    Done,
}

/// Runs every complete request in `rbuf[*off..]`, under one hold of the engine's shared gate
/// (released for EXEC, which takes it exclusively, and before returning: never held across an
/// `.await`).
fn run_batch(
    shared: &Shared,
    sess: &mut Session,
    parser: &mut RequestParser,
    rbuf: &mut BytesMut,
    off: &mut usize,
    out: &mut BytesMut,
    stats: &mut cmd::LocalStats,
) -> Batch {
    let mut gate = None;
    loop {
        match parser.parse(&mut rbuf[*off..], sess.authenticated) {
            Ok(Parsed::Complete(len)) => {
                let args = parser.args(&rbuf[*off..]);
                if !args.is_empty() {
                    if args.at(0).eq_ignore_ascii_case(b"exec") {
                        gate = None;
                    } else if gate.is_none() {
                        gate = Some(shared.engine.shared());
                    }
                    cmd::execute(shared, sess, args, out, stats, gate.is_some());
                }
                *off += len;
                if sess.close {
                    return Batch::Done;
                }
                if out.len() >= FLUSH_AT {
                    return Batch::Flush;
                }
            }
            Ok(Parsed::Incomplete) => {
                let pending = rbuf.len() - *off;
                if pending > shared.query_buffer_limit() {
                    // Redis closes a client whose query buffer is over the limit.
                    sess.close = true;
                } else if let Some(need) = parser.pending_bulk_need(pending) {
                    rbuf.reserve(need.min(1 << 20));
                }
                return Batch::Done;
            }
            Err(e) => {
                out.write_error(&e.reply());
                sess.close = true;
                return Batch::Done;
            }
        }
    }
}

/// Reads, closing idle clients when a `timeout` applies. No timer is armed when none does.
async fn read(
    sock: &Socket,
    rbuf: &mut BytesMut,
    idle: Option<Duration>,
) -> std::io::Result<usize> {
    match idle {
        None => sock.read(rbuf).await,
        Some(t) => match tokio::time::timeout(t, sock.read(rbuf)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        },
    }
}

/// Writes `out` whole, unless the connection is killed first (`CLIENT KILL`, a subscriber too
/// slow for its mailbox) or, with an idle `timeout`, the client reads nothing for that long: a
/// client that does not read must not keep its connection open for good.
async fn write_out(
    shared: &Shared,
    sock: &Socket,
    out: &mut BytesMut,
    idle: Option<Duration>,
    killed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> std::io::Result<()> {
    shared
        .stats
        .net_output_bytes
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    let r = tokio::select! {
        biased;
        r = sock.write_all(out, idle) => r,
        _ = killed => Err(std::io::ErrorKind::ConnectionAborted.into()),
    };
    out.clear();
    r
}

/// Encodes a push as the client's protocol wants it; returns its accounted size.
fn write_push(out: &mut BytesMut, p: &Push, proto: Protocol) -> usize {
    match p {
        Push::Message {
            pattern,
            channel,
            payload,
        } => {
            match pattern {
                Some(pat) => {
                    out.write_push_len(4, proto);
                    out.write_bulk(b"pmessage");
                    out.write_bulk(pat);
                }
                None => {
                    out.write_push_len(3, proto);
                    out.write_bulk(b"message");
                }
            }
            out.write_bulk(channel);
            out.write_bulk(payload);
        }
        Push::Monitor(line) => out.write_simple(line),
    }
    p.size()
}
