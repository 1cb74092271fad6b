//! `schema`: tool arguments checked against the tool's `inputSchema`.
//!
//! The gateway's own detector: arguments an MCP server never declared are a common
//! carrier for injection (extra fields, wrong types, oversized strings the schema
//! forbids). Validation uses the `jsonschema` crate with standard JSON Schema semantics
//! only (the draft named by `$schema`, 2020-12 by default): nothing is added, so a schema
//! without `additionalProperties: false` accepts extra members, as the standard says.
//!
//! Invariants: a schema is compiled once ([`CompiledSchema::compile`]) and reused; an
//! uncompilable schema (invalid, or referencing a remote document, which is never
//! fetched) is an `Err`, never a panic. Findings carry the instance path (a JSON
//! pointer) and never the offending value; at most [`MAX_SCHEMA_FINDINGS`] per check.

use serde_json::Value;

use super::{Detector, Finding};

/// At most this many schema findings are reported per check.
pub const MAX_SCHEMA_FINDINGS: usize = 16;

/// A compiled `inputSchema`, shareable across threads and calls.
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema").finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Compiles a tool's `inputSchema`. Errors (invalid schema, unresolvable `$ref`)
    /// come back as a message; a panic inside the validator library is also turned into
    /// an error.
    pub fn compile(schema: &Value) -> Result<CompiledSchema, String> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err("inputSchema must be an object or a boolean".to_string());
        }
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            jsonschema::options().build(schema)
        }));
        match built {
            Ok(Ok(validator)) => Ok(CompiledSchema { validator }),
            Ok(Err(e)) => Err(format!("invalid inputSchema: {e}")),
            Err(_) => Err("invalid inputSchema: the validator failed on it".to_string()),
        }
    }

    /// Whether `args` satisfies the schema.
    pub fn is_valid(&self, args: &Value) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.validator.is_valid(args)
        }))
        .unwrap_or(false)
    }

    /// Appends one `schema_violation` finding per violation (instance path as `path`,
    /// span `0..0`), at most [`MAX_SCHEMA_FINDINGS`].
    pub fn check(&self, args: &Value, out: &mut Vec<Finding>) {
        if self.is_valid(args) {
            return;
        }
        let before = out.len();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut found = Vec::new();
            for e in self.validator.iter_errors(args).take(MAX_SCHEMA_FINDINGS) {
                found.push(e.instance_path().as_str().to_string());
            }
            found
        }));
        match res {
            Ok(paths) => {
                for path in paths {
                    out.push(Finding {
                        detector: Detector::Schema,
                        kind: "schema_violation",
                        path,
                        start: 0,
                        end: 0,
                    });
                }
            }
            Err(_) => out.truncate(before),
        }
        if out.len() == before {
            // Invalid, but no error was listed (or listing failed): report the root.
            out.push(Finding {
                detector: Detector::Schema,
                kind: "schema_violation",
                path: String::new(),
                start: 0,
                end: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "maxLength": 20},
                "count": {"type": "integer", "minimum": 1},
                "mode": {"enum": ["read", "write"]}
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }

    #[test]
    fn violations_with_paths() {
        let s = CompiledSchema::compile(&schema()).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        s.check(
            &json!({"path": "a.txt", "count": 2, "mode": "read"}),
            &mut out,
        );
        assert!(out.is_empty());
        s.check(
            &json!({"path": "x".repeat(30), "count": 0, "extra": 1}),
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"/path"), "{paths:?}");
        assert!(paths.contains(&"/count"), "{paths:?}");
        assert!(out
            .iter()
            .all(|f| f.kind == "schema_violation" && f.detector == Detector::Schema));
        out.clear();
        s.check(&json!({"count": 1}), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn standard_semantics_only() {
        let s = CompiledSchema::compile(
            &json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.is_valid(&json!({"a": "x", "b": 1})));
    }

    #[test]
    fn bad_schemas_are_errors() {
        assert!(CompiledSchema::compile(&json!({"type": "nonsense"})).is_err());
        assert!(CompiledSchema::compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
        assert!(CompiledSchema::compile(&json!("string")).is_err());
        assert!(CompiledSchema::compile(&json!({"pattern": "(unclosed"})).is_err());
        assert!(CompiledSchema::compile(&json!(true)).is_ok());
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledSchema>();
        assert_send_sync::<super::super::Lists>();
    }
}
