//! The stdio transport: newline-delimited JSON-RPC on standard input and output, as MCP
//! clients (Claude Desktop, Cursor) launch a local server.
//!
//! Only MCP goes to standard output (logs go to standard error). The gateway key comes from
//! the environment variable `ENKRYPT_GATEWAY_KEY` (or `ENKRYPT_APIKEY`); without a valid one
//! every request is answered with an authentication error. The key is checked again after
//! every config reload: a disabled, rotated or removed key stops working at once. Requests
//! are handled concurrently, so a slow tool call does not hold up the others; a line longer
//! than [`MAX_LINE`] is answered with a parse error and skipped.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::auth::AuthError;
use crate::jsonrpc::{Kind, Message, RpcError, AUTH_ERROR, PARSE_ERROR};
use crate::service::Gateway;
use crate::session::Session;

/// How long answers in flight when standard input closes may still be written.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Longest accepted line (one JSON-RPC message).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The gateway key of a stdio client: `ENKRYPT_GATEWAY_KEY`, else `ENKRYPT_APIKEY` (the
/// reference's name for it).
pub fn key_from_env() -> Option<String> {
    ["ENKRYPT_GATEWAY_KEY", "ENKRYPT_APIKEY"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|k| !k.trim().is_empty())
}

/// The stdio client's session: authenticated at start and again whenever it ended (its key
/// was disabled, rotated or removed by a config reload, which ends it at once), so a key made
/// valid again works without restarting the client.
struct Client {
    gw: Arc<Gateway>,
    key: Option<String>,
    tx: mpsc::UnboundedSender<Message>,
    session: Option<Arc<Session>>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// The live session, opening one if the key resolves.
    fn session(&mut self) -> Result<Arc<Session>, AuthError> {
        if let Some(s) = &self.session {
            if !s.is_ended() && !s.identity().expired() {
                return Ok(s.clone());
            }
        }
        // What the client negotiated outlives a session that ended.
        let previous = self.session.clone();
        self.close();
        let identity = self.gw.authenticate(self.key.as_deref())?;
        let env = |v: &str| std::env::var(v).ok();
        Gateway::check_claims(
            &identity,
            env("ENKRYPT_PROJECT_ID").as_deref(),
            env("ENKRYPT_USER_ID").as_deref(),
        )?;
        let s = Session::new(identity);
        if let Some(p) = previous {
            s.carry_over(&p);
        }
        self.gw.sessions.insert(s.id.clone(), s.clone());
        if let Some(mut outbound) = s.take_outbound() {
            let tx = self.tx.clone();
            self.forwarder = Some(tokio::spawn(async move {
                while let Some(m) = outbound.recv().await {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
            }));
        }
        self.session = Some(s.clone());
        Ok(s)
    }

    fn close(&mut self) {
        if let Some(s) = self.session.take() {
            self.gw.sessions.remove(&s.id);
        }
        if let Some(f) = self.forwarder.take() {
            f.abort();
        }
    }
}

/// Serves on stdin/stdout until stdin closes, then returns (within `EXIT_GRACE`).
pub async fn serve(gw: Arc<Gateway>) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(m) = rx.recv().await {
            let mut line = m.to_bytes();
            line.push(b'\n');
            if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let mut client = Client {
        gw: gw.clone(),
        key: key_from_env(),
        tx: tx.clone(),
        session: None,
        forwarder: None,
    };
    if let Err(e) = client.session() {
        tracing::warn!("stdio client not authenticated: {}", e.message());
    }
    let mut input = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = read_line(&mut input, &mut buf).await?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            let _ = tx.send(Message::error(
                Value::Null,
                &RpcError::new(PARSE_ERROR, "Parse error: message too large"),
            ));
            continue;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let parsed = match Message::parse(line) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Message::error(Value::Null, &e));
                continue;
            }
        };
        for m in parsed {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.send(Message::error(Value::Null, &e));
                    continue;
                }
            };
            // One trace per request when telemetry is on; nothing at all otherwise.
            let span = if m.kind() == Some(Kind::Request) {
                crate::otel::request_span("stdio", None)
            } else {
                crate::otel::Span::none()
            };
            let auth = span.in_scope(|| crate::otel::span(crate::otel::Kind::Auth));
            let session = auth.in_scope(|| client.session());
            auth.record_flag(session.is_ok());
            drop(auth);
            match session {
                Err(e) => {
                    if m.kind() == Some(Kind::Request) {
                        span.record_outcome(crate::otel::Outcome::Error);
                        let id = m.id().cloned().unwrap_or(Value::Null);
                        let _ =
                            tx.send(Message::error(id, &RpcError::new(AUTH_ERROR, e.message())));
                    }
                }
                Ok(s) if m.kind() == Some(Kind::Request) => {
                    let gw = gw.clone();
                    let tx = tx.clone();
                    tokio::spawn(span.instrument(async move {
                        if let Some(r) = gw.handle(&s, m, None).await {
                            let _ = tx.send(r);
                        }
                    }));
                }
                Ok(s) => {
                    gw.handle(&s, m, None).await;
                }
            }
        }
    }
    // Standard input closed: the client is done. Answers still in flight may be written for
    // a short while (the client may still read), then the gateway exits.
    client.close();
    drop(client);
    drop(tx);
    let _ = tokio::time::timeout(EXIT_GRACE, writer).await;
    Ok(())
}

/// Reads one line, keeping at most `MAX_LINE + 1` bytes of it (the rest is discarded).
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let (take, done) = match memchr_nl(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() <= MAX_LINE {
            let room = (MAX_LINE + 1 - buf.len()).min(take);
            buf.extend_from_slice(&chunk[..room]);
        }
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}
