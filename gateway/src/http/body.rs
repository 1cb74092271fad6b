//! Reading a request's body: the size limit (413 past [`MAX_BODY`], after draining what the
//! client still sends), the idle limit between two parts (408), and the small body read
//! before a refusal goes out.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{header_str, rpc_error, MAX_BODY};
use crate::jsonrpc::INVALID_REQUEST;

/// After a body passed [`MAX_BODY`], the rest is read and dropped, up to this many bytes in
/// all and [`DRAIN_FOR`], before the 413 is sent: a client still writing its body would
/// otherwise meet a reset connection instead of the answer.
const DRAIN_MAX: usize = 4 * MAX_BODY;
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// The request body, at most [`MAX_BODY`] bytes kept; a 413 response when larger, a 408
/// when the client lets `idle` pass between two parts of it.
pub(super) async fn read_body(body: axum::body::Body, idle: Duration) -> Result<Bytes, Response> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    let mut over_since: Option<tokio::time::Instant> = None;
    loop {
        let next = match over_since {
            None => match tokio::time::timeout(idle, stream.next()).await {
                Ok(n) => n,
                Err(_) => {
                    return Err(rpc_error(
                        StatusCode::REQUEST_TIMEOUT,
                        Value::Null,
                        INVALID_REQUEST,
                        &format!(
                            "Request Timeout: no part of the body came for {} s",
                            idle.as_secs()
                        ),
                    ))
                }
            },
            // Draining a refused body: a client that stalls is not waited for.
            Some(t) => match tokio::time::timeout_at(t + DRAIN_FOR, stream.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
        };
        let Some(chunk) = next else {
            break;
        };
        let Ok(chunk) = chunk else {
            // The client went away or sent a malformed body: nothing to answer it with.
            return Err(StatusCode::BAD_REQUEST.into_response());
        };
        total = total.saturating_add(chunk.len());
        if over_since.is_none() && total > MAX_BODY {
            buf = bytes::BytesMut::new();
            over_since = Some(tokio::time::Instant::now());
        }
        match over_since {
            None => buf.extend_from_slice(&chunk),
            Some(_) if total > DRAIN_MAX => break,
            Some(_) => {}
        }
    }
    if over_since.is_some() {
        return Err(rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Value::Null,
            INVALID_REQUEST,
            &format!("Request body larger than {} MiB", MAX_BODY >> 20),
        ));
    }
    Ok(buf.freeze())
}

/// A body this small is read (and dropped) before a refusal goes out, so the client, still
/// writing it, reads the answer instead of a reset connection; a larger one is not read.
const DRAIN_SMALL: u64 = 64 * 1024;

/// Sends `response` to a request refused before its body was read.
pub(super) async fn refuse(
    response: Response,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Response {
    let small = header_str(headers, &header::CONTENT_LENGTH)
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l <= DRAIN_SMALL);
    if small {
        let drain = axum::body::to_bytes(body, DRAIN_SMALL as usize);
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
    response
}
