//! Property tests of the JSON-RPC layer: however a message is written (compact or pretty, any
//! arguments, any extra fields), parsing it and writing it again gives the same JSON, and a
//! `tools/call` request's arguments reach the output byte for byte.

use gateway::jsonrpc::{arguments_of, Message};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
        "[a-z\\n\"\\\\ \u{e9}\u{1F600}]{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tools/call".to_string()),
        Just("prompts/get".to_string()),
        Just("notifications/progress".to_string()),
        "[a-z/]{1,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_then_write_keeps_the_json(
        m in method(),
        id in prop::option::of(any::<i64>()),
        args in prop::option::of(value()),
        extra_params in prop::collection::vec(("[a-z_]{1,6}", value()), 0..3),
        extra in prop::collection::vec(("[a-z_]{1,6}", value()), 0..3),
        pretty in any::<bool>(),
    ) {
        let mut params = Map::new();
        for (k, v) in extra_params {
            params.insert(k, v);
        }
        if let Some(a) = &args {
            params.insert("arguments".into(), a.clone());
        }
        let mut msg = Map::new();
        for (k, v) in extra {
            // Extra fields only: the envelope's own members are set below. (An extra `id`
            // of null would make the message invalid, as MCP forbids null ids.)
            if !["id", "jsonrpc", "method", "params", "result", "error"].contains(&k.as_str()) {
                msg.insert(k, v);
            }
        }
        msg.insert("jsonrpc".into(), json!("2.0"));
        msg.insert("method".into(), json!(m));
        if let Some(id) = id {
            msg.insert("id".into(), json!(id));
        }
        msg.insert("params".into(), Value::Object(params));
        let original = Value::Object(msg);
        let text = if pretty {
            serde_json::to_vec_pretty(&original).unwrap()
        } else {
            serde_json::to_vec(&original).unwrap()
        };
        let parsed = Message::parse(&text).unwrap().remove(0).unwrap();
        let out = parsed.to_bytes();
        prop_assert!(!out.contains(&b'\n'), "{}", String::from_utf8_lossy(&out));
        let back: Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(&back, &original);
        prop_assert_eq!(parsed.clone().into_value(), original.clone());
        prop_assert_eq!(arguments_of(parsed.params().unwrap()), args.clone());
        if m == "tools/call" && !pretty {
            // The arguments' own bytes are in the output unchanged.
            if let Some(a) = &args {
                let written = serde_json::to_string(a).unwrap();
                prop_assert!(String::from_utf8_lossy(&out).contains(&written));
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::parse(&bytes);
        let mut b = b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"arguments\":".to_vec();
        b.extend_from_slice(&bytes);
        let _ = Message::parse(&b);
    }
}
