//! A server's `denied_tools`: entries as the reference writes them (a tool name, a glob pattern,
//! or an object `{"name", "reason", "description"}`) and the decision for one tool.
//!
//! Matching is the reference's (`fnmatch.fnmatchcase`): case-sensitive, `*` any run of
//! characters, `?` one character, `[abc]` / `[a-z]` one of a set, `[!abc]` one not in it; a `[`
//! without its `]` is a literal. The deny-all pattern `"*"` spares the tools named in the
//! server's `tools` allow-list ("deny everything not explicitly allowed"); other patterns do not.

use serde_json::{json, Value};

/// One `denied_tools` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedTool {
    /// The tool name or glob pattern (`name` in the object form).
    pub pattern: String,
    /// `reason`: what a refused call answers (absent: "Denied by deny-list pattern: ...").
    pub reason: Option<String>,
    /// `description`: for operators; not shown to clients.
    pub description: Option<String>,
}

/// Why a tool is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The pattern that matched.
    pub pattern: String,
    /// The operator's reason, else `Denied by deny-list pattern: <pattern>`.
    pub reason: String,
}

impl Denial {
    /// The refusal text, as the reference words it: `Tool '<tool>' is denied: <reason>`.
    pub fn message(&self, tool: &str) -> String {
        format!("Tool '{tool}' is denied: {}", self.reason)
    }

    /// The reference's decision record (`{"name", "pattern", "reason"}`), as listed in
    /// discovery results' `policy_denied_tools`.
    pub fn to_json(&self, tool: &str) -> Value {
        json!({ "name": tool, "pattern": self.pattern, "reason": self.reason })
    }
}

impl DeniedTool {
    /// A plain name or pattern.
    pub fn name(pattern: impl Into<String>) -> DeniedTool {
        DeniedTool {
            pattern: pattern.into(),
            reason: None,
            description: None,
        }
    }

    /// The entry as written: a string when it has no reason nor description, else the object.
    pub fn to_json(&self) -> Value {
        if self.reason.is_none() && self.description.is_none() {
            return Value::String(self.pattern.clone());
        }
        let mut o = serde_json::Map::new();
        o.insert("name".into(), Value::String(self.pattern.clone()));
        if let Some(r) = &self.reason {
            o.insert("reason".into(), Value::String(r.clone()));
        }
        if let Some(d) = &self.description {
            o.insert("description".into(), Value::String(d.clone()));
        }
        Value::Object(o)
    }
}

/// The first entry of `denied` that refuses `tool`; `allowed` is the server's allow-list (the
/// `"*"` exemption).
pub fn denial(
    tool: &str,
    denied: &[DeniedTool],
    allowed: &serde_json::Map<String, Value>,
) -> Option<Denial> {
    denied.iter().find_map(|d| {
        if d.pattern.is_empty() || !glob_match(&d.pattern, tool) {
            return None;
        }
        if d.pattern == "*" && allowed.contains_key(tool) {
            return None;
        }
        let reason = d
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| format!("Denied by deny-list pattern: {}", d.pattern));
        Some(Denial {
            pattern: d.pattern.clone(),
            reason,
        })
    })
}

/// `fnmatchcase(name, pattern)`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*` (linear in practice).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class(&p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        // No closing `]`: a literal `[`.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The character class starting at `p[start] == '['`: whether `c` is in it and the index after
/// its `]`; `None` when the class is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let hi = p[i + 2];
            if ch <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn globs_match_as_fnmatchcase() {
        for (p, n) in [
            ("*", "anything"),
            ("*", ""),
            ("delete_*", "delete_repo"),
            ("delete_*", "delete_"),
            ("*_file", "write_file"),
            ("sl?ep", "sleep"),
            ("s??ep", "sleep"),
            ("[abc]dd", "add"),
            ("[a-c]dd", "bdd"),
            ("[!x]dd", "add"),
            ("a*b*c", "aXXbYYc"),
            ("[", "["),
            ("a[", "a["),
            ("[]]x", "]x"),
            ("exact", "exact"),
        ] {
            assert!(glob_match(p, n), "{p} should match {n}");
        }
        for (p, n) in [
            ("delete_*", "undelete_repo"),
            ("Delete_*", "delete_repo"),
            ("s?ep", "sleep"),
            ("[!a]dd", "add"),
            ("[b-c]dd", "add"),
            ("a*b*c", "aXXbYY"),
            ("exact", "exactly"),
            ("", "x"),
        ] {
            assert!(!glob_match(p, n), "{p} should not match {n}");
        }
    }

    #[test]
    fn first_matching_entry_gives_the_reason() {
        let denied = vec![
            DeniedTool::name("crash"),
            DeniedTool {
                pattern: "s*".into(),
                reason: Some("Sleeping is not allowed".into()),
                description: None,
            },
        ];
        let none = Map::new();
        let d = denial("sleep", &denied, &none).unwrap();
        assert_eq!(
            d.message("sleep"),
            "Tool 'sleep' is denied: Sleeping is not allowed"
        );
        let d = denial("crash", &denied, &none).unwrap();
        assert_eq!(d.reason, "Denied by deny-list pattern: crash");
        assert_eq!(d.pattern, "crash");
        assert!(denial("echo", &denied, &none).is_none());
    }

    #[test]
    fn deny_all_spares_the_allow_list() {
        let denied = vec![DeniedTool::name("*")];
        let mut allowed = Map::new();
        allowed.insert("search".into(), json!({}));
        assert!(denial("search", &denied, &allowed).is_none());
        assert!(denial("delete", &denied, &allowed).is_some());
        // Only the bare "*" spares the allow-list.
        let denied = vec![DeniedTool::name("s*")];
        assert!(denial("search", &denied, &allowed).is_some());
    }

    #[test]
    fn entries_print_as_written() {
        assert_eq!(DeniedTool::name("x").to_json(), json!("x"));
        let d = DeniedTool {
            pattern: "add".into(),
            reason: Some("r".into()),
            description: Some("d".into()),
        };
        assert_eq!(
            d.to_json(),
            json!({"name": "add", "reason": "r", "description": "d"})
        );
    }
}
