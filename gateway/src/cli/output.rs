//! How every command reports: `--json` prints one JSON value on stdout; otherwise readable
//! text. Failures print one line on stderr and exit 1.

use serde_json::Value;

use crate::admin::AdminError;

/// Prints `value` (with `json`) or `text(value)`; exit status 0.
pub(crate) fn ok(json: bool, value: &Value, text: impl FnOnce(&Value) -> String) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    } else {
        let t = text(value);
        if !t.is_empty() {
            println!("{}", t.trim_end());
        }
    }
    0
}

/// Prints the reason on stderr (one line; as `{"error": ...}` on stdout too with `json`);
/// exit status 1.
pub(crate) fn fail(json: bool, e: &AdminError) -> i32 {
    let line = e.to_string().replace('\n', "; ");
    if json {
        println!("{}", serde_json::json!({ "error": line }));
    }
    eprintln!("error: {line}");
    1
}

/// [`ok`] or [`fail`].
pub(crate) fn report(
    json: bool,
    r: Result<Value, AdminError>,
    text: impl FnOnce(&Value) -> String,
) -> i32 {
    match r {
        Ok(v) => ok(json, &v, text),
        Err(e) => fail(json, &e),
    }
}
