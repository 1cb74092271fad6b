//! An incremental parser for `text/event-stream` bodies (the WHATWG "server-sent events"
//! format), as MCP's streamable HTTP and legacy HTTP+SSE transports use them.
//!
//! Bytes are fed in whatever chunks the network delivers; a line or a multi-byte character may
//! be split anywhere. Mirrors the WHATWG algorithm: lines end with CRLF, LF or CR (a CR at the
//! end of one chunk and an LF at the start of the next are one line end); a leading BOM is
//! dropped; `:` starts a comment; `data:` lines are joined with `\n`; `event:` names the event
//! (default `message`); `id:` sets the last event id (kept across events, ignored if it holds
//! NUL); `retry:` (digits only) sets the reconnection delay; a blank line dispatches the event
//! unless no `data` line was seen. An event left incomplete at the end of the stream is dropped.
//!
//! Invariant: memory is bounded by [`MAX_EVENT_BYTES`]; a longer line or event is an error, so a
//! hostile server cannot make the gateway buffer without limit.

use std::time::Duration;

/// The largest line or event (data included) the parser buffers: 64 MiB.
pub const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (`message` when absent or empty).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id at dispatch time (from this event or an earlier one).
    pub id: Option<String>,
}

/// The stream exceeded [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
pub struct SseTooLarge;

/// Incremental SSE parser; see the module documentation.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    started: bool,
    data: String,
    has_data: bool,
    event: String,
    last_id: Option<String>,
    retry: Option<Duration>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event id seen (for `Last-Event-ID` on reconnect).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Feeds one chunk; complete events are appended to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseTooLarge> {
        if !self.started && !chunk.is_empty() {
            // A UTF-8 BOM may open the stream; it can itself be split across chunks.
            let bom = b"\xEF\xBB\xBF";
            let have = self.line.len();
            let take = (bom.len() - have).min(chunk.len());
            if bom[have..have + take] == chunk[..take] {
                if have + take < bom.len() {
                    self.line.extend_from_slice(&chunk[..take]);
                    return Ok(());
                }
                self.line.clear();
                chunk = &chunk[take..];
            } else {
                // Not a BOM after all: what was held back is ordinary data.
            }
            self.started = true;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line_end = chunk[pos];
            if self.line.is_empty() {
                self.process_line(&chunk[..pos], out)?;
            } else {
                self.push_line_bytes(&chunk[..pos])?;
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out)?;
                self.line = line;
                self.line.clear();
            }
            chunk = &chunk[pos + 1..];
            if line_end == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(chunk)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseTooLarge> {
        if self.line.len() + bytes.len() + self.data.len() > MAX_EVENT_BYTES {
            self.line.clear();
            return Err(SseTooLarge);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseTooLarge> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    self.data.clear();
                    self.has_data = false;
                    return Err(SseTooLarge);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseParser) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        (out, p)
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(str::to_string),
        }
    }

    const STREAM: &[u8] = b"\xEF\xBB\xBF: a comment\r\n\
retry: 1500\n\
id: 7\n\
data: {\"jsonrpc\":\"2.0\",\n\
data:\"method\":\"x\"}\n\
\n\
event: endpoint\rdata: /message?sessionId=\xC3\xA9t\xC3\xA9\r\n\r\n\
id\n\
data\n\
\n\
event: ping\n\
\n\
data: last\n\n\
data: incomplete\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev(
                "message",
                "{\"jsonrpc\":\"2.0\",\n\"method\":\"x\"}",
                Some("7"),
            ),
            ev("endpoint", "/message?sessionId=été", Some("7")),
            ev("message", "", Some("")),
            ev("message", "last", Some("")),
        ]
    }

    #[test]
    fn whole_stream() {
        let (out, p) = parse_chunks(&[STREAM]);
        assert_eq!(out, expected());
        assert_eq!(p.retry(), Some(Duration::from_millis(1500)));
        assert_eq!(p.last_event_id(), Some(""));
    }

    #[test]
    fn split_at_every_position() {
        for i in 0..=STREAM.len() {
            let (out, p) = parse_chunks(&[&STREAM[..i], &STREAM[i..]]);
            assert_eq!(out, expected(), "split at {i}");
            assert_eq!(p.retry(), Some(Duration::from_millis(1500)), "split at {i}");
        }
    }

    #[test]
    fn split_at_every_pair_of_positions() {
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let (out, _) = parse_chunks(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(out, expected(), "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        let (out, _) = parse_chunks(&chunks);
        assert_eq!(out, expected());
    }

    #[test]
    fn cr_line_ends_and_field_edge_cases() {
        let (out, p) = parse_chunks(&[
            b"data:a\r\rdata:b\r",
            b"\n\r\nid: x\0y\nretry: 12a\ndata\n\n",
        ]);
        assert_eq!(
            out,
            vec![
                ev("message", "a", None),
                ev("message", "b", None),
                ev("message", "", None)
            ]
        );
        assert_eq!(p.retry(), None);
        assert_eq!(p.last_event_id(), None);
    }

    #[test]
    fn priming_event_with_id_only() {
        // SEP-1699: an event with an id and empty data primes the stream for resumption.
        let (out, p) = parse_chunks(&[b"id: abc\ndata:\n\n"]);
        assert_eq!(out, vec![ev("message", "", Some("abc"))]);
        assert_eq!(p.last_event_id(), Some("abc"));
        let (out, p) = parse_chunks(&[b"id: abc\n\n"]);
        assert!(out.is_empty());
        assert_eq!(p.last_event_id(), Some("abc"));
    }

    #[test]
    fn no_bom_is_plain_data() {
        let (out, _) = parse_chunks(&[b"\xEF", b"x: y\ndata: 1\n\n"]);
        assert_eq!(out, vec![ev("message", "1", None)]);
        let (out, _) = parse_chunks(&[b"\xEF\xBB", b"\xBFdata: 2\n\n"]);
        assert_eq!(out, vec![ev("message", "2", None)]);
    }

    #[test]
    fn oversized_line_is_an_error() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'a'; 1024 * 1024];
        let mut failed = false;
        for _ in 0..(MAX_EVENT_BYTES / big.len() + 2) {
            if p.feed(&big, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
