//! The request duration histogram (`enkrypt.request.duration`: seconds, by `mcp.method.name`)
//! kept in atomics like the request counters ([`super::counts`]): a request adds to a few
//! atomics (no attribute hashing, no lock). The SDK has no asynchronous histogram, so its metric
//! exporter is wrapped (`export::Metrics`): after each export of the SDK's metrics the wrapper
//! sends this histogram in an OTLP metrics request of its own ([`request`]), with bucket
//! bounds for seconds ([`BOUNDS`]), its sum, min and max, in the exporter's temporality.
//!
//! ```text
//! ExportMetricsServiceRequest { 1: ResourceMetrics { 1: Resource, 2: ScopeMetrics {
//!     1: InstrumentationScope, 2: Metric { 1: name, 2: description, 3: unit,
//!         9: Histogram { 1: HistogramDataPoint*, 2: aggregation_temporality } } } } }
//! HistogramDataPoint { 9: KeyValue*, 2: start (fixed64), 3: time (fixed64), 4: count (fixed64),
//!     5: sum (double), 6: bucket_counts (packed fixed64), 7: explicit_bounds (packed double),
//!     11: min (double), 12: max (double) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::counts::other_slot;
use super::encode::{attr_str, bytes, field_len, varint};
use super::METHODS;

/// The metric's name, description and unit (as the SDK instrument had them).
const NAME: &str = "enkrypt.request.duration";
const DESCRIPTION: &str = "Time to answer an MCP request";
const UNIT: &str = "s";

/// The bucket bounds, in seconds: those the OpenTelemetry semantic conventions advise for
/// request durations (`http.server.request.duration`). The SDK's default bounds (0, 5, 10 ...
/// 10 000) are meant for milliseconds: in seconds every request fell in (0, 5]. A value `v` is
/// counted in the first bucket whose bound is at least `v`; the last bucket holds the rest.
const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `AggregationTemporality`.
const DELTA: u8 = 1;
const CUMULATIVE: u8 = 2;

/// One attribute set's histogram.
struct Hist {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// What a histogram holds at export.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    buckets: [u64; BOUNDS.len() + 1],
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Hist {
    const fn new() -> Hist {
        Hist {
            buckets: [const { AtomicU64::new(0) }; BOUNDS.len() + 1],
            sum_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
        }
    }

    fn record(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let b = BOUNDS.partition_point(|&x| x < secs);
        self.buckets[b].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.min_ns.fetch_min(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// The point so far, `None` when nothing was recorded; `take` starts it again (delta).
    fn point(&self, take: bool) -> Option<Point> {
        let read = |a: &AtomicU64, fresh: u64| {
            if take {
                a.swap(fresh, Ordering::Relaxed)
            } else {
                a.load(Ordering::Relaxed)
            }
        };
        let buckets: [u64; BOUNDS.len() + 1] = std::array::from_fn(|i| read(&self.buckets[i], 0));
        let count = buckets.iter().sum();
        let (sum, min, max) = (
            read(&self.sum_ns, 0),
            read(&self.min_ns, u64::MAX),
            read(&self.max_ns, 0),
        );
        (count > 0).then(|| Point {
            buckets,
            count,
            sum: sum as f64 / 1e9,
            min: min as f64 / 1e9,
            max: max as f64 / 1e9,
        })
    }
}

/// Histograms per known method (the index in [`METHODS`]).
static KNOWN: [Hist; METHODS.len()] = [const { Hist::new() }; METHODS.len()];

/// Histograms of the other methods (at most [`super::counts::MAX_OTHER`], then `other`).
static OTHER: Mutex<Vec<(String, Hist)>> = Mutex::new(Vec::new());

/// Records the duration of one request of `method`, the `known` one of [`METHODS`] if it is.
pub(super) fn record(known: Option<usize>, method: &str, took: Duration) {
    if let Some(h) = known.and_then(|i| KNOWN.get(i)) {
        h.record(took);
        return;
    }
    let mut other = OTHER.lock();
    let at = other_slot(&mut other, method, Hist::new);
    other[at].1.record(took);
}

/// Every method's point (`take`: and starts them again).
fn points(take: bool) -> Vec<(String, Point)> {
    let mut out = Vec::new();
    for (m, h) in METHODS.iter().zip(&KNOWN) {
        if let Some(p) = h.point(take) {
            out.push((m.to_string(), p));
        }
    }
    for (m, h) in OTHER.lock().iter() {
        if let Some(p) = h.point(take) {
            out.push((m.clone(), p));
        }
    }
    out
}

/// The OTLP metrics request carrying the histogram, for the resource and scope fields
/// `resource` and `scope` (`encode::resource_field`, `encode::scope_field`), the interval
/// from `start` to `now` (Unix nanoseconds); `delta` reports (and clears) what was recorded
/// since the last call instead of the totals. `None` when there is nothing to report.
pub(super) fn request(
    resource: &[u8],
    scope: &[u8],
    start: u64,
    now: u64,
    delta: bool,
) -> Option<Vec<u8>> {
    let points = points(delta);
    if points.is_empty() {
        return None;
    }
    let mut hist = Vec::new();
    let mut dp = Vec::new();
    for (method, p) in &points {
        dp.clear();
        attr_str(&mut dp, "mcp.method.name", method);
        for (tag, v) in [(0x11, start), (0x19, now), (0x21, p.count)] {
            dp.push(tag);
            dp.extend_from_slice(&v.to_le_bytes());
        }
        dp.push(0x29);
        dp.extend_from_slice(&p.sum.to_le_bytes());
        dp.push(0x32);
        varint(&mut dp, (8 * p.buckets.len()) as u64);
        for b in p.buckets {
            dp.extend_from_slice(&b.to_le_bytes());
        }
        dp.push(0x3a);
        varint(&mut dp, (8 * BOUNDS.len()) as u64);
        for b in BOUNDS {
            dp.extend_from_slice(&b.to_le_bytes());
        }
        dp.push(0x59);
        dp.extend_from_slice(&p.min.to_le_bytes());
        dp.push(0x61);
        dp.extend_from_slice(&p.max.to_le_bytes());
        bytes(&mut hist, 1, &dp);
    }
    hist.extend_from_slice(&[0x10, if delta { DELTA } else { CUMULATIVE }]);
    let mut metric = Vec::new();
    bytes(&mut metric, 1, NAME.as_bytes());
    bytes(&mut metric, 2, DESCRIPTION.as_bytes());
    bytes(&mut metric, 3, UNIT.as_bytes());
    bytes(&mut metric, 9, &hist);
    let mut scope_metrics = scope.to_vec();
    bytes(&mut scope_metrics, 2, &metric);
    let mut resource_metrics = Vec::with_capacity(resource.len() + field_len(scope_metrics.len()));
    resource_metrics.extend_from_slice(resource);
    bytes(&mut resource_metrics, 2, &scope_metrics);
    let mut out = Vec::with_capacity(field_len(resource_metrics.len()));
    bytes(&mut out, 1, &resource_metrics);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::encode::{resource_field, scope_field};
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, HistogramDataPoint};
    use prost::Message as _;

    /// The data points of a request, by method, and its temporality.
    fn decode(body: &[u8]) -> (Vec<(String, HistogramDataPoint)>, i32) {
        let req = ExportMetricsServiceRequest::decode(body).expect("decodes");
        let rm = &req.resource_metrics[0];
        let sm = &rm.scope_metrics[0];
        assert_eq!(
            sm.scope.as_ref().map(|s| s.name.as_str()),
            Some("secure-mcp-gateway")
        );
        let m = &sm.metrics[0];
        assert_eq!(
            (m.name.as_str(), m.unit.as_str(), m.description.as_str()),
            (NAME, "s", DESCRIPTION)
        );
        let Some(Data::Histogram(h)) = &m.data else {
            panic!("not a histogram: {m:?}");
        };
        let points = h
            .data_points
            .iter()
            .map(|p| {
                assert_eq!(p.attributes.len(), 1);
                assert_eq!(p.attributes[0].key, "mcp.method.name");
                let Some(Any::StringValue(m)) = p.attributes[0].value.clone().and_then(|v| v.value)
                else {
                    panic!("{p:?}");
                };
                (m, p.clone())
            })
            .collect();
        (points, h.aggregation_temporality)
    }

    #[test]
    fn durations_are_exported_as_an_otlp_histogram() {
        let resource = resource_field(
            &opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("gw")
                .build(),
        );
        let scope = scope_field("secure-mcp-gateway");
        let prompts = METHODS.iter().position(|m| *m == "prompts/get");
        let ms = Duration::from_millis;
        record(prompts, "prompts/get", ms(20));
        record(prompts, "prompts/get", ms(6_000));
        record(prompts, "prompts/get", ms(12_000_000));
        record(None, "x/durations-test", Duration::ZERO);
        let body = request(&resource, &scope, 5, 9, false).expect("points");
        let (points, temporality) = decode(&body);
        assert_eq!(temporality, 2, "cumulative");
        let (_, p) = points
            .iter()
            .find(|(m, _)| m == "prompts/get")
            .expect("prompts/get");
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (5, 9));
        assert_eq!(p.count, 3);
        assert_eq!(p.explicit_bounds, BOUNDS.to_vec());
        let mut buckets = vec![0; 15];
        buckets[2] = 1; // (0.01, 0.025]
        buckets[12] = 1; // (5, 7.5]
        buckets[14] = 1; // (10, +inf)
        assert_eq!(p.bucket_counts, buckets);
        assert_eq!((p.min, p.max), (Some(0.02), Some(12_000.0)));
        assert!((p.sum.unwrap_or_default() - 12_006.02).abs() < 1e-6);
        let (_, z) = points
            .iter()
            .find(|(m, _)| m == "x/durations-test")
            .expect("the other method");
        assert_eq!(
            z.bucket_counts[0], 1,
            "zero is in the first bucket, (-inf, 0.005]"
        );

        // Delta: what was recorded since, then nothing.
        let (before, _) = decode(&request(&resource, &scope, 5, 10, true).expect("points"));
        assert!(before.iter().any(|(m, _)| m == "prompts/get"));
        record(prompts, "prompts/get", ms(1));
        let (after, temporality) =
            decode(&request(&resource, &scope, 5, 11, true).expect("points"));
        assert_eq!(temporality, 1, "delta");
        let (_, p) = after
            .iter()
            .find(|(m, _)| m == "prompts/get")
            .expect("prompts/get");
        assert_eq!((p.count, p.min, p.max), (1, Some(0.001), Some(0.001)));
    }
}
