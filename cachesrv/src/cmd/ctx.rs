//! What a handler works with: [`Ctx`], and the gate it runs under as a type.
//!
//! A command reaches the keyspace through [`Ctx::db`], which exists only on a context that
//! carries the proof that this thread holds the engine's gate ([`Held`], borrowed from the
//! guard): the contexts of the command table's keyspace handlers. The dispatcher builds one
//! from the guard it takes (or the one the event loop holds for a batch, or EXEC's or a
//! script's exclusive one). The commands that take the gate themselves (EXEC, the scripts,
//! SCRIPT, FUNCTION) get an [`OuterCtx`] instead: it says what the caller holds ([`Holding`])
//! and has no `db()`, so such a handler cannot reach the keyspace without taking the gate and
//! building a context from its proof ([`Ctx::with_gate`]).
//!
//! ```
//! use cachesrv::cmd::Ctx;
//! // A keyspace handler reaches the selected database.
//! fn exists(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
//!     let found = ctx.db().with_key(a[1], ctx.read_access(), |k| k.exists());
//!     ctx.int(i64::from(found));
//! }
//! ```
//!
//! ```compile_fail,E0599
//! use cachesrv::cmd::OuterCtx;
//! // A handler that takes the gate itself has no `db()`.
//! fn exists(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
//!     let found = ctx.db().with_key(a[1], ctx.read_access(), |k| k.exists());
//!     ctx.int(i64::from(found));
//! }
//! ```

use bytes::BytesMut;
use protocol::{Protocol, RespWrite};

use crate::engine::{Access, DbHandle, Engine, EngineError, Held, HeldExclusive};
use crate::state::{Session, Shared};

/// What the caller of the dispatcher holds of the engine's gate, with the guard's proof.
#[derive(Debug, Clone, Copy)]
pub enum Holding<'g> {
    /// Nothing: the dispatcher takes the shared gate for a keyspace command.
    Nothing,
    /// The shared gate (the event loop's hold for a batch).
    Shared(Held<'g>),
    /// The exclusive gate (a run of scripts in the event loop, EXEC, a script).
    Exclusive(HeldExclusive<'g>),
}

impl<'g> Holding<'g> {
    /// The proof of the gate, if any is held.
    #[inline]
    pub fn held(self) -> Option<Held<'g>> {
        match self {
            Holding::Nothing => None,
            Holding::Shared(h) => Some(h),
            Holding::Exclusive(x) => Some(x.held()),
        }
    }

    /// The proof of the exclusive gate, if it is held.
    #[inline]
    pub fn exclusive(self) -> Option<HeldExclusive<'g>> {
        match self {
            Holding::Exclusive(x) => Some(x),
            _ => None,
        }
    }
}

/// What a handler works with. `G` is the gate it runs under: [`Held`] (the default) for the
/// keyspace handlers, which alone have [`Ctx::db`]; [`Holding`] for an [`OuterCtx`].
pub struct Ctx<'a, G = Held<'a>> {
    /// Server state.
    pub shared: &'a Shared,
    /// The connection's state.
    pub sess: &'a mut Session,
    /// The reply buffer.
    pub out: &'a mut BytesMut,
    /// Set when the reply is an error (for `failed_calls`).
    pub failed: bool,
    /// The proof of the gate ([`Held`]), or what the caller holds ([`Holding`]).
    pub gate: G,
    /// The client's request as sent, when the parser read it in one pass
    /// (`protocol::Args::raw`): the AOF copies it, once checked to be exactly the RESP
    /// encoding of the arguments, instead of encoding them. `None` for commands run by EXEC,
    /// scripts and blocked clients.
    pub request: Option<&'a [u8]>,
}

/// The context of the dispatcher before it takes the gate, and of the commands that take it
/// themselves: no keyspace access.
pub type OuterCtx<'a> = Ctx<'a, Holding<'a>>;

impl<'a> OuterCtx<'a> {
    /// A context for a request, with what the caller holds of the gate.
    pub fn new(
        shared: &'a Shared,
        sess: &'a mut Session,
        out: &'a mut BytesMut,
        gate: Holding<'a>,
    ) -> Self {
        Ctx {
            shared,
            sess,
            out,
            failed: false,
            gate,
            request: None,
        }
    }
}

impl<'a> Ctx<'a> {
    /// The selected database, for as long as the gate this context's proof comes from.
    pub fn db(&self) -> DbHandle<'a> {
        // The session's db index is always valid: SELECT checks it.
        let shared: &'a Shared = self.shared;
        shared
            .engine
            .db(self.sess.db, self.gate)
            .unwrap_or_else(|_| unreachable_db(&shared.engine, self.gate))
    }
}

fn unreachable_db<'e>(engine: &'e Engine, gate: Held<'e>) -> DbHandle<'e> {
    // Database 0 always exists (databases >= 1).
    match engine.db(0, gate) {
        Ok(d) => d,
        Err(_) => panic!("engine without databases"),
    }
}

impl<'a, G> Ctx<'a, G> {
    /// Runs `f` with a keyspace context on the same client, under the gate `held` proves;
    /// `failed` carries over both ways.
    #[inline]
    pub fn with_gate<R>(&mut self, held: Held<'_>, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let mut inner: Ctx<'_> = Ctx {
            shared: self.shared,
            sess: &mut *self.sess,
            out: &mut *self.out,
            failed: self.failed,
            gate: held,
            request: self.request,
        };
        let r = f(&mut inner);
        self.failed = inner.failed;
        r
    }

    /// Runs `f` with a context without keyspace access on the same client, the caller holding
    /// `gate`; `failed` carries over both ways (the request's bytes do not: what runs there,
    /// EXEC's queued commands, is not the request).
    #[inline]
    pub fn outer<R>(&mut self, gate: Holding<'_>, f: impl FnOnce(&mut OuterCtx<'_>) -> R) -> R {
        let mut inner: OuterCtx<'_> = Ctx {
            shared: self.shared,
            sess: &mut *self.sess,
            out: &mut *self.out,
            failed: self.failed,
            gate,
            request: None,
        };
        let r = f(&mut inner);
        self.failed = inner.failed;
        r
    }

    /// The connection's protocol.
    #[inline]
    pub fn proto(&self) -> Protocol {
        self.sess.proto
    }
    /// Writes an error reply (with its code, e.g. `ERR syntax error`).
    pub fn err(&mut self, msg: &str) {
        self.failed = true;
        self.shared.errorstats.record(msg.as_bytes());
        self.out.write_error(msg.as_bytes());
    }
    /// Writes an engine error as its Redis reply.
    pub fn engine_err(&mut self, e: EngineError) {
        self.err(&e.to_string());
    }
    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.out.write_ok();
    }
    /// `:n`.
    #[inline]
    pub fn int(&mut self, n: i64) {
        self.out.write_integer(n);
    }
    /// `$len\r\nbytes`.
    #[inline]
    pub fn bulk(&mut self, b: &[u8]) {
        self.out.write_bulk(b);
    }
    /// Null bulk.
    #[inline]
    pub fn null(&mut self) {
        let p = self.proto();
        self.out.write_null(p);
    }
    /// Null array.
    pub fn null_array(&mut self) {
        let p = self.proto();
        self.out.write_null_array(p);
    }
    /// `*n`.
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.out.write_array_len(n);
    }
    /// A map header (RESP3 `%`, RESP2 flat array).
    pub fn map(&mut self, n: usize) {
        let p = self.proto();
        self.out.write_map_len(n, p);
    }
    /// A set header (RESP3 `~`, RESP2 array).
    pub fn set(&mut self, n: usize) {
        let p = self.proto();
        self.out.write_set_len(n, p);
    }
    /// `+s`.
    pub fn simple(&mut self, s: &str) {
        self.out.write_simple(s.as_bytes());
    }
    /// A double (RESP3 `,`, RESP2 bulk).
    pub fn double(&mut self, d: f64) {
        let p = self.proto();
        self.out.write_double(d, p);
    }
    /// A verbatim string (RESP3 `=txt:`, RESP2 bulk).
    pub fn verbatim(&mut self, text: &str) {
        let p = self.proto();
        self.out.write_verbatim(b"txt", text.as_bytes(), p);
    }
    /// Read access honouring `CLIENT NO-TOUCH`.
    pub fn read_access(&self) -> Access {
        if self.sess.no_touch {
            Access::READ.no_touch()
        } else {
            Access::READ
        }
    }
    /// `ERR syntax error`.
    pub fn syntax_error(&mut self) {
        self.err("ERR syntax error");
    }
    /// `ERR wrong number of arguments for '<name>' command`.
    pub fn arity_error(&mut self, name: &str) {
        self.err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
}
