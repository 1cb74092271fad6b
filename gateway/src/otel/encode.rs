//! The OTLP trace export request (`ExportTraceServiceRequest`, protobuf) written straight from
//! the finished traces: no intermediate span objects, one output buffer per batch.
//!
//! The message, with its field numbers:
//!
//! ```text
//! ExportTraceServiceRequest { 1: ResourceSpans {
//!     1: Resource { 1: KeyValue* }
//!     2: ScopeSpans { 1: InstrumentationScope { 1: name }, 2: Span* } } }
//! Span { 1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind,
//!        7: start (fixed64), 8: end (fixed64), 9: KeyValue*, 15: Status { 3: code },
//!        16: flags (fixed32) }
//! KeyValue { 1: key, 2: AnyValue { 1: string | 2: bool | 3: int | 4: double } }
//! ```

use opentelemetry::Value;
use opentelemetry_sdk::Resource;

use super::clock::Calibration;
use super::trace::{Child, Finished};
use super::{Kind, Outcome, METHODS};

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;

/// `SpanKind`.
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;
/// Field 15 of a span, `Status { 3: STATUS_CODE_ERROR (2) }`.
const STATUS_ERROR: [u8; 4] = [0x7a, 2, 0x18, 2];
/// The key of field 16 of a span (`flags`, fixed32).
const FLAGS_KEY: [u8; 2] = [0x85, 0x01];
/// Sampled, and "whether the parent is remote" known.
const FLAGS: u32 = 0x01 | 0x100;
/// The parent is remote.
const FLAG_REMOTE_PARENT: u32 = 0x200;
/// The key of a span's attribute (field 9, a `KeyValue`).
const ATTR: u8 = 0x4a;

#[inline]
pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

#[inline]
pub(super) fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(super) fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A length-delimited field's size: its key (one byte for fields 1 to 15), length and body.
#[inline]
pub(super) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// `KeyValue` (field `field` of the enclosing message) with an `AnyValue` body `value`
/// (already encoded).
fn kv(out: &mut Vec<u8>, field: u32, k: &str, value: &[u8]) {
    key(out, field, LEN);
    varint(out, (field_len(k.len()) + field_len(value.len())) as u64);
    bytes(out, 1, k.as_bytes());
    bytes(out, 2, value);
}

/// A span attribute with a string value, written in one pass (its lengths computed first).
#[inline]
pub(super) fn attr_str(out: &mut Vec<u8>, k: &str, v: &str) {
    let any = field_len(v.len());
    let body = field_len(k.len()) + field_len(any);
    if body < 0x80 {
        // Every length is one byte.
        out.reserve(2 + body);
        out.extend_from_slice(&[ATTR, body as u8, 0x0a, k.len() as u8]);
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&[0x12, any as u8, 0x0a, v.len() as u8]);
        out.extend_from_slice(v.as_bytes());
        return;
    }
    out.reserve(3 * 5 + 3 + k.len() + v.len());
    out.push(ATTR);
    varint(out, body as u64);
    out.push(0x0a);
    varint(out, k.len() as u64);
    out.extend_from_slice(k.as_bytes());
    out.push(0x12);
    varint(out, any as u64);
    out.push(0x0a);
    varint(out, v.len() as u64);
    out.extend_from_slice(v.as_bytes());
}

/// A span attribute with a bool value.
#[inline]
fn attr_bool(out: &mut Vec<u8>, k: &str, v: bool) {
    out.push(ATTR);
    varint(out, (field_len(k.len()) + 4) as u64);
    out.push(0x0a);
    varint(out, k.len() as u64);
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(&[0x12, 2, 0x10, u8::from(v)]);
}

/// `resource` as field 1 (a `Resource`) of `ResourceSpans` or `ResourceMetrics`, its
/// attributes sorted by key.
pub(super) fn resource_field(resource: &Resource) -> Vec<u8> {
    let mut r = Vec::new();
    let mut scratch = Vec::new();
    let mut attrs: Vec<_> = resource.iter().collect();
    attrs.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (k, v) in attrs {
        scratch.clear();
        match v {
            Value::String(s) => bytes(&mut scratch, 1, s.as_str().as_bytes()),
            Value::Bool(b) => scratch.extend_from_slice(&[0x10, u8::from(*b)]),
            Value::I64(i) => {
                key(&mut scratch, 3, VARINT);
                varint(&mut scratch, *i as u64);
            }
            Value::F64(f) => fixed64(&mut scratch, 4, f.to_bits()),
            _ => bytes(&mut scratch, 1, v.to_string().as_bytes()),
        }
        kv(&mut r, 1, k.as_str(), &scratch);
    }
    let mut out = Vec::new();
    bytes(&mut out, 1, &r);
    out
}

/// The instrumentation scope named `scope` as field 1 of `ScopeSpans` or `ScopeMetrics`.
pub(super) fn scope_field(scope: &str) -> Vec<u8> {
    let mut s = Vec::new();
    bytes(&mut s, 1, scope.as_bytes());
    let mut out = Vec::new();
    bytes(&mut out, 1, &s);
    out
}

/// Every child span kind, in the order [`Consts::flags`] holds them.
const KINDS: [Kind; 5] = [
    Kind::Auth,
    Kind::Discovery,
    Kind::GuardInput,
    Kind::GuardOutput,
    Kind::Forward,
];

/// The transports, whose attribute is encoded once.
const TRANSPORTS: [&str; 2] = ["http", "stdio"];

/// Span attributes whose key and value are both fixed, encoded once.
struct Consts {
    /// `outcome`, by [`Outcome`] (its discriminant).
    outcome: [Vec<u8>; 4],
    /// The flag attribute of each kind (in [`KINDS`] order), false then true (empty for a
    /// kind without one).
    flags: [[Vec<u8>; 2]; 5],
    /// `mcp.method.name` of each of [`METHODS`].
    methods: Vec<Vec<u8>>,
    /// `transport`, by [`TRANSPORTS`].
    transports: [Vec<u8>; 2],
}

impl Consts {
    fn new() -> Consts {
        let str_attr = |k: &str, v: &str| {
            let mut out = Vec::new();
            attr_str(&mut out, k, v);
            out
        };
        let flag = |kind: Kind, f: bool| {
            let mut out = Vec::new();
            match kind.flag_key() {
                Some(k) if kind == Kind::Auth => {
                    attr_str(&mut out, k, if f { "success" } else { "failure" })
                }
                Some(k) => attr_bool(&mut out, k, f),
                None => {}
            }
            out
        };
        Consts {
            outcome: Outcome::ALL.map(|o| str_attr("outcome", o.as_str())),
            flags: KINDS.map(|k| [flag(k, false), flag(k, true)]),
            methods: METHODS
                .iter()
                .map(|m| str_attr("mcp.method.name", m))
                .collect(),
            transports: TRANSPORTS.map(|t| str_attr("transport", t)),
        }
    }

    fn outcome(&self, o: Outcome) -> &[u8] {
        &self.outcome[o as usize]
    }

    fn flag(&self, kind: Kind, f: bool) -> &[u8] {
        let k = KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(KINDS.len() - 1);
        &self.flags[k][usize::from(f)]
    }
}

/// Writes `ExportTraceServiceRequest`s.
pub(super) struct Encoder {
    /// `ResourceSpans`' field 1, the `Resource` message, encoded once.
    resource: Vec<u8>,
    /// `ScopeSpans`' field 1, the `InstrumentationScope` message, encoded once.
    scope: Vec<u8>,
    /// The fixed attributes.
    consts: Consts,
    /// The span being written.
    span: Vec<u8>,
    /// The `server_name` and `tool_name` attributes of the trace being written.
    tool: Vec<u8>,
    /// Turns the spans' time readings into Unix nanoseconds.
    clock: Calibration,
}

impl Encoder {
    /// For spans of `resource` from the instrumentation scope `scope`.
    pub fn new(resource: &Resource, scope: &str) -> Encoder {
        Encoder {
            resource: resource_field(resource),
            scope: scope_field(scope),
            consts: Consts::new(),
            span: Vec::with_capacity(256),
            tool: Vec::with_capacity(64),
            clock: Calibration::none(),
        }
    }

    /// Sets how the next batches' time readings become Unix nanoseconds.
    pub fn set_clock(&mut self, clock: Calibration) {
        self.clock = clock;
    }

    /// The room left at the start of a request for its message heads (each length at most
    /// five bytes).
    fn head_room(&self) -> usize {
        2 * (1 + 5) + self.resource.len() + self.scope.len()
    }

    /// The request carrying every span of `traces`, written into `out` (cleared first): the
    /// request is `out[at..]`, `at` the returned offset. The spans are written once, straight
    /// into `out`, after room for the message heads, which go last, just before them.
    pub fn encode(&mut self, traces: &[Finished], out: &mut Vec<u8>) -> usize {
        let room = self.head_room();
        out.clear();
        out.resize(room, 0);
        for t in traces {
            self.root(t, out);
            for c in &t.data.children {
                self.child(t, c, out);
            }
        }
        let spans = out.len() - room;
        let scope_spans = self.scope.len() + spans;
        let resource_spans = self.resource.len() + field_len(scope_spans);
        let mut head = Vec::with_capacity(room);
        head.push(0x0a);
        varint(&mut head, resource_spans as u64);
        head.extend_from_slice(&self.resource);
        head.push(0x12);
        varint(&mut head, scope_spans as u64);
        head.extend_from_slice(&self.scope);
        let at = room - head.len();
        out[at..room].copy_from_slice(&head);
        at
    }

    /// The span's common fields, into `self.span` (cleared first).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn head(
        &mut self,
        t: &Finished,
        id: u64,
        parent: u64,
        name: &str,
        kind: u8,
        start: u64,
        end: u64,
    ) {
        let s = &mut self.span;
        s.clear();
        // Fields 1 (trace id) and 2 (span id), in one piece.
        let mut ids = [0u8; 28];
        ids[..2].copy_from_slice(&[0x0a, 16]);
        ids[2..18].copy_from_slice(&t.trace_id.to_be_bytes());
        ids[18..20].copy_from_slice(&[0x12, 8]);
        ids[20..].copy_from_slice(&id.to_be_bytes());
        s.extend_from_slice(&ids);
        if let Some(state) = t.state.as_deref().filter(|st| !st.is_empty()) {
            bytes(s, 3, state.as_bytes());
        }
        if parent != 0 {
            s.extend_from_slice(&[0x22, 8]);
            s.extend_from_slice(&parent.to_be_bytes());
        }
        bytes(s, 5, name.as_bytes());
        // Fields 6 (kind), 7 (start) and 8 (end), in one piece.
        let mut times = [0u8; 20];
        times[..3].copy_from_slice(&[0x30, kind, 0x39]);
        times[3..11].copy_from_slice(&self.clock.unix(start).to_le_bytes());
        times[11] = 0x41;
        times[12..].copy_from_slice(&self.clock.unix(end).to_le_bytes());
        s.extend_from_slice(&times);
    }

    /// Ends `self.span` (status, flags) and appends it to `out` (field 2 of `ScopeSpans`).
    #[inline]
    fn tail(&mut self, error: bool, remote_parent: bool, out: &mut Vec<u8>) {
        let s = &mut self.span;
        if error {
            s.extend_from_slice(&STATUS_ERROR);
        }
        let flags = if remote_parent {
            FLAGS | FLAG_REMOTE_PARENT
        } else {
            FLAGS
        };
        let mut field = [0u8; 6];
        field[..2].copy_from_slice(&FLAGS_KEY);
        field[2..].copy_from_slice(&flags.to_le_bytes());
        s.extend_from_slice(&field);
        out.reserve(6 + s.len());
        out.push(0x12);
        varint(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    fn root(&mut self, t: &Finished, out: &mut Vec<u8>) {
        self.head(
            t,
            t.root,
            t.parent,
            "enkrypt.request",
            KIND_SERVER,
            t.start,
            t.end,
        );
        let (s, c) = (&mut self.span, &self.consts);
        match TRANSPORTS.iter().position(|tr| *tr == t.transport) {
            Some(i) => s.extend_from_slice(&c.transports[i]),
            None => attr_str(s, "transport", t.transport),
        }
        if let Some(m) = &t.data.method {
            match super::method_index(m) {
                Some(i) => s.extend_from_slice(&c.methods[i]),
                None => attr_str(s, "mcp.method.name", m),
            }
        }
        // The request's server and tool, kept for its upstream call's span.
        self.tool.clear();
        if let Some(names) = &t.data.tool {
            attr_str(&mut self.tool, "server_name", names.server());
            attr_str(&mut self.tool, "tool_name", names.tool());
            s.extend_from_slice(&self.tool);
        }
        if let Some(o) = t.data.outcome {
            s.extend_from_slice(c.outcome(o));
        }
        let error = t.data.outcome.is_some_and(|o| o.failed());
        self.tail(error, t.parent != 0, out);
    }

    fn child(&mut self, t: &Finished, c: &Child, out: &mut Vec<u8>) {
        let kind = if c.kind == Kind::Forward {
            KIND_CLIENT
        } else {
            KIND_INTERNAL
        };
        self.head(t, c.id, c.parent, c.kind.name(), kind, c.start, c.end);
        let (s, k) = (&mut self.span, &self.consts);
        if let Some(f) = c.flag {
            s.extend_from_slice(k.flag(c.kind, f));
        }
        if c.root_tool {
            // The root's (written just before its children).
            s.extend_from_slice(&self.tool);
        } else if let Some(names) = &c.tool {
            attr_str(s, "server_name", names.server());
            attr_str(s, "tool_name", names.tool());
        }
        if let Some(o) = c.outcome {
            s.extend_from_slice(k.outcome(o));
        }
        let error = c.outcome.is_some_and(|o| o.failed());
        self.tail(error, false, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::trace::Data;
    use super::*;
    use crate::otel::trace::ToolNames;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
    use prost::Message as _;

    fn attrs(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, Any)> {
        kvs.iter()
            .map(|kv| {
                let v = kv.value.clone().and_then(|v| v.value).expect("a value");
                (kv.key.clone(), v)
            })
            .collect()
    }

    fn s(v: &str) -> Any {
        Any::StringValue(v.into())
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn a_request_decodes_as_otlp() {
        let resource = Resource::builder_empty()
            .with_service_name("gw")
            .with_attribute(opentelemetry::KeyValue::new("n", 3i64))
            .build();
        let mut enc = Encoder::new(&resource, "secure-mcp-gateway");
        let long_tool = "t".repeat(300);
        let trace = Finished {
            trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            root: 0x1111,
            parent: 0x00f0_67aa_0ba9_02b7,
            state: Some("k=v".into()),
            transport: "http",
            start: 10,
            end: 99,
            data: Data {
                method: Some("tools/call".into()),
                tool: Some(ToolNames::new("demo", &long_tool)),
                outcome: Some(Outcome::ToolError),
                children: vec![
                    Child {
                        id: 0x2222,
                        parent: 0x1111,
                        kind: Kind::Auth,
                        start: 11,
                        end: 12,
                        flag: Some(true),
                        outcome: None,
                        tool: None,
                        root_tool: false,
                    },
                    Child {
                        id: 0x3333,
                        parent: 0x1111,
                        kind: Kind::Forward,
                        start: 20,
                        end: 90,
                        flag: None,
                        outcome: Some(Outcome::Ok),
                        tool: Some(ToolNames::new("demo", "echo")),
                        root_tool: false,
                    },
                    Child {
                        id: 0x4444,
                        parent: 0x1111,
                        kind: Kind::GuardInput,
                        start: 13,
                        end: 19,
                        flag: Some(false),
                        outcome: None,
                        tool: None,
                        root_tool: false,
                    },
                ],
            },
        };
        let mut out = Vec::new();
        let at = enc.encode(std::slice::from_ref(&trace), &mut out);
        let req = ExportTraceServiceRequest::decode(&out[at..]).expect("decodes");
        assert_eq!(req.resource_spans.len(), 1);
        let rs = &req.resource_spans[0];
        let r = attrs(&rs.resource.as_ref().expect("a resource").attributes);
        assert!(r.contains(&("service.name".into(), s("gw"))), "{r:?}");
        assert!(r.contains(&("n".into(), Any::IntValue(3))), "{r:?}");
        let ss = &rs.scope_spans[0];
        assert_eq!(
            ss.scope.as_ref().map(|s| s.name.as_str()),
            Some("secure-mcp-gateway")
        );
        assert_eq!(ss.spans.len(), 4);
        let root = &ss.spans[0];
        assert_eq!(root.name, "enkrypt.request");
        assert_eq!(root.trace_id, trace.trace_id.to_be_bytes());
        assert_eq!(root.span_id, 0x1111u64.to_be_bytes());
        assert_eq!(root.parent_span_id, 0x00f0_67aa_0ba9_02b7u64.to_be_bytes());
        assert_eq!(root.trace_state, "k=v");
        assert_eq!(root.kind, SpanKind::Server as i32);
        assert_eq!(
            (root.start_time_unix_nano, root.end_time_unix_nano),
            (10, 99)
        );
        assert_eq!(root.flags, 0x301);
        assert_eq!(
            root.status.as_ref().map(|s| s.code),
            Some(StatusCode::Error as i32)
        );
        assert_eq!(
            attrs(&root.attributes),
            vec![
                ("transport".into(), s("http")),
                ("mcp.method.name".into(), s("tools/call")),
                ("server_name".into(), s("demo")),
                ("tool_name".into(), s(&long_tool)),
                ("outcome".into(), s("tool_error")),
            ]
        );
        let auth = &ss.spans[1];
        assert_eq!(auth.name, "enkrypt.auth");
        assert_eq!(auth.parent_span_id, 0x1111u64.to_be_bytes());
        assert_eq!(auth.kind, SpanKind::Internal as i32);
        assert_eq!(auth.status, None);
        assert_eq!(
            attrs(&auth.attributes),
            vec![("enkrypt.auth.result".into(), s("success"))]
        );
        let fwd = &ss.spans[2];
        assert_eq!(fwd.kind, SpanKind::Client as i32);
        assert_eq!(fwd.flags, 0x101);
        assert_eq!(
            attrs(&fwd.attributes),
            vec![
                ("server_name".into(), s("demo")),
                ("tool_name".into(), s("echo")),
                ("outcome".into(), s("ok")),
            ]
        );
        assert_eq!(
            attrs(&ss.spans[3].attributes),
            vec![("enkrypt.guardrail.blocked".into(), Any::BoolValue(false))]
        );
    }

    #[test]
    fn a_forward_span_with_the_requests_tool_names_it() {
        let mut enc = Encoder::new(&Resource::builder_empty().build(), "s");
        let trace = Finished {
            trace_id: 7,
            root: 1,
            parent: 0,
            state: None,
            transport: "stdio",
            start: 1,
            end: 9,
            data: Data {
                method: Some(std::borrow::Cow::Owned("x/custom".into())),
                tool: Some(ToolNames::new("srv", "tl")),
                outcome: Some(Outcome::Error),
                children: vec![Child {
                    id: 2,
                    parent: 1,
                    kind: Kind::Forward,
                    start: 2,
                    end: 3,
                    flag: None,
                    outcome: Some(Outcome::Cancelled),
                    tool: None,
                    root_tool: true,
                }],
            },
        };
        let mut out = vec![1, 2, 3];
        let at = enc.encode(std::slice::from_ref(&trace), &mut out);
        let req = ExportTraceServiceRequest::decode(&out[at..]).expect("decodes");
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(
            attrs(&spans[0].attributes),
            vec![
                ("transport".into(), s("stdio")),
                ("mcp.method.name".into(), s("x/custom")),
                ("server_name".into(), s("srv")),
                ("tool_name".into(), s("tl")),
                ("outcome".into(), s("error")),
            ]
        );
        assert_eq!(
            attrs(&spans[1].attributes),
            vec![
                ("server_name".into(), s("srv")),
                ("tool_name".into(), s("tl")),
                ("outcome".into(), s("cancelled")),
            ]
        );
        assert_eq!(spans[1].status, None);
        assert_eq!(spans[1].parent_span_id, 1u64.to_be_bytes());
    }
}
