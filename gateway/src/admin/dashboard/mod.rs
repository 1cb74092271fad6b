//! The operator dashboard, on the admin port (`start --admin-port`): one static page
//! (`/dashboard`, with its script and style) that asks for the admin key and then reads
//! `GET /api/v1/dashboard` every few seconds. That route, like every admin route, needs the
//! admin key; the page itself holds no data, so it is served without one. The page is strict:
//! a Content-Security-Policy of `'self'` only, no frames, no inline script.
//!
//! The data: status, uptime and version; sessions; upstream servers and their state; each
//! screened server's tools with their pin status; the last guardrail blocks and redactions;
//! the guardrail counters; the cache's backend, hit rate, entries and memory.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::api::ApiState;
use crate::service::Gateway;

const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLE: &str = include_str!("dashboard.css");

/// Paths served without the admin key (they hold no data).
pub const PUBLIC: [&str; 3] = ["/dashboard", "/dashboard.js", "/dashboard.css"];

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// The live figures of `gw` (one call to the cache: its status tells whether it is
/// reachable, as `/health`'s probe would).
pub async fn data(gw: &Gateway) -> serde_json::Value {
    let cache = gw.cache.status().await;
    json!({
        "status": gw.status_word(cache.reachable),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": gw.started.elapsed().as_secs(),
        "sessions": gw.sessions.len(),
        "upstreams": gw.upstream_states(),
        "tools": gw.guard.tools_report(),
        "recent_verdicts": gw.guard.recent.to_json(),
        "guardrails": gw.guard.stats.to_json(),
        "cache": cache,
    })
}

async fn dashboard_data(State(state): State<ApiState>) -> Response {
    match &state.gw {
        Some(gw) => super::api::ok("Dashboard", data(gw).await),
        None => super::api::fail(
            StatusCode::NOT_FOUND,
            "the dashboard needs a running gateway (start --admin-port)",
        ),
    }
}

/// The page, its assets and its data route.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/v1/dashboard", get(dashboard_data))
}
