//! Messages from the server: responses handed to the requests waiting for them, notifications
//! (progress, list changes, cancellations) and server-to-client requests, relayed to the
//! client of the request that carried them or declined.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{response_id, single_line, Core, Pending, RawResult, ResponseEnvelope};
use crate::jsonrpc::{Kind, Message, RpcError, METHOD_NOT_FOUND};
use crate::upstream::{Downstream, UpstreamError};

impl Core {
    /// Routes one message from the server; `origin` is our request whose HTTP response stream
    /// carried it. Returns true when it was the response to `origin`.
    pub(crate) fn dispatch(self: &Arc<Self>, msg: Message, origin: Option<u64>) -> bool {
        match msg.kind() {
            Some(Kind::Response) => {
                let Some(id) = response_id(&msg) else {
                    tracing::debug!(server = %self.name, "response with an unknown id: {:?}", msg.id());
                    return false;
                };
                let outcome = match msg.error_value() {
                    Some(e) => Err(UpstreamError::Rpc(e)),
                    None => {
                        serde_json::value::to_raw_value(msg.result_value().unwrap_or(&Value::Null))
                            .map_err(|e| UpstreamError::Protocol(e.to_string()))
                    }
                };
                self.complete(id, outcome);
                origin == Some(id)
            }
            Some(Kind::Notification) => {
                self.on_notification(msg, origin);
                false
            }
            Some(Kind::Request) => {
                self.on_request(msg, origin);
                false
            }
            None => false,
        }
    }

    /// Hands a response to the request waiting for it.
    fn complete(&self, id: u64, outcome: Result<RawResult, UpstreamError>) {
        let entry = self.pending.lock().remove(&id);
        match entry {
            Some(p) => {
                let _ = p.tx.send(outcome);
            }
            None => tracing::debug!(server = %self.name, "late or unknown response {id} ignored"),
        }
    }

    /// A single response, its result kept raw; `None` when `bytes` is anything else (a batch,
    /// a request, a notification, invalid JSON), which [`Message::parse`] then handles.
    fn dispatch_response(&self, bytes: &[u8], origin: Option<u64>) -> Option<bool> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        let env: ResponseEnvelope = serde_json::from_slice(bytes).ok()?;
        if env.method.is_some()
            || env.jsonrpc.as_deref() != Some("2.0")
            || (env.result.is_none() && env.error.is_none())
        {
            return None;
        }
        let id = match env.id? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let Some(id) = id else {
            tracing::debug!(server = %self.name, "response with an unknown id");
            return Some(false);
        };
        let outcome = match (env.error, env.result) {
            (Some(e), _) => Err(UpstreamError::Rpc(RpcError::from_json(&e))),
            (None, Some(r)) => Ok(single_line(r)),
            (None, None) => return None,
        };
        self.complete(id, outcome);
        Some(origin == Some(id))
    }

    /// Parses a body that holds one message or a batch and dispatches each.
    pub(crate) fn dispatch_bytes(self: &Arc<Self>, bytes: &[u8], origin: Option<u64>) -> bool {
        if let Some(answered) = self.dispatch_response(bytes, origin) {
            return answered;
        }
        match Message::parse(bytes) {
            Ok(items) => {
                let mut answered = false;
                for item in items {
                    match item {
                        Ok(m) => answered |= self.dispatch(m, origin),
                        Err(e) => tracing::debug!(server = %self.name, "invalid message: {e}"),
                    }
                }
                answered
            }
            Err(e) => {
                let text = String::from_utf8_lossy(bytes);
                tracing::debug!(server = %self.name, "not JSON ({e}): {}", crate::upstream::error::truncate(&text, 200));
                false
            }
        }
    }

    fn on_notification(self: &Arc<Self>, msg: Message, origin: Option<u64>) {
        match msg.method() {
            Some("notifications/progress") => {
                let token = msg.params().and_then(|p| p.get("progressToken"));
                if let Some(token) = token {
                    let target = {
                        let pending = self.pending.lock();
                        let owns = |p: &&Pending| p.progress_token.as_ref() == Some(token);
                        origin
                            .and_then(|o| pending.get(&o))
                            .filter(owns)
                            .or_else(|| pending.values().find(owns))
                            .map(|p| (p.downstream.clone(), p.client_token.clone()))
                    };
                    match target {
                        Some((Some(ds), client_token)) => {
                            let mut msg = msg;
                            if let (Some(t), Some(p)) = (
                                client_token,
                                msg.0.get_mut("params").and_then(Value::as_object_mut),
                            ) {
                                p.insert("progressToken".into(), t);
                            }
                            return ds.notify(msg);
                        }
                        Some((None, _)) => return,
                        None => {}
                    }
                }
            }
            Some("notifications/cancelled") => {
                let key = msg
                    .params()
                    .and_then(|p| p.get("requestId"))
                    .map(Value::to_string);
                if let Some(key) = key {
                    let task = self.relayed.lock().remove(&key);
                    if let Some(task) = task {
                        task.abort();
                        return;
                    }
                }
            }
            _ => {}
        }
        self.handler
            .on_server_notification(&self.spec, &self.pool_key, msg);
    }

    fn on_request(self: &Arc<Self>, msg: Message, origin: Option<u64>) {
        let id = msg.id().cloned().unwrap_or(Value::Null);
        let method = msg.method().unwrap_or_default().to_string();
        if method == "ping" {
            self.send_detached(Message::result(id, json!({})));
            return;
        }
        let downstream = {
            let pending = self.pending.lock();
            match origin.and_then(|o| pending.get(&o)) {
                // Sent on the response stream of one of our requests: that request's client.
                Some(p) => p.downstream.clone(),
                None => sole_client(pending.values().filter_map(|p| p.downstream.as_ref())),
            }
        };
        let Some(downstream) = downstream else {
            let err = RpcError::new(
                METHOD_NOT_FOUND,
                format!("no client to handle {method}: it belongs to no single client request"),
            );
            self.send_detached(Message::error(id, &err));
            return;
        };
        let params = msg.params().cloned();
        let answer = downstream.request(method, params);
        let key = id.to_string();
        let core = self.clone();
        let mut relayed = self.relayed.lock();
        let task = tokio::spawn({
            let key = key.clone();
            async move {
                let reply = match answer.await {
                    Ok(result) => Message::result(id, result),
                    Err(e) => Message::error(id, &e),
                };
                core.relayed.lock().remove(&key);
                if let Err(e) = core.send(reply).await {
                    tracing::debug!(server = %core.name, "could not answer the upstream: {e}");
                }
            }
        });
        relayed.insert(key, task.abort_handle());
    }
}

/// The client of a server-to-client request that came with no link to one of our requests
/// (stdio, or an HTTP server's standalone stream): the one client every request in flight on
/// this session comes from, if there is exactly one. Requests of several clients in flight
/// make it ambiguous: it is declined, never guessed (it could reach another tenant).
fn sole_client<'a>(
    mut clients: impl Iterator<Item = &'a Arc<dyn Downstream>>,
) -> Option<Arc<dyn Downstream>> {
    let first = clients.next()?;
    let same = |c: &Arc<dyn Downstream>| {
        std::ptr::addr_eq(Arc::as_ptr(c), Arc::as_ptr(first))
            || first.client().is_some_and(|id| c.client() == Some(id))
    };
    clients.all(same).then(|| first.clone())
}
