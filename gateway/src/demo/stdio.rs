//! The demo server over stdio: newline-delimited JSON-RPC on stdin/stdout (nothing else is
//! ever written to stdout).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{Peer, Session, Via};
use crate::jsonrpc::{Kind, Message, RpcError, METHOD_NOT_FOUND};

struct StdioPeer {
    out: mpsc::UnboundedSender<Vec<u8>>,
    session: Arc<Session>,
}

fn line(msg: &Message) -> Vec<u8> {
    let mut b = msg.to_bytes();
    b.push(b'\n');
    b
}

impl Peer for StdioPeer {
    fn notify(&self, msg: Message) {
        let _ = self.out.send(line(&msg));
    }

    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        let (msg, rx) = self.session.outgoing(method, params);
        let _ = self.out.send(line(&msg));
        async move {
            rx.await.unwrap_or_else(|_| {
                Err(RpcError::new(METHOD_NOT_FOUND, "the client did not answer"))
            })
        }
        .boxed()
    }
}

/// Serves MCP on stdin/stdout until stdin closes.
pub async fn serve_stdio() -> std::io::Result<()> {
    let (out, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(buf) = rx.recv().await {
            stdout.write_all(&buf).await?;
            while let Ok(more) = rx.try_recv() {
                stdout.write_all(&more).await?;
            }
            stdout.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    });
    let session = Arc::new(Session::default());
    let peer: Arc<dyn Peer> = Arc::new(StdioPeer {
        out: out.clone(),
        session: session.clone(),
    });
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if stdin.read_until(b'\n', &mut buf).await? == 0 {
            break;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let items = match Message::parse(&buf) {
            Ok(items) => items,
            Err(e) => {
                let _ = out.send(line(&Message::error(Value::Null, &e)));
                continue;
            }
        };
        for item in items {
            let msg = match item {
                Ok(m) => m,
                Err(e) => {
                    let _ = out.send(line(&Message::error(Value::Null, &e)));
                    continue;
                }
            };
            match msg.kind() {
                Some(Kind::Request) => {
                    let session = session.clone();
                    let peer = peer.clone();
                    let out = out.clone();
                    tokio::spawn(async move {
                        if let Some(reply) = session.serve(msg, Via::Stdio, peer).await {
                            let _ = out.send(line(&reply));
                        }
                    });
                }
                Some(Kind::Notification) => session.on_notification(&msg),
                Some(Kind::Response) => session.on_response(&msg),
                None => {}
            }
        }
    }
    drop(peer);
    drop(out);
    // In-flight requests are abandoned: the client closed stdin.
    for (_, h) in session.inflight.lock().drain() {
        h.abort();
    }
    match tokio::time::timeout(Duration::from_secs(1), writer).await {
        Ok(Ok(r)) => r,
        _ => Ok(()),
    }
}

// ----- streamable HTTP -----
