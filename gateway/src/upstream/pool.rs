//! The upstream session pool: one live session per definition ([`UpstreamSpec::pool_key`]).
//!
//! [`Pool::get`] returns the live session, or connects: concurrent callers share one connect
//! attempt (single-flight) whose outcome they all receive; a failed connect is not kept, so the
//! next `get` tries again; a session that died (a stdio child that exited, a closed event
//! stream) is replaced on the next `get`, which respawns the server. The connect runs in its
//! own task, so a caller that gives up does not abort it for the others.
//!
//! Invariant: the slot lock is never held across an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use parking_lot::Mutex;

use super::{Upstream, UpstreamError, UpstreamHandler, UpstreamSpec};

type Connecting = Shared<BoxFuture<'static, Result<Arc<Upstream>, UpstreamError>>>;

enum State {
    Empty,
    Starting(Connecting),
    Ready(Arc<Upstream>),
}

struct Slot {
    name: String,
    state: Mutex<State>,
    /// Connects that succeeded, failed, and succeeded after an earlier session (a restart or
    /// reconnect); relaxed atomics, for `/metrics`.
    connects: AtomicU64,
    failures: AtomicU64,
    restarts: AtomicU64,
}

/// One pooled definition's figures, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotStats {
    /// The server's name.
    pub name: String,
    /// A live session is ready.
    pub up: bool,
    /// Successful connects (the first one included).
    pub connects: u64,
    /// Failed connects.
    pub failures: u64,
    /// Successful connects that replaced an earlier session (restarted child, reconnect).
    pub restarts: u64,
}

/// Pooled upstream sessions, keyed by definition.
pub struct Pool {
    handler: Arc<dyn UpstreamHandler>,
    slots: DashMap<String, Arc<Slot>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("states", &self.states())
            .finish()
    }
}

impl Pool {
    /// An empty pool; `handler` receives every session's notifications.
    pub fn new(handler: Arc<dyn UpstreamHandler>) -> Pool {
        Pool {
            handler,
            slots: DashMap::new(),
        }
    }

    /// The live session for `spec`, connecting (once, however many callers) if there is none
    /// or it died.
    pub async fn get(&self, spec: &UpstreamSpec) -> Result<Arc<Upstream>, UpstreamError> {
        self.get_keyed(&spec.pool_key(), spec).await
    }

    /// As [`Pool::get`], with `spec.pool_key()` already computed (callers that route many
    /// requests keep it, instead of hashing the spec every time).
    pub async fn get_keyed(
        &self,
        key: &str,
        spec: &UpstreamSpec,
    ) -> Result<Arc<Upstream>, UpstreamError> {
        if let Some(slot) = self.slots.get(key) {
            if let State::Ready(u) = &*slot.state.lock() {
                if u.is_alive() {
                    return Ok(u.clone());
                }
            }
        }
        let slot = self
            .slots
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    name: spec.name.clone(),
                    state: Mutex::new(State::Empty),
                    connects: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    restarts: AtomicU64::new(0),
                })
            })
            .clone();
        let connecting = {
            let mut state = slot.state.lock();
            match &*state {
                State::Ready(u) if u.is_alive() => return Ok(u.clone()),
                State::Starting(f) => f.clone(),
                _ => {
                    let spec = spec.clone();
                    let handler = self.handler.clone();
                    let target = slot.clone();
                    // The task cannot store its outcome before `Starting` is set: it needs
                    // the lock held here.
                    let task = tokio::spawn(async move {
                        let result = Upstream::connect(spec, handler).await;
                        match &result {
                            Ok(_) => {
                                if target.connects.fetch_add(1, Ordering::Relaxed) > 0 {
                                    target.restarts.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) => {
                                target.failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let mut state = target.state.lock();
                        *state = match &result {
                            Ok(u) => State::Ready(u.clone()),
                            Err(_) => State::Empty,
                        };
                        result
                    });
                    let target = slot.clone();
                    let fut: BoxFuture<'static, _> = async move {
                        task.await.unwrap_or_else(|e| {
                            // The task ended without storing an outcome: forget the attempt.
                            let mut state = target.state.lock();
                            if let State::Starting(_) = &*state {
                                *state = State::Empty;
                            }
                            Err(UpstreamError::Spawn(format!(
                                "upstream server `{}`: the connect task failed: {e}",
                                target.name
                            )))
                        })
                    }
                    .boxed();
                    let shared = fut.shared();
                    *state = State::Starting(shared.clone());
                    shared
                }
            }
        };
        connecting.await
    }

    /// Drops the session with this key from the pool and closes it.
    pub fn remove(&self, key: &str) -> bool {
        let Some((_, slot)) = self.slots.remove(key) else {
            return false;
        };
        let old = std::mem::replace(&mut *slot.state.lock(), State::Empty);
        if let State::Ready(u) = old {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { u.close().await });
            }
        }
        true
    }

    /// Closes the sessions whose key is not in `keep` (definitions gone from the config, or
    /// changed: a changed command, env, URL or header is another key), in the background.
    /// Returns how many were dropped.
    pub fn retain(&self, keep: &std::collections::HashSet<String>) -> usize {
        let gone: Vec<String> = self
            .slots
            .iter()
            .filter(|e| !keep.contains(e.key()))
            .map(|e| e.key().clone())
            .collect();
        gone.iter().filter(|k| self.remove(k)).count()
    }

    /// Closes every session and empties the pool.
    pub async fn close_all(&self) {
        let keys: Vec<String> = self.slots.iter().map(|e| e.key().clone()).collect();
        let mut closing = Vec::new();
        for key in keys {
            if let Some((_, slot)) = self.slots.remove(&key) {
                if let State::Ready(u) = std::mem::replace(&mut *slot.state.lock(), State::Empty) {
                    closing.push(u);
                }
            }
        }
        futures_util::future::join_all(closing.iter().map(|u| u.close())).await;
    }

    /// Each pooled definition's server name and state: `"ready"`, `"starting"` or `"dead"`
    /// (exited, closed, or its last connect failed). For `/health`.
    pub fn states(&self) -> Vec<(String, &'static str)> {
        self.slots
            .iter()
            .map(|e| {
                let state = match &*e.value().state.lock() {
                    State::Ready(u) if u.is_alive() => "ready",
                    State::Starting(_) => "starting",
                    _ => "dead",
                };
                (e.value().name.clone(), state)
            })
            .collect()
    }

    /// Each pooled definition's state and connect counters.
    pub fn stats(&self) -> Vec<SlotStats> {
        self.slots
            .iter()
            .map(|e| {
                let slot = e.value();
                let up = matches!(&*slot.state.lock(), State::Ready(u) if u.is_alive());
                SlotStats {
                    name: slot.name.clone(),
                    up,
                    connects: slot.connects.load(Ordering::Relaxed),
                    failures: slot.failures.load(Ordering::Relaxed),
                    restarts: slot.restarts.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}
