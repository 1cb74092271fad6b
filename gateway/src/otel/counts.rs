//! The request counters (`enkrypt.requests`, `enkrypt.request.errors`) kept in atomics, one per
//! known method and outcome: a request adds 1 to one atomic (no attribute hashing, no lock), and
//! the metric reader takes the totals through observable counters when it exports.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::metrics::AsyncInstrument;
use opentelemetry::KeyValue;
use parking_lot::Mutex;

use super::{Outcome, METHODS};

/// Distinct unknown method names counted on their own; more are counted as `other`.
pub(super) const MAX_OTHER: usize = 256;

/// Counts per known method (the index in [`METHODS`]) and outcome.
static KNOWN: [[AtomicU64; 4]; METHODS.len()] =
    [const { [const { AtomicU64::new(0) }; 4] }; METHODS.len()];

/// Counts of the other methods.
static OTHER: Mutex<Vec<(String, [u64; 4])>> = Mutex::new(Vec::new());

/// Counts one request of `method` (the `known` one of [`METHODS`] if it is) that ended with
/// `outcome`.
pub(super) fn add(known: Option<usize>, method: &str, outcome: Outcome) {
    let o = outcome as usize;
    if let Some(row) = known.and_then(|i| KNOWN.get(i)) {
        row[o].fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut other = OTHER.lock();
    let at = other_slot(&mut other, method, || [0; 4]);
    other[at].1[o] += 1;
}

/// The index of `method`'s entry among the other methods' `entries`, added (made by `new`)
/// when missing; past [`MAX_OTHER`] methods, the entry of `other`.
pub(super) fn other_slot<T>(
    entries: &mut Vec<(String, T)>,
    method: &str,
    new: impl Fn() -> T,
) -> usize {
    let name = match entries.iter().position(|(m, _)| m == method) {
        Some(at) => return at,
        None if entries.len() < MAX_OTHER => method,
        None => match entries.iter().position(|(m, _)| m == "other") {
            Some(at) => return at,
            None => "other",
        },
    };
    entries.push((name.to_string(), new()));
    entries.len() - 1
}

/// Every (method, outcome, count) counted so far.
fn totals() -> Vec<(String, Outcome, u64)> {
    let mut out = Vec::new();
    for (i, row) in KNOWN.iter().enumerate() {
        for (o, n) in Outcome::ALL.iter().zip(row) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                out.push((METHODS[i].to_string(), *o, n));
            }
        }
    }
    for (m, row) in OTHER.lock().iter() {
        for (o, n) in Outcome::ALL.iter().zip(row) {
            if *n > 0 {
                out.push((m.clone(), *o, *n));
            }
        }
    }
    out
}

/// Reports `enkrypt.requests` (by method and outcome).
pub(super) fn observe_requests(obs: &dyn AsyncInstrument<u64>) {
    for (m, o, n) in totals() {
        obs.observe(
            n,
            &[
                KeyValue::new("mcp.method.name", m),
                KeyValue::new("outcome", o.as_str()),
            ],
        );
    }
}

/// Reports `enkrypt.request.errors` (by method: the errors and tool errors).
pub(super) fn observe_errors(obs: &dyn AsyncInstrument<u64>) {
    let mut by_method: Vec<(String, u64)> = Vec::new();
    for (m, o, n) in totals() {
        if !o.failed() {
            continue;
        }
        match by_method.iter_mut().find(|(k, _)| *k == m) {
            Some((_, total)) => *total += n,
            None => by_method.push((m, n)),
        }
    }
    for (m, n) in by_method {
        obs.observe(n, &[KeyValue::new("mcp.method.name", m)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_past_the_cap_share_the_other_entry() {
        let mut entries: Vec<(String, u32)> = Vec::new();
        for i in 0..MAX_OTHER {
            let at = other_slot(&mut entries, &format!("x/{i}"), || 0);
            entries[at].1 += 1;
        }
        assert_eq!(other_slot(&mut entries, "x/7", || 0), 7, "a known one");
        let past = other_slot(&mut entries, "x/new", || 0);
        assert_eq!(entries[past].0, "other");
        assert_eq!(other_slot(&mut entries, "x/newer", || 0), past);
        assert_eq!(entries.len(), MAX_OTHER + 1);
    }

    #[test]
    fn requests_are_counted_per_method_and_outcome() {
        let before = |m: &str, o: Outcome| {
            totals()
                .into_iter()
                .find(|(k, oo, _)| k == m && *oo == o)
                .map_or(0, |t| t.2)
        };
        let (ok0, err0) = (
            before("tools/call", Outcome::Ok),
            before("x/counts-test", Outcome::Error),
        );
        let known = METHODS.iter().position(|m| *m == "tools/call");
        add(known, "tools/call", Outcome::Ok);
        add(known, "tools/call", Outcome::Ok);
        add(None, "x/counts-test", Outcome::Error);
        assert_eq!(before("tools/call", Outcome::Ok), ok0 + 2);
        assert_eq!(before("x/counts-test", Outcome::Error), err0 + 1);
    }
}
