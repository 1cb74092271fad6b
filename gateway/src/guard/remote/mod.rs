//! The remote guardrail provider: the gateway's client for the Enkrypt
//! guardrail HTTP API.
//!
//! It mirrors the calls the reference gateway makes to that API:
//!
//! | call | endpoint | body |
//! | --- | --- | --- |
//! | [`RemoteProvider::detect`] | `POST /guardrails/guardrail/detect` | `{"text"}` |
//! | [`RemoteProvider::batch_detect`] | `POST /guardrails/guardrail/batch/detect` | `{"texts"}` |
//! | [`RemoteProvider::pii_redact`] / [`RemoteProvider::pii_restore`] | `POST /guardrails/pii` | `{"text", "mode", "key"}` |
//! | [`RemoteProvider::relevancy`] | `POST /guardrails/relevancy` | `{"question", "llm_answer"}` |
//! | [`RemoteProvider::adherence`] | `POST /guardrails/adherence` | `{"context", "llm_answer"}` |
//! | [`RemoteProvider::hallucination`] | `POST /guardrails/hallucination` | `{"request_text", "response_text", "context"}` |
//!
//! Every request carries `apikey`, `Content-Type: application/json`,
//! `X-Enkrypt-Source-Name: mcp-gateway` and an `X-Enkrypt-Source-Event`
//! (`pre-tool`, `post-tool`, `server-registration`, `pii-redact`,
//! `pii-restore`); the policy calls add `X-Enkrypt-Guardrail` (the guardrail
//! name) and `X-Enkrypt-Mode` (`prompt` for inputs, `response` for outputs).
//!
//! Invariants:
//!
//! - **The fail policy is the caller's.** Every failure (timeout, transport,
//!   HTTP status, unparseable reply, an `{"error": ...}` reply) comes back as
//!   a [`RemoteError`] value; nothing here turns an error into "allow" or
//!   "block".
//! - **Secrets are never logged.** The api key is held in a header value
//!   marked sensitive, never appears in any `Debug` output, and never appears
//!   in an error message. Error messages never contain the text that was
//!   checked: they are built here from fixed wording, status codes and
//!   transport causes, and an API-supplied error message is kept only when it
//!   does not quote the checked text or the key (see [`RemoteError::Api`]).
//! - **Bounded.** Each call is limited by the configured timeout as a whole
//!   (connect, send and reading the reply), and a reply body larger than
//!   8 MiB is refused.
//! - **No panics on any reply.** Replies are parsed as untyped JSON and every
//!   field is checked; anything unexpected is [`RemoteError::Malformed`].
//!
//! One HTTP client (rustls, pooled keep-alive connections, no redirects so
//! the key is never forwarded to another host) is built per provider and
//! shared by its clones.
//!
//! # Verdicts
//!
//! A detector named in the policy's `block` list is *flagged* when its
//! `summary` value is `1` (or `true`) or a non-empty list. A detector that is
//! flagged but not in the block list does not count; a block-list detector
//! missing from the summary is not flagged.
//!
//! # Sanitized details
//!
//! For each flagged detector, [`RemoteVerdict::details`] holds a copy of the
//! API's `details.<detector>` object with everything that could echo the
//! checked text or a matched value removed, so it can be logged or returned
//! to a client. The rule, applied recursively (at most 6 levels and 64 items
//! per object or list):
//!
//! 1. Members whose key names a text-bearing field (`text`, `redacted_text`,
//!    `most_unsafe_content`, `explanation`, `detected_keywords`, `value`,
//!    `match`, `entity`, `key`, ...) are dropped whatever their value.
//! 2. Other keys must look like identifiers (`[A-Za-z_][A-Za-z0-9_-]*`, at
//!    most 64 bytes), since some detectors key their maps by the matched
//!    value. A key that is not one of the API's known field names must also
//!    not occur in the checked text (case-insensitively) and not hold four or
//!    more digits.
//! 3. Numbers, booleans and nulls are kept (scores, counts, offsets, flags).
//! 4. A string is kept when it is a probability written as a string
//!    (`"0.9993"`), or when it is a short label: at most 64 characters, no
//!    control characters, fewer than four digits, and not occurring in the
//!    checked text (case-insensitively). Inside `compliance_mapping` (vendor
//!    taxonomy such as `"LLM01:2025 Prompt Injection"`) labels may be up to
//!    256 characters and hold digits, but still must not occur in the text.
//! 5. Lists keep the elements that survive; objects keep the members that
//!    survive. A non-object detail is replaced by an empty object.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest reply body accepted, in bytes.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Longest API-supplied error message kept in [`RemoteError::Api`], in characters.
const MAX_API_MESSAGE_CHARS: usize = 200;
/// Longest transport cause kept in [`RemoteError::Connect`], in characters.
const MAX_CAUSE_CHARS: usize = 300;
/// An API error message sharing a run of this many characters with the
/// checked text is treated as quoting it.
const ECHO_WINDOW: usize = 12;
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

const SOURCE_NAME: &str = "mcp-gateway";
const REDACTED: &str = "<redacted>";

const HDR_APIKEY: &str = "apikey";
const HDR_GUARDRAIL: &str = "x-enkrypt-guardrail";
const HDR_MODE: &str = "x-enkrypt-mode";
const HDR_SOURCE_NAME: &str = "x-enkrypt-source-name";
const HDR_SOURCE_EVENT: &str = "x-enkrypt-source-event";

/// Settings of the remote provider.
#[derive(Clone)]
pub struct RemoteSettings {
    /// Root of the API, e.g. `https://api.enkryptai.com`; a trailing slash is
    /// ignored and a path prefix is kept.
    pub base_url: String,
    /// The `apikey` header value. Never printed.
    pub api_key: String,
    /// Bound on each call as a whole (the config's `guardrail_timeout`).
    pub timeout: Duration,
}

impl fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("base_url", &display_base(&self.base_url))
            .field("api_key", &REDACTED)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Which side of a tool call a text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A tool input (`X-Enkrypt-Mode: prompt`, source event `pre-tool`).
    Prompt,
    /// A tool output (`X-Enkrypt-Mode: response`, source event `post-tool`).
    Response,
}

impl Mode {
    /// The `X-Enkrypt-Mode` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Prompt => "prompt",
            Mode::Response => "response",
        }
    }

    fn event(self) -> Event {
        match self {
            Mode::Prompt => Event::PreTool,
            Mode::Response => Event::PostTool,
        }
    }
}

/// The `X-Enkrypt-Source-Event` of a request.
#[derive(Debug, Clone, Copy)]
enum Event {
    PreTool,
    PostTool,
    ServerRegistration,
    PiiRedact,
    PiiRestore,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::PreTool => "pre-tool",
            Event::PostTool => "post-tool",
            Event::ServerRegistration => "server-registration",
            Event::PiiRedact => "pii-redact",
            Event::PiiRestore => "pii-restore",
        }
    }
}

/// The API endpoints.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Detect,
    BatchDetect,
    Pii,
    Relevancy,
    Adherence,
    Hallucination,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Detect => "/guardrails/guardrail/detect",
            Endpoint::BatchDetect => "/guardrails/guardrail/batch/detect",
            Endpoint::Pii => "/guardrails/pii",
            Endpoint::Relevancy => "/guardrails/relevancy",
            Endpoint::Adherence => "/guardrails/adherence",
            Endpoint::Hallucination => "/guardrails/hallucination",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Detect => "detect",
            Endpoint::BatchDetect => "batch_detect",
            Endpoint::Pii => "pii",
            Endpoint::Relevancy => "relevancy",
            Endpoint::Adherence => "adherence",
            Endpoint::Hallucination => "hallucination",
        }
    }
}

/// Resolved endpoint URLs, built once.
struct Urls {
    detect: Url,
    batch_detect: Url,
    pii: Url,
    relevancy: Url,
    adherence: Url,
    hallucination: Url,
}

impl Urls {
    fn get(&self, endpoint: Endpoint) -> &Url {
        match endpoint {
            Endpoint::Detect => &self.detect,
            Endpoint::BatchDetect => &self.batch_detect,
            Endpoint::Pii => &self.pii,
            Endpoint::Relevancy => &self.relevancy,
            Endpoint::Adherence => &self.adherence,
            Endpoint::Hallucination => &self.hallucination,
        }
    }
}

/// Outcome of a policy detect for one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteVerdict {
    /// Detectors of the block list that the API flagged, in block-list order,
    /// without duplicates.
    pub flagged: Vec<String>,
    /// One sanitized detail object per flagged detector (see the module
    /// documentation for what is kept).
    pub details: Map<String, Value>,
}

impl RemoteVerdict {
    /// Whether any block-list detector was flagged.
    pub fn blocked(&self) -> bool {
        !self.flagged.is_empty()
    }
}

/// A failed call. `Display` is safe to log: it never holds the api key or
/// the checked text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The call did not complete within the configured timeout.
    #[error("guardrail API call timed out")]
    Timeout,
    /// The connection could not be made, or broke before a whole reply
    /// arrived; holds the transport cause.
    #[error("guardrail API unreachable: {0}")]
    Connect(String),
    /// The API answered with a non-success HTTP status other than 401/403.
    #[error("guardrail API answered HTTP {0}")]
    Status(u16),
    /// The API refused the api key (HTTP 401 or 403).
    #[error("guardrail API refused the api key (HTTP {0})")]
    Unauthorized(u16),
    /// The reply was not JSON, too large, or lacked an expected field.
    #[error("guardrail API reply malformed: {0}")]
    Malformed(String),
    /// The API replied `{"error": ...}`. Holds its message, cut to 200
    /// characters, or a placeholder when the message quotes the checked text
    /// or the api key.
    #[error("guardrail API reported an error: {0}")]
    Api(String),
    /// The settings or an argument cannot be used (bad base URL, zero
    /// timeout, a key or guardrail name that is not a valid header value).
    #[error("guardrail provider misconfigured: {0}")]
    Config(String),
}

impl RemoteError {
    fn malformed(message: impl Into<String>) -> Self {
        RemoteError::Malformed(message.into())
    }
}

/// The remote guardrail provider. Cheap to clone: clones share one HTTP
/// client and its connection pool.
#[derive(Clone)]
pub struct RemoteProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// The key as a header value, marked sensitive.
    key_header: HeaderValue,
    /// The key as text, used only to keep it out of error messages.
    key_text: String,
    urls: Urls,
    timeout: Duration,
    /// Base URL without any user info, for `Debug`.
    shown_base: String,
}

impl fmt::Debug for RemoteProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProvider")
            .field("base_url", &self.inner.shown_base)
            .field("api_key", &REDACTED)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct DetectBody<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    texts: &'a [String],
}

#[derive(Serialize)]
struct PiiBody<'a> {
    text: &'a str,
    mode: &'a str,
    key: &'a str,
}

#[derive(Serialize)]
struct RelevancyBody<'a> {
    question: &'a str,
    llm_answer: &'a str,
}

#[derive(Serialize)]
struct AdherenceBody<'a> {
    context: &'a str,
    llm_answer: &'a str,
}

#[derive(Serialize)]
struct HallucinationBody<'a> {
    request_text: &'a str,
    response_text: &'a str,
    context: &'a str,
}

impl RemoteProvider {
    /// Builds the provider and its HTTP client. Fails with
    /// [`RemoteError::Config`] on a base URL that is not `http(s)`, a zero
    /// timeout, or a key that cannot be sent as a header.
    pub fn new(settings: RemoteSettings) -> Result<RemoteProvider, RemoteError> {
        let RemoteSettings {
            base_url,
            api_key,
            timeout,
        } = settings;
        if timeout.is_zero() {
            return Err(RemoteError::Config("timeout must be above zero".into()));
        }
        let base = base_url.trim().trim_end_matches('/');
        let parsed = Url::parse(base)
            .map_err(|_| RemoteError::Config("base_url is not a valid URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RemoteError::Config(
                "base_url must use http or https".into(),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(RemoteError::Config(
                "base_url must not have a query or fragment".into(),
            ));
        }
        let endpoint = |e: Endpoint| {
            Url::parse(&format!("{base}{}", e.path()))
                .map_err(|_| RemoteError::Config("base_url is not a valid URL".into()))
        };
        let urls = Urls {
            detect: endpoint(Endpoint::Detect)?,
            batch_detect: endpoint(Endpoint::BatchDetect)?,
            pii: endpoint(Endpoint::Pii)?,
            relevancy: endpoint(Endpoint::Relevancy)?,
            adherence: endpoint(Endpoint::Adherence)?,
            hallucination: endpoint(Endpoint::Hallucination)?,
        };
        let mut key_header = HeaderValue::from_str(&api_key).map_err(|_| {
            RemoteError::Config("api key holds characters not allowed in a header".into())
        })?;
        key_header.set_sensitive(true);
        let client = Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("secure-mcp-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                RemoteError::Config(format!(
                    "HTTP client could not be built: {}",
                    describe_transport(e)
                ))
            })?;
        Ok(RemoteProvider {
            inner: Arc::new(Inner {
                client,
                key_header,
                key_text: api_key,
                urls,
                timeout,
                shown_base: display_base(base),
            }),
        })
    }

    /// The bound applied to each call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Policy detect of one text against the named guardrail. `block` is the
    /// policy's block list; the verdict names those of its detectors that the
    /// API flagged, with sanitized details.
    pub async fn detect(
        &self,
        guardrail: &str,
        mode: Mode,
        text: &str,
        block: &[String],
    ) -> Result<RemoteVerdict, RemoteError> {
        let headers = self.headers(mode.event(), Some((guardrail, mode)))?;
        let body = encode(&DetectBody { text })?;
        let checked = [text];
        let scrub = self.scrub(&checked);
        let reply = self.post(Endpoint::Detect, headers, body, &scrub).await?;
        parse_verdict(&reply, text, block, &scrub)
    }

    /// Policy detect of several texts in one call (server and tool
    /// registration; mode `prompt`). Returns one verdict per text, in order.
    /// An empty `texts` returns an empty list without a call.
    pub async fn batch_detect(
        &self,
        guardrail: &str,
        texts: &[String],
        block: &[String],
    ) -> Result<Vec<RemoteVerdict>, RemoteError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let headers = self.headers(Event::ServerRegistration, Some((guardrail, Mode::Prompt)))?;
        let body = encode(&BatchBody { texts })?;
        let checked: Vec<&str> = texts.iter().map(String::as_str).collect();
        let scrub = self.scrub(&checked);
        let reply = self
            .post(Endpoint::BatchDetect, headers, body, &scrub)
            .await?;
        let items = match &reply {
            Value::Array(items) => items,
            Value::Object(object) => object
                .get("results")
                .or_else(|| object.get("batch_detections"))
                .and_then(Value::as_array)
                .ok_or_else(|| RemoteError::malformed("batch reply has no result list"))?,
            _ => return Err(RemoteError::malformed("batch reply is not a list")),
        };
        if items.len() != texts.len() {
            return Err(RemoteError::Malformed(format!(
                "batch reply has {} results for {} texts",
                items.len(),
                texts.len()
            )));
        }
        items
            .iter()
            .zip(texts)
            .map(|(item, text)| parse_verdict(item, text, block, &scrub))
            .collect()
    }

    /// Redacts PII from `text`. Returns the redacted text and the key that
    /// [`RemoteProvider::pii_restore`] needs; the key is empty when the API
    /// returned none.
    pub async fn pii_redact(&self, text: &str) -> Result<(String, String), RemoteError> {
        let headers = self.headers(Event::PiiRedact, None)?;
        let body = encode(&PiiBody {
            text,
            mode: "request",
            key: "null",
        })?;
        let checked = [text];
        let scrub = self.scrub(&checked);
        let reply = self.post(Endpoint::Pii, headers, body, &scrub).await?;
        let object = reply
            .as_object()
            .ok_or_else(|| RemoteError::malformed("PII reply is not a JSON object"))?;
        let redacted = object
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| RemoteError::malformed("PII reply has no `text` string"))?;
        let key = match object.get("key") {
            None | Some(Value::Null) => "",
            Some(Value::String(key)) => key.as_str(),
            Some(_) => return Err(RemoteError::malformed("PII reply `key` is not a string")),
        };
        Ok((redacted.to_owned(), key.to_owned()))
    }

    /// Puts back the PII that [`RemoteProvider::pii_redact`] took out, using
    /// its key. An empty key returns `text` unchanged without a call.
    pub async fn pii_restore(&self, text: &str, key: &str) -> Result<String, RemoteError> {
        if key.is_empty() {
            return Ok(text.to_owned());
        }
        let headers = self.headers(Event::PiiRestore, None)?;
        let body = encode(&PiiBody {
            text,
            mode: "response",
            key,
        })?;
        let checked = [text, key];
        let scrub = self.scrub(&checked);
        let reply = self.post(Endpoint::Pii, headers, body, &scrub).await?;
        reply
            .as_object()
            .and_then(|object| object.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RemoteError::malformed("PII reply has no `text` string"))
    }

    /// Relevancy score of `answer` to `question`. Reads `score`, or
    /// `summary.relevancy_score`.
    pub async fn relevancy(&self, question: &str, answer: &str) -> Result<f64, RemoteError> {
        let headers = self.headers(Event::PostTool, None)?;
        let body = encode(&RelevancyBody {
            question,
            llm_answer: answer,
        })?;
        let checked = [question, answer];
        let scrub = self.scrub(&checked);
        let reply = self
            .post(Endpoint::Relevancy, headers, body, &scrub)
            .await?;
        read_score(&reply, "relevancy_score", "relevancy")
    }

    /// Adherence score of `answer` to `context`. Reads `score`, or
    /// `summary.adherence_score`.
    pub async fn adherence(&self, context: &str, answer: &str) -> Result<f64, RemoteError> {
        let headers = self.headers(Event::PostTool, None)?;
        let body = encode(&AdherenceBody {
            context,
            llm_answer: answer,
        })?;
        let checked = [context, answer];
        let scrub = self.scrub(&checked);
        let reply = self
            .post(Endpoint::Adherence, headers, body, &scrub)
            .await?;
        read_score(&reply, "adherence_score", "adherence")
    }

    /// Whether `response` to `request` holds a hallucination given
    /// `context`. Reads `has_hallucination`, or `summary.is_hallucination`.
    pub async fn hallucination(
        &self,
        request: &str,
        response: &str,
        context: &str,
    ) -> Result<bool, RemoteError> {
        let headers = self.headers(Event::PostTool, None)?;
        let body = encode(&HallucinationBody {
            request_text: request,
            response_text: response,
            context,
        })?;
        let checked = [request, response, context];
        let scrub = self.scrub(&checked);
        let reply = self
            .post(Endpoint::Hallucination, headers, body, &scrub)
            .await?;
        let object = reply
            .as_object()
            .ok_or_else(|| RemoteError::malformed("hallucination reply is not a JSON object"))?;
        let found = object.get("has_hallucination").or_else(|| {
            object
                .get("summary")
                .and_then(|summary| summary.get("is_hallucination"))
        });
        match found {
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() => Ok(v != 0.0),
                _ => Err(RemoteError::malformed(
                    "hallucination reply has no usable flag",
                )),
            },
            _ => Err(RemoteError::malformed(
                "hallucination reply has no `has_hallucination` flag",
            )),
        }
    }

    fn scrub<'a>(&'a self, texts: &'a [&'a str]) -> Scrub<'a> {
        Scrub {
            key: &self.inner.key_text,
            texts,
        }
    }

    /// The headers of one request.
    fn headers(
        &self,
        event: Event,
        guardrail: Option<(&str, Mode)>,
    ) -> Result<HeaderMap, RemoteError> {
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(
            HeaderName::from_static(HDR_APIKEY),
            self.inner.key_header.clone(),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            HeaderName::from_static(HDR_SOURCE_NAME),
            HeaderValue::from_static(SOURCE_NAME),
        );
        headers.insert(
            HeaderName::from_static(HDR_SOURCE_EVENT),
            HeaderValue::from_static(event.as_str()),
        );
        if let Some((name, mode)) = guardrail {
            if name.trim().is_empty() {
                return Err(RemoteError::Config("guardrail name is empty".into()));
            }
            let value = HeaderValue::from_str(name).map_err(|_| {
                RemoteError::Config(
                    "guardrail name holds characters not allowed in a header".into(),
                )
            })?;
            headers.insert(HeaderName::from_static(HDR_GUARDRAIL), value);
            headers.insert(
                HeaderName::from_static(HDR_MODE),
                HeaderValue::from_static(mode.as_str()),
            );
        }
        Ok(headers)
    }

    /// Sends one request within the timeout and returns its JSON reply,
    /// having mapped HTTP failures and `{"error": ...}` replies to errors.
    async fn post(
        &self,
        endpoint: Endpoint,
        headers: HeaderMap,
        body: Vec<u8>,
        scrub: &Scrub<'_>,
    ) -> Result<Value, RemoteError> {
        let started = Instant::now();
        let request = self
            .inner
            .client
            .post(self.inner.urls.get(endpoint).clone())
            .headers(headers)
            .body(body);
        let outcome = match tokio::time::timeout(self.inner.timeout, exchange(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RemoteError::Timeout),
        };
        let result = outcome.and_then(|bytes| {
            let reply = parse_json(&bytes)?;
            match reply.as_object().and_then(error_field) {
                Some(error) => Err(scrub.api_error(error)),
                None => Ok(reply),
            }
        });
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => tracing::debug!(endpoint = endpoint.name(), elapsed_ms, "guardrail API call"),
            Err(error) => tracing::debug!(
                endpoint = endpoint.name(),
                elapsed_ms,
                %error,
                "guardrail API call failed"
            ),
        }
        result
    }
}

/// Sends the request and reads the whole body, mapping statuses to errors.
async fn exchange(request: reqwest::RequestBuilder) -> Result<Vec<u8>, RemoteError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RemoteError::Unauthorized(status.as_u16()));
    }
    if !status.is_success() {
        return Err(RemoteError::Status(status.as_u16()));
    }
    let too_large =
        || RemoteError::Malformed(format!("reply body exceeds {MAX_RESPONSE_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, RemoteError> {
    serde_json::to_vec(body)
        .map_err(|_| RemoteError::malformed("request body could not be encoded"))
}

/// Parses a reply body; the error names only the position, never content.
fn parse_json(bytes: &[u8]) -> Result<Value, RemoteError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        };
        RemoteError::Malformed(format!(
            "reply is not JSON ({what} at line {} column {})",
            e.line(),
            e.column()
        ))
    })
}

fn transport_error(error: reqwest::Error) -> RemoteError {
    if error.is_timeout() {
        RemoteError::Timeout
    } else if error.is_builder() {
        RemoteError::Config(describe_transport(error))
    } else {
        RemoteError::Connect(describe_transport(error))
    }
}

/// The cause chain of a transport error, without the URL.
fn describe_transport(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    let joined = parts.join(": ");
    clip(&joined, MAX_CAUSE_CHARS)
}

/// `s` cut to at most `max` characters, control characters dropped.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// The base URL with any user info removed.
fn display_base(base: &str) -> String {
    match Url::parse(base.trim()) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

mod reply;
use reply::*;

#[cfg(test)]
mod tests;
