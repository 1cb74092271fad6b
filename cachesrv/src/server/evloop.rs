//! The event loops that serve connections: `server-threads` of them, each a thread with its own
//! `epoll` instance (through mio) that owns its connections, as Redis's and KeyDB's loops do.
//!
//! One turn of a loop: wait for events; read once from each ready socket and run every complete
//! request it holds; then write the replies of the whole turn. Writing after all the reads lets
//! the replies of one turn go out together, so the first write wakes a waiting client and the
//! following ones find it awake. Sockets are edge-triggered and registered for readability only;
//! a connection whose socket will not take its replies is registered for writability too until
//! the backlog is written, and reads nothing meanwhile, so a client that does not read stalls
//! only itself.
//!
//! Other threads reach a connection through its [`ConnWaker`]: a published message, a MONITOR
//! line, `CLIENT KILL`, shutdown. The waker queues the connection's token in its loop's inbox
//! and wakes the loop (an `eventfd` write, only when the inbox was empty).
//!
//! The first loop accepts; it checks `maxclients` and protected mode and hands every accepted
//! connection to the loops in turn. Idle clients are closed by a sweep every 100 ms when
//! `timeout` is set, as Redis's `clientsCron`; a loop with nothing to do wakes that often.
//!
//! A client blocked in BLPOP and the like stays with its loop: woken through its
//! [`ConnWaker`] when a key it waits on may be ready, or by the loop's timers (a heap of
//! deadlines; the loop sleeps no longer than the earliest) when its timeout passes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use super::conn::{Conn, Step};
use super::net;
use crate::engine::Clock;
use crate::state::{Shared, Wake};

/// Token of a loop's waker.
const WAKE: Token = Token(usize::MAX);
/// Tokens of the listeners count down from here.
const LISTENER_BASE: usize = usize::MAX - 1;
/// How often idle clients are looked for when `timeout` is set.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// What other threads leave for a loop.
#[derive(Default)]
struct Inbox {
    /// Connections to look at: a push, a kill.
    woken: Vec<usize>,
    /// Connections accepted by the first loop for this one.
    accepted: Vec<(TcpStream, SocketAddr)>,
    /// Close everything and end the thread.
    stop: bool,
}

/// A loop as other threads see it.
pub(crate) struct LoopHandle {
    inbox: Mutex<Inbox>,
    waker: Waker,
}

impl LoopHandle {
    fn with(&self, f: impl FnOnce(&mut Inbox)) {
        let mut inbox = self.inbox.lock();
        let idle = inbox.woken.is_empty() && inbox.accepted.is_empty() && !inbox.stop;
        f(&mut inbox);
        drop(inbox);
        // A loop that has not emptied its inbox yet has a wake-up coming.
        if idle {
            let _ = self.waker.wake();
        }
    }

    /// Asks the loop to close its connections and end.
    pub(crate) fn stop(&self) {
        self.with(|i| i.stop = true);
    }
}

/// Wakes one connection's loop to look at it (a push arrived, or it was killed).
#[derive(Clone)]
pub struct ConnWaker {
    handle: Arc<LoopHandle>,
    token: usize,
}

impl ConnWaker {
    /// Queues the connection for its loop's next turn.
    pub fn wake(&self) {
        let token = self.token;
        self.handle.with(|i| i.woken.push(token));
    }
}

impl Wake for ConnWaker {
    fn wake(&self) {
        ConnWaker::wake(self);
    }
}

impl std::fmt::Debug for ConnWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnWaker")
            .field("token", &self.token)
            .finish()
    }
}

/// The running loops.
pub(crate) struct Loops {
    handles: Vec<Arc<LoopHandle>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Loops {
    /// Starts `threads` loops; the first accepts on `listeners`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        listeners: Vec<std::net::TcpListener>,
        threads: usize,
        affinity: bool,
    ) -> io::Result<Loops> {
        let threads = threads.max(1);
        let mut polls = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKE)?;
            handles.push(Arc::new(LoopHandle {
                inbox: Mutex::new(Inbox::default()),
                waker,
            }));
            polls.push(poll);
        }
        let mut listeners: Vec<TcpListener> = listeners
            .into_iter()
            .map(|l| {
                l.set_nonblocking(true)?;
                Ok(TcpListener::from_std(l))
            })
            .collect::<io::Result<_>>()?;
        for (i, l) in listeners.iter_mut().enumerate() {
            polls[0]
                .registry()
                .register(l, Token(LISTENER_BASE - i), Interest::READABLE)?;
        }
        let mut threads_out = Vec::with_capacity(threads);
        for (i, poll) in polls.into_iter().enumerate() {
            let mut el = EventLoop {
                index: i,
                shared: shared.clone(),
                poll,
                me: handles[i].clone(),
                all: handles.clone(),
                listeners: if i == 0 {
                    std::mem::take(&mut listeners)
                } else {
                    Vec::new()
                },
                accept_retry_at: None,
                next_target: 0,
                conns: Vec::new(),
                free: Vec::new(),
                ready: Vec::new(),
                again: Vec::new(),
                writes: Vec::new(),
                spare: Vec::new(),
                spare_writes: Vec::new(),
                timers: BinaryHeap::new(),
                timers_kept: 0,
            };
            let t = std::thread::Builder::new()
                .name(format!("cachesrv-io-{i}"))
                .spawn(move || {
                    if affinity {
                        let cores = std::thread::available_parallelism()
                            .map(|n| n.get())
                            .unwrap_or(1);
                        net::pin_current_thread(i % cores);
                    }
                    el.run();
                })?;
            threads_out.push(t);
        }
        Ok(Loops {
            handles,
            threads: threads_out,
        })
    }

    /// Stops every loop (their connections are closed) without waiting for them.
    pub(crate) fn stop(&self) {
        for h in &self.handles {
            h.stop();
        }
    }

    /// True once every loop thread has ended.
    pub(crate) fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        self.stop();
    }
}

struct EventLoop {
    index: usize,
    shared: Arc<Shared>,
    poll: Poll,
    me: Arc<LoopHandle>,
    all: Vec<Arc<LoopHandle>>,
    listeners: Vec<TcpListener>,
    /// Accepting failed (out of descriptors): when to try again (cached clock, ms).
    accept_retry_at: Option<u64>,
    next_target: usize,
    /// Connections by token; `free` lists the empty slots.
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    /// Tokens with a readable event this turn.
    ready: Vec<usize>,
    /// Tokens whose read filled the buffer: read again later in the turn.
    again: Vec<usize>,
    /// Tokens with replies to write at the end of the turn.
    writes: Vec<usize>,
    /// Empty lists kept for the next pass of `read_ready` and `write_turn`.
    spare: Vec<usize>,
    spare_writes: Vec<usize>,
    /// Deadlines of blocking commands (BLPOP...), earliest first, with their connection's
    /// token. An entry may be stale (the client was served, or is gone): the connection
    /// checks its own deadline when the entry comes up.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Entries of `timers` after its last clean-up.
    timers_kept: usize,
}

impl EventLoop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = 0;
        loop {
            // Never asleep for longer than a sweep period: `timeout` may be set at run time.
            // A blocking command's deadline comes sooner (mio rounds up to the millisecond).
            let wait = match self.timers.peek() {
                Some(Reverse((at, _))) => at.saturating_duration_since(Instant::now()),
                None => SWEEP_EVERY,
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait.min(SWEEP_EVERY))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::log::log(crate::log::Level::Warning, &format!("epoll: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let mut woken = false;
            for ev in events.iter() {
                match ev.token() {
                    WAKE => woken = true,
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t);
                    }
                    Token(t) => self.event(t, ev),
                }
            }
            if woken && !self.inbox() {
                self.close_all();
                return;
            }
            self.fire_timers();
            self.read_ready();
            self.write_turn();
            if let Some(at) = self.accept_retry_at {
                if self.shared.clock.now_ms() >= at {
                    self.accept_retry_at = None;
                    for i in 0..self.listeners.len() {
                        self.accept(i);
                    }
                }
            }
            if let Some(timeout) = self.shared.idle_timeout() {
                // The cached clock (refreshed by every batch and by the periodic task) is
                // precise enough here and costs no clock read per turn.
                let now = self.shared.clock.now_ms();
                if now.saturating_sub(last_sweep) >= SWEEP_EVERY.as_millis() as u64 {
                    last_sweep = now;
                    self.sweep(timeout, now);
                }
            }
        }
    }

    /// Notes what an event says of a connection; reads and writes happen later in the turn.
    fn event(&mut self, t: usize, ev: &mio::event::Event) {
        let Some(Some(c)) = self.conns.get_mut(t) else {
            return;
        };
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            c.readable = true;
            // A close seen with data still queued: read until the end, not just once.
            c.closing_peer |= ev.is_read_closed() || ev.is_error();
            if !c.in_ready {
                c.in_ready = true;
                self.ready.push(t);
            }
        }
        if ev.is_writable() && c.blocked() {
            let step = c.flush(&self.shared);
            self.after(t, step);
        }
    }

    /// Reads once from each ready connection, then again from those whose read filled the
    /// buffer, until none is left.
    fn read_ready(&mut self) {
        while !self.ready.is_empty() {
            // This pass's list, swapped with the (empty) spare so neither allocates per turn;
            // `after` may queue more into `ready` meanwhile.
            let mut pass = std::mem::take(&mut self.spare);
            std::mem::swap(&mut pass, &mut self.ready);
            for &t in &pass {
                let Some(Some(c)) = self.conns.get_mut(t) else {
                    continue;
                };
                c.in_ready = false;
                let step = c.on_readable(&self.shared);
                if c.wants_read() {
                    self.again.push(t);
                }
                self.after(t, step);
            }
            for t in self.again.drain(..) {
                if let Some(Some(c)) = self.conns.get_mut(t) {
                    if !c.in_ready {
                        c.in_ready = true;
                        self.ready.push(t);
                    }
                }
            }
            pass.clear();
            self.spare = pass;
        }
    }

    /// Times out the blocking commands whose deadline has passed.
    fn fire_timers(&mut self) {
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(&Reverse((at, t))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(Some(c)) = self.conns.get_mut(t) else {
                continue;
            };
            let step = c.on_timer(&self.shared, now);
            self.after(t, step);
        }
    }

    /// Drops the timers of clients no longer blocked with that deadline (served early, or
    /// gone), so long timeouts of clients served quickly do not pile up.
    fn prune_timers(&mut self) {
        let conns = &self.conns;
        self.timers.retain(|Reverse((at, t))| {
            conns
                .get(*t)
                .and_then(|c| c.as_ref())
                .is_some_and(|c| c.deadline() == Some(*at))
        });
        self.timers_kept = self.timers.len();
    }

    /// What to do with a connection after it ran.
    fn after(&mut self, t: usize, step: Step) {
        if let Some(Some(c)) = self.conns.get_mut(t) {
            if let Some(at) = c.take_timer() {
                self.timers.push(Reverse((at, t)));
                if self.timers.len() > 64.max(2 * self.timers_kept) {
                    self.prune_timers();
                }
            }
        }
        match step {
            Step::Idle => {}
            Step::Write => {
                if let Some(Some(c)) = self.conns.get_mut(t) {
                    if !c.in_writes {
                        c.in_writes = true;
                        self.writes.push(t);
                    }
                }
            }
            Step::Block => {
                let Some(Some(c)) = self.conns.get_mut(t) else {
                    return;
                };
                let (registry, token) = (self.poll.registry(), Token(t));
                if c.watch(registry, token, Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    self.close(t);
                }
            }
            Step::Unblock => {
                let Some(Some(c)) = self.conns.get_mut(t) else {
                    return;
                };
                if c.watch(self.poll.registry(), Token(t), Interest::READABLE)
                    .is_err()
                {
                    self.close(t);
                    return;
                }
                // Requests left unread or unrun while blocked.
                if !c.in_ready {
                    c.in_ready = true;
                    self.ready.push(t);
                }
            }
            Step::Resume => {
                if let Some(Some(c)) = self.conns.get_mut(t) {
                    if !c.in_ready {
                        c.in_ready = true;
                        self.ready.push(t);
                    }
                }
            }
            Step::Close => self.close(t),
        }
    }

    /// Writes the replies of this turn.
    fn write_turn(&mut self) {
        while !self.writes.is_empty() {
            let mut pass = std::mem::take(&mut self.spare_writes);
            std::mem::swap(&mut pass, &mut self.writes);
            for &t in &pass {
                let Some(Some(c)) = self.conns.get_mut(t) else {
                    continue;
                };
                c.in_writes = false;
                let step = c.flush(&self.shared);
                self.after(t, step);
            }
            pass.clear();
            self.spare_writes = pass;
            // Unblocked connections may have run more requests.
            self.read_ready();
        }
    }

    /// Empties the inbox; false if the loop must stop.
    fn inbox(&mut self) -> bool {
        let (woken, accepted, stop) = {
            let mut i = self.me.inbox.lock();
            (
                std::mem::take(&mut i.woken),
                std::mem::take(&mut i.accepted),
                i.stop,
            )
        };
        if stop {
            for _ in &accepted {
                self.shared.clients.release();
            }
            return false;
        }
        for (stream, peer) in accepted {
            self.adopt(stream, peer);
        }
        for t in woken {
            let Some(Some(c)) = self.conns.get_mut(t) else {
                continue;
            };
            let step = c.on_wake(&self.shared);
            self.after(t, step);
        }
        true
    }

    fn accept(&mut self, i: usize) {
        loop {
            let (stream, peer) = match self.listeners[i].accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // EMFILE and friends. The listener is edge-triggered: no new event comes
                    // for the connections already waiting, so accepting is retried on a later
                    // turn (10 ms on), without stopping the loop's other connections.
                    self.accept_retry_at = Some(self.shared.clock.now_ms() + 10);
                    return;
                }
            };
            let Some(stream) = self.admit(stream, peer) else {
                continue;
            };
            let target = self.next_target % self.all.len();
            self.next_target = self.next_target.wrapping_add(1);
            if target == self.index {
                self.adopt(stream, peer);
            } else {
                self.all[target].with(|i| i.accepted.push((stream, peer)));
            }
        }
    }

    /// `maxclients` and protected mode, with Redis's replies; the stream if it may stay, with
    /// its place among the clients reserved.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<TcpStream> {
        use std::io::Write;
        let shared = &self.shared;
        // Redis's order: the client limit first, then protected mode.
        let refuse = if !shared.clients.reserve(shared.maxclients()) {
            Some(net::MAX_CLIENTS)
        } else if shared.protected_mode()
            && shared.acl.default_nopass()
            && !net::is_loopback(peer.ip())
        {
            shared.clients.release();
            Some(net::DENIED)
        } else {
            None
        };
        if let Some(reply) = refuse {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            // A fresh socket's send buffer takes the whole error.
            let _ = (&stream).write(reply);
            return None;
        }
        Some(stream)
    }

    /// Takes a connection into this loop.
    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr) {
        let t = match self.free.pop() {
            Some(t) => t,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        let waker = ConnWaker {
            handle: self.me.clone(),
            token: t,
        };
        match Conn::open(
            &self.shared,
            stream,
            peer,
            waker,
            self.poll.registry(),
            Token(t),
        ) {
            Ok(c) => {
                self.conns[t] = Some(Box::new(c));
                // Requests sent before registration raised no edge: read now.
                if let Some(Some(c)) = self.conns.get_mut(t) {
                    c.readable = true;
                    c.in_ready = true;
                    self.ready.push(t);
                }
            }
            Err(_) => {
                self.shared.clients.release();
                self.free.push(t);
            }
        }
    }

    fn close(&mut self, t: usize) {
        if let Some(slot) = self.conns.get_mut(t) {
            if let Some(mut c) = slot.take() {
                c.close(&self.shared, self.poll.registry());
                self.free.push(t);
            }
        }
    }

    fn close_all(&mut self) {
        for t in 0..self.conns.len() {
            self.close(t);
        }
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(l);
        }
        self.listeners.clear();
    }

    /// Closes clients idle for longer than `timeout` (subscribers and MONITOR excepted).
    fn sweep(&mut self, timeout: Duration, now: u64) {
        let limit = timeout.as_millis() as u64;
        let stale: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(t, c)| {
                c.as_ref()
                    .filter(|c| c.idle_for(now) > limit && c.times_out())
                    .map(|_| t)
            })
            .collect();
        for t in stale {
            self.close(t);
        }
    }
}
