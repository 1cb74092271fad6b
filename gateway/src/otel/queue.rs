//! The span export queue: finished traces are pushed in (one lock per request) and a thread
//! of its own encodes them and POSTs them to `<base>/v1/traces`. The queue is bounded in spans
//! (`OTEL_BSP_MAX_QUEUE_SIZE`, 2 048): a trace that does not fit is dropped, so a slow or dead
//! collector never holds a request. A batch goes out every `OTEL_BSP_SCHEDULE_DELAY` (5 000 ms)
//! or as soon as `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512) spans wait; one request carries at most
//! that many spans.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::encode::Encoder;
use super::trace::Finished;

/// The queue's limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Spans held at most.
    pub max_spans: usize,
    /// Spans per export request, and the count that triggers one.
    pub batch: usize,
    /// The longest a span waits for its batch.
    pub delay: Duration,
}

impl Limits {
    /// From the `OTEL_BSP_*` variables (the SDK's defaults otherwise).
    pub fn from_env() -> Limits {
        let num = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(d)
        };
        let max_spans = num("OTEL_BSP_MAX_QUEUE_SIZE", 2048);
        Limits {
            max_spans,
            batch: num("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512).min(max_spans),
            delay: Duration::from_millis(num("OTEL_BSP_SCHEDULE_DELAY", 5000) as u64),
        }
    }
}

#[derive(Default)]
struct State {
    traces: Vec<Finished>,
    spans: usize,
    stop: bool,
}

/// The queue shared by the requests and the export thread.
pub(super) struct Queue {
    limits: Limits,
    state: Mutex<State>,
    wake: Condvar,
    /// Traces dropped because the queue was full.
    dropped: AtomicU64,
    /// Set by the export thread when it has sent what was queued at stop.
    done: Mutex<bool>,
    done_cv: Condvar,
}

static QUEUE: OnceLock<Arc<Queue>> = OnceLock::new();

/// Queues a finished trace (dropped when the queue is full or not started).
pub(super) fn push(t: Finished) {
    let Some(q) = QUEUE.get() else {
        return;
    };
    let n = t.spans();
    let mut s = q.state.lock();
    if s.stop || s.spans + n > q.limits.max_spans {
        drop(s);
        q.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let before = s.spans;
    s.spans += n;
    s.traces.push(t);
    let wake = before < q.limits.batch && s.spans >= q.limits.batch;
    drop(s);
    if wake {
        q.wake.notify_one();
    }
}

/// Sends one encoded export request; `Err` says why it failed.
pub(super) type Send = Box<dyn FnMut(bytes::Bytes) -> Result<(), String> + std::marker::Send>;

/// Starts the export thread: it encodes with `encoder` and sends with `send`.
pub(super) fn start(limits: Limits, mut encoder: Encoder, mut send: Send) -> Result<(), String> {
    let q = Arc::new(Queue {
        limits,
        state: Mutex::new(State {
            traces: Vec::with_capacity(limits.batch),
            ..State::default()
        }),
        wake: Condvar::new(),
        dropped: AtomicU64::new(0),
        done: Mutex::new(false),
        done_cv: Condvar::new(),
    });
    if QUEUE.set(q.clone()).is_err() {
        return Err("telemetry: the span exporter is already running".into());
    }
    std::thread::Builder::new()
        .name("otlp-spans".into())
        .spawn(move || run(&q, &mut encoder, &mut send))
        .map(|_| ())
        .map_err(|e| format!("telemetry: cannot start the span exporter: {e}"))
}

fn run(q: &Queue, encoder: &mut Encoder, send: &mut Send) {
    let mut failing = false;
    let mut spare: Vec<Finished> = Vec::with_capacity(q.limits.batch);
    let mut body = Vec::new();
    loop {
        let stop = {
            let mut s = q.state.lock();
            let until = Instant::now() + q.limits.delay;
            while !s.stop && s.spans < q.limits.batch {
                if q.wake.wait_until(&mut s, until).timed_out() {
                    break;
                }
            }
            std::mem::swap(&mut s.traces, &mut spare);
            s.spans = 0;
            s.stop
        };
        if !spare.is_empty() {
            encoder.set_clock(super::clock::calibration());
        }
        let mut from = 0;
        while from < spare.len() {
            // At most `batch` spans per request (a trace is never split).
            let mut to = from;
            let mut spans = 0;
            while to < spare.len() && (to == from || spans + spare[to].spans() <= q.limits.batch) {
                spans += spare[to].spans();
                to += 1;
            }
            let at = encoder.encode(&spare[from..to], &mut body);
            // The next batch's buffer starts a quarter larger than this one (rarely grown, and
            // then not by steps, each copying what was written).
            let next = Vec::with_capacity(body.len() + body.len() / 4);
            let request = bytes::Bytes::from(std::mem::replace(&mut body, next)).slice(at..);
            match send(request) {
                Ok(()) => {
                    if std::mem::replace(&mut failing, false) {
                        tracing::info!(target: "otlp_export", "telemetry: span export works again");
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(target: "otlp_export", "telemetry: span export failed ({e}); spans are dropped while it fails");
                    }
                }
            }
            from = to;
        }
        spare.clear();
        if stop {
            let dropped = q.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(target: "otlp_export", "telemetry: {dropped} traces were dropped (export queue full)");
            }
            *q.done.lock() = true;
            q.done_cv.notify_all();
            return;
        }
    }
}

/// Stops the export thread after it has sent what is queued, waiting until `until` at most.
pub(super) fn shutdown(until: Instant) {
    let Some(q) = QUEUE.get() else {
        return;
    };
    q.state.lock().stop = true;
    q.wake.notify_one();
    let mut done = q.done.lock();
    while !*done {
        if q.done_cv.wait_until(&mut done, until).timed_out() {
            return;
        }
    }
}
