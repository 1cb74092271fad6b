//! `SUBSCRIBE`/`PSUBSCRIBE` on a dedicated connection, as a stream of [`Message`]s.
//!
//! The connection speaks RESP2, where a subscribed connection only receives pub/sub arrays.
//! When it drops, the task reconnects with backoff and subscribes again; messages published
//! while no connection was up are lost, as with any Redis subscriber. Dropping the
//! [`Subscription`] ends the task and closes the socket.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::{self, Handshaken};
use super::ClientConfig;
use crate::encode::encode_command;
use crate::error::{Error, ServerError};
use crate::frame::Frame;

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published to.
    pub channel: Bytes,
    /// The pattern that matched, for `PSUBSCRIBE`.
    pub pattern: Option<Bytes>,
    /// The payload.
    pub payload: Bytes,
}

/// A live subscription: messages in publish order. Implements `futures_core::Stream`.
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<Message>,
    task: JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscription {
    /// The next message; `None` only if the background task ended.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    pub(crate) async fn start<C: AsRef<[u8]>>(
        cfg: ClientConfig,
        pattern: bool,
        names: &[C],
    ) -> Result<Subscription, Error> {
        let names: Vec<Bytes> = names
            .iter()
            .map(|n| Bytes::copy_from_slice(n.as_ref()))
            .collect();
        let deadline = Instant::now() + cfg.command_timeout;
        let hs = subscribe(&cfg, pattern, &names, deadline).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(cfg, pattern, names, hs, tx));
        Ok(Subscription { rx, task })
    }
}

impl futures_core::Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

async fn subscribe(
    cfg: &ClientConfig,
    pattern: bool,
    names: &[Bytes],
    deadline: Instant,
) -> Result<Handshaken, Error> {
    let mut hs = conn::connect(cfg, deadline, false).await?;
    let mut args: Vec<&[u8]> = vec![if pattern { b"PSUBSCRIBE" } else { b"SUBSCRIBE" }];
    args.extend(names.iter().map(|n| &n[..]));
    let mut out = BytesMut::new();
    encode_command(&mut out, &args);
    let confirm = async {
        hs.stream.write_all(&out).await?;
        for _ in 0..names.len() {
            match conn::read_frame(&mut hs).await? {
                Frame::Error(line) => return Err(Error::Server(ServerError::new(line))),
                Frame::Array(_) | Frame::Push(_) => {}
                other => {
                    return Err(Error::Unexpected(format!(
                        "subscribe confirmation: {other:?}"
                    )))
                }
            }
        }
        Ok(())
    };
    match tokio::time::timeout_at(deadline, confirm).await {
        Ok(Ok(())) => Ok(hs),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout {
            what: "command",
            after: cfg.command_timeout,
        }),
    }
}

fn to_message(f: Frame) -> Option<Message> {
    let (Frame::Array(items) | Frame::Push(items)) = f else {
        return None;
    };
    let mut it = items.into_iter().map(|i| match i {
        Frame::Bulk(b) | Frame::Simple(b) => Some(b),
        _ => None,
    });
    let kind = it.next()??;
    match &kind[..] {
        b"message" => Some(Message {
            channel: it.next()??,
            pattern: None,
            payload: it.next()??,
        }),
        b"pmessage" => {
            let pattern = it.next()??;
            Some(Message {
                channel: it.next()??,
                pattern: Some(pattern),
                payload: it.next()??,
            })
        }
        _ => None,
    }
}

async fn run(
    cfg: ClientConfig,
    pattern: bool,
    names: Vec<Bytes>,
    mut hs: Handshaken,
    tx: mpsc::UnboundedSender<Message>,
) {
    loop {
        while let Ok(f) = conn::read_frame(&mut hs).await {
            if let Some(m) = to_message(f) {
                if tx.send(m).is_err() {
                    return;
                }
            }
        }
        let mut delay = cfg.backoff_min;
        hs = loop {
            if tx.is_closed() {
                return;
            }
            let deadline = Instant::now() + cfg.connect_timeout;
            match subscribe(&cfg, pattern, &names, deadline).await {
                Ok(hs) => break hs,
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(cfg.backoff_max);
                }
            }
        };
    }
}
