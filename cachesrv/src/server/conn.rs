//! One client connection, driven by its event loop ([`super::evloop`]): read, parse every
//! complete request, execute each, and leave the replies for the loop to write at the end of
//! its turn.
//!
//! Invariants:
//! - Replies are written in request order; pushes (pub/sub, MONITOR) go between batches.
//! - Memory per connection is bounded: at most `client-query-buffer-limit` of unparsed input,
//!   and about a megabyte of replies: with that much pending the replies are written before
//!   the next request runs, and a socket that takes no more stops the connection (no reads, no
//!   commands) until it does. A client that never reads its replies stalls only itself.
//! - A protocol error is answered with Redis's error, then the connection closes.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use protocol::{Parsed, RequestParser, RespWrite};

use super::evloop::ConnWaker;
use super::net;
use crate::cmd;
use crate::engine::Clock;
use crate::state::pubsub::{Mailbox, Pushes, MAILBOX_LIMIT};
use crate::state::{Session, Shared};

const FLUSH_AT: usize = 1 << 20;
const READ_CHUNK: usize = 16 * 1024;

/// What a connection needs from its loop after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing.
    Idle,
    /// Replies are pending: write them at the end of the turn.
    Write,
    /// The socket is full: watch it for writability.
    Block,
    /// The backlog is written: watch for readability again and resume.
    Unblock,
    /// Close the connection.
    Close,
    /// A blocking command ended: run the requests that waited behind it.
    Resume,
}

/// A connection's state.
pub(crate) struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    out: BytesMut,
    /// Bytes of `out` already written.
    sent: usize,
    parser: RequestParser,
    sess: Session,
    stats: cmd::LocalStats,
    pushes: Pushes,
    queued: Arc<AtomicUsize>,
    /// Waiting for the socket to take `out`.
    blocked: bool,
    /// Requests left in `rbuf` when the connection blocked.
    unrun: bool,
    /// The peer closed its side: close once the replies are written.
    eof: bool,
    /// Unix ms of the last read or write progress.
    last_io_ms: u64,
    /// The socket may hold unread bytes.
    pub(crate) readable: bool,
    /// The peer closed or the socket failed: read until the end of the stream.
    pub(crate) closing_peer: bool,
    /// Queued in the loop's list of connections to read this turn.
    pub(crate) in_ready: bool,
    /// Queued in the loop's list of connections to write this turn.
    pub(crate) in_writes: bool,
    /// A blocking command's deadline the loop has not been told of yet.
    timer: Option<std::time::Instant>,
    /// When the `CLIENT PAUSE` this connection waits for ends.
    pause_deadline: Option<std::time::Instant>,
    /// Unix ms since when the pending output has been over the soft limit.
    soft_since: Option<u64>,
    /// Memory of the buffers last published to the registry.
    mem: usize,
}

impl Conn {
    /// Registers an accepted stream with the loop and the client registry.
    pub(crate) fn open(
        shared: &Shared,
        mut stream: TcpStream,
        peer: SocketAddr,
        waker: ConnWaker,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Conn> {
        // Accepted by mio: already non-blocking.
        let _ = stream.set_nodelay(true);
        net::set_keepalive(&stream, shared.config.read().tcp_keepalive());
        let local = stream.local_addr()?;
        registry.register(&mut stream, token, Interest::READABLE)?;
        let info =
            shared
                .clients
                .register(peer, local, Arc::new(waker.clone()), shared.uptime_ms());
        shared
            .stats
            .total_connections
            .fetch_add(1, Ordering::Relaxed);
        let (mailbox, pushes, queued) = Mailbox::new(Arc::new(waker));
        let needs_auth = !shared.acl.default_nopass();
        let mut sess = Session::new(info, mailbox, !needs_auth);
        sess.can_block = true;
        Ok(Conn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            out: BytesMut::with_capacity(READ_CHUNK),
            sent: 0,
            parser: RequestParser::new(shared.parser_limits()),
            sess,
            stats: cmd::LocalStats::default(),
            pushes,
            queued,
            blocked: false,
            unrun: false,
            eof: false,
            last_io_ms: shared.clock.now_ms(),
            readable: false,
            closing_peer: false,
            in_ready: false,
            in_writes: false,
            timer: None,
            pause_deadline: None,
            soft_since: None,
            mem: 0,
        })
    }

    /// Waiting for the socket to take the replies.
    pub(crate) fn blocked(&self) -> bool {
        self.blocked
    }

    /// The socket may hold more requests, and they would be read.
    pub(crate) fn wants_read(&self) -> bool {
        self.readable && !self.blocked && !self.eof && !self.sess.close
    }

    /// Changes what the loop watches the socket for.
    pub(crate) fn watch(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        registry.reregister(&mut self.stream, token, interest)
    }

    /// Milliseconds since the last read or write progress.
    pub(crate) fn idle_for(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_io_ms)
    }

    /// Whether the idle `timeout` applies (not to subscribers, MONITOR nor blocked clients,
    /// as Redis).
    pub(crate) fn times_out(&self) -> bool {
        !self.sess.subscribed()
            && !self.sess.info.monitor.load(Ordering::Relaxed)
            && self.sess.blocked.is_none()
    }

    /// The deadline of the blocking command the client is blocked in, if it has one.
    pub(crate) fn deadline(&self) -> Option<std::time::Instant> {
        cmd::blocking::deadline(&self.sess).or(self.pause_deadline)
    }

    /// The deadline of a blocking command that began since the last call.
    pub(crate) fn take_timer(&mut self) -> Option<std::time::Instant> {
        self.timer.take()
    }

    /// A blocking command's deadline may have passed.
    pub(crate) fn on_timer(&mut self, shared: &Shared, now: std::time::Instant) -> Step {
        if self.sess.paused {
            return self.resume_after_pause();
        }
        if self.sess.blocked.is_none() {
            return Step::Idle;
        }
        if cmd::blocking::timeout(shared, &mut self.sess, &mut self.out, now) {
            self.unrun = true;
            return Step::Resume;
        }
        Step::Idle
    }

    /// Runs requests left over from before a block, delivers pushes, then reads once and runs
    /// what came; closes a client past its output buffer limit.
    pub(crate) fn on_readable(&mut self, shared: &Shared) -> Step {
        match self.readable_turn(shared) {
            Step::Close => Step::Close,
            _ if self.over_output_limit(shared) => Step::Close,
            step => step,
        }
    }

    fn readable_turn(&mut self, shared: &Shared) -> Step {
        if self.blocked {
            return Step::Idle;
        }
        if self.sess.close {
            // Closing (QUIT, a protocol error, an oversized query): nothing more is run.
            return self.pending();
        }
        if self.queued.load(Ordering::Acquire) > 0 {
            self.drain_pushes();
        }
        if self.unrun {
            self.unrun = false;
            match self.run(shared) {
                Step::Idle | Step::Write => {}
                other => return other,
            }
        }
        if !self.readable || self.eof || self.sess.close {
            return self.pending();
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match read_into(&self.stream, &mut self.rbuf) {
            Ok((0, _)) => {
                self.readable = false;
                self.eof = true;
                self.pending()
            }
            Ok((n, filled)) => {
                // Edge-triggered: a read that did not fill the buffer emptied the socket, and
                // more data will raise a new edge. After a close, read on to the end.
                self.readable = filled || self.closing_peer;
                shared
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                match self.run(shared) {
                    Step::Idle => self.pending(),
                    other => other,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                self.pending()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.pending(),
            Err(_) => Step::Close,
        }
    }

    /// A push arrived, the client was killed, or a key it is blocked on may be ready.
    pub(crate) fn on_wake(&mut self, shared: &Shared) -> Step {
        if self.sess.info.killed.load(Ordering::Acquire)
            || self.queued.load(Ordering::Acquire) > MAILBOX_LIMIT
            || self.over_output_limit(shared)
        {
            return Step::Close;
        }
        if self.sess.paused {
            return self.resume_after_pause();
        }
        if self.sess.blocked.is_some() {
            shared.clock.refresh();
            if cmd::blocking::wake(shared, &mut self.sess, &mut self.out) {
                self.unrun = true;
                return Step::Resume;
            }
        }
        if self.blocked {
            return Step::Idle;
        }
        if self.queued.load(Ordering::Acquire) > 0 {
            self.drain_pushes();
        }
        self.pending()
    }

    /// A pause this connection waited for may have ended: run its requests again (the first
    /// one waits once more if the pause still holds it).
    fn resume_after_pause(&mut self) -> Step {
        self.sess.paused = false;
        self.pause_deadline = None;
        self.unrun = true;
        Step::Resume
    }

    /// Stops before a request a pause holds back, until the pause ends; false if it already
    /// ended (run the request now).
    fn wait_for_pause(&mut self, shared: &Shared) -> bool {
        self.unrun = true;
        if self.pause_deadline.is_some() {
            return true;
        }
        if !shared.pause.wait(self.sess.info.waker.clone()) {
            // Ended meanwhile.
            self.sess.paused = false;
            return false;
        }
        let left = shared.pause.end_ms().saturating_sub(shared.engine.now_ms());
        let at = std::time::Instant::now() + std::time::Duration::from_millis(left);
        self.pause_deadline = Some(at);
        self.timer = Some(at);
        true
    }

    /// Whether the pending output (replies and queued pushes) passed the client's
    /// `client-output-buffer-limit` (logged as Redis logs it); also publishes the connection's
    /// memory and evicts clients past `maxmemory-clients`.
    pub(crate) fn over_output_limit(&mut self, shared: &Shared) -> bool {
        let pending = self.out.len() - self.sent + self.queued.load(Ordering::Acquire);
        shared.climits.note_output(pending);
        let mem = self.rbuf.capacity() + self.out.capacity() + self.queued.load(Ordering::Relaxed);
        if mem != self.mem {
            self.sess.info.mem.store(mem, Ordering::Relaxed);
            if shared.climits.update_memory(self.mem, mem) {
                self.mem = mem;
                let now = shared.clock.now_ms();
                shared
                    .climits
                    .evict(&shared.clients, |c| client_line(c, now));
            }
            self.mem = mem;
        }
        let Some(limit) = shared.climits.output_limit(self.sess.subscribed()) else {
            return false;
        };
        let pending = pending as u64;
        let hard = limit.hard > 0 && pending >= limit.hard;
        let mut soft = false;
        if limit.soft > 0 && pending >= limit.soft {
            let now = shared.clock.now_ms() / 1000;
            match self.soft_since {
                None => self.soft_since = Some(now),
                Some(t) => soft = now - t > limit.soft_secs,
            }
        } else {
            self.soft_since = None;
        }
        if hard || soft {
            crate::log::log(
                crate::log::Level::Warning,
                &format!(
                    "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    client_line(&self.sess.info, shared.clock.now_ms())
                ),
            );
        }
        hard || soft
    }

    /// Write (at the end of the turn) if there is anything to write.
    fn pending(&self) -> Step {
        if !self.out.is_empty() {
            Step::Write
        } else if self.eof || self.sess.close {
            Step::Close
        } else {
            Step::Idle
        }
    }

    /// Runs every complete request in `rbuf` (none while blocked in a command: they wait).
    fn run(&mut self, shared: &Shared) -> Step {
        if self.sess.paused {
            self.unrun = true;
            return Step::Idle;
        }
        if self.sess.blocked.is_some() {
            self.unrun = true;
            if self.rbuf.len() > shared.query_buffer_limit() {
                self.sess.close = true;
            }
            return Step::Idle;
        }
        shared.clock.refresh();
        let now = shared.clock.now_ms();
        self.last_io_ms = now;
        self.sess.info.last_active_ms.store(now, Ordering::Relaxed);
        let mut off = 0;
        self.stats.start_batch(shared);
        let mut step = Step::Idle;
        while let Batch::Flush = run_batch(
            shared,
            &mut self.sess,
            &mut self.parser,
            &mut self.rbuf,
            &mut off,
            &mut self.out,
            &mut self.stats,
        ) {
            match self.write_some(shared) {
                Ok(true) => {}
                Ok(false) => {
                    // The rest waits until the socket takes this megabyte.
                    self.unrun = true;
                    self.blocked = true;
                    step = Step::Block;
                    break;
                }
                Err(_) => {
                    step = Step::Close;
                    break;
                }
            }
        }
        self.rbuf.advance(off);
        self.stats.flush(shared);
        if self.sess.paused && !self.wait_for_pause(shared) && step == Step::Idle {
            step = Step::Resume;
        }
        if self.sess.blocked.is_some() {
            // The requests after the blocking command wait for its reply.
            self.unrun = true;
            self.timer = cmd::blocking::deadline(&self.sess);
        }
        step
    }

    /// Writes the pending replies as far as the socket takes them.
    pub(crate) fn flush(&mut self, shared: &Shared) -> Step {
        match self.write_some(shared) {
            Ok(true) => {
                if self.eof || self.sess.close || self.sess.info.killed.load(Ordering::Acquire) {
                    return Step::Close;
                }
                if self.blocked {
                    self.blocked = false;
                    return Step::Unblock;
                }
                Step::Idle
            }
            Ok(false) if self.blocked => Step::Idle,
            Ok(false) => {
                self.blocked = true;
                Step::Block
            }
            Err(_) => Step::Close,
        }
    }

    /// Writes `out[sent..]`; true once all of it is written, false if the socket is full.
    fn write_some(&mut self, shared: &Shared) -> io::Result<bool> {
        // With `appendfsync always`, the writes these replies acknowledge are on disk first.
        shared.aof.before_reply();
        let start = self.sent;
        let r = loop {
            if self.sent == self.out.len() {
                break Ok(true);
            }
            match send(&self.stream, &self.out[self.sent..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if self.sent > start {
            shared
                .stats
                .net_output_bytes
                .fetch_add((self.sent - start) as u64, Ordering::Relaxed);
            self.last_io_ms = shared.clock.now_ms();
        }
        if let Ok(true) = r {
            self.out.clear();
            self.sent = 0;
        }
        r
    }

    /// Encodes the pushes waiting in the mailbox (up to a megabyte of output) into `out`.
    fn drain_pushes(&mut self) {
        let mut n = 0;
        while self.out.len() <= FLUSH_AT {
            let Some(p) = self.pushes.try_recv() else {
                break;
            };
            n += p.write(&mut self.out, self.sess.proto);
        }
        // The counter is raised before a push is sent: never let it wrap.
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| Some(q - n.min(q)));
    }

    /// Leaves the loop and the registry.
    pub(crate) fn close(&mut self, shared: &Shared, registry: &Registry) {
        shared.climits.update_memory(self.mem, 0);
        self.mem = 0;
        let _ = registry.deregister(&mut self.stream);
        cmd::disconnect(shared, &mut self.sess);
        shared.clients.unregister(self.sess.info.id);
    }
}

// Reads and writes are raw system calls: glibc's `recv` and `send` are thread cancellation
// points, and in a multi-threaded process each call pays for enabling and disabling
// asynchronous cancellation around the system call (`perf`: about 1 % of the CPU per request
// at `-P 1`).

/// Reads what the socket holds into `buf`'s spare capacity: the byte count, and whether the
/// read filled all the room it had (then more may be waiting).
fn read_into(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<(usize, bool)> {
    let spare = buf.chunk_mut();
    let room = spare.len();
    // SAFETY: `recvfrom` writes at most `room` bytes into the spare capacity it is given
    // (no address is asked for); exactly the `n` bytes it reports are then marked initialised.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            stream.as_raw_fd(),
            spare.as_mut_ptr(),
            room,
            0,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised these `n` bytes.
    unsafe { buf.advance_mut(n) };
    Ok((n, n == room))
}

/// Sends what the socket takes of `data` (without SIGPIPE on a closed peer).
fn send(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `sendto` reads at most `data.len()` bytes from `data`; no address is given.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            stream.as_raw_fd(),
            data.as_ptr(),
            data.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A client as `CLIENT LIST` shows it (for the log).
fn client_line(c: &crate::state::ClientInfo, now_ms: u64) -> String {
    let cmd = cmd::commands()
        .get(c.last_cmd.load(Ordering::Relaxed))
        .map_or("NULL", |k| k.name);
    c.list_line(now_ms, cmd)
}

/// Why [`run_batch`] returned.
enum Batch {
    /// A megabyte of replies is pending: write it, then call again.
    Flush,
    /// Every complete request was run (or the connection must close).
    Done,
}

/// Runs every complete request in `rbuf[*off..]`, under one hold of the engine's shared gate
/// (released for EXEC, which takes it exclusively, and before returning; not taken while a
/// script holds it: the dispatcher then waits for it per command, or answers -BUSY). A run of
/// scripts (EVAL, EVALSHA, FCALL...) runs under one exclusive hold. Each request is given the
/// proof of what is held ([`cmd::Holding`]).
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
    let mut exclusive = None;
    // Write commands of the batch keep the AOF's ordering lock from one to the next while the
    // shared gate is held; let go of before the gate changes, and when the batch ends.
    let keep = shared.aof.keep_scope();
    loop {
        match parser.parse(&mut rbuf[*off..], sess.authenticated) {
            Ok(Parsed::Complete(len)) => {
                let args = parser.args(&rbuf[*off..]);
                if !args.is_empty() && cmd::client_ext::held(shared, sess, &args) {
                    // CLIENT PAUSE: this request and those after it wait.
                    sess.paused = true;
                    return Batch::Done;
                }
                if !args.is_empty() {
                    match cmd::gate_use(args.at(0)) {
                        cmd::GateUse::Script => {
                            // Consecutive scripts run under one exclusive hold.
                            keep.allow(false);
                            gate = None;
                            if exclusive.is_none() {
                                exclusive = Some(shared.engine.exclusive());
                            }
                        }
                        cmd::GateUse::Own => {
                            keep.allow(false);
                            gate = None;
                            exclusive = None;
                        }
                        cmd::GateUse::Shared => {
                            exclusive = None;
                            if gate.is_none() {
                                // Not while a script runs: the dispatcher waits, or answers
                                // -BUSY.
                                gate = shared.engine.try_shared();
                            }
                            keep.allow(gate.is_some());
                        }
                    }
                    let holding = match (&gate, &exclusive) {
                        (Some(g), _) => cmd::Holding::Shared(g.held()),
                        (None, Some(x)) => cmd::Holding::Exclusive(x.exclusive()),
                        (None, None) => cmd::Holding::Nothing,
                    };
                    cmd::execute(shared, sess, args, out, stats, holding);
                }
                *off += len;
                if sess.close || sess.blocked.is_some() {
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
