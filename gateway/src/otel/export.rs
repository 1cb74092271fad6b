//! The exporters: OTLP/HTTP (protobuf) to `<base>/v1/traces`, `/v1/metrics` and `/v1/logs`,
//! sent by the workspace's reqwest client (rustls on ring) on a one-thread runtime of their
//! own. Spans go through the gateway's own queue and encoder ([`super::queue`]); log records
//! through the SDK's batch processor (a bounded queue that drops when full, with its own
//! export thread); metrics are read periodically by the SDK. The standard `OTEL_BSP_*`,
//! `OTEL_BLRP_*`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_EXPORTER_OTLP_TIMEOUT` and
//! `OTEL_TRACES_SAMPLER(_ARG)` variables tune them.

use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use crate::config::TelemetryConfig;

/// One export's deadline when `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds) does not say.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The collector's base URL for `cfg`, and a note when it was changed: no scheme means
/// `http://` (`insecure`, the default) or `https://`; port 4317 (OTLP/gRPC, the reference's
/// default) becomes 4318, the OTLP/HTTP port, since the gateway sends OTLP/HTTP.
pub fn endpoint_base(cfg: &TelemetryConfig) -> Result<(String, Option<String>), String> {
    let raw = cfg.endpoint.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else if cfg.insecure {
        format!("http://{raw}")
    } else {
        format!("https://{raw}")
    };
    let mut url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| format!("telemetry endpoint {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "telemetry endpoint {raw:?}: only http:// and https:// are supported (OTLP/HTTP)"
        ));
    }
    let mut note = None;
    if url.port() == Some(4317) {
        let _ = url.set_port(Some(4318));
        note = Some(format!(
            "telemetry endpoint {raw:?} is the OTLP/gRPC port; sending OTLP/HTTP to port 4318"
        ));
    }
    Ok((url.as_str().trim_end_matches('/').to_string(), note))
}

/// What [`start`] gives: the guard that flushes at exit, and what the log layers need.
pub struct Started {
    /// Flushes and stops the exporters ([`Guard::shutdown`]).
    pub guard: Guard,
    /// The provider of the log bridge.
    pub logs: SdkLoggerProvider,
    /// Notes to log once logging is up.
    pub notes: Vec<String>,
}

/// Holds the providers; [`Guard::shutdown`] flushes them.
pub struct Guard {
    metrics: SdkMeterProvider,
    logs: SdkLoggerProvider,
}

impl Guard {
    /// Stops exporting: what is queued is sent, waiting at most `deadline` in all (a
    /// collector that does not answer does not hold the exit longer).
    pub fn shutdown(self, deadline: Duration) {
        super::ON.store(false, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<()>();
        let until = std::time::Instant::now() + deadline;
        let Guard { metrics, logs } = self;
        let jobs: [Box<dyn FnOnce() + Send>; 3] = [
            Box::new(move || super::queue::shutdown(until)),
            Box::new(move || {
                let _ = metrics.shutdown_with_timeout(deadline);
            }),
            Box::new(move || {
                let _ = logs.shutdown_with_timeout(deadline);
            }),
        ];
        let mut n = 0;
        for job in jobs {
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("otlp-shutdown".into())
                .spawn(move || {
                    job();
                    let _ = tx.send(());
                });
            n += usize::from(spawned.is_ok());
        }
        for _ in 0..n {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if rx.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}

/// Starts the exporters for `cfg` (which must be enabled) and turns telemetry on.
pub fn start(cfg: &TelemetryConfig) -> Result<Started, String> {
    let (base, note) = endpoint_base(cfg)?;
    let timeout = std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(EXPORT_TIMEOUT, Duration::from_millis);
    let client = Client::new(timeout)?;
    let resource = Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let err = |what: &str, e: &dyn std::fmt::Display| format!("telemetry: {what} exporter: {e}");

    super::clock::init();
    super::trace::set_sampler(super::trace::Sampler::from_env(
        std::env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
        std::env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
    ));
    super::queue::start(
        super::queue::Limits::from_env(),
        super::encode::Encoder::new(&resource, "secure-mcp-gateway"),
        client.sender(format!("{base}/v1/traces"))?,
    )?;

    let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/metrics"))
        .with_timeout(timeout)
        .with_http_client(client.clone())
        .build()
        .map_err(|e| err("metric", &e))?;
    let started = super::clock::unix_now();
    let metric_exporter = Metrics {
        temporality: metric_exporter.temporality(),
        inner: metric_exporter,
        client: client.clone(),
        url: format!("{base}/v1/metrics")
            .parse()
            .map_err(|e| format!("telemetry: metrics URL: {e}"))?,
        headers: env_headers("OTEL_EXPORTER_OTLP_METRICS_HEADERS"),
        resource: super::encode::resource_field(&resource),
        scope: super::encode::scope_field("secure-mcp-gateway"),
        start: started,
        last_export: std::sync::atomic::AtomicU64::new(started),
    };
    let metrics = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metric_exporter).build())
        .with_resource(resource.clone())
        .build();

    let log_exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/logs"))
        .with_timeout(timeout)
        .with_http_client(client)
        .build()
        .map_err(|e| err("log", &e))?;
    let logs = SdkLoggerProvider::builder()
        .with_batch_exporter(log_exporter)
        .with_resource(resource)
        .build();

    {
        use opentelemetry::metrics::MeterProvider as _;
        super::set_instruments(&metrics.meter("secure-mcp-gateway"));
    }
    super::ON.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut notes = vec![format!("telemetry: exporting OTLP/HTTP to {base}")];
    notes.extend(note);
    Ok(Started {
        guard: Guard {
            metrics,
            logs: logs.clone(),
        },
        logs,
        notes,
    })
}

/// The exporters' runtime: one worker thread, kept for the life of the process.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn runtime() -> Result<tokio::runtime::Handle, String> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.handle().clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-export")
        .enable_all()
        .build()
        .map_err(|e| format!("telemetry: cannot start the export runtime: {e}"))?;
    Ok(RUNTIME.get_or_init(|| rt).handle().clone())
}

/// The exporters' HTTP client: each request runs on the export runtime (the batch
/// processors' threads only wait for it), bounded by the export timeout.
#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    rt: tokio::runtime::Handle,
    timeout: Duration,
}

impl Client {
    fn new(timeout: Duration) -> Result<Client, String> {
        Ok(Client {
            http: http_client(timeout)?,
            rt: runtime()?,
            timeout,
        })
    }
}

impl Client {
    /// POSTs an encoded OTLP request to `url` (blocking the calling thread, which is not one
    /// of the runtime's), bounded by the export timeout.
    /// Extra headers: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`.
    /// The requests run on a one-thread runtime of the sender's own, driven by the thread that
    /// sends (no hand-over to another thread per export).
    fn sender(&self, url: String) -> Result<super::queue::Send, String> {
        let timeout = self.timeout;
        // A client of its own: its connections belong to this runtime.
        let client = http_client(timeout)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("telemetry: cannot start the span export runtime: {e}"))?;
        let extra = env_headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
        let url = reqwest::Url::parse(&url).map_err(|e| format!("telemetry: {url}: {e}"))?;
        Ok(Box::new(move |body: Bytes| {
            let req = client
                .post(url.clone())
                .headers(extra.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body);
            let sent = rt.block_on(async {
                tokio::time::timeout(timeout, async {
                    let resp = req.send().await?;
                    let status = resp.status();
                    resp.bytes().await?;
                    Ok::<_, reqwest::Error>(status)
                })
                .await
            });
            match sent {
                Ok(Ok(status)) if status.is_success() => Ok(()),
                Ok(Ok(status)) => Err(format!("the collector answered {status}")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            }
        }))
    }
}

/// The extra headers of an export: the variable `signal` (`OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`),
/// else `OTEL_EXPORTER_OTLP_HEADERS`.
fn env_headers(signal: &str) -> http::HeaderMap {
    std::env::var(signal)
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_HEADERS"))
        .map(|v| headers_from(&v))
        .unwrap_or_default()
}

/// The SDK's OTLP metric exporter, followed at each export by the request duration histogram
/// ([`super::durations`], which the SDK does not keep) in a request of its own.
struct Metrics {
    inner: opentelemetry_otlp::MetricExporter,
    temporality: Temporality,
    client: Client,
    url: http::Uri,
    headers: http::HeaderMap,
    /// The `Resource` and `InstrumentationScope` fields, encoded once.
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// When telemetry started (Unix nanoseconds): the start of the cumulative histogram.
    start: u64,
    /// When the previous export ran: the start of a delta histogram's points (each covers the
    /// interval since the last collection, as the SDK's own delta points do).
    last_export: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// Sends the histogram, if anything was recorded.
    async fn export_durations(&self) -> Result<(), String> {
        let delta = self.temporality != Temporality::Cumulative;
        let now = super::clock::unix_now();
        let start = if delta {
            self.last_export
                .swap(now, std::sync::atomic::Ordering::Relaxed)
        } else {
            self.start
        };
        let Some(body) = super::durations::request(&self.resource, &self.scope, start, now, delta)
        else {
            return Ok(());
        };
        let mut req = http::Request::new(Bytes::from(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.url.clone();
        *req.headers_mut() = self.headers.clone();
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        let resp = self
            .client
            .send_bytes(req)
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {}", resp.status()))
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("url", &self.url).finish()
    }
}

impl PushMetricExporter for Metrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let sdk = self.inner.export(metrics).await;
        let durations = self.export_durations().await;
        sdk?;
        durations.map_err(|e| OTelSdkError::InternalFailure(format!("request durations: {e}")))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// An HTTP client for exports bounded by `timeout`.
fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| format!("telemetry: HTTP client: {e}"))
}

/// The headers of an `OTEL_EXPORTER_OTLP_HEADERS` value: `key=value` pairs separated by
/// commas, values percent-decoded; a pair that is not a valid header is skipped.
fn headers_from(v: &str) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for pair in v.split(',') {
        let Some((k, val)) = pair.split_once('=') else {
            continue;
        };
        let name = http::HeaderName::from_bytes(k.trim().as_bytes());
        let value = http::HeaderValue::from_bytes(&percent_decode(val.trim()));
        if let (Ok(name), Ok(value)) = (name, value) {
            out.append(name, value);
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let rb = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        let timeout = self.timeout;
        let job = self.rt.spawn(async move {
            let send = async {
                let resp = rb.send().await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            };
            tokio::time::timeout(timeout, send).await
        });
        let (status, headers, body) = job.await?.map_err(|_| "OTLP export timed out")??;
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: &str, insecure: bool) -> TelemetryConfig {
        TelemetryConfig {
            enabled: true,
            insecure,
            endpoint: endpoint.into(),
            ..TelemetryConfig::default()
        }
    }

    #[test]
    fn endpoints() {
        let base = |e, i| endpoint_base(&cfg(e, i)).map(|(b, n)| (b, n.is_some()));
        assert_eq!(
            base("http://localhost:4318/", true),
            Ok(("http://localhost:4318".into(), false))
        );
        assert_eq!(
            base("http://localhost:4317", true),
            Ok(("http://localhost:4318".into(), true))
        );
        assert_eq!(
            base("collector:4318", true),
            Ok(("http://collector:4318".into(), false))
        );
        assert_eq!(
            base("collector:4318", false),
            Ok(("https://collector:4318".into(), false))
        );
        assert_eq!(
            base("https://otel.example/otlp", true),
            Ok(("https://otel.example/otlp".into(), false))
        );
        assert!(base("grpc://x:1", true).is_err());
    }

    #[test]
    fn headers_from_the_environment_form() {
        let h = headers_from("api-key=a%20b, x-tenant = t1 ,broken,bad name=v,x-pct=100%");
        assert_eq!(h.get("api-key").map(|v| v.as_bytes()), Some(&b"a b"[..]));
        assert_eq!(h.get("x-tenant").map(|v| v.as_bytes()), Some(&b"t1"[..]));
        assert_eq!(h.get("x-pct").map(|v| v.as_bytes()), Some(&b"100%"[..]));
        assert_eq!(h.len(), 3, "{h:?}");
    }
}
