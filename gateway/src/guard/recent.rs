//! The last guardrail verdicts worth an operator's look (blocks and redactions), for the
//! dashboard: server, tool, direction, detectors and kinds, never the text that matched or
//! the call's arguments. A bounded ring: recording takes one short lock, only on such calls.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{Direction, Verdict};

/// Verdicts kept.
pub const KEPT: usize = 50;

/// The ring of recent verdicts.
#[derive(Debug, Default)]
pub struct Recent(Mutex<VecDeque<Value>>);

impl Recent {
    /// Records a blocked verdict, or an allowed one with `redacted` values replaced.
    pub fn record(
        &self,
        server: &str,
        tool: &str,
        direction: Direction,
        verdict: &Verdict,
        redacted: usize,
    ) {
        if !verdict.blocked && redacted == 0 {
            return;
        }
        let mut detectors: Vec<&str> = verdict
            .detections
            .iter()
            .map(|d| d.detector.as_str())
            .collect();
        detectors.sort_unstable();
        detectors.dedup();
        let mut kinds: Vec<&str> = verdict.detections.iter().map(|d| d.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let entry = json!({
            "at": crate::config::generate::now_iso8601(),
            "server": server,
            "tool": tool,
            "direction": match direction {
                Direction::Input => "input",
                Direction::Output => "output",
                Direction::Registration => "registration",
            },
            "action": if verdict.blocked { "blocked" } else { "redacted" },
            "detectors": detectors,
            "kinds": kinds,
            "redacted": redacted,
        });
        let mut q = self.0.lock();
        if q.len() == KEPT {
            q.pop_front();
        }
        q.push_back(entry);
    }

    /// Newest first.
    pub fn to_json(&self) -> Value {
        Value::Array(self.0.lock().iter().rev().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_skips_clean_calls() {
        let r = Recent::default();
        r.record("s", "t", Direction::Input, &Verdict::default(), 0);
        assert_eq!(r.to_json().as_array().map(Vec::len), Some(0));
        let blocked = Verdict {
            blocked: true,
            ..Verdict::default()
        };
        for i in 0..(KEPT + 5) {
            r.record("s", &format!("t{i}"), Direction::Output, &blocked, 0);
        }
        let v = r.to_json();
        let a = v.as_array().expect("array");
        assert_eq!(a.len(), KEPT);
        assert_eq!(a[0]["tool"], format!("t{}", KEPT + 4));
        assert_eq!(a[0]["action"], "blocked");
        r.record("s", "r", Direction::Input, &Verdict::default(), 2);
        assert_eq!(r.to_json()[0]["action"], "redacted");
    }
}
