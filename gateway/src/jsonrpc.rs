//! JSON-RPC 2.0 messages as MCP uses them, kept as raw JSON.
//!
//! A [`Message`] wraps the whole JSON object, so fields the gateway does not know (new MCP
//! fields, `_meta`, vendor extensions) survive forwarding; accessors read the few fields the
//! gateway routes on (`id`, `method`, `params`, `result`, `error`). Errors the gateway itself
//! produces use the standard codes below.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// `-32700`: the bytes are not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// `-32600`: JSON, but not a JSON-RPC message.
pub const INVALID_REQUEST: i64 = -32600;
/// `-32601`: unknown method (or tool).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// `-32602`: bad parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// `-32603`: the gateway failed.
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP: the request was cancelled / the upstream closed (`-32000`, server-defined range).
pub const UPSTREAM_ERROR: i64 = -32000;
/// MCP: the operation timed out (server-defined range).
pub const TIMEOUT_ERROR: i64 = -32001;
/// MCP: authentication is required or failed (server-defined range).
pub const AUTH_ERROR: i64 = -32002;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Optional details.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// As a JSON object.
    pub fn to_json(&self) -> Value {
        let mut o = json!({ "code": self.code, "message": self.message });
        if let (Some(d), Some(m)) = (&self.data, o.as_object_mut()) {
            m.insert("data".into(), d.clone());
        }
        o
    }

    /// From a JSON error object (as an upstream sent it).
    pub fn from_json(v: &Value) -> Self {
        RpcError {
            code: v
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or(INTERNAL_ERROR),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
            data: v.get("data").cloned(),
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// What kind of message an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Has `method` and `id`.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result` or `error`.
    Response,
}

/// One JSON-RPC message (the whole object).
#[derive(Debug, Clone, PartialEq)]
pub struct Message(pub Map<String, Value>);

/// The MCP session header of the streamable HTTP transport (the gateway's server and its
/// upstream client both use it).
pub(crate) const SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");
/// The MCP protocol version header of the streamable HTTP transport.
pub(crate) const PROTOCOL_VERSION: http::HeaderName =
    http::HeaderName::from_static("mcp-protocol-version");
/// `application/json`, a message's content type (a constant: `from_static` checks its text on
/// every call otherwise).
pub(crate) const JSON: http::HeaderValue = http::HeaderValue::from_static("application/json");

/// Key under which [`Message::result_raw`] keeps an already serialized result (a NUL-prefixed
/// name no JSON-RPC peer sends).
pub(crate) const RAW_RESULT: &str = "\u{0}raw_result";

/// Key under which a `tools/call` request's `params` keep `arguments` as the client wrote them
/// (spliced back by [`Message::to_bytes`]): a tool's input passes through the gateway without
/// being parsed into a tree and written again. Read them with [`arguments_of`].
const RAW_ARGUMENTS: &str = "\u{0}raw_arguments";

/// Member `name` of a JSON object. A message and its `params` have a handful of members: a
/// scan of those is cheaper than hashing the name with the map's SipHash.
#[inline]
fn member<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if m.len() <= 8 {
        m.iter().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        m.get(name)
    }
}

/// `params.arguments` of a request as a value, whether kept raw or not (`None`: absent).
pub fn arguments_of(params: &Value) -> Option<Value> {
    match params.as_object().and_then(|p| member(p, RAW_ARGUMENTS)) {
        Some(Value::String(raw)) => serde_json::from_str(raw).ok(),
        _ => params.get("arguments").cloned(),
    }
}

/// Replaces a request's `params.arguments` (raw or not) by `args`.
pub fn set_arguments(params: &mut Value, args: Value) {
    if let Some(o) = params.as_object_mut() {
        o.remove(RAW_ARGUMENTS);
        o.insert("arguments".to_string(), args);
    }
}

/// Line breaks between tokens made spaces (inside JSON strings they are always escaped), so
/// raw JSON fits stdio's one message per line and an SSE `data:` line.
pub fn single_line(raw: String) -> String {
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_none() {
        return raw;
    }
    raw.replace(['\n', '\r'], " ")
}

/// Deserializes a message object: `params.arguments` is kept raw when `params` is an object.
struct ObjectSeed {
    /// The message itself (else its `params`).
    top: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        // Sized for a message's members (`jsonrpc`, `id`, `method`, `params`) and a call's
        // parameters, so the usual object is built without growing.
        let mut m = Map::with_capacity(4);
        while let Some(k) = a.next_key::<String>()? {
            if self.top && k == "params" {
                let v = a.next_value_seed(ObjectSeed { top: false })?;
                m.insert(k, v);
            } else if !self.top && k == "arguments" {
                let raw: Box<RawValue> = a.next_value()?;
                let raw = single_line(String::from(Box::<str>::from(raw)));
                m.insert(RAW_ARGUMENTS.into(), Value::String(raw));
            } else {
                m.insert(k, a.next_value()?);
            }
        }
        Ok(Value::Object(m))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Value>()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

impl Message {
    /// A request.
    pub fn request(id: Value, method: &str, params: Option<Value>) -> Message {
        let mut m = Map::with_capacity(4);
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id);
        m.insert("method".into(), method.into());
        if let Some(p) = params {
            m.insert("params".into(), p);
        }
        Message(m)
    }

    /// A notification.
    pub fn notification(method: &str, params: Option<Value>) -> Message {
        let mut m = Map::with_capacity(3);
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("method".into(), method.into());
        if let Some(p) = params {
            m.insert("params".into(), p);
        }
        Message(m)
    }

    /// A success response.
    pub fn result(id: Value, result: Value) -> Message {
        let mut m = Map::with_capacity(3);
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id);
        m.insert("result".into(), result);
        Message(m)
    }

    /// The already serialized result of a [`Message::result_raw`] response.
    pub fn raw_result(&self) -> Option<&str> {
        member(&self.0, RAW_RESULT).and_then(Value::as_str)
    }

    /// A success response whose result is already serialized JSON (spliced in as is by
    /// [`Message::to_bytes`]; for large results the gateway keeps ready, such as `tools/list`).
    pub fn result_raw(id: Value, raw_json: String) -> Message {
        let mut m = Map::with_capacity(3);
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id);
        m.insert(RAW_RESULT.into(), Value::String(raw_json));
        Message(m)
    }

    /// An error response.
    pub fn error(id: Value, err: &RpcError) -> Message {
        let mut m = Map::with_capacity(3);
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id);
        m.insert("error".into(), err.to_json());
        Message(m)
    }

    /// Parses one object; `Err` is the error to answer with (id null).
    pub fn from_value(v: Value) -> Result<Message, RpcError> {
        let Value::Object(m) = v else {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: not an object",
            ));
        };
        let msg = Message(m);
        if member(&msg.0, "jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: jsonrpc must be \"2.0\"",
            ));
        }
        if msg.kind().is_none() {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: no method, result or error",
            ));
        }
        if let Some(m) = member(&msg.0, "method") {
            if !m.is_string() {
                return Err(RpcError::new(
                    INVALID_REQUEST,
                    "Invalid Request: method must be a string",
                ));
            }
        }
        if let Some(id) = member(&msg.0, "id") {
            if !(id.is_string()
                || id.is_i64()
                || id.is_u64()
                || (id.is_null() && msg.kind() == Some(Kind::Response)))
            {
                return Err(RpcError::new(
                    INVALID_REQUEST,
                    "Invalid Request: id must be a string or an integer",
                ));
            }
        }
        Ok(msg)
    }

    /// Parses bytes holding one message or a batch (array). A single `tools/call` request
    /// keeps its `arguments` raw (see [`arguments_of`]).
    pub fn parse(bytes: &[u8]) -> Result<Vec<Result<Message, RpcError>>, RpcError> {
        let parse_error =
            |e: serde_json::Error| RpcError::new(PARSE_ERROR, format!("Parse error: {e}"));
        if bytes.trim_ascii_start().first() == Some(&b'{') {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let v = ObjectSeed { top: true }
                .deserialize(&mut de)
                .map_err(parse_error)?;
            de.end().map_err(parse_error)?;
            let mut msg = Message::from_value(v);
            if let Ok(m) = &mut msg {
                m.restore_arguments_unless_call();
            }
            return Ok(vec![msg]);
        }
        let v: Value = serde_json::from_slice(bytes).map_err(parse_error)?;
        match v {
            Value::Array(items) if items.is_empty() => Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: empty batch",
            )),
            Value::Array(items) => Ok(items.into_iter().map(Message::from_value).collect()),
            other => Ok(vec![Message::from_value(other)]),
        }
    }

    /// Request, notification or response.
    pub fn kind(&self) -> Option<Kind> {
        let has = |k: &str| member(&self.0, k).is_some();
        if has("method") {
            Some(if has("id") {
                Kind::Request
            } else {
                Kind::Notification
            })
        } else if has("id") && (has("result") || has("error")) {
            Some(Kind::Response)
        } else {
            None
        }
    }

    /// `id`.
    pub fn id(&self) -> Option<&Value> {
        member(&self.0, "id")
    }

    /// `method`.
    pub fn method(&self) -> Option<&str> {
        member(&self.0, "method").and_then(Value::as_str)
    }

    /// `params`.
    pub fn params(&self) -> Option<&Value> {
        member(&self.0, "params")
    }

    /// `params`, mutable (created as `{}` if absent).
    pub fn params_mut(&mut self) -> &mut Value {
        self.0
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()))
    }

    /// `result` (not for [`Message::result_raw`] messages, which only the gateway's own
    /// responses to clients are).
    pub fn result_value(&self) -> Option<&Value> {
        member(&self.0, "result")
    }

    /// `error`, parsed.
    pub fn error_value(&self) -> Option<RpcError> {
        member(&self.0, "error").map(RpcError::from_json)
    }

    /// Replaces the id.
    pub fn set_id(&mut self, id: Value) {
        self.0.insert("id".into(), id);
    }

    /// `params._meta.progressToken`, if any.
    pub fn progress_token(&self) -> Option<&Value> {
        self.params()?.get("_meta")?.get("progressToken")
    }

    /// The whole object as JSON.
    pub fn into_value(self) -> Value {
        let raw_arguments = self
            .params()
            .and_then(Value::as_object)
            .is_some_and(|p| member(p, RAW_ARGUMENTS).is_some());
        if member(&self.0, RAW_RESULT).is_some() || raw_arguments {
            return serde_json::from_slice(&self.to_bytes()).unwrap_or(Value::Null);
        }
        Value::Object(self.0)
    }

    /// Only `tools/call` keeps raw arguments; other methods (`prompts/get`, ...) get a value.
    fn restore_arguments_unless_call(&mut self) {
        if self.method() == Some("tools/call") {
            return;
        }
        if let Some(Value::Object(p)) = self.0.get_mut("params") {
            if let Some(Value::String(raw)) = p.remove(RAW_ARGUMENTS) {
                let v = serde_json::from_str(&raw).unwrap_or(Value::Null);
                p.insert("arguments".into(), v);
            }
        }
    }

    /// Serialized.
    pub fn to_bytes(&self) -> Vec<u8> {
        if let Some(Value::Object(p)) = member(&self.0, "params") {
            if let Some(Value::String(raw)) = member(p, RAW_ARGUMENTS) {
                return self.to_bytes_with_raw_arguments(p, raw);
            }
        }
        if let Some(Value::String(raw)) = member(&self.0, RAW_RESULT) {
            let mut out = Vec::with_capacity(raw.len() + 48);
            out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            let _ = serde_json::to_writer(&mut out, member(&self.0, "id").unwrap_or(&Value::Null));
            out.extend_from_slice(br#","result":"#);
            out.extend_from_slice(raw.as_bytes());
            out.push(b'}');
            return out;
        }
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    /// [`Message::to_bytes`] for a message whose `params` keep raw arguments.
    fn to_bytes_with_raw_arguments(&self, params: &Map<String, Value>, raw: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + 256);
        out.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            if k != "params" {
                let _ = serde_json::to_writer(&mut out, v);
                continue;
            }
            out.push(b'{');
            for (j, (pk, pv)) in params.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                if pk == RAW_ARGUMENTS {
                    out.extend_from_slice(br#""arguments":"#);
                    out.extend_from_slice(raw.as_bytes());
                } else {
                    let _ = serde_json::to_writer(&mut out, pk);
                    out.push(b':');
                    let _ = serde_json::to_writer(&mut out, pv);
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Message {
        Message::parse(bytes).unwrap().remove(0).unwrap()
    }

    #[test]
    fn tool_call_arguments_pass_through_as_written() {
        let text = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{"n": 2.50,
  "s":"a\nb","deep":[1,{"x":null}]},"_meta":{"progressToken":1}},"x":true}"#;
        let m = one(text);
        let out = String::from_utf8(m.to_bytes()).unwrap();
        // The client's own spelling of the number survives (a parsed value would give 2.5);
        // the line break between tokens became a space, the escaped one in the string stays.
        assert!(
            out.contains(r#""arguments":{"n": 2.50,   "s":"a\nb","deep":[1,{"x":null}]}"#),
            "{out}"
        );
        assert!(!out.contains('\n'), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let original: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(v, original);
        assert_eq!(m.clone().into_value(), original);
        assert_eq!(
            arguments_of(m.params().unwrap()),
            Some(json!({ "n": 2.5, "s": "a\nb", "deep": [1, { "x": null }] }))
        );
        assert_eq!(m.progress_token(), Some(&json!(1)));
    }

    #[test]
    fn other_methods_get_their_arguments_as_values() {
        let m = one(br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"who":"Ada"}}}"#);
        assert_eq!(m.params().unwrap()["arguments"], json!({ "who": "Ada" }));
        assert_eq!(
            arguments_of(m.params().unwrap()),
            Some(json!({ "who": "Ada" }))
        );
        // A batch is parsed as values throughout.
        let b = Message::parse(br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1}}}]"#).unwrap();
        let m = b.into_iter().next().unwrap().unwrap();
        assert_eq!(m.params().unwrap()["arguments"], json!({ "a": 1 }));
        // Params that are not an object, and no arguments at all, are left alone.
        let m = one(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1,"two",3.5,true,null]}"#);
        assert_eq!(m.params().unwrap(), &json!([1, "two", 3.5, true, null]));
        assert_eq!(arguments_of(&json!({ "name": "t" })), None);
        // Trailing bytes after the object are a parse error, as before.
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","method":"x"} {"#)
                .unwrap_err()
                .code,
            PARSE_ERROR
        );
    }

    #[test]
    fn kinds_and_unknown_fields() {
        let v = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"t"}},"x-vendor":true}"#).unwrap();
        let m = v.into_iter().next().unwrap().unwrap();
        assert_eq!(m.kind(), Some(Kind::Request));
        assert_eq!(m.progress_token(), Some(&json!("t")));
        assert!(String::from_utf8(m.to_bytes())
            .unwrap()
            .contains("x-vendor"));
        assert_eq!(Message::parse(b"{").unwrap_err().code, PARSE_ERROR);
        assert_eq!(Message::parse(b"[]").unwrap_err().code, INVALID_REQUEST);
        let bad = Message::parse(br#"{"jsonrpc":"1.0","method":"x"}"#).unwrap();
        assert_eq!(bad[0].as_ref().unwrap_err().code, INVALID_REQUEST);
        let n =
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n[0].as_ref().unwrap().kind(), Some(Kind::Notification));
        // MCP: a request's id must not be null (JSON-RPC allows it; MCP does not).
        let null_id =
            Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#).unwrap();
        assert_eq!(null_id[0].as_ref().unwrap_err().code, INVALID_REQUEST);
    }

    #[test]
    fn raw_results_serialize_like_values() {
        let raw = Message::result_raw(json!(7), r#"{"tools":[{"name":"a"}]}"#.to_string());
        let val = Message::result(json!(7), json!({ "tools": [{ "name": "a" }] }));
        let a: Value = serde_json::from_slice(&raw.to_bytes()).unwrap();
        assert_eq!(a, val.clone().into_value());
        assert_eq!(raw.into_value(), val.into_value());
    }

    #[test]
    fn members_are_found_in_small_and_large_messages() {
        // Up to 8 members a message is scanned, beyond that its map is asked.
        for extra in [0, 3, 20] {
            let mut m = Message::request(json!(7), "tools/call", Some(json!({"name": "t"})));
            for i in 0..extra {
                m.0.insert(format!("x{i}"), json!(i));
            }
            assert_eq!(m.kind(), Some(Kind::Request), "{extra}");
            assert_eq!(m.id(), Some(&json!(7)));
            assert_eq!(m.method(), Some("tools/call"));
            assert_eq!(m.params(), Some(&json!({"name": "t"})));
            assert_eq!(m.result_value(), None);
            assert!(member(&m.0, "x").is_none());
            if extra > 0 {
                assert_eq!(
                    member(&m.0, &format!("x{}", extra - 1)),
                    Some(&json!(extra - 1))
                );
            }
        }
    }
}
