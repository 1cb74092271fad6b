//! Downstream sessions: one per connected MCP client.
//!
//! A session holds the client's identity (resolved from its gateway key once, at
//! `initialize`), the negotiated protocol version and capabilities, and the ways to reach the
//! client outside a response: the session's outbound channel (the HTTP `GET` stream or the
//! stdio writer) and, while a request is being answered over an HTTP `POST` stream, that
//! stream. Server-to-client requests relayed from upstreams (sampling, elicitation, roots) get
//! gateway-assigned ids and wait here for the client's response.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::jsonrpc::{Message, RpcError, INTERNAL_ERROR};
use crate::upstream::Downstream;

/// Messages the outbound channel (and a request's SSE answer) holds for a client that is not
/// reading it (no `GET` stream open, or a stream it does not read); beyond, new ones are
/// dropped, so a session cannot grow without limit however chatty its upstreams are.
pub const OUTBOUND_LIMIT: usize = 1024;

/// Who a session acts for.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// MD5 of the gateway key: identifies the key without keeping it.
    pub key_digest: [u8; 16],
    /// The key's project.
    pub project_id: String,
    /// The key's user.
    pub user_id: String,
    /// The project's mcp_config; empty when the project has none (no servers).
    pub mcp_config_id: String,
    /// Which key entry it is, across reloads: `id:<id>` for a hashed key, `md5:<hex>` for a
    /// plain one.
    pub key_ref: String,
    /// The key's `expires_at` (Unix seconds), if any.
    pub expires_at: Option<u64>,
}

impl Identity {
    /// True once the key's `expires_at` has passed.
    pub fn expired(&self) -> bool {
        self.expires_at
            .is_some_and(|t| crate::config::identity::unix_now() >= t)
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .field("mcp_config_id", &self.mcp_config_id)
            .finish()
    }
}

/// One client session.
pub struct Session {
    /// `Mcp-Session-Id` (random, 128 bits, hex).
    pub id: String,
    /// The client's identity; follows config reloads ([`Session::set_identity`]).
    identity: RwLock<Arc<Identity>>,
    /// Ended (its key revoked, or closed): no request is served any more.
    ended: CancellationToken,
    /// Why it was ended, when a revocation ended it ([`Session::end_because`]).
    end_reason: std::sync::OnceLock<&'static str>,
    /// Negotiated protocol version.
    pub protocol_version: Mutex<String>,
    /// The client's `capabilities` from `initialize`.
    pub client_capabilities: Mutex<Value>,
    /// `notifications/initialized` received.
    pub initialized: AtomicBool,
    outbound: mpsc::Sender<Message>,
    outbound_rx: Mutex<Option<mpsc::Receiver<Message>>>,
    pending: DashMap<String, oneshot::Sender<Result<Value, RpcError>>>,
    next_id: AtomicU64,
    /// Unix seconds of the last request (idle sessions are dropped by [`Session::idle_for`]'s users).
    last_seen: AtomicU64,
    /// Client request id (as JSON text) -> a handle that aborts its work (`notifications/cancelled`).
    pub inflight: DashMap<String, futures_util::future::AbortHandle>,
    /// `logging/setLevel`, as [`crate::relay::level_rank`] (0: never set).
    log_level: AtomicU8,
    /// Resource subscriptions: (upstream pool key, URI).
    subscriptions: Mutex<Vec<(String, String)>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("identity", &self.identity())
            .finish()
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The environment variable naming this gateway instance. When set, every `Mcp-Session-Id`
/// starts with `<instance>.`, so a load balancer in front of several instances can send each
/// request of a session to the instance that holds it (compose/nginx/nginx.conf maps the
/// prefix to an upstream).
pub const INSTANCE_ENV: &str = "ENKRYPT_INSTANCE_ID";

/// Checks an instance id: 1 to 63 ASCII letters, digits, `-` or `_`.
pub fn check_instance_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 63
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{INSTANCE_ENV} must be 1 to 63 letters, digits, '-' or '_' (got {} bytes)",
            id.len()
        ));
    }
    Ok(())
}

/// The session id prefix (`ENKRYPT_INSTANCE_ID`), read once; an invalid value is refused by
/// `start` before any session exists, and never used.
fn instance_prefix() -> Option<&'static str> {
    static PREFIX: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PREFIX
        .get_or_init(|| {
            std::env::var(INSTANCE_ENV)
                .ok()
                .filter(|id| check_instance_id(id).is_ok())
        })
        .as_deref()
}

/// A random 128-bit hex id, after `<instance>.` when `ENKRYPT_INSTANCE_ID` is set.
pub fn new_session_id() -> String {
    let v: u128 = rand::random();
    match instance_prefix() {
        Some(p) => format!("{p}.{v:032x}"),
        None => format!("{v:032x}"),
    }
}

impl Session {
    /// A new session for an authenticated client.
    pub fn new(identity: Identity) -> Arc<Session> {
        let (tx, rx) = mpsc::channel(OUTBOUND_LIMIT);
        Arc::new(Session {
            id: new_session_id(),
            identity: RwLock::new(Arc::new(identity)),
            ended: CancellationToken::new(),
            end_reason: std::sync::OnceLock::new(),
            protocol_version: Mutex::new(String::new()),
            client_capabilities: Mutex::new(Value::Null),
            initialized: AtomicBool::new(false),
            outbound: tx,
            outbound_rx: Mutex::new(Some(rx)),
            pending: DashMap::new(),
            next_id: AtomicU64::new(1),
            last_seen: AtomicU64::new(unix_secs()),
            inflight: DashMap::new(),
            log_level: AtomicU8::new(0),
            subscriptions: Mutex::new(Vec::new()),
        })
    }

    /// Who the session acts for now.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity.read().clone()
    }

    /// Follows a config reload: the key now resolves to `identity`.
    pub fn set_identity(&self, identity: Identity) {
        let mut cur = self.identity.write();
        if **cur != identity {
            *cur = Arc::new(identity);
        }
    }

    /// Ends the session: requests in flight are aborted, relayed requests waiting for the
    /// client fail, open streams end. Idempotent.
    pub fn end(&self) {
        self.ended.cancel();
        let inflight: Vec<String> = self.inflight.iter().map(|e| e.key().clone()).collect();
        for k in inflight {
            if let Some((_, h)) = self.inflight.remove(&k) {
                h.abort();
            }
        }
        self.pending.clear();
    }

    /// Ends the session ([`Session::end`]) because `why` (`"its key was disabled"`...), which
    /// its client is told if it asks again.
    pub fn end_because(&self, why: &'static str) {
        let _ = self.end_reason.set(why);
        self.end();
    }

    /// Why the session ended, as its client is told: the revocation's reason, else that its
    /// gateway key is no longer valid.
    pub fn end_reason(&self) -> &'static str {
        self.end_reason
            .get()
            .copied()
            .unwrap_or("its gateway key is no longer valid")
    }

    /// True once [`Session::end`] was called.
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Completes when the session ends.
    pub fn ended(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.ended.cancelled()
    }

    /// The session's log level ([`crate::relay::level_rank`]; 0: never set).
    pub fn log_level(&self) -> u8 {
        self.log_level.load(Ordering::Relaxed)
    }

    /// Sets the session's log level.
    pub fn set_log_level(&self, rank: u8) {
        self.log_level.store(rank, Ordering::Relaxed);
    }

    /// Records a subscription to `uri` on the upstream with pool key `key`.
    pub fn subscribe(&self, key: String, uri: String) {
        let mut subs = self.subscriptions.lock();
        if !subs.iter().any(|(k, u)| *k == key && *u == uri) {
            subs.push((key, uri));
        }
    }

    /// Forgets the subscription to `uri`; the upstream's pool key if there was one.
    pub fn unsubscribe(&self, uri: &str) -> Option<String> {
        let mut subs = self.subscriptions.lock();
        let i = subs.iter().position(|(_, u)| u == uri)?;
        Some(subs.swap_remove(i).0)
    }

    /// True when the session subscribed to `uri` on the upstream with pool key `key`.
    pub fn is_subscribed(&self, key: &str, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .iter()
            .any(|(k, u)| k == key && u == uri)
    }

    /// Takes what the client negotiated in `previous` (protocol version, capabilities,
    /// `initialized`, log level, subscriptions): a stdio client whose session ended and was
    /// opened again does not initialize a second time.
    pub fn carry_over(&self, previous: &Session) {
        *self.protocol_version.lock() = previous.protocol_version.lock().clone();
        *self.client_capabilities.lock() = previous.client_capabilities.lock().clone();
        self.initialized.store(
            previous.initialized.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.set_log_level(previous.log_level());
        *self.subscriptions.lock() = previous.subscriptions.lock().clone();
    }

    /// Records activity (each request).
    pub fn touch(&self) {
        self.last_seen.store(unix_secs(), Ordering::Relaxed);
    }

    /// How long the session has been idle: no request, nothing in flight, no open GET stream.
    /// `None` while it is in use.
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        if !self.inflight.is_empty() || self.outbound_rx.lock().is_none() {
            return None;
        }
        let last = self.last_seen.load(Ordering::Relaxed);
        Some(std::time::Duration::from_secs(
            unix_secs().saturating_sub(last),
        ))
    }

    /// Takes the outbound receiver (once: the GET stream or the stdio writer owns it).
    pub fn take_outbound(&self) -> Option<mpsc::Receiver<Message>> {
        self.outbound_rx.lock().take()
    }

    /// Gives the outbound receiver back (a GET stream ended).
    pub fn return_outbound(&self, rx: mpsc::Receiver<Message>) {
        *self.outbound_rx.lock() = Some(rx);
    }

    /// Sends a message on the session's outbound channel. Notifications are best-effort, as on
    /// an MCP server without a GET stream: past [`OUTBOUND_LIMIT`] unread messages they are
    /// dropped. False when the message was not queued.
    pub fn send(&self, msg: Message) -> bool {
        match self.outbound.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(m)) => {
                tracing::debug!(method = ?m.method(), "a client is not reading its stream: message dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Routes a client's response to a relayed server-to-client request; false if unknown.
    pub fn complete(&self, msg: &Message) -> bool {
        let Some(id) = msg.id() else {
            return false;
        };
        let Some((_, tx)) = self.pending.remove(&id.to_string()) else {
            return false;
        };
        let r = match msg.error_value() {
            Some(e) => Err(e),
            None => Ok(msg.result_value().cloned().unwrap_or(Value::Null)),
        };
        let _ = tx.send(r);
        true
    }

    /// Sends a request to the client through `via` (or the outbound channel) and waits for
    /// its response.
    pub fn client_request(
        self: &Arc<Self>,
        method: String,
        params: Option<Value>,
        via: Option<mpsc::Sender<Message>>,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = Value::String(format!("gw-{n}"));
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id.to_string(), tx);
        let msg = Message::request(id, &method, params);
        let sent = match via {
            Some(s) => s.try_send(msg).is_ok(),
            None => self.send(msg),
        };
        Box::pin(async move {
            if !sent {
                return Err(RpcError::new(
                    INTERNAL_ERROR,
                    "the client has no open stream for requests",
                ));
            }
            rx.await
                .unwrap_or_else(|_| Err(RpcError::new(INTERNAL_ERROR, "the client session ended")))
        })
    }
}

/// The client side of one in-flight request, given to upstreams so that progress
/// notifications and server-to-client requests reach the client that asked.
pub struct RequestDownstream {
    /// The session.
    pub session: Arc<Session>,
    /// The POST's SSE stream, when the request is answered as one.
    pub stream: Option<mpsc::Sender<Message>>,
}

impl Downstream for RequestDownstream {
    fn notify(&self, msg: Message) {
        match &self.stream {
            Some(s) => {
                let _ = s.try_send(msg);
            }
            None => {
                self.session.send(msg);
            }
        }
    }

    fn request(
        &self,
        method: String,
        params: Option<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        self.session
            .client_request(method, params, self.stream.clone())
    }

    fn client(&self) -> Option<&str> {
        Some(&self.session.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            key_digest: [0; 16],
            project_id: "p".into(),
            user_id: "u".into(),
            mcp_config_id: "c".into(),
            key_ref: "md5:00".into(),
            expires_at: None,
        }
    }

    #[test]
    fn idle_only_when_unused() {
        let s = Session::new(identity());
        assert!(s.idle_for().is_some_and(|d| d.as_secs() < 5));
        // An open GET stream (the receiver taken) keeps it in use.
        let rx = s.take_outbound().unwrap();
        assert!(s.idle_for().is_none());
        s.return_outbound(rx);
        // So does a request in flight.
        let (_f, abort) = futures_util::future::abortable(async {});
        s.inflight.insert("1".into(), abort);
        assert!(s.idle_for().is_none());
        assert_ne!(new_session_id(), new_session_id());
    }

    #[test]
    fn instance_ids() {
        for ok in ["gw1", "gateway-2", "A_b-9", &"x".repeat(63)] {
            assert!(check_instance_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "gw 1", "gw.1", "gw/1", &"x".repeat(64), "é"] {
            let e = check_instance_id(bad).expect_err(bad);
            assert!(e.contains(INSTANCE_ENV), "{e}");
        }
    }

    #[test]
    fn an_ended_session_says_why() {
        let s = Session::new(identity());
        assert_eq!(s.end_reason(), "its gateway key is no longer valid");
        s.end_because("its key was disabled");
        assert!(s.is_ended());
        assert_eq!(s.end_reason(), "its key was disabled");
        // The first reason stays.
        s.end_because("its key expired");
        assert_eq!(s.end_reason(), "its key was disabled");
    }

    #[test]
    fn a_reopened_session_keeps_what_the_client_negotiated() {
        let old = Session::new(identity());
        *old.protocol_version.lock() = "2025-06-18".into();
        *old.client_capabilities.lock() = serde_json::json!({ "sampling": {} });
        old.initialized.store(true, Ordering::Relaxed);
        old.set_log_level(4);
        old.subscribe("k".into(), "file:///a".into());
        old.end();
        let new = Session::new(identity());
        new.carry_over(&old);
        assert_eq!(*new.protocol_version.lock(), "2025-06-18");
        assert_eq!(
            new.client_capabilities.lock()["sampling"],
            serde_json::json!({})
        );
        assert!(new.initialized.load(Ordering::Relaxed));
        assert_eq!(new.log_level(), 4);
        assert!(new.is_subscribed("k", "file:///a"));
        assert!(!new.is_ended() && new.id != old.id);
    }

    #[test]
    fn unread_messages_are_bounded() {
        let s = Session::new(identity());
        let sent = (0..3 * OUTBOUND_LIMIT)
            .filter(|i| {
                s.send(Message::notification(
                    "notifications/message",
                    Some(serde_json::json!({ "n": i })),
                ))
            })
            .count();
        assert_eq!(sent, OUTBOUND_LIMIT);
        let mut rx = s.take_outbound().unwrap();
        let mut got = 0;
        while let Ok(m) = rx.try_recv() {
            assert_eq!(m.params().unwrap()["n"], got);
            got += 1;
        }
        assert_eq!(got, OUTBOUND_LIMIT);
        // Read: room again.
        assert!(s.send(Message::notification("notifications/message", None)));
    }
}
