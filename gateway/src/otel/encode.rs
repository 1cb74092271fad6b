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

use super::trace::{Child, Finished};

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const FIXED32: u8 = 5;

/// `SpanKind`.
const KIND_INTERNAL: u64 = 1;
const KIND_SERVER: u64 = 2;
const KIND_CLIENT: u64 = 3;
/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: u64 = 2;
/// Sampled, and "whether the parent is remote" known.
const FLAGS: u32 = 0x01 | 0x100;
/// The parent is remote.
const FLAG_REMOTE_PARENT: u32 = 0x200;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// `KeyValue` (field `field` of the enclosing message) with an `AnyValue` body `value`
/// (already encoded).
fn kv(out: &mut Vec<u8>, field: u32, k: &str, value: &[u8]) {
    let body = 1 + varint_len(k.len() as u64) + k.len() + 1 + varint_len(value.len() as u64);
    key(out, field, LEN);
    varint(out, (body + value.len()) as u64);
    bytes(out, 1, k.as_bytes());
    bytes(out, 2, value);
}

fn kv_str(out: &mut Vec<u8>, field: u32, k: &str, v: &str, scratch: &mut Vec<u8>) {
    scratch.clear();
    bytes(scratch, 1, v.as_bytes());
    kv(out, field, k, scratch);
}

fn kv_bool(out: &mut Vec<u8>, field: u32, k: &str, v: bool) {
    kv(out, field, k, &[0x10, u8::from(v)]);
}

/// Writes `ExportTraceServiceRequest`s.
pub(super) struct Encoder {
    /// The `Resource` message, encoded once.
    resource: Vec<u8>,
    /// The `InstrumentationScope` message.
    scope: Vec<u8>,
    span: Vec<u8>,
    spans: Vec<u8>,
    scratch: Vec<u8>,
}

impl Encoder {
    /// For spans of `resource` from the instrumentation scope `scope`.
    pub fn new(resource: &Resource, scope: &str) -> Encoder {
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
        let mut s = Vec::new();
        bytes(&mut s, 1, scope.as_bytes());
        Encoder {
            resource: r,
            scope: s,
            span: Vec::new(),
            spans: Vec::new(),
            scratch,
        }
    }

    /// The request carrying every span of `traces`, into `out` (cleared first).
    pub fn encode(&mut self, traces: &[Finished], out: &mut Vec<u8>) {
        self.spans.clear();
        for t in traces {
            self.root(t);
            for c in &t.data.children {
                self.child(t, c);
            }
        }
        // The nested lengths first, then each message's head, then the spans once.
        let field = |len: usize| 1 + varint_len(len as u64) + len;
        let scope_spans = field(self.scope.len()) + self.spans.len();
        let resource_spans = field(self.resource.len()) + field(scope_spans);
        out.clear();
        out.reserve(field(resource_spans));
        key(out, 1, LEN);
        varint(out, resource_spans as u64);
        bytes(out, 1, &self.resource);
        key(out, 2, LEN);
        varint(out, scope_spans as u64);
        bytes(out, 1, &self.scope);
        out.extend_from_slice(&self.spans);
    }

    /// The span's common fields, into `self.span` (cleared first).
    #[allow(clippy::too_many_arguments)]
    fn head(
        &mut self,
        t: &Finished,
        id: u64,
        parent: u64,
        name: &str,
        kind: u64,
        start: u64,
        end: u64,
    ) {
        let s = &mut self.span;
        s.clear();
        bytes(s, 1, &t.trace_id.to_be_bytes());
        bytes(s, 2, &id.to_be_bytes());
        if let Some(state) = t.state.as_deref().filter(|st| !st.is_empty()) {
            bytes(s, 3, state.as_bytes());
        }
        if parent != 0 {
            bytes(s, 4, &parent.to_be_bytes());
        }
        bytes(s, 5, name.as_bytes());
        key(s, 6, VARINT);
        varint(s, kind);
        fixed64(s, 7, start);
        fixed64(s, 8, end);
    }

    /// Ends `self.span` (status, flags) and appends it to `self.spans`.
    fn tail(&mut self, error: bool, remote_parent: bool) {
        let s = &mut self.span;
        if error {
            key(s, 15, LEN);
            varint(s, 2);
            key(s, 3, VARINT);
            varint(s, STATUS_ERROR);
        }
        key(s, 16, FIXED32);
        let flags = if remote_parent {
            FLAGS | FLAG_REMOTE_PARENT
        } else {
            FLAGS
        };
        s.extend_from_slice(&flags.to_le_bytes());
        bytes(&mut self.spans, 2, &self.span);
    }

    fn root(&mut self, t: &Finished) {
        self.head(
            t,
            t.root,
            t.parent,
            "enkrypt.request",
            KIND_SERVER,
            t.start,
            t.end,
        );
        let (s, sc) = (&mut self.span, &mut self.scratch);
        kv_str(s, 9, "transport", t.transport, sc);
        if let Some(m) = &t.data.method {
            kv_str(s, 9, "mcp.method.name", m, sc);
        }
        if let Some((server, tool)) = &t.data.tool {
            kv_str(s, 9, "server_name", server, sc);
            kv_str(s, 9, "tool_name", tool, sc);
        }
        if let Some(o) = t.data.outcome {
            kv_str(s, 9, "outcome", o.as_str(), sc);
        }
        let error = t.data.outcome.is_some_and(|o| o.failed());
        self.tail(error, t.parent != 0);
    }

    fn child(&mut self, t: &Finished, c: &Child) {
        let kind = if c.kind == super::Kind::Forward {
            KIND_CLIENT
        } else {
            KIND_INTERNAL
        };
        self.head(t, c.id, c.parent, c.kind.name(), kind, c.start, c.end);
        let (s, sc) = (&mut self.span, &mut self.scratch);
        if let (Some(k), Some(f)) = (c.kind.flag_key(), c.flag) {
            if c.kind == super::Kind::Auth {
                kv_str(s, 9, k, if f { "success" } else { "failure" }, sc);
            } else {
                kv_bool(s, 9, k, f);
            }
        }
        if let Some((server, tool)) = &c.tool {
            kv_str(s, 9, "server_name", server, sc);
            kv_str(s, 9, "tool_name", tool, sc);
        }
        if let Some(o) = c.outcome {
            kv_str(s, 9, "outcome", o.as_str(), sc);
        }
        let error = c.outcome.is_some_and(|o| o.failed());
        self.tail(error, false);
    }
}

#[cfg(test)]
mod tests {
    use super::super::trace::Data;
    use super::super::{Kind, Outcome};
    use super::*;
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
                tool: Some(("demo".into(), long_tool.clone())),
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
                    },
                    Child {
                        id: 0x3333,
                        parent: 0x1111,
                        kind: Kind::Forward,
                        start: 20,
                        end: 90,
                        flag: None,
                        outcome: Some(Outcome::Ok),
                        tool: Some(("demo".into(), "echo".into())),
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
                    },
                ],
            },
        };
        let mut out = Vec::new();
        enc.encode(std::slice::from_ref(&trace), &mut out);
        let req = ExportTraceServiceRequest::decode(out.as_slice()).expect("decodes");
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
}
