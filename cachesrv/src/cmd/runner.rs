//! The in-process runner: one client of the command layer with no socket and no runtime.
//!
//! A [`Runner`] owns a [`Session`] over a [`Shared`] state and runs commands given as argument
//! vectors through the same dispatcher as a network connection (auth, arity, OOM, subscriber
//! context, MULTI queueing, stats, SLOWLOG, MONITOR), returning the reply bytes exactly as a
//! connection would write them. It is registered among the clients like a connection (it has a
//! `CLIENT ID`, shows in `CLIENT LIST`, can subscribe); pub/sub messages and MONITOR lines for
//! it wait in its mailbox until [`Runner::pushes`] takes them.
//!
//! A runner never blocks: BLPOP, BRPOP, BLMOVE, BLMPOP and BRPOPLPUSH act as their
//! non-blocking forms, as inside MULTI/EXEC (an element if there is one, else their null at
//! once, whatever the timeout).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use protocol::{DecodeLimits, Decoder, Frame};

use super::{dispatch, Holding, LocalStats, OuterCtx};
use crate::config::Config;
use crate::engine::Clock;
use crate::state::pubsub::Pushes;
use crate::state::{Mailbox, NoWake, Push, Session, Shared};

/// The address an in-process client shows in `CLIENT LIST` and `SLOWLOG`.
const RUNNER_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// One in-process client. Dropping it disconnects it (subscriptions, MONITOR, WATCH).
#[derive(Debug)]
pub struct Runner {
    shared: Arc<Shared>,
    sess: Session,
    stats: LocalStats,
    pushes: Pushes,
    queued: Arc<AtomicUsize>,
}

impl Runner {
    /// A client of `shared`, authenticated unless `requirepass` is set.
    pub fn new(shared: Arc<Shared>) -> Runner {
        // Not subject to `maxclients`: nothing was accepted.
        shared.clients.reserve(usize::MAX);
        let waker = Arc::new(NoWake);
        let info = shared.clients.register(
            RUNNER_ADDR,
            RUNNER_ADDR,
            waker.clone(),
            shared.clock.now_ms(),
        );
        let (mailbox, pushes, queued) = Mailbox::new(waker);
        let authenticated = shared.acl.default_nopass();
        Runner {
            sess: Session::new(info, mailbox, authenticated),
            shared,
            stats: LocalStats::default(),
            pushes,
            queued,
        }
    }

    /// A client of the server's own process (the AOF loader, an embedding program),
    /// authenticated whatever `requirepass` says (it holds the server itself, not a password).
    pub fn internal(shared: Arc<Shared>) -> Runner {
        let mut r = Runner::new(shared);
        r.sess.authenticated = true;
        r
    }

    /// A client of fresh state for `config` (no server).
    pub fn with_config(config: Config) -> Runner {
        Runner::new(super::shared(config))
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// This client's session (database, protocol, MULTI queue, subscriptions...).
    pub fn session(&self) -> &Session {
        &self.sess
    }

    /// True once the client should be gone: `QUIT`, or killed (`CLIENT KILL`, shutdown).
    pub fn closed(&self) -> bool {
        self.sess.close || self.sess.info.killed.load(Ordering::Acquire)
    }

    /// Runs one command (its name first) and returns its reply bytes, as a connection with
    /// this session's protocol would receive them. An empty command answers nothing, as an
    /// empty request on a connection.
    pub fn run<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Bytes {
        let mut out = BytesMut::new();
        if argv.is_empty() {
            return out.freeze();
        }
        let argv: Vec<&[u8]> = argv.iter().map(AsRef::as_ref).collect();
        let shared = &*self.shared;
        shared.clock.refresh();
        self.sess
            .info
            .last_active_ms
            .store(shared.clock.now_ms(), Ordering::Relaxed);
        self.stats.start_batch(shared);
        let mut ctx = OuterCtx::new(shared, &mut self.sess, &mut out, Holding::Nothing);
        dispatch(&mut ctx, &argv, &mut self.stats);
        self.stats.flush(shared);
        shared.aof.before_reply();
        out.freeze()
    }

    /// Runs one command and decodes its reply: one frame, or several for a command that
    /// answers once per argument (`SUBSCRIBE a b`).
    pub fn call<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Vec<Frame> {
        decode_all(self.run(argv))
    }

    /// Takes the pub/sub messages and MONITOR lines delivered to this client so far.
    pub fn pushes(&mut self) -> Vec<Push> {
        let mut v = Vec::new();
        let mut n = 0;
        while let Some(p) = self.pushes.try_recv() {
            n += p.size();
            v.push(p);
        }
        // The counter is raised before a push is queued: never let it wrap.
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| Some(q - n.min(q)));
        v
    }

    /// [`Runner::pushes`] encoded as this session's protocol would write them on a connection.
    pub fn push_bytes(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        for p in self.pushes() {
            p.write(&mut out, self.sess.proto);
        }
        out.freeze()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        super::disconnect(&self.shared, &mut self.sess);
        self.shared.clients.unregister(self.sess.info.id);
    }
}

/// Every complete frame of `reply`.
pub fn decode_all(reply: Bytes) -> Vec<Frame> {
    let mut buf = BytesMut::from(&reply[..]);
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut frames = Vec::new();
    while let Ok(Some(f)) = decoder.decode(&mut buf) {
        frames.push(f);
    }
    frames
}

/// Test helpers shared by the command families' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Runner;
    use crate::config::Config;

    /// The `-OOM` error reply.
    pub(crate) const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

    /// A runner over a server started with these `redis-server`-style arguments.
    pub(crate) fn runner(args: &[&str]) -> Runner {
        Runner::with_config(Config::from_args(args).expect("config"))
    }

    /// Adds 1 KB strings until writes are refused with OOM (under `noeviction`).
    pub(crate) fn fill_until_oom(r: &mut Runner) {
        let value = "v".repeat(1000);
        let mut i = 0;
        while !r
            .run(&["SET", &format!("k{i}"), &value])
            .starts_with(b"-OOM")
        {
            i += 1;
            assert!(i < 10_000, "never out of memory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::runner;
    use super::*;

    #[test]
    fn strings_and_expiry() {
        let mut r = runner(&[]);
        assert_eq!(r.run(&["SET", "k", "v"]), "+OK\r\n");
        assert_eq!(r.run(&["GET", "k"]), "$1\r\nv\r\n");
        assert_eq!(r.run(&["TTL", "k"]), ":-1\r\n");
        assert_eq!(r.run(&["EXPIRE", "k", "100"]), ":1\r\n");
        assert_eq!(r.run(&["TTL", "k"]), ":100\r\n");
        assert_eq!(r.run(&["DEL", "k", "missing"]), ":1\r\n");
        assert_eq!(r.run(&["GET", "k"]), "$-1\r\n");
        assert_eq!(r.run(&["TTL", "k"]), ":-2\r\n");
        // Bytes arguments too, and the decoded form.
        assert_eq!(r.run(&[&b"SET"[..], b"b", b"\x00\xff"]), "+OK\r\n");
        assert_eq!(
            r.call(&["GET", "b"]),
            vec![Frame::Bulk(Bytes::from_static(b"\x00\xff"))]
        );
        assert_eq!(r.run::<&str>(&[]), "");
    }

    #[test]
    fn errors_are_redis_s() {
        let mut r = runner(&[]);
        assert_eq!(
            r.run(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            r.run(&["NOPE", "a"]),
            "-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n"
        );
        let stats = super::super::command_stats(r.shared());
        let get = stats.iter().find(|s| s.0 == "get").expect("a get row");
        assert_eq!((get.1, get.3), (0, 1));
    }

    #[test]
    fn auth_when_requirepass_is_set() {
        let mut r = runner(&["--requirepass", "secret"]);
        assert_eq!(r.run(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
        assert_eq!(
            r.run(&["AUTH", "wrong"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(r.run(&["AUTH", "secret"]), "+OK\r\n");
        assert_eq!(r.run(&["GET", "k"]), "$-1\r\n");
    }

    #[test]
    fn select_keeps_databases_apart() {
        let mut r = runner(&[]);
        assert_eq!(r.run(&["SET", "k", "zero"]), "+OK\r\n");
        assert_eq!(r.run(&["SELECT", "3"]), "+OK\r\n");
        assert_eq!(r.session().db, 3);
        assert_eq!(r.run(&["GET", "k"]), "$-1\r\n");
        assert_eq!(
            r.run(&["SELECT", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(r.run(&["SELECT", "0"]), "+OK\r\n");
        assert_eq!(r.run(&["GET", "k"]), "$4\r\nzero\r\n");
    }

    #[test]
    fn publish_reaches_a_subscribed_runner() {
        let mut sub = runner(&[]);
        let mut publisher = Runner::new(sub.shared().clone());
        assert_eq!(
            sub.run(&["SUBSCRIBE", "news"]),
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        assert_eq!(publisher.run(&["PUBLISH", "news", "hi"]), ":1\r\n");
        assert_eq!(
            sub.push_bytes(),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert!(sub.pushes().is_empty());
        // RESP3: a push frame.
        assert_eq!(sub.run(&["RESET"]), "+RESET\r\n");
        assert_eq!(sub.call(&["HELLO", "3"]).len(), 1);
        assert_eq!(
            sub.run(&["SUBSCRIBE", "news"]),
            ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        publisher.run(&["PUBLISH", "news", "again"]);
        assert_eq!(
            sub.push_bytes(),
            ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nagain\r\n"
        );
        // A runner that is gone no longer counts as a subscriber.
        drop(sub);
        assert_eq!(publisher.run(&["PUBLISH", "news", "hi"]), ":0\r\n");
    }

    #[test]
    fn multi_exec() {
        let mut r = runner(&[]);
        assert_eq!(r.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(r.run(&["SET", "k", "1"]), "+QUEUED\r\n");
        assert_eq!(r.run(&["INCR", "k"]), "+QUEUED\r\n");
        assert_eq!(r.run(&["EXEC"]), "*2\r\n+OK\r\n:2\r\n");
        assert_eq!(r.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(
            r.run(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            r.run(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
    }

    #[test]
    fn blocking_commands_do_not_block_a_runner() {
        let mut r = runner(&[]);
        assert_eq!(r.run(&["BLPOP", "q", "0"]), "*-1\r\n");
        assert_eq!(r.run(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0"]), "$-1\r\n");
        assert_eq!(r.run(&["RPUSH", "q", "a", "b"]), ":2\r\n");
        assert_eq!(r.run(&["BRPOP", "q", "0"]), "*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
        assert_eq!(r.run(&["BRPOPLPUSH", "q", "d", "1"]), "$1\r\na\r\n");
        assert_eq!(r.run(&["BLMPOP", "5", "1", "q", "LEFT"]), "*-1\r\n");
        assert!(r.session().blocked.is_none());
        assert_eq!(r.shared().blocking.count(), 0);
    }

    #[test]
    fn a_runner_is_a_client() {
        let mut r = runner(&[]);
        let id = r.session().info.id;
        assert_eq!(r.run(&["CLIENT", "ID"]), format!(":{id}\r\n"));
        assert_eq!(r.shared().clients.count(), 1);
        let shared = r.shared().clone();
        drop(r);
        assert_eq!(shared.clients.count(), 0);
    }
}
