//! Single flight: one discovery per key at a time; concurrent callers wait for its result.
//!
//! A table (a `DashMap`) maps a flight key to a `watch` receiver. The first caller inserts the
//! entry and becomes the *leader*; later callers clone the receiver and wait. The leader
//! removes the entry, then publishes its outcome; a leader that is cancelled (its future
//! dropped) removes the entry and drops its sender, and each waiter then retries, one of them
//! becoming the new leader. Outcomes travel type-erased (`Arc<dyn Any>`); the error type is part
//! of the flight key, so a waiter's downcast always matches its own leader's type.
//!
//! Invariant: no DashMap guard and no `watch::Ref` is held across an `.await`.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::watch;

/// A published outcome.
pub(crate) type Outcome = Arc<dyn Any + Send + Sync>;

type Slot = (u64, watch::Receiver<Option<Outcome>>);

/// The flight table.
#[derive(Default)]
pub(crate) struct Flights {
    map: DashMap<(TypeId, String), Slot>,
    next: AtomicU64,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.map.len())
            .finish()
    }
}

/// What a caller does for a key.
pub(crate) enum Role<'a> {
    /// Run the work and [`Leader::finish`].
    Leader(Leader<'a>),
    /// Wait for the leader with [`wait`].
    Waiter(watch::Receiver<Option<Outcome>>),
}

/// The caller running the work; removes its table entry when finished or dropped.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: (TypeId, String),
    id: u64,
    tx: watch::Sender<Option<Outcome>>,
}

impl Flights {
    /// Joins the flight for `key` (scoped by the outcome type `T`), or starts it.
    pub(crate) fn join<T: 'static>(&self, key: &str) -> Role<'_> {
        let k = (TypeId::of::<T>(), key.to_string());
        match self.map.entry(k.clone()) {
            Entry::Occupied(o) => Role::Waiter(o.get().1.clone()),
            Entry::Vacant(v) => {
                let (tx, rx) = watch::channel(None);
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                v.insert((id, rx));
                Role::Leader(Leader {
                    flights: self,
                    key: k,
                    id,
                    tx,
                })
            }
        }
    }

    /// Keys in flight.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl Leader<'_> {
    /// Ends the flight: later callers start a new one; current waiters get `outcome`.
    pub(crate) fn finish(self, outcome: Outcome) {
        self.remove();
        self.tx.send_replace(Some(outcome));
    }

    fn remove(&self) {
        let id = self.id;
        self.flights.map.remove_if(&self.key, |_, v| v.0 == id);
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Waits for the leader's outcome; `None` if the leader was cancelled.
pub(crate) async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    match rx.wait_for(Option::is_some).await {
        Ok(r) => r.clone(),
        Err(_) => None,
    }
}
